"""One function per command: load what is needed, apply the domain, save, commit.

Usable without the CLI. Every change holds the store lock from reading the record to
the git commit, reads only the record it changes, and writes nothing when refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module
from cbtrack.model import (
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Closure,
    Dependency,
    DependencyKind,
    EventType,
    Status,
    Urgency,
)
from cbtrack.policy import CLINICAL_ROLE, Policy
from cbtrack.store import Store

if TYPE_CHECKING:
    from cbtrack import corrections, identity, review, timing, triage
else:  # loaded by the commands that use them: reading the queue needs none of them
    corrections = lazy_module("cbtrack.corrections")
    identity = lazy_module("cbtrack.identity")
    review = lazy_module("cbtrack.review")
    timing = lazy_module("cbtrack.timing")
    triage = lazy_module("cbtrack.triage")

# `service` is one interface over rooms of one idea each: the shape of a change
# (changes.py), setting up (practice.py), intake (intake.py), corrections (editing.py),
# reading (reading.py); the changes made after intake stay here.
from cbtrack.changes import (
    POLICY_STAMP as POLICY_STAMP,
    Outcome as Outcome,
    Skip as Skip,
    build as build,
    change as change,
    change_many as change_many,
    check_reachable as check_reachable,
    commit_policy as commit_policy,
    committed_policy as committed_policy,
    policy_uncommitted as policy_uncommitted,
    start_from_head as start_from_head,
)
from cbtrack.editing import (
    Edits as Edits,
    changed_fields as changed_fields,
    edit as edit,
    record_fields as record_fields,
)
from cbtrack.intake import (
    MISSED_CALL as MISSED_CALL,
    Imported as Imported,
    PlannedCall as PlannedCall,
    TriagePlan as TriagePlan,
    add as add,
    apply_deadline as apply_deadline,
    apply_triage as apply_triage,
    duplicate_warnings as duplicate_warnings,
    import_missed_calls as import_missed_calls,
    new_record as new_record,
    plan_call as plan_call,
    plan_triage as plan_triage,
    triage_corrections as triage_corrections,
)
from cbtrack.practice import (
    PracticeSetup as PracticeSetup,
    StaffEntry as StaffEntry,
    init_store as init_store,
    policy_text as policy_text,
    untracked_files as untracked_files,
)
from cbtrack.reading import (
    QueueFilter as QueueFilter,
    QueuePage as QueuePage,
    find as find,
    queue as queue,
    queue_page as queue_page,
    validate as validate,
)

# --- attempt -----------------------------------------------------------------------


def attempt(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    method: AttemptMethod,
    result: AttemptResult,
    note: str,
    message_left: bool | None = None,
    response: str | None = None,
    next_action: str | None = None,
    script: str | None = None,
    force: bool = False,
    why: str | None = None,
    next_at: datetime | None = None,
) -> Outcome:
    leaves_message = _attempt_options(result, message_left, force, why)

    def apply(policy: Policy, cb: Callback, actor: str) -> list[str]:
        at = now.astimezone(policy.tz)
        att: Attempt = build(
            lambda: Attempt(
                at=at,
                by=actor,
                method=method,
                result=result,
                message_left=leaves_message if message_left is None else message_left,
                patient_response=response,
                note=note,
                next_action=next_action,
            )
        )
        check = triage.check_attempt(policy, cb, att, at, script)
        att.script = check.script
        if check.limits:
            if not force:
                raise Refused(
                    f"Attempt refused: {'; '.join(check.limits)}; if it must happen now, "
                    "add --force --why 'reason'."
                )
            att.forced = f"{why} (passed: {'; '.join(check.limits)})"
        cb.add_attempt(att)
        if next_action:
            cb.next_action = next_action
        cb.next_attempt_at = triage.next_attempt_time(policy, cb, at)
        if next_at is not None:
            if next_at <= at:
                raise Refused("--next-at must be later than this attempt.")
            cb.next_attempt_at = next_at.astimezone(policy.tz)
        return [*check.warnings, *_after_attempt(policy, cb)]

    return change(store, user, now, callback_id, f"attempt ({result.value})", apply)


def _attempt_options(
    result: AttemptResult, message_left: bool | None, force: bool, why: str | None
) -> bool:
    """Refuse options of `attempt` that contradict each other; whether the attempt leaves
    a message by its result."""
    if why and not force:
        raise Refused("--why explains a --force; add --force or leave --why out.")
    if force and not (why and why.strip()):
        raise Refused("--force needs --why with the reason the limit must be passed.")
    leaves_message = result in (AttemptResult.left_voicemail, AttemptResult.message_sent)
    if message_left is False and leaves_message:
        raise Refused(f"A {result.value} attempt leaves a message; drop --no-message-left.")
    if message_left and result != AttemptResult.reached and not leaves_message:
        raise Refused(
            f"A {result.value} attempt cannot leave a message; use left_voicemail or message_sent."
        )
    return leaves_message


def _after_attempt(policy: Policy, cb: Callback) -> list[str]:
    """What staff should know once the attempt is recorded: a wrong number, or the
    attempts used up without reaching the patient."""
    warnings = []
    if cb.number_is_wrong:
        warnings.append(
            f"The phone number is wrong, so no further attempt is scheduled to it; "
            f"correct it with 'cbtrack edit {cb.id} --phone NUMBER --why ...' or reach "
            "the patient another way."
        )
    if triage.attempts_complete(policy, cb) and not cb.was_reached:
        warnings.append(
            f"The attempt process is complete ({policy.attempts.max} attempts); close it "
            "with --reason attempts_exhausted if the patient is still unreachable."
        )
    return warnings


# --- close and reopen --------------------------------------------------------------


def close(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    reason: CloseReason,
    summary: str,
    to: str | None = None,
    of: str | None = None,
) -> Outcome:
    """Close for a defined reason; `duplicate` names the original callback with `of`."""
    if reason == CloseReason.duplicate and not of:
        raise Refused("Close as duplicate needs the original; add --of ID.")
    if of and reason != CloseReason.duplicate:
        raise Refused("--of is only for --reason duplicate.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_close(policy, cb, reason, to)
        triage.check_clinical_handover(policy, cb, actor, closing=True)
        original = store.load(of).id if of else None
        if original == cb.id:
            raise Refused("A callback cannot be a duplicate of itself; --of names the original.")
        at = now.astimezone(policy.tz)
        cb.closure = build(
            lambda: Closure(
                at=at, by=actor, reason=reason, summary=summary, to=to, duplicate_of=original
            )
        )
        was = {"status": cb.status.value}
        now_set = {"status": Status.closed.value, "reason": reason.value}
        if original:
            now_set["duplicate_of"] = original
        if to:
            was["owner"], now_set["owner"] = cb.owner, to
            cb.owner = to
        cb.status = Status.closed
        cb.next_attempt_at = None
        cb.log(at, actor, EventType.closed, note=summary, was=was, set=now_set)

    return change(store, user, now, callback_id, f"close ({reason.value})", apply)


def reopen(store: Store, user: str | None, now: datetime, callback_id: str, *, why: str) -> Outcome:
    if not why.strip():
        raise Refused("Say why the callback is reopened with --why.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        if cb.is_open:
            raise Refused(f"{cb.id} is already open.")
        at = now.astimezone(policy.tz)
        closed_as = cb.closure.reason.value if cb.closure else ""
        cb.closure = None
        cb.status = cb.resting_status()
        due = triage.due_for(policy, cb.urgency, at)
        cb.log(
            at,
            actor,
            EventType.reopened,
            note=why,
            was={"status": "closed", "reason": closed_as, "due_at": cb.due_at.isoformat()},
            set={"status": cb.status.value, "due_at": due.isoformat()},
        )
        cb.due_at = due
        cb.next_attempt_at = None if triage.attempts_complete(policy, cb) else at

    return change(store, user, now, callback_id, "reopen", apply)


# --- urgency, ownership, dependencies ----------------------------------------------


def set_urgency(
    store: Store, user: str | None, now: datetime, callback_id: str, *, level: Urgency, why: str
) -> Outcome:
    if not why.strip():
        raise Refused("Say why the urgency changes with --why.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        if level == cb.urgency:
            raise Refused(f"{cb.id} is already {level.value}.")
        triage.check_urgency_change(policy, cb, level, actor)
        at = now.astimezone(policy.tz)
        fields: dict[str, object] = {"urgency": level}
        due = triage.due_for(policy, level, at)
        # Raising never makes it due later; lowering gives the new level's time from now.
        fields["due_at"] = (
            min(cb.due_at, due) if policy.rank(level) > policy.rank(cb.urgency) else due
        )
        verdict = corrections.judge(policy, cb, level, actor)
        cb.change(at, actor, EventType.urgency_changed, why, **fields)
        corrections.mark(cb.events[-1], verdict)

    return change(store, user, now, callback_id, "urgency", apply)


def assign(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    owner: str,
    note: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        triage.check_owner(policy, owner)
        if cb.owner == owner:
            raise Refused(f"{cb.id} is already owned by {owner}.")
        triage.check_clinical_handover(policy, cb, actor, new_owner=owner)
        cb.change(now.astimezone(policy.tz), actor, EventType.assigned, note, owner=owner)

    return change(store, user, now, callback_id, "assign", apply)


def route(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    to: str,
    note: str,
    next_action: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        triage.check_role(policy, to)
        if cb.owner == to:
            raise Refused(f"{cb.id} is already with {to}.")
        triage.check_clinical_handover(policy, cb, actor, new_owner=to)
        fields: dict[str, object] = {"owner": to}
        if next_action is not None:
            fields["next_action"] = next_action
        elif to == CLINICAL_ROLE:
            fields["next_action"] = clinical_next_action(policy)
        else:
            fields["next_action"] = role_next_action(policy, cb, to)
        if fields["next_action"] == cb.next_action:
            del fields["next_action"]
        cb.change(now.astimezone(policy.tz), actor, EventType.routed, note, **fields)

    return change(store, user, now, callback_id, "route", apply)


def clinical_next_action(policy: Policy) -> str:
    """What a callback routed to clinical staff waits for: the clinical category's next
    action, so the administrative one does not linger in the queue."""
    for cat in policy.categories.values():
        if cat.owner == CLINICAL_ROLE and cat.urgency.value == "clinical":
            return cat.next_action
    return "Clinical review and call"


def role_next_action(policy: Policy, cb: Callback, role: str) -> str:
    """What a callback routed to `role` waits for: its own category's next action when
    the role owns that category, else the first category the role owns, else a call."""
    own = policy.categories.get(cb.category)
    if own is not None and own.owner == role:
        return own.next_action
    for cat in policy.categories.values():
        if cat.owner == role:
            return cat.next_action
    return "Call the patient back"


def block(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    kind: DependencyKind,
    note: str,
    until: datetime | None = None,
) -> Outcome:
    """Wait on internal work, expected by `until` (default: the policy's
    `dependency_wait` from now); until then the callback is neither overdue nor escalated."""

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        at = now.astimezone(policy.tz)
        expected = (
            until.astimezone(policy.tz)
            if until is not None
            else policy.calendar.add_duration(at, policy.dependency_wait)
        )
        if expected <= at:
            raise Refused("--until must be later than now; give the date the work is expected.")
        dep: Dependency = build(lambda: Dependency(kind=kind, note=note, since=at, until=expected))
        cb.depends_on = [*cb.depends_on, dep]
        cb.log(
            at,
            actor,
            EventType.blocked,
            note=note,
            was={"status": cb.status.value},
            set={
                "status": Status.waiting_internal.value,
                "depends_on": kind.value,
                "until": expected.isoformat(),
            },
        )
        cb.status = Status.waiting_internal

    return change(store, user, now, callback_id, f"block ({kind.value})", apply)


def unblock(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    kind: DependencyKind | None = None,
    note: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        targets = [d for d in cb.open_dependencies if kind is None or d.kind == kind]
        if not targets:
            what = f" on {kind.value}" if kind else ""
            raise Refused(f"{cb.id} is not waiting{what}; nothing to unblock.")
        at = now.astimezone(policy.tz)
        cb.depends_on = [
            d.model_copy(update={"resolved_at": at}) if d in targets else d for d in cb.depends_on
        ]
        before = cb.status
        after = cb.resting_status() if before == Status.waiting_internal else before
        cb.status = after
        was = {"status": before.value}
        now_set = {"status": after.value, "resolved": ", ".join(d.kind.value for d in targets)}
        if not cb.open_dependencies and cb.due_at < at:
            # The clock was paused while waiting: the work starts again from now.
            due = timing.due_before_deadline(
                policy, triage.due_for(policy, cb.urgency, at), cb.deadline_at, at
            )
            was["due_at"], now_set["due_at"] = cb.due_at.isoformat(), due.isoformat()
            cb.due_at = due
        cb.log(at, actor, EventType.unblocked, note=note, was=was, set=now_set)

    return change(store, user, now, callback_id, "unblock", apply)


def add_note(
    store: Store, user: str | None, now: datetime, callback_id: str, *, note: str
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        cb.log(now.astimezone(policy.tz), actor, EventType.note, note=note)

    return change(store, user, now, callback_id, "note", apply)


# --- end-of-day roll-over ----------------------------------------------------------


def roll_over(store: Store, user: str | None, now: datetime) -> list[review.Roll]:
    """Roll every open callback over in one commit by the acting staff member; each record
    is re-planned under the store lock (another desk may have rolled it first)."""
    policy = committed_policy(store)
    identity.actor(store.root, policy, user)
    done: list[review.Roll] = []

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        fresh = review.plan_one(policy, cb, now)
        if fresh is None:
            raise Skip
        triage.check_clinical_handover(policy, cb, actor, new_owner=fresh.owner)
        review.apply_roll(cb, fresh, now.astimezone(policy.tz), actor)
        done.append(fresh)

    planned = [p.callback_id for p in review.plan_roll(policy, store.open_records(), now)]
    if planned:
        change_many(store, user, now, planned, "roll-over", apply)
    return done
