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
from cbtrack.model import Patient, phone_digits

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


def read_calls(text: str, mapping: dict[str, list[str]], tz: ZoneInfo, now: datetime) -> Parsed:
    """Every row of the export as a `Call`, or as a bad row with its line number."""
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
        values = {  # cells of one field joined, runs of white space made one space
            name: " ".join(" ".join(row[i] for i in idx if i < len(row)).split())
            for name, idx in columns.items()
        }
        try:
            out.calls.append(_call(line, values, tz, now))
        except _Bad as bad:
            out.bad.append(BadRow(line, str(bad)))
    return out


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


def _call(line: int, values: dict[str, str], tz: ZoneInfo, now: datetime) -> Call:
    at = parse_call_time(values.get("called_at", ""), tz)
    if at > now + FUTURE_SLACK:
        raise _Bad("the call time is in the future")
    phone = values.get("phone", "")
    if not phone:
        raise _Bad("the caller's number is empty (withheld?), so there is no one to call back")
    name = values.get("name") or None
    if name and (
        " ".join(re.split(r"[\s_-]+", name.lower())).strip() in NOT_NAMES
        or not any(c.isalpha() for c in name)
    ):
        name = None  # caller ID without a person's name
    try:
        Patient(name=name or UNKNOWN_CALLER, phone=phone)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors(include_input=False)}
        if "phone" in fields:
            raise _Bad("the caller's number needs 7 to 15 digits") from None
        raise _Bad("the caller's name is too long (over 2000 characters)") from None
    transcript = values.get("voicemail") or None
    return Call(line, at, phone, name, parse_duration(values.get("duration", "")), transcript)


def parse_call_time(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601, or the forms phone systems print (`11/27/2026 8:14 AM`: month first);
    without an offset the practice's time zone. A date and a time of day are required."""
    text = text.strip()
    if not text:
        raise _Bad("the call time is empty")
    if len(text) > 64:
        raise _Bad("the call time is too long to be a date and time")
    first = second = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil warns about time-zone names it ignores
        try:
            # Two different defaults: a part missing from the text shows as a difference.
            first = dateparser.parse(text, default=datetime(2000, 1, 1, 0, 0, 0))
            second = dateparser.parse(text, default=datetime(2001, 2, 2, 1, 1, 0))
        except (ValueError, OverflowError):
            pass
    if first is None or second is None:
        raise _Bad("the call time is not a date and time (use ISO 8601 or MM/DD/YYYY HH:MM)")
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        raise _Bad("the call time has no full date")
    if first.hour != second.hour:
        raise _Bad("the call time has no time of day")
    at = first if first.tzinfo else first.replace(tzinfo=tz)
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
