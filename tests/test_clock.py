"""Business time, time parsing and relative times (pure functions)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cbtrack import clock
from cbtrack.errors import Refused

TZ = ZoneInfo("America/New_York")
CAL = clock.BusinessCalendar(TZ, range(5), "08:00-17:00", [date(2026, 11, 26)])


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize(
    ("start", "rule", "due"),
    [
        (at(27, 10), "90m", at(27, 11, 30)),  # inside the day
        (at(27, 16), "2h", at(30, 9)),  # Friday evening runs into Monday
        (at(25, 16), "2h", at(27, 9)),  # Thursday the 26th is a holiday
        (at(27, 10), "1bd", at(30, 10)),  # one business day = nine business hours
        (at(28, 12), "1bd", at(30, 17)),  # from a Saturday: the whole of Monday
        (at(27, 19), "0m", at(27, 19)),  # zero waits for nothing
        (at(27, 10), "2d", at(29, 10)),  # calendar days
        (at(27, 6), "30m", at(27, 8, 30)),  # before opening: the clock starts at 08:00
    ],
)
def test_business_time(start: datetime, rule: str, due: datetime) -> None:
    assert CAL.add_duration(start, rule) == due


def test_bad_durations() -> None:
    for text in ("soon", "5", "1w", "-1h"):
        with pytest.raises(ValueError):
            clock.parse_duration(text)


def test_windows_and_next_start() -> None:
    assert clock.in_window(at(27, 9), "08:00-20:00")
    assert not clock.in_window(at(27, 20), "08:00-20:00")
    assert clock.in_window(at(27, 23), "22:00-06:00")  # across midnight
    assert clock.next_in_window(at(27, 21), "08:00-20:00") == at(28, 8)
    assert clock.next_in_window(at(27, 7), "08:00-20:00") == at(27, 8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=TZ)),
        ("2026-12-01T15:00", datetime(2026, 12, 1, 15, tzinfo=TZ)),
        ("2026-12-01T15:00:00-08:00", datetime(2026, 12, 1, 18, tzinfo=TZ)),
        ("15:30", at(27, 15, 30)),
        ("3pm", at(27, 15)),
        ("tomorrow 9:00", at(28, 9)),
        ("today", at(27, 17)),
        ("+2h", at(27, 12)),
        ("in 3d", at(30, 10)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert clock.parse_when(text, TZ, at(27, 10)) == expected


def test_parse_when_refuses_nonsense() -> None:
    for text in ("someday", "2026-13-45", "25:00", "next week"):
        with pytest.raises(Refused):
            clock.parse_when(text, TZ, at(27, 10))


def test_relative_times() -> None:
    now = at(27, 10)
    assert clock.relative(now - timedelta(hours=2), now) == "overdue 2h"
    assert clock.relative(now + timedelta(minutes=40), now) == "in 40m"
    assert clock.relative(now + timedelta(days=3), now) == "in 3d"
    assert clock.relative(now, now) == "now"
    assert clock.ago(now - timedelta(minutes=5), now) == "5m ago"
