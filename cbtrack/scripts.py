"""Approved scripts from the policy, filled for one callback.

The minimal voicemail may name only the practice and its callback number; the detailed
one adds the patient's first name (if the policy allows) and a non-clinical topic. Clinical
callbacks never put their topic in a voicemail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cbtrack.model import CLINICAL_URGENCIES, Callback, VoicemailConsent
from cbtrack.policy import CLINICAL_ROLE, Policy, Scripts


class _Blanks(dict[str, str]):
    """Leaves unknown placeholders as [name] for the caller to fill in."""

    def __missing__(self, key: str) -> str:
        return f"[{key.replace('_', ' ')}]"


def fill(template: str, values: dict[str, str]) -> str:
    return " ".join(template.format_map(_Blanks(values)).split())


@dataclass
class FilledScripts:
    opening: str
    voicemail: str
    outcomes: dict[str, str]
    handoff: str
    avoid: list[str]
    language: str | None = None  # the approved translation used (its code), or None
    language_note: str = "the default scripts (the patient's language is not recorded)"

    def as_dict(self) -> dict[str, object]:
        return {
            "opening": self.opening,
            "voicemail": self.voicemail,
            "outcomes": self.outcomes,
            "handoff": self.handoff,
            "avoid": self.avoid,
            "language": self.language,
            "approved_translation": self.language is not None,
            "language_note": self.language_note,
        }


TRANSLATABLE = (
    "opening",
    "voicemail_minimal",
    "voicemail_detailed",
    "clinical_handoff",
    "emergency_guidance",
)


def in_language(policy: Policy, cb: Callback) -> tuple[Scripts, str | None, str]:
    """The scripts for the patient's language: the approved translation laid over the
    default scripts where the policy has one. Returns the scripts, the translation's
    code (None for the default) and a sentence for staff saying which was used."""
    s = policy.scripts
    wanted = cb.patient.language
    found = s.translation(wanted)
    if not wanted:
        return s, None, "the default scripts (the patient's language is not recorded)"
    if found is None:
        return (
            s,
            None,
            f"no approved translation for '{wanted[:20]}' exists; these are the default "
            "scripts: use an interpreter service, not an ad-hoc translation.",
        )
    code, tr = found
    update: dict[str, object] = {k: getattr(tr, k) for k in TRANSLATABLE if getattr(tr, k)}
    update["outcomes"] = {**s.outcomes, **tr.outcomes}
    if tr.never_say:
        update["never_say"] = tr.never_say
    missing = [k for k in TRANSLATABLE if not getattr(tr, k)]
    missing += [f"outcomes.{k}" for k in s.outcomes if k not in tr.outcomes]
    note = f"{code}, the practice's approved translation"
    if missing:
        note += f" (not translated, in the default language: {', '.join(missing)})"
    return s.model_copy(update=update), code, note


def is_clinical(policy: Policy, cb: Callback) -> bool:
    cat = policy.categories.get(cb.category)
    return cb.urgency in CLINICAL_URGENCIES or (cat is not None and cat.owner == CLINICAL_ROLE)


def voicemail_text(policy: Policy, cb: Callback, s: Scripts | None = None) -> str:
    s = s or policy.scripts
    base = {"practice": policy.practice, "callback_number": policy.callback_number}
    consent = cb.patient.voicemail
    if consent == VoicemailConsent.none:
        return (
            "Do not leave a voicemail: the patient has not agreed to messages. Hang up, record "
            "the attempt, and try the patient's other contact methods or call again later."
        )
    if consent == VoicemailConsent.minimal:
        return fill(s.voicemail_minimal, base)
    cat = policy.categories.get(cb.category)
    topic = "recent message" if is_clinical(policy, cb) or cat is None else cat.label.lower()
    first = cb.patient.name.split()[0] if policy.attempts.voicemail.patient_name == "first" else ""
    detailed = dict(base, patient_first=first or "you", category_label=topic)
    return fill(s.voicemail_detailed, detailed)


def emergency_text(policy: Policy) -> str:
    """The policy's emergency guidance, filled in."""
    base = {"practice": policy.practice, "callback_number": policy.callback_number}
    return fill(policy.scripts.emergency_guidance, base)


def scripts_for(policy: Policy, cb: Callback, caller: str, now: datetime) -> FilledScripts:
    s, language, language_note = in_language(policy, cb)
    cat = policy.categories.get(cb.category)
    member = policy.staff.get(policy.staff_key(caller))
    base = {"practice": policy.practice, "callback_number": policy.callback_number}
    opening = fill(
        s.opening,
        dict(
            base,
            caller=(member.name if member else None) or caller,
            category_opening=(cat.opening or "") if cat else "",
            category_label=cat.label.lower() if cat else cb.category,
        ),
    )
    nxt = cb.next_attempt_at
    outcome_values = dict(
        base,
        attempts=str(policy.attempts.max),
        next_attempt=nxt.astimezone(policy.tz).strftime("%a %H:%M") if nxt else "[next attempt]",
    )
    outcomes = {name: fill(text, outcome_values) for name, text in s.outcomes.items()}
    # An emergency's handoff is the emergency guidance alone: staff give it with the patient
    # on the line, so it promises no call back (the clinical handoff's "a nurse will call").
    handoff = fill(
        s.emergency_guidance if cb.urgency.value == "emergency" else s.clinical_handoff, base
    )
    return FilledScripts(
        opening,
        voicemail_text(policy, cb, s),
        outcomes,
        handoff,
        list(s.never_say),
        language,
        language_note,
    )
