"""A callback comes in: `add` (intake triage, deadlines, the duplicate check), the
triage of open callbacks (`plan_triage`, `apply_triage`), and the import of missed calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cbtrack.errors import Refused
from cbtrack.ids import phone_digits
from cbtrack.lazy import lazy_module
from cbtrack.model import (
    CLINICAL_URGENCIES,
    Callback,
    ContactMethod,
    EventType,
    Patient,
    Source,
    Status,
    Urgency,
    VoicemailConsent,
)
from cbtrack.policy import Policy
from cbtrack.store import Store

if TYPE_CHECKING:
    from cbtrack import corrections, doctor, gitlog, identity, importer, timing, triage
else:  # loaded by the commands that use them: reading the queue needs none of them
    corrections = lazy_module("cbtrack.corrections")
    doctor = lazy_module("cbtrack.doctor")
    gitlog = lazy_module("cbtrack.gitlog")
    identity = lazy_module("cbtrack.identity")
    importer = lazy_module("cbtrack.importer")
    timing = lazy_module("cbtrack.timing")
    triage = lazy_module("cbtrack.triage")


from cbtrack.changes import (
    Outcome,
    Skip,
    build,
    change_many,
    check_born,
    check_reachable,
    committed_policy,
)

# --- add ---------------------------------------------------------------------------


def new_record(
    store: Store,
    actor: str,
    created: datetime,
    *,
    source: Source,
    patient: Patient,
    category: str,
    reason: str,
    details: dict[str, str],
    plan: triage.Intake,
    next_action: str | None = None,
    deadline_at: datetime | None = None,
    related_to: str | None = None,
    import_key: str | None = None,
    created_note: str | None = None,
) -> Callback:
    """A new callback as triage planned it, with its `created` (and `triaged`) events; an
    ID is picked from the store, so call it under the lock. `add` and `import` share it."""
    cb: Callback = build(
        lambda: Callback(
            id=store.new_id(created),
            created_at=created,
            created_by=actor,
            source=source,
            import_key=import_key,
            patient=patient,
            category=category,
            reason=reason,
            details=details,
            urgency=plan.urgency,
            owner=plan.owner,
            due_at=plan.due_at,
            deadline_at=deadline_at,
            related_to=related_to,
            next_action=next_action or plan.next_action,
        )
    )
    created_set = {
        "owner": plan.owner,
        "urgency": plan.urgency.value,
        "due_at": plan.due_at.isoformat(),
    }
    if deadline_at:
        created_set["deadline_at"] = deadline_at.isoformat()
    if related_to:
        created_set["related_to"] = related_to
    cb.log(created, actor, EventType.created, note=created_note, set=created_set)
    _log_triage(store, cb, plan, created, actor)
    return cb


def _log_triage(
    store: Store, cb: Callback, plan: triage.Intake, created: datetime, actor: str
) -> None:
    """The event that says how the urgency was set on intake: by clinical staff below what
    triage suggests (a correction the practice hears about), or by a rule or a question."""
    if plan.judged:
        judged = cb.log(
            created,
            actor,
            EventType.urgency_changed,
            note="Set by clinical staff on intake, below what triage suggests",
            was={"urgency": plan.floor.value},
            set={"urgency": plan.urgency.value},
        )
        verdict = corrections.lowered_alarm(
            committed_policy(store), cb, plan.floor, plan.urgency, actor
        )
        corrections.mark(judged, verdict)
    elif plan.rule and plan.triaged:
        why = f"rule {plan.rule.name}"
        if plan.answered:
            asked = "red-flag checklist" if plan.red_flag else "symptoms question"
            why = f"staff answered yes to the {asked}"
        cb.log(
            created,
            actor,
            EventType.triaged,
            note=f"Triage by {why}",
            set={"urgency": plan.urgency.value, "owner": plan.owner},
        )


def add(
    store: Store,
    user: str | None,
    now: datetime,
    *,
    patient: str,
    phone: str,
    category: str,
    reason: str,
    method: ContactMethod = ContactMethod.phone,
    voicemail: VoicemailConsent = VoicemailConsent.minimal,
    window: str | None = None,
    details: dict[str, str] | None = None,
    urgency: Urgency | None = None,
    owner: str | None = None,
    due: datetime | None = None,
    source: Source = Source.phone,
    mrn: str | None = None,
    dob: str | None = None,
    language: str | None = None,
    email: str | None = None,
    next_action: str | None = None,
    note: str | None = None,
    symptoms: bool | None = None,
    deadline: datetime | None = None,
    related: str | None = None,
    red_flags: bool | None = None,
) -> Outcome:
    """A new callback; triage reads the reason, the details and `note`; a 'yes' to the
    symptoms question (`symptoms=True`) makes it at least clinical, and a 'yes' to the
    red-flag checklist (`red_flags=True`) an emergency."""
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user)
    details = {k: v for k, v in (details or {}).items()}
    warnings = _check_request(policy, category, details, owner)
    person: Patient = build(
        lambda: Patient(
            name=patient,
            phone=phone,
            preferred_method=method,
            contact_window=window,
            voicemail=voicemail,
            mrn=mrn,
            dob=dob,
            language=language,
            email=email,
        )
    )
    check_reachable(person)
    created = now.astimezone(policy.tz)
    check_born(person, created.date())
    late = timing.past_due_warning(policy, due, created) if due is not None else None
    if note is not None and not note.strip():
        raise Refused("--note is empty; write what the patient said or leave --note out.")
    notes = [note] if note else []
    plan = triage.intake(
        policy,
        actor,
        category,
        reason,
        details,
        urgency,
        owner,
        due,
        created,
        notes,
        symptoms,
        red_flags,
    )
    warnings += plan.warnings
    warnings += [late] if late else []
    deadline_at = apply_deadline(policy, plan, deadline, details, due, created, warnings)
    related_to = store.load(related).id if related else None
    warnings += duplicate_warnings(store, person, related_to)
    with _writing(store, now, actor):
        cb = new_record(
            store,
            actor,
            created,
            source=source,
            patient=person,
            category=category,
            reason=reason,
            details=details,
            plan=plan,
            next_action=next_action,
            deadline_at=deadline_at,
            related_to=related_to,
        )
        if note:
            cb.log(created, actor, EventType.note, note=note)
        paths = store.save(cb)
        gitlog.commit(store.root, paths, f"add {cb.id}", actor, now)
    return Outcome(cb, warnings)


def _check_request(
    policy: Policy, category: str, details: dict[str, str], owner: str | None
) -> list[str]:
    """Refuse a category, details or owner the policy does not allow; the warnings about
    the details."""
    triage.check_category(policy, category)
    warnings = triage.check_details(policy, category, details)
    if owner:
        triage.check_owner(policy, owner)
    return warnings


@contextmanager
def _writing(store: Store, now: datetime, actor: str) -> Iterator[None]:
    """The store locked for new records: a repository not in the middle of a merge (asked
    again under the lock), with what an interrupted command left recovered first."""
    gitlog.require_repo(store.root, merging_ok=True)
    with store.lock():
        doctor.recover(store, now, actor)
        gitlog.require_repo(store.root)  # (a merge started by hand; a sync's waits above)
        yield


def apply_deadline(
    policy: Policy,
    plan: triage.Intake,
    deadline: datetime | None,
    details: dict[str, str],
    due: datetime | None,
    now: datetime,
    warnings: list[str],
) -> datetime | None:
    """A deadline on intake (`--deadline`, else a date in the `deadline` detail): at least
    `deadline` urgent, and due before it by the policy's lead. Returns `deadline_at`."""
    tz = policy.tz
    if deadline is None and details.get("deadline", "").strip():
        deadline = timing.deadline_in_text(policy, details["deadline"])
        if deadline is None:
            warnings.append(
                "The deadline detail holds no date (YYYY-MM-DD); add --deadline WHEN so the "
                "callback is due before it."
            )
            return None
        warnings.append(
            f"Read the deadline {deadline:%a %Y-%m-%d %H:%M} from the deadline detail; "
            "give --deadline WHEN if that is not right."
        )
    if deadline is None:
        return None
    deadline = deadline.astimezone(tz)
    if deadline <= now:
        warnings.append("The deadline has already passed; the callback is due now.")
    raised = timing.deadline_floor(policy, plan.urgency)
    if raised != plan.urgency:
        plan.urgency = raised
        if due is None:  # a due time staff chose stands, within the deadline's lead
            plan.due_at = min(plan.due_at, triage.due_for(policy, raised, now))
    moved = timing.due_before_deadline(policy, plan.due_at, deadline, now)
    if moved != plan.due_at:
        if due is not None:
            warnings.append(
                f"The due time moved earlier to leave {policy.deadline_lead} before the deadline."
            )
        plan.due_at = moved
    return deadline


def duplicate_warnings(store: Store, person: Patient, related: str | None) -> list[str]:
    """A warning naming each open callback with the same phone digits or MRN (not the one
    this callback says it follows up)."""
    found = [cid for cid in store.open_same_patient(person.phone, person.mrn) if cid != related]
    return [
        f"Open callback {cid} has the same phone number or MRN; if this is the same request, "
        f"close the new one with --reason duplicate --of {cid}, or link a follow-up with "
        f"--related {cid}."
        for cid in found
    ]


# --- triage ------------------------------------------------------------------------


@dataclass
class TriagePlan:
    callback_id: str
    changes: list[triage.Change]


def triage_corrections(
    store: Store, since: datetime | None, until: datetime
) -> list[corrections.Correction]:
    """Every marked triage correction (a miss or a false alarm) since `since`, oldest
    first, with the words triage read: patient data, for local output only."""
    start = since or datetime(1970, 1, 1, tzinfo=store.policy.tz)
    found = [
        c
        for cb in store.records_for_period(start, until)
        for c in corrections.corrections(store.policy, cb, since)
    ]
    return sorted(found, key=lambda c: (c.at, c.callback_id))


def plan_triage(
    store: Store, now: datetime, ids: Iterable[str] = (), everything: bool = False
) -> list[TriagePlan]:
    policy = store.policy
    chosen = list(ids)
    records = [store.load(i) for i in chosen] if chosen else store.open_records()
    plans = []
    for cb in triage.rank_queue(policy, [r for r in records if r.is_open]):
        new_only = not chosen and not everything and cb.status != Status.new
        changes = triage.plan_triage(policy, cb, now)
        if new_only:
            changes = [c for c in changes if c.type == EventType.escalated]
        if changes:
            plans.append(TriagePlan(cb.id, changes))
    return plans


def apply_triage(
    store: Store, user: str | None, now: datetime, ids: Iterable[str] = (), everything: bool = False
) -> list[TriagePlan]:
    """Plan, then apply: one lock and one commit; each record is re-planned under the lock."""
    chosen = list(ids)
    named = bool(chosen)
    done: list[TriagePlan] = []

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        changes = triage.plan_triage(policy, cb, now)
        if not named and not everything and cb.status != Status.new:
            changes = [c for c in changes if c.type == EventType.escalated]
        if not changes:
            raise Skip
        for ch in changes:
            triage.apply_change(cb, ch, now.astimezone(policy.tz), actor)
        done.append(TriagePlan(cb.id, changes))

    planned = [p.callback_id for p in plan_triage(store, now, chosen, everything)]
    if planned:
        change_many(store, user, now, planned, "triage", apply)
    else:
        identity.actor(store.root, committed_policy(store), user)
    return done


# --- import of missed calls ---------------------------------------------------------

MISSED_CALL = "missed_call"


@dataclass
class PlannedCall:
    """What one missed call becomes: everything but its ID."""

    call: importer.Call
    patient: Patient
    reason: str
    details: dict[str, str]
    source: Source
    plan: triage.Intake
    next_action: str


@dataclass
class Imported:
    """What an import did (or, in a dry run, would do)."""

    added: list[PlannedCall]
    skipped: list[importer.Call]  # already in the store, or earlier in the same file
    records: list[Callback]  # the callbacks written (empty in a dry run)
    warnings: list[str]


def _import_intake(
    policy: Policy, actor: str, reason: str, details: dict[str, str], created: datetime
) -> triage.Intake:
    """Triage as `add` applies it, with nothing chosen by staff: the transcript is read
    like any reason, so every triage rule applies to what the caller said."""
    return triage.intake(policy, actor, MISSED_CALL, reason, details, None, None, None, created)


def plan_call(policy: Policy, actor: str, call: importer.Call) -> PlannedCall:
    """The callback a missed call becomes. A voicemail transcript is the reason, in the
    caller's own words, and triage reads it (the whole of it, even when the stored reason
    must be cut) exactly as it reads a reason typed at the desk."""
    cat = policy.categories[MISSED_CALL]
    details = {"call_time": f"{call.at:%Y-%m-%d %H:%M}"}
    if "left_message" in (*cat.required_details, *cat.optional_details):
        details["left_message"] = "yes" if call.transcript else "no"
    if call.transcript:
        heard = reason = call.transcript
        if len(reason) > importer.MAX_TRANSCRIPT:
            reason = reason[: importer.MAX_TRANSCRIPT].rsplit(" ", 1)[0]
            reason += " [cut here; the whole message is in the phone system]"
    else:
        heard = reason = "Missed call, no voicemail left"
    plan = _import_intake(policy, actor, heard, details, call.at)
    next_action = plan.next_action
    if call.name is None and plan.rule is None:
        next_action = f"{next_action}; ask who is calling"
    patient: Patient = build(
        lambda: Patient(
            name=call.name or importer.UNKNOWN_CALLER, phone=call.phone, extension=call.extension
        )
    )
    source = Source.voicemail if call.transcript else Source.missed_call
    return PlannedCall(call, patient, reason, details, source, plan, next_action)


def import_missed_calls(
    store: Store,
    user: str | None,
    now: datetime,
    calls: list[importer.Call],
    *,
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Imported:
    """Each call not yet in the store becomes a `missed_call` callback created at the call
    time; all of them are saved under one lock and committed once, by the acting user."""
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user) if user or not dry_run else "import"
    _check_missed_call_category(policy)
    # IDs carry the call's local date; a day either side covers a change of time zone.
    days = {f"{c.at + timedelta(days=d):%Y%m%d}" for c in calls for d in (-1, 0, 1)}
    found = store.import_keys(days)
    unseen, skipped = _new_calls(calls, set(found))  # triage only new calls
    planned: list[PlannedCall] = []
    for call in unseen:
        planned.append(plan_call(policy, actor, call))
        if progress:
            progress("Triaging", len(planned), len(unseen))
    warnings = sorted(
        {w for p in planned for w in triage.check_details(policy, MISSED_CALL, p.details)}
    )
    warnings += _twice_warnings(found)
    if dry_run:
        fresh = planned
        urgent = [p for p in fresh if p.plan.urgency in CLINICAL_URGENCIES]
        if urgent:
            lines = ", ".join(str(p.call.line) for p in urgent)
            warnings.append(
                f"{len(urgent)} of these calls would be {_levels(urgent)} (line(s) {lines}): "
                "import them now so a clinician calls back."
            )
        return Imported(fresh, skipped, [], warnings)
    with _writing(store, now, actor):
        known = store.import_keys(days)  # again: another desk may have imported since
        fresh = [p for p in planned if p.call.key not in known]
        skipped += [p.call for p in planned if p.call.key in known]
        stamp = f"{now.astimezone(policy.tz):%Y-%m-%d %H:%M}"
        records, paths = _save_calls(store, actor, fresh, stamp, progress)
        if records:
            ids = [cb.id for cb in records]
            title = f"import {len(ids)} missed call{'s' if len(ids) != 1 else ''}"
            gitlog.commit(store.root, paths, title + "\n\n" + "\n".join(ids), actor, now)
    if records:  # after the lock: what the desk should look at first
        warnings += _urgent_warnings(policy, records)
        warnings += _repeat_warnings(store.open_records(), records)
    return Imported(fresh, skipped, records, warnings)


def _check_missed_call_category(policy: Policy) -> None:
    """Refuse an import the policy cannot take: no missed_call category, or one that
    requires details a phone system's export does not hold."""
    if MISSED_CALL not in policy.categories:
        raise Refused(
            "The policy has no missed_call category; add one to cbtrack.yaml before "
            "importing missed calls."
        )
    required = policy.categories[MISSED_CALL].required_details
    lacking = [k for k in required if k not in ("call_time", "left_message")]
    if lacking:
        raise Refused(
            f"The policy's missed_call category requires {', '.join(lacking)}, which a "
            "phone system's export does not hold; make it optional to import missed calls."
        )


def _save_calls(
    store: Store,
    actor: str,
    fresh: list[PlannedCall],
    stamp: str,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[list[Callback], list[Path]]:
    """Each planned call as a saved record (under the caller's lock), and the paths written."""
    paths: list[Path] = []
    records: list[Callback] = []
    for n, p in enumerate(fresh, 1):
        cb = new_record(
            store,
            actor,
            p.call.at,
            source=p.source,
            patient=p.patient,
            category=MISSED_CALL,
            reason=p.reason,
            details=p.details,
            plan=p.plan,
            next_action=p.next_action,
            import_key=p.call.key,
            created_note=f"Imported from a missed-call export on {stamp}{_lasted(p.call)}",
        )
        paths += store.save(cb)
        records.append(cb)
        if progress:
            progress("Saving", n, len(fresh))
    return records, paths


def _twice_warnings(found: dict[str, list[str]]) -> list[str]:
    """Calls held by two callbacks: two desks imported one export before they synced."""
    pairs = [" = ".join(ids) for ids in found.values() if len(ids) > 1]
    if not pairs:
        return []
    shown = "; ".join(pairs[:5]) + ("; ..." if len(pairs) > 5 else "")
    return [
        f"{len(pairs)} call(s) were imported twice, by two desks before they synced "
        f"({shown}); close one of each with --reason duplicate."
    ]


def _lasted(call: importer.Call) -> str:
    if call.duration is None:
        return ""
    return f"; the call lasted {importer.describe_duration(call.duration)}"


def _levels(planned: list[PlannedCall]) -> str:
    return " or ".join(sorted({p.plan.urgency.value for p in planned}))


def _urgent_warnings(policy: Policy, records: list[Callback]) -> list[str]:
    """What the desk must not miss: calls that triage found clinical or emergency."""
    out = []
    for level in (Urgency.emergency, Urgency.clinical):
        ids = [cb.id for cb in records if cb.urgency == level]
        if ids:
            out.append(
                f"{len(ids)} imported call(s) are {level.value} and owned by "
                f"{', '.join(sorted({cb.owner for cb in records if cb.urgency == level}))}: "
                f"{', '.join(ids)}; "
                + ("call back now." if level == Urgency.emergency else "a clinician calls back.")
            )
    return out


def _repeat_warnings(open_records: list[Callback], new: list[Callback]) -> list[str]:
    """New callbacks whose number has another open callback: the desk should see them
    together (the same need, called in twice, is closed as a duplicate)."""
    numbers: dict[str, int] = {}
    for cb in open_records:
        key = phone_digits(cb.patient.phone)[-importer.KEY_DIGITS :]
        numbers[key] = numbers.get(key, 0) + 1
    repeats = [
        cb.id
        for cb in new
        if numbers.get(phone_digits(cb.patient.phone)[-importer.KEY_DIGITS :], 0) > 1
    ]
    if not repeats:
        return []
    return [
        f"{len(repeats)} imported call(s) come from a number with another open callback "
        f"({', '.join(repeats)}); if it is the same need, close the extra one with "
        "--reason duplicate."
    ]


def _new_calls(
    calls: list[importer.Call], known: set[str]
) -> tuple[list[importer.Call], list[importer.Call]]:
    """The calls not in `known`, each once; and the others."""
    fresh: list[importer.Call] = []
    skipped: list[importer.Call] = []
    seen = set(known)
    for call in calls:
        if call.key in seen:
            skipped.append(call)
        else:
            seen.add(call.key)
            fresh.append(call)
    return fresh, skipped
