"""Times and durations: parsing what staff type, business-time arithmetic, relative text.

Pure functions: the current time is passed in, and read only by `current`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cbtrack.errors import Refused

DURATION_RE = re.compile(r"^(\d{1,5})(m|h|d|bd)$")


def check_range(moment: datetime, what: str) -> datetime:
    """`moment`, or a refusal naming `what` (a typed value is never repeated in full)."""
    from cbtrack.model import FIRST_YEAR, LAST_YEAR, in_years  # (loaded when needed)

    if not in_years(moment):
        raise Refused(
            f"{what} is outside the years {FIRST_YEAR} to {LAST_YEAR}, the dates cbtrack "
            "(and git) can record; check the year."
        )
    return moment


def current(zone: ZoneInfo) -> datetime:
    """cbtrack's clock, in `zone`: `$CBTRACK_NOW` when set (tests, replays), else the
    machine's, to the second."""
    raw = os.environ.get("CBTRACK_NOW", "").strip()
    if not raw:
        return datetime.now(zone).replace(microsecond=0)
    try:
        moment = parse_when(raw, zone, datetime.now(zone), checked=False)
    except Refused:
        raise Refused(
            "CBTRACK_NOW is not an ISO 8601 time; set it like 2026-11-27T09:00:00-05:00."
        ) from None
    return check_range(moment.replace(microsecond=0), "CBTRACK_NOW")


def parse_duration(text: str) -> tuple[int, str]:
    """`90m`, `4h`, `2d` or `1bd` -> (amount, unit)."""
    m = DURATION_RE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a duration; write it like 90m, 4h, 2d or 1bd")
    return int(m.group(1)), m.group(2)


def wall_delta(text: str) -> timedelta:
    """A duration in wall-clock time (`1bd` counts as one day)."""
    n, unit = parse_duration(text)
    return {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "bd": timedelta(days=n),
    }[unit]


def parse_hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def parse_window(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return parse_hhmm(start), parse_hhmm(end)


def in_window(moment: datetime, window: str) -> bool:
    start, end = parse_window(window)
    t = moment.time().replace(second=0, microsecond=0)
    if start <= end:
        return start <= t < end
    return t >= start or t < end  # a window across midnight


def next_in_window(moment: datetime, window: str) -> datetime:
    """`moment` if inside the daily window, else the window's next start."""
    if in_window(moment, window):
        return moment
    start, _ = parse_window(window)
    candidate = moment.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if candidate <= moment:
        candidate = _same_wall_time_next_day(candidate)
    return candidate


def _same_wall_time_next_day(moment: datetime) -> datetime:
    nxt = moment.date() + timedelta(days=1)
    return datetime.combine(nxt, moment.time(), tzinfo=moment.tzinfo)


class BusinessCalendar:
    """Business days and hours in the practice's time zone, skipping holidays."""

    def __init__(
        self, tz: ZoneInfo, days: Iterable[int], hours: str, holidays: Iterable[date]
    ) -> None:
        self.tz = tz
        self.days = frozenset(days)  # 0 = Monday
        self.open, self.close = parse_window(hours)
        self.holidays = frozenset(holidays)

    def is_business_day(self, d: date) -> bool:
        return d.weekday() in self.days and d not in self.holidays

    def day_minutes(self) -> int:
        o = self.open.hour * 60 + self.open.minute
        c = self.close.hour * 60 + self.close.minute
        return c - o

    def _bounds(self, d: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(d, self.open, tzinfo=self.tz),
            datetime.combine(d, self.close, tzinfo=self.tz),
        )

    def next_business_day(self, d: date) -> date:
        d = d + timedelta(days=1)
        for _ in range(3660):
            if self.is_business_day(d):
                return d
            d += timedelta(days=1)
        raise Refused("The policy's business days and holidays leave no business day ahead.")

    def add(self, moment: datetime, minutes: int) -> datetime:
        """Add `minutes` of business time: the clock runs only in business hours."""
        local = moment.astimezone(self.tz)
        if minutes <= 0:
            return local
        d = local.date()
        if not self.is_business_day(d):
            d = self.next_business_day(d)
            local = self._bounds(d)[0]
        remaining = minutes
        for _ in range(3660):
            start, end = self._bounds(d)
            cursor = max(local, start)
            if cursor < end:
                available = int((end - cursor).total_seconds() // 60)
                if remaining <= available:
                    return cursor + timedelta(minutes=remaining)
                remaining -= available
            d = self.next_business_day(d)
            local = self._bounds(d)[0]
        raise Refused("A due rule reaches too far ahead; shorten it in the policy.")

    def previous_business_day(self, d: date) -> date:
        d = d - timedelta(days=1)
        for _ in range(3660):
            if self.is_business_day(d):
                return d
            d -= timedelta(days=1)
        raise Refused("The policy's business days and holidays leave no business day before.")

    def subtract(self, moment: datetime, minutes: int) -> datetime:
        """Go back `minutes` of business time: the clock runs only in business hours."""
        local = moment.astimezone(self.tz)
        if minutes <= 0:
            return local
        d = local.date()
        if not self.is_business_day(d):
            d = self.previous_business_day(d)
            local = self._bounds(d)[1]
        remaining = minutes
        for _ in range(3660):
            start, end = self._bounds(d)
            cursor = min(local, end)
            if cursor > start:
                available = int((cursor - start).total_seconds() // 60)
                if remaining <= available:
                    return cursor - timedelta(minutes=remaining)
                remaining -= available
            d = self.previous_business_day(d)
            local = self._bounds(d)[1]
        raise Refused("A lead time reaches too far back; shorten it in the policy.")

    def sub_duration(self, moment: datetime, text: str) -> datetime:
        """`add_duration` backwards: `m`/`h`/`bd` in business time, `d` in calendar days."""
        n, unit = parse_duration(text)
        if unit == "d":
            return moment.astimezone(self.tz) - timedelta(days=n)
        minutes = {"m": n, "h": n * 60, "bd": n * self.day_minutes()}[unit]
        return self.subtract(moment, minutes)

    def add_duration(self, moment: datetime, text: str) -> datetime:
        """Due-rule arithmetic: `m`/`h` and `bd` in business time, `d` in calendar days."""
        n, unit = parse_duration(text)
        if unit == "d":
            return moment.astimezone(self.tz) + timedelta(days=n)
        minutes = {"m": n, "h": n * 60, "bd": n * self.day_minutes()}[unit]
        return self.add(moment, minutes)


def parse_when(text: str, tz: ZoneInfo, now: datetime, checked: bool = True) -> datetime:
    """What staff type for a time: ISO 8601 (date, or date and time with or without offset),
    `15:00`, `today 17:00`, `tomorrow 9:00`, `monday`, `next tue 10:00`, `+2h`, `in 3d`.
    Naive times are the practice's; a day without a time means 17:00."""
    raw = text.strip()
    low = raw.lower()
    local_now = now.astimezone(tz)
    rel = re.fullmatch(r"(?:\+|in\s+)(\d{1,5}\s*(?:m|h|d))", low)
    if rel:
        ahead = local_now + wall_delta(rel.group(1).replace(" ", ""))  # at most 99999 days
        return check_range(ahead, f"'{raw[:40]}'") if checked else ahead
    day_word = re.fullmatch(
        r"(today|tomorrow)(?:\s+(?:at\s+)?(\d{1,2}(?::\d{2})?\s*(?:am|pm)?))?", low
    )
    if day_word:
        base = local_now.date() + timedelta(days=1 if day_word.group(1) == "tomorrow" else 0)
        clock = _parse_clock(day_word.group(2) or "17:00", raw)
        return datetime.combine(base, clock, tzinfo=tz)
    weekday = re.fullmatch(
        r"(?:next\s+|on\s+)?(mon|tue|wed|thu|fri|sat|sun)"
        r"(?:day|s|sday|nesday|r|rs|rsday|urday)?"
        r"(?:\s+(?:at\s+)?(\d{1,2}(?::\d{2})?\s*(?:am|pm)?))?",
        low,
    )
    if weekday:
        wanted = WEEKDAY_NAMES.index(weekday.group(1))
        days_ahead = (wanted - local_now.weekday()) % 7 or 7  # the coming one, never today
        base = local_now.date() + timedelta(days=days_ahead)
        return datetime.combine(base, _parse_clock(weekday.group(2) or "17:00", raw), tzinfo=tz)
    if re.fullmatch(r"\d{1,2}(:\d{2})?\s*(am|pm)?", low) and (
        ":" in low or low[-2:] in ("am", "pm")
    ):
        return datetime.combine(local_now.date(), _parse_clock(low, raw), tzinfo=tz)
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", raw
    ):
        raise Refused(
            f"'{raw[:40]}' is not a time; use ISO 8601 like 2026-11-27 or 2026-11-27T15:00, "
            "or 15:00, 'tomorrow 9:00', 'next monday', '+2h', 'in 3d'."
        )
    try:
        parsed = datetime.fromisoformat(raw)  # every form the pattern above lets through
    except ValueError:
        from dateutil import parser as dateparser  # (the cases Python's own reader leaves)

        try:
            parsed = dateparser.isoparse(raw)
        except (ValueError, OverflowError):
            raise Refused(f"'{raw[:40]}' is not a valid date or time; check the numbers.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return check_range(parsed, f"'{raw[:40]}'") if checked else parsed


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_clock(text: str, raw: str) -> time:
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text.strip())
    if not m:
        raise Refused(f"'{raw[:40]}' is not a time of day; write it like 9:00 or 3pm.")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise Refused(f"'{raw[:40]}' is not a time of day; write it like 9:00 or 3pm.")
    return time(hour, minute)


def is_iso(text: str) -> bool:
    """A date, or a date and time, written out in ISO 8601."""
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", text.strip()))


def is_date_only(text: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()))


def relative(moment: datetime, now: datetime) -> str:
    """`overdue 2h`, `in 40m`, `now`: short, for the queue."""
    return relative_s((moment - now).total_seconds())


def relative_s(seconds: float) -> str:
    """`relative` for a moment `seconds` from now (negative: in the past)."""
    if abs(seconds) < 60:
        return "now"
    span = _span(abs(seconds))
    return f"in {span}" if seconds > 0 else f"overdue {span}"


def ago(moment: datetime, now: datetime) -> str:
    return ago_s((now - moment).total_seconds())


def ago_s(seconds: float) -> str:
    """`ago` for a moment `seconds` before now."""
    if seconds < 60:
        return "just now"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def machine_zone_differs(tz: Any, now: datetime) -> str | None:
    """A sentence when this machine's clock zone (what cron reads a crontab in) is not
    the practice's `tz`, now or half a year from now (summer time); else None."""
    import time as _time

    for moment in (now, now + timedelta(days=182)):
        stamp = moment.timestamp()
        machine = _time.localtime(stamp).tm_gmtoff
        practice = moment.astimezone(tz).utcoffset()
        if practice is None or machine != int(practice.total_seconds()):
            here = _time.strftime("%Z", _time.localtime(stamp))
            return (
                f"this machine's clock is on {here}, not the practice's time zone ({tz}): "
                "cron reads a crontab's times in the machine's zone (see 'Running from "
                "cron' in the README: CRON_TZ, or a line that checks the practice's hour)"
            )
    return None


Moment = TypeVar("Moment", datetime, float)


def past_due(due: Moment, expected: Moment | None, now: Moment) -> bool:
    """The overdue rule on plain values (datetimes, or timestamps for cached rows): past
    the due time; while waiting on internal work, past when the first of it is expected
    (the clock is paused until then). `timing.overdue` applies it to a record."""
    return (due if expected is None else expected) < now
