"""The end-of-day review: six buckets of open callbacks, and the roll-over to the next
business day (a pure plan; `service.roll_over` applies it).

Owner rule for the roll-over, first match wins:
1. clinical callbacks (urgency clinical or emergency, or owned by the clinical role or a
   clinical staff member) stay with clinical staff, since nobody else may judge them;
2. callbacks waiting on internal work keep their owner, the team chasing the dependency;
3. callbacks owned by a named staff member on the roster keep that person, who holds the
   history;
4. callbacks owned by a role that are neither overdue nor due by the end of the next
   business day keep that role: nobody needs to pick them up tomorrow;
5. everything else (overdue, due by the next business day, or owned by someone not on the
   roster) goes to the policy's `end_of_day_owner`, who hands it out next morning.
Every callback still gets its next touch and a `rolled_over` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from cbtrack import timing, triage
from cbtrack.model import CLINICAL_URGENCIES, Callback, EventType, Status
from cbtrack.policy import CLINICAL_ROLE, Policy

BUCKETS = (
    "due_today",
    "no_attempt",
    "waiting_patient",
    "waiting_internal",
    "needs_escalation",
    "closable",
)
TITLES = {
    "due_today": "Due today (overdue included)",
    "no_attempt": "No attempt yet",
    "waiting_patient": "Waiting on the patient",
    "waiting_internal": "Waiting on internal work",
    "needs_escalation": "Needs escalation (past due)",
    "closable": "Can be closed (reached, or attempts complete)",
}


# --- buckets -------------------------------------------------------------------------


def closable(policy: Policy, cb: Callback) -> bool:
    """Reached, or the attempt process complete; never while it waits on internal work,
    and after a reopen only on the strength of what happened since."""
    if cb.open_dependencies:
        return False
    if cb.reached_since_reopen:
        return True
    done = triage.attempts_complete(policy, cb)
    return done and (cb.reopened_at is None or bool(cb.current_attempts))


def in_bucket(
    policy: Policy, cb: Callback, bucket: str, now: datetime, today: date | None = None
) -> bool:
    """Whether an open callback belongs in `bucket` at `now` (practice time zone days;
    `today` is now's date there, if the caller has it already). A callback paused by a
    dependency that is not late is neither due nor overdue."""
    if bucket == "due_today":
        if cb.open_dependencies and timing.paused(policy, cb, now):
            return False
        if today is None:
            today = now.astimezone(policy.tz).date()
        return cb.due_at.astimezone(policy.tz).date() <= today
    # no_attempt, waiting_patient and waiting_internal go by status, as the spec says:
    # `new` is the status of a callback nobody has tried yet.
    if bucket == "no_attempt":
        return cb.status == Status.new
    if bucket == "waiting_patient":
        return cb.status == Status.waiting_patient
    if bucket == "waiting_internal":
        return cb.status == Status.waiting_internal
    if bucket == "needs_escalation":
        return timing.overdue(policy, cb, now)
    if bucket == "closable":
        return closable(policy, cb)
    raise ValueError(bucket)


def buckets(policy: Policy, records: list[Callback], now: datetime) -> dict[str, list[Callback]]:
    """Each bucket's open callbacks, ranked as the queue ranks them."""
    ranked = triage.rank_queue(policy, [cb for cb in records if cb.is_open])
    today = now.astimezone(policy.tz).date()
    return {b: [cb for cb in ranked if in_bucket(policy, cb, b, now, today)] for b in BUCKETS}


def uncalled_today(policy: Policy, cb: Callback, now: datetime) -> bool:
    """Due today (or overdue) and nobody has tried to call yet."""
    return not cb.attempts and in_bucket(policy, cb, "due_today", now)


def unattempted_due_today(policy: Policy, records: list[Callback], now: datetime) -> list[str]:
    """IDs due today (or overdue) with no attempt: what `review --check` alerts on."""
    ranked = triage.rank_queue(policy, [cb for cb in records if cb.is_open])
    return [cb.id for cb in ranked if uncalled_today(policy, cb, now)]


# --- the roll-over plan ----------------------------------------------------------------


@dataclass
class Roll:
    """What the roll-over does to one callback."""

    callback_id: str
    day: date
    owner: str
    was_owner: str
    next_touch: datetime
    why: str
    # a clinical or emergency callback nobody has called although it is due: the roll
    # says so, so that it is never handed on quietly
    urgent_uncalled: bool = False

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.callback_id,
            "day": self.day.isoformat(),
            "owner": self.owner,
            "was_owner": self.was_owner,
            "next_attempt_at": self.next_touch.isoformat(),
            "why": self.why,
        }


def needs_next_day_owner(policy: Policy, cb: Callback, now: datetime, day: date) -> bool:
    """Overdue, or due by the end of the next business day `day`."""
    end = datetime.combine(day, policy.calendar.close, tzinfo=policy.tz)
    return timing.overdue(policy, cb, now) or cb.due_at <= end


def roll_owner(policy: Policy, cb: Callback, now: datetime, day: date) -> tuple[str, str]:
    """The next-day owner and the rule that chose it (see the module docstring)."""
    if cb.urgency in CLINICAL_URGENCIES or triage.is_clinical_owner(policy, cb.owner):
        if triage.is_clinical_owner(policy, cb.owner) or CLINICAL_ROLE not in policy.roles:
            return cb.owner, "clinical callbacks stay with clinical staff"
        return CLINICAL_ROLE, "clinical callbacks go to clinical staff"
    if cb.open_dependencies or cb.status == Status.waiting_internal:
        return cb.owner, "the owner chases the internal work"
    if cb.owner in policy.staff:
        return cb.owner, "assigned to a named staff member"
    if cb.owner in policy.roles and not needs_next_day_owner(policy, cb, now, day):
        return cb.owner, f"not due by the end of {day:%a %Y-%m-%d}"
    return policy.end_of_day_owner, "the end-of-day owner hands it out"


def state_of(policy: Policy, cb: Callback, now: datetime) -> str:
    """Why the callback is still open, in a few words and without patient data."""
    deps = cb.open_dependencies
    if deps:  # not ready to close while it waits, reached or not
        late = " (late)" if timing.late_dependencies(policy, cb, now) else ""
        kinds = ", ".join(sorted({d.kind.value.replace("_", " ") for d in deps}))
        reached = "patient reached, " if cb.was_reached else ""
        return f"{reached}waiting on {kinds}{late}"
    if cb.was_reached:
        return "patient reached, ready to close"
    if triage.attempts_complete(policy, cb):
        done = len(cb.outbound_attempts)
        return f"{done} attempts made, ready to close (--reason attempts_exhausted)"
    last = cb.last_attempt
    if last is None:
        what = "no attempt yet"
    elif cb.status == Status.waiting_patient:
        what = f"waiting for the patient after {len(cb.attempts)} attempt(s)"
    else:
        what = f"{len(cb.attempts)} attempt(s), last {last.result.value.replace('_', ' ')}"
    if cb.number_is_wrong:
        what += ", the phone number is wrong"
    if timing.overdue(policy, cb, now):
        what += ", overdue"
    return what


def next_touch(policy: Policy, cb: Callback, day: date) -> datetime:
    """The start of `day` in business hours, or the planned next attempt if later; calls
    are moved into the call hours and the patient's contact window."""
    cal = policy.calendar
    moment = datetime.combine(day, cal.open, tzinfo=policy.tz)
    if cb.next_attempt_at and cb.next_attempt_at > moment:
        moment = cb.next_attempt_at.astimezone(policy.tz)
    if closable(policy, cb) or cb.open_dependencies:
        return moment  # nobody calls: the touch is a close or a check on the dependency
    return triage.callable_time(policy, cb, moment)


def already_rolled(cb: Callback, day: date) -> bool:
    """True when the callback was rolled over to `day` already: a second run the same
    evening leaves it, and any owner a person set after the first run, alone."""
    return any(
        e.type == EventType.rolled_over and (e.set or {}).get("day") == day.isoformat()
        for e in cb.events
    )


def plan_one(policy: Policy, cb: Callback, now: datetime) -> Roll | None:
    if not cb.is_open:
        return None
    day = policy.calendar.next_business_day(now.astimezone(policy.tz).date())
    if already_rolled(cb, day):
        return None
    owner, rule = roll_owner(policy, cb, now, day)
    touch = next_touch(policy, cb, day)
    who = owner if owner in policy.staff else owner.replace("_", " ")  # as the queue says it
    why = f"End-of-day review: {state_of(policy, cb, now)}; owner {who} ({rule})."
    urgent = cb.urgency in CLINICAL_URGENCIES and uncalled_today(policy, cb, now)
    return Roll(cb.id, day, owner, cb.owner, touch, why, urgent)


def plan_roll(policy: Policy, records: list[Callback], now: datetime) -> list[Roll]:
    """Every open callback that the roll-over would change, in queue order."""
    plans = [plan_one(policy, cb, now) for cb in triage.rank_queue(policy, records)]
    return [p for p in plans if p is not None]


def apply_roll(cb: Callback, roll: Roll, now: datetime, user: str) -> None:
    """Set owner and next attempt time, and record why in one `rolled_over` event."""
    was: dict[str, str] = {}
    if cb.owner != roll.owner:
        was["owner"] = cb.owner
    if cb.next_attempt_at != roll.next_touch:
        was["next_attempt_at"] = cb.next_attempt_at.isoformat() if cb.next_attempt_at else ""
    cb.owner = roll.owner
    cb.next_attempt_at = roll.next_touch
    cb.log(
        now,
        user,
        EventType.rolled_over,
        note=roll.why,
        was=was or None,
        set={
            "owner": roll.owner,
            "next_attempt_at": roll.next_touch.isoformat(),
            "day": roll.day.isoformat(),
        },
    )
