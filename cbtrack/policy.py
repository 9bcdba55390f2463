"""The practice's rules as data (`cbtrack.yaml`): model, defaults and the calendar.

`Policy.default()` is what `cbtrack init` writes. Everything the tool decides about
owners, urgency, due times, attempts and scripts comes from here.
"""

from __future__ import annotations

import copy
import string
from datetime import date
from functools import cache, cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cbtrack import packaged
from cbtrack.clock import BusinessCalendar, parse_duration
from cbtrack.matcher import Matcher, PatternError, RuleSpec
from cbtrack.model import WINDOW_RE, Name, StrictModel, Text, Urgency, phone_digits

Window = Annotated[str, StringConstraints(pattern=WINDOW_RE)]
Duration = Annotated[str, StringConstraints(pattern=r"^\d{1,5}(m|h|d|bd)$")]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLINICAL_ROLE = "clinical"


#: Placeholders each template may use; the policy validator checks them.
ALLOWED_FIELDS = {
    "opening": {"caller", "practice", "category_opening", "category_label"},
    "voicemail_minimal": {"practice", "callback_number"},
    "voicemail_detailed": {"practice", "callback_number", "patient_first", "category_label"},
    "clinical_handoff": {"practice", "callback_number"},
    "emergency_guidance": {"practice", "callback_number"},
}


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class StaffMember(StrictModel):
    name: Text | None = None
    roles: list[Name] = Field(default_factory=list)


class BusinessHours(StrictModel):
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: Window = "08:00-17:00"

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad or not v:
            raise ValueError(f"days must be a non-empty list of {', '.join(WEEKDAYS)}")
        return v

    @field_validator("hours")
    @classmethod
    def _opens_before_it_closes(cls, v: str) -> str:
        start, end = v.split("-")
        if start >= end:
            raise ValueError("business hours must open before they close on the same day")
        return v


class UrgencyRule(StrictModel):
    label: Text | None = None
    rank: int = Field(ge=0, le=100)
    due: Duration
    retry: Duration | None = None  # spacing between attempts; default attempts.min_spacing


class CategoryPolicy(StrictModel):
    label: Text = ""
    owner: Name
    urgency: Urgency
    required_details: list[Name] = Field(default_factory=list)
    optional_details: list[Name] = Field(default_factory=list)
    note_template: Text | None = None
    next_action: Text = "Call the patient back"
    preventable: Text | None = None
    opening: Text | None = None


class TriageRule(StrictModel):
    """One triage rule: when its patterns (or readings) match, the callback is raised to
    `urgency` and routed to `route_to`. See cbtrack/data/triage.yaml for the pattern forms."""

    name: Name
    label: Text | None = None
    urgency: Urgency
    route_to: Name | None = None
    next_action: Text | None = None
    patterns: list[Text] = Field(default_factory=list)
    phrases: list[Text] = Field(default_factory=list)  # 0.1's name for patterns
    readings: list[Text] = Field(default_factory=list)
    requires: list[Text] = Field(default_factory=list)
    negatable: bool = True

    @model_validator(mode="after")
    def _something_to_match(self) -> TriageRule:
        if not (self.patterns or self.phrases or self.readings):
            raise ValueError(
                f"triage rule {self.name} needs patterns (like 'chest ~3 pain') or readings "
                "(like 'temperature >= 103')"
            )
        return self

    def spec(self) -> RuleSpec:
        return RuleSpec(
            self.name,
            tuple(self.patterns + self.phrases),
            tuple(self.readings),
            tuple(self.requires),
            self.negatable,
        )


@cache
def builtin_triage() -> tuple[dict[str, str], dict[str, list[str]], tuple[TriageRule, ...]]:
    """The built-in spelling map, concepts and rules (cbtrack/data/triage.yaml)."""
    data = packaged.load("triage.yaml")
    rules = tuple(TriageRule.model_validate(r) for r in data["rules"])
    return dict(data["spelling"]), dict(data["concepts"]), rules


class VoicemailRules(StrictModel):
    patient_name: str = Field(default="none", pattern=r"^(none|first)$")


class AttemptPolicy(StrictModel):
    max: int = Field(default=3, ge=1, le=20)
    min_spacing: Duration = "4h"
    voicemail: VoicemailRules = Field(default_factory=VoicemailRules)


class Translation(StrictModel):
    """Approved scripts in one language; any part left out stays in the default language."""

    opening: Text | None = None
    voicemail_minimal: Text | None = None
    voicemail_detailed: Text | None = None
    outcomes: dict[Name, Text] = Field(default_factory=dict)
    clinical_handoff: Text | None = None
    emergency_guidance: Text | None = None
    never_say: list[Text] = Field(default_factory=list)


LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class Scripts(StrictModel):
    opening: Text
    voicemail_minimal: Text
    voicemail_detailed: Text
    outcomes: dict[Name, Text]
    clinical_handoff: Text
    emergency_guidance: Text
    never_say: list[Text] = Field(default_factory=list)
    languages: dict[LanguageCode, Translation] = Field(default_factory=dict)

    def translation(self, language: str | None) -> tuple[str, Translation] | None:
        """The approved translation for a patient's language (`es`, `ES`, `es-MX` all find
        `es`), with the code it is filed under; None when there is none."""
        if not language:
            return None
        want = language.strip().lower()
        codes = {code.lower(): code for code in self.languages}
        for key in (want, want.split("-")[0]):
            if key in codes:
                return codes[key], self.languages[codes[key]]
        return None


class Policy(StrictModel):
    practice: Text
    callback_number: str
    timezone: str = "America/New_York"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    call_hours: Window = "08:00-20:00"
    staff: dict[Name, StaffMember] = Field(default_factory=dict)
    roles: dict[Name, Text]
    end_of_day_owner: Name
    escalation_owner: Name
    holidays: list[date] = Field(default_factory=list)
    urgencies: dict[Urgency, UrgencyRule]
    categories: dict[Name, CategoryPolicy]
    triage: list[TriageRule] = Field(default_factory=list)
    concepts: dict[Name, list[Text]] = Field(default_factory=dict)
    attempts: AttemptPolicy = Field(default_factory=AttemptPolicy)
    scripts: Scripts
    # A callback with a deadline is due at least this long before it (business time).
    deadline_lead: Duration = "1bd"
    # How long `block` waits for a dependency when no --until is given.
    dependency_wait: Duration = "2bd"

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: object) -> object:
        """A hand-written policy may give only what the practice changes; the rest
        comes from the defaults (see `complete_policy`)."""
        return complete_policy(data) if isinstance(data, dict) else data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use a name like America/New_York") from None
        return v

    @field_validator("callback_number")
    @classmethod
    def _number(cls, v: str) -> str:
        if not 7 <= len(phone_digits(v)) <= 15:
            raise ValueError("the callback number needs 7 to 15 digits")
        return v

    @model_validator(mode="after")
    def _references(self) -> Policy:
        missing = [u.value for u in Urgency if u not in self.urgencies]
        if missing:
            raise ValueError(f"urgencies is missing {', '.join(missing)}")
        for name, cat in self.categories.items():
            if not self.is_owner(cat.owner):
                raise ValueError(f"category {name} has owner {cat.owner}, not a role or staff user")
            clash = set(cat.required_details) & set(cat.optional_details)
            if clash:
                raise ValueError(
                    f"category {name} lists {sorted(clash)[0]} as required and optional"
                )
        builtin_names = {r.name for r in builtin_triage()[2]}
        for rule in self.triage:
            if rule.route_to and not self.is_owner(rule.route_to):
                raise ValueError(f"triage rule {rule.name} routes to unknown role {rule.route_to}")
            if rule.name in builtin_names:
                raise ValueError(
                    f"triage rule {rule.name} has the name of a built-in rule, which always "
                    "applies; give your rule another name"
                )
        try:
            self._check_own_triage()
        except PatternError as exc:
            raise ValueError(f"triage: {exc}") from None
        for key in ("end_of_day_owner", "escalation_owner"):
            if not self.is_owner(getattr(self, key)):
                raise ValueError(f"{key} is not a role or staff user")
        for user, member in self.staff.items():
            unknown = [r for r in member.roles if r not in self.roles]
            if unknown:
                raise ValueError(f"staff {user} has unknown role {unknown[0]}")
        for level in self.urgencies.values():
            parse_duration(level.due)
        for key, allowed in ALLOWED_FIELDS.items():
            texts = [("scripts", getattr(self.scripts, key))] + [
                (f"scripts.languages.{code}", getattr(tr, key))
                for code, tr in self.scripts.languages.items()
            ]
            for where, text in texts:
                extra = fields_of(text or "") - allowed
                if extra:
                    raise ValueError(
                        f"{where}.{key} may not use {{{sorted(extra)[0]}}}; allowed: "
                        + ", ".join(sorted(allowed))
                    )
        return self

    # --- lookups -------------------------------------------------------------------

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        days = [WEEKDAYS.index(d) for d in self.business_hours.days]
        return BusinessCalendar(self.tz, days, self.business_hours.hours, self.holidays)

    @property
    def triage_rules(self) -> list[TriageRule]:
        """The built-in rules, then the practice's own."""
        return [*builtin_triage()[2], *self.triage]

    def _check_own_triage(self) -> None:
        """Compile the practice's own concepts and rules against the built-in concept names
        (cheap; the built-in rules are compiled when triage first needs them)."""
        spelling, concepts, _ = builtin_triage()
        known: dict[str, list[str]] = {name: [] for name in concepts}
        for name, terms in self.concepts.items():
            known[name] = list(terms)
        Matcher(known, [r.spec() for r in self.triage], spelling)

    @cached_property
    def matcher(self) -> Matcher:
        spelling, concepts, _ = builtin_triage()
        merged = {name: list(terms) for name, terms in concepts.items()}
        for name, terms in self.concepts.items():
            merged[name] = [*merged.get(name, []), *terms]
        return Matcher(merged, [r.spec() for r in self.triage_rules], spelling)

    @property
    def roster_enforced(self) -> bool:
        return bool(self.staff)

    def is_owner(self, name: str) -> bool:
        return name in self.roles or name in self.staff

    def accepts_owner(self, name: str) -> bool:
        """A callback may be owned by a role, a rostered user, or any user when no roster."""
        return self.is_owner(name) or not self.roster_enforced

    def roles_of(self, user: str) -> list[str]:
        member = self.staff.get(user)
        return member.roles if member else []

    def is_clinical(self, user: str) -> bool:
        return CLINICAL_ROLE in self.roles_of(user)

    def rank(self, urgency: Urgency) -> int:
        return self.urgencies[urgency].rank

    def spacing(self, urgency: Urgency) -> str:
        """The least time between two attempts at this urgency."""
        return self.urgencies[urgency].retry or self.attempts.min_spacing

    @staticmethod
    def default() -> Policy:
        return Policy.model_validate(DEFAULT_POLICY)


def complete_policy(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what a short, hand-written policy leaves out from `DEFAULT_POLICY`:
    roles (the default ones plus every name used as an owner), the end-of-day and
    escalation owners, every urgency level, the triage rules, the scripts, and each
    category's label. Also accepts `roles` as a list and `business_hours` as "HH:MM-HH:MM"."""
    out = dict(data)
    defaults = copy.deepcopy(DEFAULT_POLICY)
    hours = out.get("business_hours")
    if isinstance(hours, str):
        out["business_hours"] = {"hours": hours}
    for key in ("end_of_day_owner", "triage", "concepts", "attempts", "holidays"):
        out.setdefault(key, defaults[key])
    out.setdefault("escalation_owner", out["end_of_day_owner"])
    urgencies = out.get("urgencies")
    merged_urgencies = dict(defaults["urgencies"])  # type: ignore[call-overload]
    if isinstance(urgencies, dict):
        for level, rule in urgencies.items():
            base = dict(merged_urgencies.get(level, {}))
            merged_urgencies[level] = {**base, **rule} if isinstance(rule, dict) else rule
    out["urgencies"] = merged_urgencies
    scripts = out.get("scripts")
    merged_scripts = dict(defaults["scripts"])  # type: ignore[call-overload]
    if isinstance(scripts, dict):
        merged_scripts.update(scripts)
    out["scripts"] = merged_scripts
    categories = out.get("categories")
    if isinstance(categories, dict):
        out["categories"] = {
            name: (
                {"label": str(name).replace("_", " ").capitalize(), **cat}
                if isinstance(cat, dict)
                else cat
            )
            for name, cat in categories.items()
        }
    roles = out.get("roles")
    if isinstance(roles, list):
        out["roles"] = {str(r): str(r) for r in roles}
    elif roles is None:
        derived: dict[str, str] = dict(defaults["roles"])  # type: ignore[call-overload]
        used: list[object] = [out["end_of_day_owner"], out["escalation_owner"]]
        if isinstance(categories, dict):
            used += [c.get("owner") for c in categories.values() if isinstance(c, dict)]
        staff = out.get("staff")
        if isinstance(staff, dict):
            for member in staff.values():
                if isinstance(member, dict) and isinstance(member.get("roles"), list):
                    used += member["roles"]
        if isinstance(out["triage"], list):
            used += [r.get("route_to") for r in out["triage"] if isinstance(r, dict)]
        for name in used:
            if isinstance(name, str) and name and name not in (staff or {}):
                derived.setdefault(name, name)
        out["roles"] = derived
    return out


def _cat(
    label: str,
    owner: str,
    urgency: str,
    required: list[str],
    optional: list[str],
    template: str,
    next_action: str,
    preventable: str,
    opening: str,
) -> dict[str, object]:
    return {
        "label": label,
        "owner": owner,
        "urgency": urgency,
        "required_details": required,
        "optional_details": optional,
        "note_template": template,
        "next_action": next_action,
        "preventable": preventable,
        "opening": opening,
    }


DEFAULT_POLICY: dict[str, object] = {
    "practice": "Your Practice Name",
    "callback_number": "+15555550100",
    "timezone": "America/New_York",
    "business_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "08:00-17:00"},
    "call_hours": "08:00-20:00",
    "staff": {},
    "roles": {
        "front_desk": "Front desk",
        "front_desk_lead": "Front desk lead",
        "scheduling": "Scheduling",
        "referrals": "Referral coordination",
        "billing": "Billing support",
        "records": "Medical records",
        "clinical": "Clinical staff (nurses, providers)",
    },
    "end_of_day_owner": "front_desk_lead",
    "escalation_owner": "front_desk_lead",
    "holidays": [],
    "urgencies": {
        "routine": {"label": "Routine administrative", "rank": 1, "due": "2bd"},
        "time_sensitive": {"label": "Time-sensitive scheduling", "rank": 2, "due": "1bd"},
        "deadline": {"label": "Referral or authorization deadline", "rank": 3, "due": "1bd"},
        "same_day": {
            "label": "Patient awaiting a same-day response",
            "rank": 4,
            "due": "4h",
            "retry": "2h",
        },
        "clinical": {"label": "Clinical concern route", "rank": 5, "due": "1h", "retry": "30m"},
        "emergency": {
            "label": "Emergency guidance per practice policy",
            "rank": 6,
            "due": "0m",
            "retry": "15m",
        },
    },
    "categories": {
        "scheduling": _cat(
            "Appointment scheduling",
            "scheduling",
            "time_sensitive",
            ["visit_type", "availability", "provider_preference"],
            ["deadline"],
            "Visit type; when the patient is available; provider preference; any deadline.",
            "Offer times",
            "Many scheduling callbacks: make booking rules clearer and ask for preferred "
            "contact windows when the request comes in.",
            "I'm calling about your appointment request. I can help confirm the right visit "
            "type and check available times.",
        ),
        "rescheduling": _cat(
            "Rescheduling",
            "scheduling",
            "time_sensitive",
            ["current_appointment", "availability"],
            ["provider_preference", "reason_code"],
            "Which appointment; when the patient is available instead.",
            "Offer new times",
            "Many reschedules: check whether reminders go out early enough to rebook in time.",
            "I'm calling about moving your appointment. I can look at other times with you.",
        ),
        "cancellation": _cat(
            "Cancellation",
            "scheduling",
            "routine",
            ["appointment"],
            ["rebook_wanted"],
            "Which appointment; whether the patient wants to rebook.",
            "Confirm cancel, offer rebook",
            "Many cancellations: offer an easy way to cancel or rebook without a call.",
            "I'm calling about the appointment you asked to cancel.",
        ),
        "referral_status": _cat(
            "Referral status",
            "referrals",
            "deadline",
            ["receipt_status", "missing_documents", "next_expected_update"],
            ["referring_office"],
            "Whether the referral arrived; missing documents; when the next update is due.",
            "Check referral, update patient",
            "Patients keep asking about referrals: send status updates before they have to call.",
            "I'm calling with an update on your referral.",
        ),
        "insurance": _cat(
            "Insurance or eligibility question",
            "billing",
            "routine",
            ["plan", "question_type", "verification_needed"],
            ["member_id_on_file"],
            "Plan; what the question is about; whether eligibility must be verified.",
            "Verify coverage, call back",
            "Insurance questions repeat: verify eligibility earlier, before the visit is booked.",
            "I'm calling about your insurance question.",
        ),
        "intake_form": _cat(
            "Intake form issue",
            "front_desk",
            "routine",
            ["form_name", "problem"],
            ["sent_via"],
            "Which form; what the patient could not complete.",
            "Resend or walk through form",
            "The same form questions come back: revise the form or its instructions.",
            "I'm calling about one of the forms for your visit.",
        ),
        "records_request": _cat(
            "Records request",
            "records",
            "routine",
            ["records_requested", "destination"],
            ["authorization_on_file"],
            "Which records; where they should go; whether an authorization is on file.",
            "Confirm release form",
            "Many records calls: publish how to request records and how long it takes.",
            "I'm calling about your request for records.",
        ),
        "billing": _cat(
            "Billing question",
            "billing",
            "routine",
            ["statement_date", "question_type"],
            ["amount_in_question"],
            "Which statement; what the question is about.",
            "Billing answer, call back",
            "Billing calls repeat: make statements easier to read and list the billing line.",
            "I'm calling about your billing question.",
        ),
        "prescription": _cat(
            "Prescription message",
            "clinical",
            "same_day",
            ["medication", "pharmacy", "request_type"],
            ["last_fill"],
            "Which medication; which pharmacy; refill, question or problem.",
            "Clinical review",
            "Many refill calls: offer portal refill requests and remind patients earlier.",
            "I'm calling about your prescription message.",
        ),
        "clinical_concern": _cat(
            "Clinical concern",
            "clinical",
            "clinical",
            ["concern_summary", "onset"],
            ["current_medications"],
            "What the patient reports, in their words; when it started.",
            "Nurse review and call",
            "Check which clinical questions could be answered in after-visit instructions.",
            "I'm calling from the clinical team about the message you left.",
        ),
        "post_visit": _cat(
            "Post-visit follow-up",
            "clinical",
            "routine",
            ["visit_date", "follow_up_topic"],
            ["provider"],
            "Which visit; what needs following up.",
            "Follow up as provider asked",
            "Post-visit questions repeat: make after-visit summaries clearer.",
            "I'm calling to follow up on your recent visit.",
        ),
        "missed_call": _cat(
            "Missed inbound call",
            "front_desk",
            "routine",
            ["call_time"],
            ["left_message"],
            "When the call came in; whether a message was left.",
            "Call back, find the need",
            "Missed calls pile up: look at phone coverage at peak hours and the phone menu.",
            "I'm returning a call we missed from this number.",
        ),
        "general": _cat(
            "General question",
            "front_desk",
            "routine",
            ["topic"],
            [],
            "What the question is about.",
            "Answer or route",
            "Frequent general questions belong in the website FAQ or the phone menu.",
            "I'm returning your call with an answer to your question.",
        ),
    },
    "triage": [],
    "concepts": {},
    "attempts": {"max": 3, "min_spacing": "4h", "voicemail": {"patient_name": "none"}},
    "scripts": {
        "opening": (
            "Hello, this is {caller} calling from {practice}. Before we go on, please confirm "
            "your full name and date of birth. {category_opening}"
        ),
        "voicemail_minimal": (
            "Hello, this is {practice} returning a call. Please call us back at "
            "{callback_number}. Thank you."
        ),
        "voicemail_detailed": (
            "Hello, this is {practice} calling for {patient_first} about your {category_label}. "
            "Please call us back at {callback_number}. Thank you."
        ),
        "outcomes": {
            "reached_scheduled": "Reached patient; scheduled {what} for {when}.",
            "reached_missing_info": "Reached patient; needs {missing}; {how_to_send} sent.",
            "left_voicemail": "Left voicemail with the approved script asking the patient to call "
            "{callback_number}; next attempt {next_attempt}.",
            "unable_to_reach": "Unable to reach after {attempts} attempts as the policy defines; "
            "closing as attempts exhausted.",
            "routed_clinical": "I am routing this to our clinical team today, and the next update "
            "will be documented in your record.",
            "waiting_referral": "We are still waiting on the referral documents; we will call you "
            "when they arrive or by {next_update}.",
            "waiting_insurance": "We are checking your insurance information and will call you "
            "back once it is verified.",
        },
        "clinical_handoff": (
            "I am not able to give medical advice, but I want you to get the right answer. I am "
            "sending your message to our clinical team now, and a nurse will call you back."
        ),
        "emergency_guidance": (
            "If this is a medical emergency, hang up and call 911 or go to the nearest "
            "emergency room now. I am also letting our clinical team know right away."
        ),
        "never_say": [
            "We will get this fixed today.",
            "It is probably nothing.",
            "The test results are normal.",
        ],
    },
}
