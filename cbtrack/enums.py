"""The record's fixed vocabularies: plain enums, free of pydantic.

The CLI needs them to declare its options, and importing them costs nothing; the models in
`cbtrack.model` use (and re-export) them.
"""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    phone = "phone"
    voicemail = "voicemail"
    missed_call = "missed_call"
    front_desk = "front_desk"
    portal = "portal"
    provider = "provider"
    import_ = "import"


class ContactMethod(StrEnum):
    phone = "phone"
    text = "text"
    portal = "portal"
    email = "email"


class VoicemailConsent(StrEnum):
    minimal = "minimal"
    detailed = "detailed"
    none = "none"


class Urgency(StrEnum):
    """Lowest to highest (the policy gives each level its rank)."""

    routine = "routine"
    time_sensitive = "time_sensitive"
    deadline = "deadline"
    same_day = "same_day"
    clinical = "clinical"
    emergency = "emergency"


CLINICAL_URGENCIES = (Urgency.clinical, Urgency.emergency)


class Status(StrEnum):
    new = "new"
    in_progress = "in_progress"
    waiting_patient = "waiting_patient"
    waiting_internal = "waiting_internal"
    escalated = "escalated"
    closed = "closed"


class DependencyKind(StrEnum):
    referral_documents = "referral_documents"
    insurance_eligibility = "insurance_eligibility"
    provider_review = "provider_review"
    patient_form = "patient_form"
    other = "other"


class AttemptMethod(StrEnum):
    phone = "phone"
    text = "text"
    portal = "portal"
    email = "email"
    inbound = "inbound"
    in_person = "in_person"

    @property
    def outbound(self) -> bool:
        return self not in (AttemptMethod.inbound, AttemptMethod.in_person)


class AttemptResult(StrEnum):
    reached = "reached"
    left_voicemail = "left_voicemail"
    no_answer = "no_answer"
    busy = "busy"
    wrong_number = "wrong_number"
    message_sent = "message_sent"


class EventType(StrEnum):
    created = "created"
    triaged = "triaged"
    assigned = "assigned"
    urgency_changed = "urgency_changed"
    blocked = "blocked"
    unblocked = "unblocked"
    routed = "routed"
    escalated = "escalated"
    rolled_over = "rolled_over"
    reopened = "reopened"
    closed = "closed"
    note = "note"
    edited = "edited"
    alerted = "alerted"  # an alert was sent (rule, channel, who was told); changes no field


class CloseReason(StrEnum):
    reached = "reached"
    resolved = "resolved"
    routed = "routed"
    attempts_exhausted = "attempts_exhausted"
    duplicate = "duplicate"


#: The two kinds of triage correction marked on an event (`model.Event.correction`).
MISSED = "missed"
FALSE_ALARM = "false_alarm"
