"""Reading a phone system's missed-call export (CSV) into calls to add. Pure: the text,
the practice's time zone and `now` are passed in; nothing here reads files or the clock.

A call is identified by its time (to the second, in UTC) and the last ten digits of the
caller's number, so the same call in two overlapping exports, or in one export imported
twice, is the same call (`Call.key`, stored in the record as `import_key`).
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser
from pydantic import ValidationError

from cbtrack.errors import Refused
from cbtrack.ids import phone_digits
from cbtrack.model import Patient, split_extension

FIELDS = ("called_at", "phone", "name", "duration", "voicemail")
REQUIRED = ("called_at", "phone")
KEY_PREFIX = "missed-call"
KEY_DIGITS = 10  # a country code or a trunk 0 does not make another caller
UNKNOWN_CALLER = "Unknown caller"
MAX_TRANSCRIPT = 1900  # the reason holds at most 2000 characters
FUTURE_SLACK = timedelta(minutes=5)  # a phone system's clock may run a little ahead

# What caller ID shows when it has no person's name: these are not names.
NOT_NAMES = {
    "anonymous",
    "blocked",
    "caller id unavailable",
    "cell phone",
    "name unavailable",
    "no caller id",
    "out of area",
    "private",
    "private caller",
    "private number",
    "restricted",
    "toll free",
    "unavailable",
    "unknown",
    "unknown caller",
    "unknown name",
    "wireless caller",
}


@dataclass(frozen=True)
class Call:
    """One missed call from the export, checked and ready to become a callback."""

    line: int
    at: datetime  # aware, in the practice's time zone
    phone: str
    name: str | None
    duration: int | None  # seconds
    transcript: str | None
    extension: str | None = None  # dialled after the number (`x123` in the export)

    @property
    def key(self) -> str:
        return call_key(self.at, self.phone)

    @property
    def day(self) -> str:
        return f"{self.at:%Y%m%d}"


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str  # never quotes the row: it holds patient data


@dataclass
class Parsed:
    calls: list[Call] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def call_key(at: datetime, phone: str) -> str:
    digits = phone_digits(phone)[-KEY_DIGITS:]
    return f"{KEY_PREFIX}:{at.astimezone(UTC):%Y%m%dT%H%M%SZ}:{digits}"


def normalise(column: str) -> str:
    """`Called At`, `called-at`, `CalledAt` and `called_at` name the same column."""
    return re.sub(r"[\s_-]+", "", column.lower())


def parse_mapping(pairs: list[str]) -> dict[str, list[str]]:
    """`--map COLUMN=FIELD` options -> {field: [columns]} (several columns make one
    `called_at` when an export splits the date and the time)."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise Refused(f"--map takes COLUMN=FIELD, like --map 'Caller ID=phone'; got '{pair}'.")
        if target not in FIELDS:
            raise Refused(
                f"--map names the field '{target[:40]}'; the fields are {', '.join(FIELDS)}."
            )
        if target in out and target != "called_at":
            raise Refused(f"--map gives two columns for {target}; give it one.")
        out.setdefault(target, []).append(column.strip())
    return out


def read_calls(
    text: str,
    mapping: dict[str, list[str]],
    tz: ZoneInfo,
    now: datetime,
    date_format: str | None = None,
) -> Parsed:
    """Every row of the export as a `Call`, or as a bad row with its line number. The
    day/month order is one for the whole file: `date_format` (`MDY`, `DMY`, `YMD` or a
    strftime form), else what the file's unambiguous dates show (`file_date_order`)."""
    rows, out = _rows(text, mapping)
    order = date_format or file_date_order([(n, v.get("called_at", "")) for n, v in rows])
    for line, values in rows:
        try:
            out.calls.append(_call(line, values, tz, now, order))
        except _Bad as bad:
            out.bad.append(BadRow(line, str(bad)))
    return out


def _rows(
    text: str, mapping: dict[str, list[str]]
) -> tuple[list[tuple[int, dict[str, str]]], Parsed]:
    """The export's rows as (line, {field: value}); a row that is not CSV is a bad row."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    try:
        header = next(reader)
    except StopIteration:
        raise Refused("The file is empty; a missed-call export starts with a header row.") from None
    except csv.Error:
        raise Refused("Line 1 of the file is not a CSV header row.") from None
    columns = _columns([normalise(h) for h in header], mapping)
    out = Parsed()
    rows: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            problem = "the row is not valid CSV (a quote left open, or a cell too large)"
            out.bad.append(BadRow(start, problem))
            break
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        rows.append(
            (
                line,
                {  # cells of one field joined, runs of white space made one space
                    name: " ".join(" ".join(row[i] for i in idx if i < len(row)).split())
                    for name, idx in columns.items()
                },
            )
        )
    return rows, out


# --- day and month ---------------------------------------------------------------------

DATE_ORDERS = ("MDY", "DMY", "YMD")
DISAGREE = "?"  # as many dates read only month first as only day first
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})(?!\d)")


def date_orders(text: str) -> set[str] | None:
    """The day/month orders a call time's numeric date can be read in (`{"MDY"}` for
    11/26/2026, `{"MDY", "DMY"}` for 07/04/2026, `{"YMD"}` for 2026-11-26); None when it
    has no numeric date (`Nov 26 2026`)."""
    m = _NUMERIC_DATE.search(text)
    if m is None:
        return None
    a, b, c = m.groups()
    if len(a) == 4:
        return {"YMD"}
    if len(c) not in (2, 4):
        return set()
    first, second = int(a), int(b)
    orders = set()
    if 1 <= first <= 12 and 1 <= second <= 31:
        orders.add("MDY")
    if 1 <= second <= 12 and 1 <= first <= 31:
        orders.add("DMY")
    return orders


def file_date_order(values: list[tuple[int, str]]) -> str | None:
    """The file's day/month order, from the dates that can be read only one way: month
    first (`MDY`) or day first (`DMY`) when those that decide agree, or when more of them
    read one way (the others are then bad rows); None when nothing decides it, and
    `DISAGREE` when as many read only one way as only the other (all of them bad rows)."""
    month_first = day_first = 0
    for _, text in values:
        orders = date_orders(text) or set()
        month_first += orders == {"MDY"}
        day_first += orders == {"DMY"}
    if month_first > day_first:
        return "MDY"
    if day_first > month_first:
        return "DMY"
    return DISAGREE if month_first else None


def check_date_format(text: str) -> str:
    """`--date-format`: MDY, DMY or YMD (any case), or a strftime form holding `%`."""
    if text.upper() in DATE_ORDERS:
        return text.upper()
    if "%" in text and len(text) <= 64:
        try:
            datetime.now().strftime(text)
        except ValueError:
            pass
        else:
            return text
    raise Refused(
        f"--date-format takes MDY (month first), DMY (day first), YMD, or a strftime form "
        f"like '%d.%m.%Y %H:%M'; got '{text[:40]}'."
    )


class _Bad(Exception):
    pass


def _dialect(text: str) -> type[csv.Dialect]:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])

    class Dialect(csv.excel):
        delimiter = best if counts[best] else ","

    return Dialect


def _columns(header: list[str], mapping: dict[str, list[str]]) -> dict[str, list[int]]:
    """Field -> the header positions that hold it."""
    out: dict[str, list[int]] = {}
    missing_cols: list[str] = []
    for name in FIELDS:
        wanted = mapping.get(name, [name])
        idx = [header.index(normalise(c)) for c in wanted if normalise(c) in header]
        if name in mapping and len(idx) != len(wanted):
            missing_cols += [c for c in wanted if normalise(c) not in header]
        if idx:
            out[name] = idx
    if missing_cols:
        raise Refused(
            f"--map names column(s) the header does not have: {', '.join(missing_cols)}; "
            "check the spelling against the file's first line."
        )
    lacking = [name for name in REQUIRED if name not in out]
    if lacking:
        raise Refused(
            f"The header has no {' or '.join(lacking)} column; name the export's columns with "
            "--map, like --map 'Start Time=called_at' --map 'Caller ID=phone'."
        )
    return out


def _call(
    line: int, values: dict[str, str], tz: ZoneInfo, now: datetime, order: str | None
) -> Call:
    at = parse_call_time(values.get("called_at", ""), tz, order)
    if at > now + FUTURE_SLACK:
        raise _Bad("the call time is in the future")
    phone, extension = split_extension(values.get("phone", ""))
    if not phone:
        raise _Bad("the caller's number is empty (withheld?), so there is no one to call back")
    name = values.get("name") or None
    if name and (
        " ".join(re.split(r"[\s_-]+", name.lower())).strip() in NOT_NAMES
        or not any(c.isalpha() for c in name)
    ):
        name = None  # caller ID without a person's name
    try:
        Patient(name=name or UNKNOWN_CALLER, phone=phone, extension=extension)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors(include_input=False)}
        if "phone" in fields:
            raise _Bad("the caller's number needs 7 to 15 digits") from None
        if "extension" in fields:
            raise _Bad("the extension after the caller's number is not 1 to 10 digits") from None
        raise _Bad("the caller's name is too long (over 2000 characters)") from None
    transcript = values.get("voicemail") or None
    duration = parse_duration(values.get("duration", ""))
    return Call(line, at, phone, name, duration, transcript, extension)


def parse_call_time(text: str, tz: ZoneInfo, order: str | None = None) -> datetime:
    """ISO 8601, or the forms phone systems print (`11/27/2026 8:14 AM`), read in the
    file's day/month `order` (`MDY`, `DMY`, `YMD` or a strftime form); a date that the
    order cannot read, or (without an order) one that reads both ways, is refused, never
    read the other way. Without an offset the practice's time zone. A date and a time of
    day are required."""
    text = text.strip()
    if not text:
        raise _Bad("the call time is empty")
    if len(text) > 64:
        raise _Bad("the call time is too long to be a date and time")
    if order is not None and "%" in order:
        try:
            at = datetime.strptime(text, order)
        except ValueError:
            raise _Bad(f"the call time does not match --date-format '{order}'") from None
        return _local(at, tz)
    orders = date_orders(text)
    if orders is not None:
        _check_order(orders, order)
    first = second = None
    # (dateutil reads 2026-07-04 as 7 April when told day first: only for D/M/Y dates)
    day_first = orders is not None and "YMD" not in orders and (order or "") != "MDY"
    day_first = day_first and (order == "DMY" or (order is None and orders == {"DMY"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil warns about time-zone names it ignores
        try:
            # Two different defaults: a part missing from the text shows as a difference.
            first = dateparser.parse(
                text, default=datetime(2000, 1, 1, 0, 0, 0), dayfirst=day_first
            )
            second = dateparser.parse(
                text, default=datetime(2001, 2, 2, 1, 1, 0), dayfirst=day_first
            )
        except (ValueError, OverflowError):
            pass
    if first is None or second is None:
        raise _Bad("the call time is not a date and time (use ISO 8601 or MM/DD/YYYY HH:MM)")
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        raise _Bad("the call time has no full date")
    if first.hour != second.hour:
        raise _Bad("the call time has no time of day")
    return _local(first, tz)


def _check_order(orders: set[str], order: str | None) -> None:
    words = {"MDY": "month first", "DMY": "day first", "YMD": "year first"}
    if not orders:
        raise _Bad("the call time's date is not a valid day and month")
    if "YMD" in orders:
        return  # (2026-11-26 reads one way in any file)
    if order == DISAGREE:
        raise _Bad(
            "the file's dates disagree on the order of day and month (as many read only month "
            "first as only day first); state it with --date-format MDY or DMY"
        )
    if order is None and len(orders) > 1:
        raise _Bad(
            "the call time's day and month could be either way round, and the file's other "
            "dates do not settle it; state the order with --date-format MDY or DMY"
        )
    if order is not None and order not in orders:
        only = " or ".join(words[o] for o in sorted(orders))
        raise _Bad(
            f"the call time's date reads only {only}, but the file's dates are "
            f"{words[order]} (state the order with --date-format if that is wrong)"
        )


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=tz)
    return at.astimezone(tz).replace(microsecond=0)


def parse_duration(text: str) -> int | None:
    """Seconds from `45`, `45s`, `0:45` or `00:00:45`; None when the column is empty."""
    text = text.strip().lower().removesuffix("s").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,6}(:\d{1,2}){0,2}", text):
        raise _Bad("the duration is not seconds, MM:SS or HH:MM:SS")
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def describe_duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"
