"""Deadlines and dependencies in time: when a callback is due, paused or overdue.

Pure: every function takes `now` (or works without it) and reads no clock or file.

- A due time staff give (`add --due`, `edit --due`) in the past, beyond the policy's
  `clock_skew`, is kept (a callback noted late is still owed) and said (`past_due_warning`).
- A deadline (`deadline_at`: a procedure date, an authorization expiry) makes a callback
  due no later than the deadline less the policy's `deadline_lead` (business time), never
  earlier than now, and at least `deadline` urgent.
- A dependency is expected by its `until` (else `since` plus the policy's
  `dependency_wait`). Until then the callback's clock is paused: it is neither overdue nor
  escalated. Once an open dependency passes that time it is late, and the callback needs
  escalation whatever its due time.
"""

from __future__ import annotations

import re
from datetime import datetime, time

from cbtrack.clock import past_due, wall_delta
from cbtrack.model import Callback, Dependency, Urgency
from cbtrack.policy import Policy

DEADLINE_URGENCY = Urgency.deadline


# --- deadlines ---------------------------------------------------------------------------


def past_due_warning(policy: Policy, due: datetime, now: datetime) -> str | None:
    """The sentence staff should read when a due time they gave is in the past by more
    than the policy's `clock_skew` (a time typed a minute late passes quietly): the
    callback is kept, and is overdue at once."""
    if due >= now - wall_delta(policy.clock_skew):
        return None
    local = due.astimezone(policy.tz)
    day = policy.calendar.next_business_day(now.astimezone(policy.tz).date())
    return (
        f"--due {local:%a %Y-%m-%d %H:%M} is in the past, so the callback is overdue now; "
        f"if that was a typing slip, correct it with edit --due, for example --due "
        f"'tomorrow 9:00' or --due {day:%Y-%m-%d} (that day's close)."
    )


def latest_due(policy: Policy, deadline: datetime) -> datetime:
    """The latest due time that still leaves the policy's lead before `deadline`."""
    return policy.calendar.sub_duration(deadline, policy.deadline_lead)


def due_before_deadline(
    policy: Policy, due: datetime, deadline: datetime | None, now: datetime
) -> datetime:
    """`due`, moved earlier when it leaves less than the lead before the deadline (but
    never earlier than now)."""
    if deadline is None:
        return due
    latest = latest_due(policy, deadline)
    if due <= latest:
        return due
    return max(latest, now).astimezone(policy.tz)


def deadline_floor(policy: Policy, urgency: Urgency) -> Urgency:
    """A callback with a deadline is at least `deadline` urgent."""
    if policy.rank(urgency) >= policy.rank(DEADLINE_URGENCY):
        return urgency
    return DEADLINE_URGENCY


_DATE_IN_TEXT = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}):(\d{2}))?(?!\d)")


def deadline_in_text(policy: Policy, text: str) -> datetime | None:
    """The first ISO date (and time) written in a `deadline` detail, like "procedure
    2026-12-02 07:00"; a bare date means the start of that business day, to be safe."""
    m = _DATE_IN_TEXT.search(text)
    if not m:
        return None
    try:
        day = datetime.strptime(m.group(1), "%Y-%m-%d").date()
        at = time(int(m.group(2)), int(m.group(3))) if m.group(2) else policy.calendar.open
    except ValueError:
        return None
    return datetime.combine(day, at, tzinfo=policy.tz)


# --- the first call ---------------------------------------------------------------------

# An emergency is due at once (`due: 0m`); its first call still counts as on time within
# this, unless the policy's urgency sets `first_call_within`.
FIRST_CALL_DEFAULTS = {Urgency.emergency: "15m"}
FIRST_CALL_URGENCIES = (Urgency.clinical, Urgency.emergency)


def first_call_due(policy: Policy, cb: Callback) -> datetime:
    """The one rule for "was the first call late": by the callback's due time; for a
    `clinical` or `emergency` callback, by the later of that and its urgency's target
    (`first_call_within`, else its `due` rule; 15m for an emergency) from when it came in,
    in business time. The report and its row cache both ask this."""
    if cb.urgency not in FIRST_CALL_URGENCIES:
        return cb.due_at
    rule = policy.urgencies.get(cb.urgency)
    within = (rule.first_call_within if rule else None) or FIRST_CALL_DEFAULTS.get(cb.urgency)
    if within is None:
        within = rule.due if rule else "0m"
    target = policy.calendar.add_duration(cb.created_at, within)
    return max(cb.due_at, target)


# --- dependencies ------------------------------------------------------------------------


def expected_by(policy: Policy, dep: Dependency) -> datetime:
    """When a dependency is expected: its `until`, else `since` plus `dependency_wait`."""
    if dep.until is not None:
        return dep.until
    return policy.calendar.add_duration(dep.since, policy.dependency_wait)


def late_dependencies(policy: Policy, cb: Callback, now: datetime) -> list[Dependency]:
    return [d for d in cb.open_dependencies if expected_by(policy, d) < now]


def first_expected(policy: Policy, cb: Callback) -> datetime | None:
    """When the first of the internal work the callback waits on is expected, if any."""
    waits = [expected_by(policy, d) for d in cb.open_dependencies]
    return min(waits) if waits else None


def overdue_from(policy: Policy, cb: Callback) -> datetime:
    """The moment after which the callback counts as overdue while open (`past_due`)."""
    return first_expected(policy, cb) or cb.due_at


def paused(policy: Policy, cb: Callback, now: datetime) -> bool:
    """Waiting on internal work that is not late yet: the callback's clock is stopped."""
    return bool(cb.open_dependencies) and not late_dependencies(policy, cb, now)


def overdue(policy: Policy, cb: Callback, now: datetime) -> bool:
    """The one rule for "overdue" (queue, review, triage, report): open and past its due
    time, unless paused by a dependency not yet late; or with a late one."""
    return cb.is_open and past_due(cb.due_at, first_expected(policy, cb), now)


def lateness_note(policy: Policy, cb: Callback, now: datetime) -> str | None:
    """Why triage escalates a callback whose dependency is late (no patient data)."""
    late = late_dependencies(policy, cb, now)
    if not late:
        return None
    first = min(late, key=lambda d: expected_by(policy, d))
    when = expected_by(policy, first).astimezone(policy.tz)
    kinds = ", ".join(sorted({d.kind.value for d in late}))
    return f"Dependency late: {kinds} was expected by {when:%a %Y-%m-%d %H:%M}"
