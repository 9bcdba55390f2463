"""Correcting a callback: `edit` and what it may change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module
from cbtrack.model import (
    CLINICAL_URGENCIES,
    Callback,
    ContactMethod,
    EventType,
    Patient,
    Urgency,
    VoicemailConsent,
)
from cbtrack.policy import CLINICAL_ROLE, Policy
from cbtrack.store import Store

if TYPE_CHECKING:
    from cbtrack import corrections, timing, triage
else:  # loaded by the commands that use them: reading the queue needs none of them
    corrections = lazy_module("cbtrack.corrections")
    timing = lazy_module("cbtrack.timing")
    triage = lazy_module("cbtrack.triage")


from cbtrack.changes import Outcome, build, change, check_born, check_reachable

# --- edit --------------------------------------------------------------------------


@dataclass
class Edits:
    """What `cbtrack edit` changes; None leaves a field as it is. An empty text clears an
    optional patient field (dob, mrn, language, window) or removes an optional detail."""

    patient: str | None = None
    phone: str | None = None
    dob: str | None = None
    mrn: str | None = None
    language: str | None = None
    email: str | None = None
    method: ContactMethod | None = None
    window: str | None = None
    voicemail: VoicemailConsent | None = None
    details: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    due: datetime | None = None
    deadline: datetime | None = None
    next_action: str | None = None
    symptoms: bool | None = None  # a later answer to the symptoms question
    red_flags: bool | None = None  # a later answer to the red-flag checklist

    def patient_fields(self) -> dict[str, object]:
        given = {
            "name": self.patient,
            "phone": self.phone,
            "dob": self.dob,
            "mrn": self.mrn,
            "language": self.language,
            "email": self.email,
            "preferred_method": self.method,
            "contact_window": self.window,
            "voicemail": self.voicemail,
        }
        optional = ("dob", "mrn", "language", "contact_window", "email")
        fields: dict[str, object] = {
            k: (None if k in optional and isinstance(v, str) and not v.strip() else v)
            for k, v in given.items()
            if v is not None
        }
        if self.phone is not None:  # a new number drops the old extension, or brings its own
            fields["extension"] = None
        return fields

    @property
    def empty(self) -> bool:
        return (
            not self.patient_fields()
            and not self.details
            and all(v is None for v in (self.reason, self.due, self.deadline, self.next_action))
            and not self.symptoms
            and not self.red_flags
        )


def edit(
    store: Store, user: str | None, now: datetime, callback_id: str, *, why: str, edits: Edits
) -> Outcome:
    """Correct a record; one `edited` event names the fields changed (old and new values
    stay in the record's history, never in the commit message)."""
    if not why.strip():
        raise Refused("Say why the record is corrected with --why.")
    if edits.empty:
        raise Refused(
            "Nothing to change; give at least one of --patient, --phone, --dob, --mrn, "
            "--language, --method, --window, --voicemail, --detail, --reason, --due, "
            "--deadline, --next, --symptoms yes or --red-flags yes."
        )

    def apply(policy: Policy, cb: Callback, actor: str) -> list[str]:
        triage.check_open(cb)
        at = now.astimezone(policy.tz)
        before = record_fields(cb)
        was_wrong = cb.number_is_wrong
        warnings = _set_fields(policy, cb, edits, at, actor)
        if edits.dob:
            check_born(cb.patient, at.date())
        phone_fixed = "patient.phone" in changed_fields(before, record_fields(cb))
        done = cb.was_reached or triage.attempts_complete(policy, cb)
        if was_wrong and phone_fixed and not done:  # the next try goes to the new number
            cb.next_attempt_at = triage.callable_time(policy, cb, at)
        after = record_fields(cb)
        changed = changed_fields(before, after)
        answers = triage.plan_answers(policy, cb, edits.symptoms, edits.red_flags)
        if not changed and (edits.symptoms or edits.red_flags):
            if answers is None:
                raise Refused(f"{cb.id} is already {cb.urgency.value}; nothing to change.")
            _answered(policy, cb, answers, at, actor)
            return warnings
        if not changed:
            raise Refused(f"{cb.id} already holds those values; nothing to change.")
        cb.log(
            at,
            actor,
            EventType.edited,
            note=why,
            was={k: before.get(k, "") for k in changed},
            set={k: after.get(k, "") for k in changed},
        )
        # Triage reads the corrected reason and details, and the edit's note.
        for ch in triage.plan_triage(policy, cb, at):
            if ch.type == EventType.triaged:
                triage.apply_change(cb, ch, at, actor)
                warnings.append(f"Triage read the correction: {ch.note}.")
        answers = triage.plan_answers(policy, cb, edits.symptoms, edits.red_flags)
        if answers is not None:
            _answered(policy, cb, answers, at, actor)
        return warnings

    return change(store, user, now, callback_id, "edit", apply)


def _answered(
    policy: Policy, cb: Callback, answers: triage.Change, at: datetime, actor: str
) -> None:
    """Apply a later yes to the symptoms question or the checklist. Staff raising the
    callback that way to clinical or emergency, above what triage gave it, is a triage miss
    (`corrections`), as the same raise with `cbtrack urgency` is."""
    new = answers.fields.get("urgency")
    verdict = corrections.judge(policy, cb, new, actor) if isinstance(new, Urgency) else None
    triage.apply_change(cb, answers, at, actor)
    corrections.mark(cb.events[-1], verdict)


def _set_fields(policy: Policy, cb: Callback, edits: Edits, at: datetime, actor: str) -> list[str]:
    """Set what `edits` corrects on `cb` (the patient, details, reason, next step, deadline
    and due, the due kept before a deadline); the warnings staff should read."""
    warnings: list[str] = []
    old_patient = cb.patient.model_dump(mode="json")
    person: Patient = build(
        lambda: Patient.model_validate({**old_patient, **edits.patient_fields()})
    )
    if edits.method is not None or edits.email is not None:
        check_reachable(person)
    cb.patient = person
    if edits.details:
        details = dict(cb.details)
        for key, value in edits.details.items():
            if value.strip():
                details[key] = value
            else:
                details.pop(key, None)
        warnings += triage.check_details(policy, cb.category, details)
        cb.details = details
    if edits.reason is not None:
        cb.reason = edits.reason
    if edits.next_action is not None:
        cb.next_action = edits.next_action
    if edits.deadline is not None:
        cb.deadline_at = edits.deadline.astimezone(policy.tz)
        raised = timing.deadline_floor(policy, cb.urgency)
        if raised != cb.urgency:
            cb.urgency = raised
            cb.due_at = min(cb.due_at, triage.due_for(policy, raised, at))
    if edits.due is not None:
        late = timing.past_due_warning(policy, edits.due, at)
        warnings += [late] if late else []
        due = edits.due.astimezone(policy.tz)
        clinical = cb.urgency in CLINICAL_URGENCIES
        if due > cb.due_at and clinical and not policy.is_clinical(actor):
            raise Refused(
                f"Only staff with the {CLINICAL_ROLE} role can move a "
                f"{cb.urgency.value} callback's due time later."
            )
        cb.due_at = due
    if cb.deadline_at is not None and (edits.due is not None or edits.deadline is not None):
        moved = timing.due_before_deadline(policy, cb.due_at, cb.deadline_at, at)
        if moved != cb.due_at:
            if edits.due is not None:
                warnings.append(
                    f"The due time moved earlier to leave {policy.deadline_lead} before "
                    "the deadline."
                )
            cb.due_at = moved
    return warnings


def record_fields(cb: Callback) -> dict[str, str]:
    """The fields `edit` may change, flattened to `patient.phone`, `details.KEY`, ...;
    every value as text."""
    out: dict[str, str] = {}
    for key, value in cb.patient.model_dump(mode="json").items():
        out[f"patient.{key}"] = "" if value is None else str(value)
    for key, value in cb.details.items():
        out[f"details.{key}"] = value
    out["reason"] = cb.reason
    out["urgency"] = cb.urgency.value
    out["due_at"] = cb.due_at.isoformat()
    out["deadline_at"] = cb.deadline_at.isoformat() if cb.deadline_at else ""
    out["next_action"] = cb.next_action
    out["next_attempt_at"] = cb.next_attempt_at.isoformat() if cb.next_attempt_at else ""
    return out


def changed_fields(before: dict[str, str], after: dict[str, str]) -> list[str]:
    keys = [*before, *(k for k in after if k not in before)]
    return [k for k in keys if before.get(k, "") != after.get(k, "")]
