"""Callbacks in the forms other tools read: a FHIR R4 Bundle (R4B resources), CSV, JSON.

Pure: the records, the policy and `now` are passed in; the caller writes the text.
Exports carry patient data by design (that is their purpose); they are never written
into the store, so git never commits them.

FHIR mapping (one Task per callback, one Communication per attempt, one Patient per
person): the Task's identifier is the callback ID, `for` its Patient, `authoredOn` the
creation time, `restriction.period.end` the due time, `description` the reason,
`statusReason` the closure reason, `businessStatus` what an open callback waits on.
Each Communication is `basedOn` its Task, its `subject` the Patient; a call that reached
no one (no answer, busy, wrong number) is `not-done` with that as its `statusReason`.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cbtrack.errors import Refused
from cbtrack.ids import phone_digits
from cbtrack.importer import UNKNOWN_CALLER
from cbtrack.model import (
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Status,
    Urgency,
)
from cbtrack.phones import e164, with_extension
from cbtrack.policy import Policy
from cbtrack.render import printable, spreadsheet_safe

# Code systems of cbtrack's own words (URNs: they name, they do not resolve).
SYSTEM = "urn:cbtrack"
PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
_NAMESPACE = uuid.UUID("5f1f5d3e-9a0c-4d55-9d7e-2f0c1b7a6c31")

TASK_STATUS = {
    Status.new: "ready",
    Status.in_progress: "in-progress",
    Status.waiting_patient: "in-progress",
    Status.waiting_internal: "on-hold",
    Status.escalated: "in-progress",
}
CLOSED_STATUS = {
    CloseReason.reached: "completed",
    CloseReason.resolved: "completed",
    CloseReason.routed: "completed",
    CloseReason.attempts_exhausted: "failed",
    CloseReason.duplicate: "cancelled",
}
PRIORITY = {
    Urgency.routine: "routine",
    Urgency.time_sensitive: "urgent",
    Urgency.deadline: "urgent",
    Urgency.same_day: "asap",
    Urgency.clinical: "asap",
    Urgency.emergency: "stat",
}
MEDIUM = {
    AttemptMethod.phone: ("PHONE", "telephone"),
    AttemptMethod.inbound: ("PHONE", "telephone"),
    AttemptMethod.text: ("WRITTEN", "written"),
    AttemptMethod.portal: ("ONLINEWRIT", "online written"),
    AttemptMethod.email: ("EMAILWRIT", "email"),
    AttemptMethod.in_person: ("FACE", "face-to-face"),
}
NOT_DONE = {
    AttemptResult.no_answer: "no answer",
    AttemptResult.busy: "line busy",
    AttemptResult.wrong_number: "wrong number",
}


def touched(cb: Callback, start: datetime | None, end: datetime | None) -> bool:
    """Created, attempted, changed or closed in [start, end)."""
    moments = [cb.created_at, *(a.at for a in cb.attempts), *(e.at for e in cb.events)]
    if cb.closure:
        moments.append(cb.closure.at)
    return any((start is None or m >= start) and (end is None or m < end) for m in moments)


def select(
    records: Iterable[Callback],
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
) -> list[Callback]:
    """The callbacks to export, oldest first; `status` is `open`, `closed` or None."""
    out = [
        cb
        for cb in records
        if (status is None or cb.is_open == (status == "open")) and touched(cb, start, end)
    ]
    return sorted(out, key=lambda cb: (cb.created_at, cb.id))


# --- JSON --------------------------------------------------------------------------


def to_json(records: list[Callback], country: str = "US") -> str:
    """The records as `show --json` prints them, each phone in E.164 where valid for
    `country` (as in CSV and FHIR; the extension stays in its own field)."""
    from cbtrack.render import records_json

    def dialable(cb: Callback) -> Callback:
        phone = e164(cb.patient.phone, country)
        return cb.model_copy(update={"patient": cb.patient.model_copy(update={"phone": phone})})

    return records_json([dialable(cb) for cb in records])


# --- CSV ---------------------------------------------------------------------------

CSV_COLUMNS = [
    "id",
    "created_at",
    "created_by",
    "source",
    "patient_name",
    "patient_phone",
    "patient_phone_extension",
    "patient_email",
    "patient_dob",
    "patient_mrn",
    "patient_language",
    "preferred_method",
    "voicemail_consent",
    "category",
    "reason",
    "details",
    "urgency",
    "status",
    "owner",
    "due_at",
    "deadline_at",
    "related_to",
    "next_action",
    "next_attempt_at",
    "waiting_on",
    "attempts",
    "last_attempt_at",
    "last_result",
    "closed_at",
    "close_reason",
    "close_summary",
    "routed_to",
    "duplicate_of",
]


def csv_cell(value: object) -> str:
    """Text a spreadsheet shows as text (`render.spreadsheet_safe`, as for reports): a
    phone number like +15550100123 keeps its + instead of becoming a number. Control and
    bidirectional characters are shown as escapes (`render.printable`; line breaks stay),
    so neither a terminal nor a spreadsheet acts on them."""
    return spreadsheet_safe(printable("" if value is None else str(value), newlines=True))


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def csv_row(cb: Callback, country: str = "US") -> list[str]:
    """One callback as a CSV row; the phone in E.164 where valid for `country`."""
    last = cb.last_attempt
    closure = cb.closure
    values: list[object] = [
        cb.id,
        _iso(cb.created_at),
        cb.created_by,
        cb.source.value,
        cb.patient.name,
        e164(cb.patient.phone, country),
        cb.patient.extension,
        cb.patient.email,
        cb.patient.dob.isoformat() if cb.patient.dob else "",
        cb.patient.mrn,
        cb.patient.language,
        cb.patient.preferred_method.value,
        cb.patient.voicemail.value,
        cb.category,
        cb.reason,
        "; ".join(f"{k}={v}" for k, v in cb.details.items()),
        cb.urgency.value,
        cb.status.value,
        cb.owner,
        _iso(cb.due_at),
        _iso(cb.deadline_at),
        cb.related_to,
        cb.next_action,
        _iso(cb.next_attempt_at),
        ", ".join(d.kind.value for d in cb.open_dependencies),
        len(cb.attempts),
        _iso(last.at) if last else "",
        last.result.value if last else "",
        _iso(closure.at) if closure else "",
        closure.reason.value if closure else "",
        closure.summary if closure else "",
        closure.to if closure else "",
        closure.duplicate_of if closure else "",
    ]
    return [csv_cell(v) for v in values]


def to_csv(records: list[Callback], country: str = "US") -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for cb in records:
        writer.writerow(csv_row(cb, country))
    return buf.getvalue()


# --- FHIR --------------------------------------------------------------------------


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(parts))}"


def _concept(system: str, code: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": f"{SYSTEM}:{system}", "code": code}], "text": text or code}


def _who(policy: Policy, name: str) -> dict[str, Any]:
    """A staff user or a role, as a reference by identifier, shown by the name or label the
    practice gave it (the code stays in the identifier)."""
    staff = policy.staff.get(name)
    if staff is not None:
        shown = staff.name or name
        return {"identifier": {"system": f"{SYSTEM}:staff", "value": name}, "display": shown}
    label = policy.roles.get(name) or name
    return {"identifier": {"system": f"{SYSTEM}:role", "value": name}, "display": label}


def _patient_key(cb: Callback) -> str:
    p = cb.patient
    dob = p.dob.isoformat() if p.dob else ""
    return "|".join((p.name, phone_digits(p.phone), p.mrn or "", dob))


def patient_resource(cb: Callback, full_url: str, country: str = "US") -> dict[str, Any]:
    p = cb.patient
    out: dict[str, Any] = {"resourceType": "Patient", "id": full_url.rsplit(":", 1)[1]}
    if p.mrn:
        out["identifier"] = [
            {"type": {"text": "Medical record number"}, "system": f"{SYSTEM}:mrn", "value": p.mrn}
        ]
    if p.name != UNKNOWN_CALLER:  # the placeholder of a missed call is no one's name
        out["name"] = [{"text": p.name}]
    phone = with_extension(e164(p.phone, country), p.extension)
    out["telecom"] = [{"system": "phone", "value": phone}]
    if p.email:
        out["telecom"].append({"system": "email", "value": p.email})
    if p.dob:
        out["birthDate"] = p.dob.isoformat()
    if p.language:
        out["communication"] = [{"language": {"text": p.language}, "preferred": True}]
    return out


def _business_status(cb: Callback) -> dict[str, Any] | None:
    waits = cb.open_dependencies
    if waits:
        kinds = ", ".join(d.kind.value for d in waits)
        return _concept("waiting-on", waits[0].kind.value, f"waiting on {kinds}")
    if cb.status == Status.waiting_patient:
        return _concept("waiting-on", "patient", "waiting on the patient")
    if cb.status == Status.escalated:
        return _concept("status", "escalated", "escalated: overdue")
    return None


def task_resource(policy: Policy, cb: Callback, full_url: str, patient_url: str) -> dict[str, Any]:
    closure = cb.closure
    status = CLOSED_STATUS[closure.reason] if closure else TASK_STATUS[cb.status]
    category = policy.categories.get(cb.category)
    activity = [cb.created_at, *(a.at for a in cb.attempts), *(e.at for e in cb.events)]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": full_url.rsplit(":", 1)[1],
        "identifier": [{"system": f"{SYSTEM}:callback-id", "value": cb.id}],
        "status": status,
        "intent": "order",
        "priority": PRIORITY[cb.urgency],
        "code": _concept("category", cb.category, category.label if category else cb.category),
        "description": cb.reason,
        "for": {"reference": patient_url},
        "authoredOn": cb.created_at.isoformat(),
        "lastModified": max([*activity, *([closure.at] if closure else [])]).isoformat(),
        "requester": _who(policy, cb.created_by),
        "owner": _who(policy, cb.owner),
        "restriction": {"period": {"end": cb.due_at.isoformat()}},
        "note": [
            {"text": f"Urgency: {cb.urgency.value}"},
            {"text": f"Next action: {cb.next_action}"},
            *({"text": f"{k}: {v}"} for k, v in cb.details.items()),
        ],
    }
    if cb.deadline_at:
        task["note"].append({"text": f"Deadline: {cb.deadline_at.isoformat()}"})
    if cb.related_to:
        task["note"].append({"text": f"Follows up callback {cb.related_to}"})
    if cb.attempts or closure:
        period: dict[str, str] = {}
        if cb.attempts:
            period["start"] = min(a.at for a in cb.attempts).isoformat()
        if closure:
            period["end"] = closure.at.isoformat()
        task["executionPeriod"] = period
    if closure:
        task["statusReason"] = _concept("close-reason", closure.reason.value)
        task["note"].append({"text": f"Closed: {closure.summary}"})
        if closure.to:
            task["note"].append({"text": f"Routed to {closure.to}"})
        if closure.duplicate_of:
            task["note"].append({"text": f"Duplicate of callback {closure.duplicate_of}"})
    else:
        business = _business_status(cb)
        if business:
            task["businessStatus"] = business
    return task


def communication_resource(
    policy: Policy, cb: Callback, att: Attempt, task_url: str, patient_url: str
) -> dict[str, Any]:
    code, display = MEDIUM[att.method]
    staff = _who(policy, att.by)
    patient = {"reference": patient_url}
    inbound = att.method == AttemptMethod.inbound
    out: dict[str, Any] = {
        "resourceType": "Communication",
        "id": _urn(cb.id, att.id).rsplit(":", 1)[1],
        "identifier": [{"system": f"{SYSTEM}:attempt-id", "value": f"{cb.id}/{att.id}"}],
        "basedOn": [{"reference": task_url}],
        "status": "not-done" if att.result in NOT_DONE else "completed",
        "subject": patient,
        "medium": [
            {
                "coding": [{"system": PARTICIPATION_MODE, "code": code, "display": display}],
                "text": att.method.value,
            }
        ],
        "sent": att.at.isoformat(),
        "sender": patient if inbound else staff,
        "recipient": [staff if inbound else patient],
        "note": [{"text": att.note}],
    }
    if inbound:
        out["received"] = att.at.isoformat()
    if att.result in NOT_DONE:
        out["statusReason"] = _concept("attempt-result", att.result.value, NOT_DONE[att.result])
    else:
        out["note"].append({"text": f"Result: {att.result.value}"})
    if att.patient_response:
        out["note"].append({"text": f"Patient said: {att.patient_response}"})
    if att.script:
        out["note"].append({"text": f"Voicemail script: {att.script}"})
    return out


def fhir_bundle(policy: Policy, records: list[Callback], now: datetime) -> dict[str, Any]:
    """The Bundle as FHIR JSON data (plain dicts), before validation."""
    entries: list[dict[str, Any]] = []
    patients: dict[str, str] = {}
    for cb in records:
        key = _patient_key(cb)
        if key not in patients:
            patients[key] = _urn("patient", key)
            entries.append(
                {
                    "fullUrl": patients[key],
                    "resource": patient_resource(cb, patients[key], policy.country),
                }
            )
        patient_url = patients[key]
        task_url = _urn("task", cb.id)
        entries.append(
            {"fullUrl": task_url, "resource": task_resource(policy, cb, task_url, patient_url)}
        )
        for att in cb.attempts:
            comm = communication_resource(policy, cb, att, task_url, patient_url)
            entries.append({"fullUrl": f"urn:uuid:{comm['id']}", "resource": comm})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": entries,
    }


def to_fhir(policy: Policy, records: list[Callback], now: datetime) -> str:
    """FHIR R4 JSON, validated by the R4B models of `fhir.resources` (a dependency)."""
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:
        raise Refused(
            "FHIR export needs the fhir.resources package, which this install lacks; "
            "reinstall cbtrack (pip install --force-reinstall cbtrack) and try again."
        ) from None
    bundle = Bundle.model_validate(fhir_bundle(policy, records, now))
    return str(bundle.model_dump_json(indent=2)) + "\n"
