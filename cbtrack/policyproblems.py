"""A policy that does not validate, described in plain words: one line per problem,
naming the key, what is wrong, and an example of what fits."""

from __future__ import annotations

from typing import Any

from cbtrack.alertrules import AlertMail, AlertRule
from cbtrack.model import StrictModel, Urgency
from cbtrack.policy import (
    AttemptPolicy,
    BusinessHours,
    CategoryPolicy,
    Policy,
    Scripts,
    StaffMember,
    Translation,
    TriageRule,
    TriageSection,
    UrgencyRule,
    VoicemailRules,
)

# --- problems in plain words ---------------------------------------------------------

#: A right value for each policy key, shown when that key is wrong. `*` stands for any
#: name (a user, a role, a category, an urgency, a script outcome) or list position.
EXAMPLES = {
    "practice": "practice: Maple Street Family Medicine",
    "callback_number": 'callback_number: "+15555550123"',
    "timezone": "timezone: America/Chicago",
    "country": "country: US",
    "business_hours": 'business_hours: {days: [mon, tue, wed, thu, fri], hours: "08:00-17:00"}',
    "business_hours.days": "days: [mon, tue, wed, thu, fri]",
    "business_hours.hours": 'hours: "08:00-17:00"',
    "call_hours": 'call_hours: "08:00-20:00"',
    "staff": "staff: {jlee: {name: Jamie Lee, roles: [front_desk]}}",
    "staff.*": "jlee: {name: Jamie Lee, roles: [front_desk]}",
    "staff.*.name": "name: Jamie Lee",
    "staff.*.roles": "roles: [front_desk, front_desk_lead]",
    "roles": "roles: {front_desk: Front desk, clinical: Clinical staff}",
    "roles.*": "front_desk: Front desk",
    "end_of_day_owner": "end_of_day_owner: front_desk_lead",
    "escalation_owner": "escalation_owner: front_desk_lead",
    "holidays": "holidays: [2026-12-25, 2027-01-01]",
    "holidays.*": "holidays: [2026-12-25]",
    "urgencies": "urgencies: {routine: {label: Routine administrative, rank: 1, due: 2bd}}",
    "urgencies.*": "routine: {label: Routine administrative, rank: 1, due: 2bd}",
    "urgencies.*.label": "label: Routine administrative",
    "urgencies.*.rank": "rank: 1",
    "urgencies.*.due": "due: 2bd",
    "urgencies.*.first_call_within": "first_call_within: 15m",
    "categories": "categories: {general: {owner: front_desk, urgency: routine}}",
    "categories.*": "general: {owner: front_desk, urgency: routine, required_details: [topic]}",
    "categories.*.label": "label: General question",
    "categories.*.owner": "owner: front_desk",
    "categories.*.urgency": "urgency: routine",
    "categories.*.required_details": "required_details: [visit_type, availability]",
    "categories.*.optional_details": "optional_details: [deadline]",
    "categories.*.note_template": "note_template: What the question is about.",
    "categories.*.next_action": "next_action: Answer or route",
    "categories.*.preventable": "preventable: Put frequent questions in the website FAQ.",
    "categories.*.opening": "opening: I'm returning your call about your question.",
    "triage": "triage: {red_flags: [Chest pain or pressure], rules: []}",
    "triage.red_flags": "red_flags: [Chest pain or pressure, Trouble breathing]",
    "triage.red_flags.*": "- Chest pain or pressure",
    "triage.rules": "rules: [{name: wound_check, patterns: [stitches], urgency: same_day}]",
    "triage.rules.*": "- {name: wound_check, patterns: [stitches], urgency: same_day}",
    "triage.rules.*.name": "name: wound_check",
    "triage.rules.*.patterns": 'patterns: ["{our_drugs} ~4 {symptom}", "wound ..3 open*"]',
    "triage.rules.*.phrases": "phrases: [stitches, dressing]",
    "triage.rules.*.readings": 'readings: ["temperature >= 103"]',
    "triage.rules.*.requires": 'requires: ["{pregnant}"]',
    "triage.rules.*.negatable": "negatable: false",
    "triage.rules.*.label": "label: Methotrexate question",
    "concepts": "concepts: {our_drugs: [methotrexate, mtx]}",
    "concepts.*": "our_drugs: [methotrexate, mtx]",
    "urgencies.*.retry": "retry: 30m",
    "deadline_lead": "deadline_lead: 1bd",
    "dependency_wait": "dependency_wait: 2bd",
    "scripts.languages": 'languages: {es: {voicemail_minimal: "Hola, le llama {practice}."}}',
    "scripts.languages.*": 'es: {voicemail_minimal: "Hola, le llama {practice}."}',
    "triage.rules.*.urgency": "urgency: same_day",
    "triage.rules.*.route_to": "route_to: clinical",
    "triage.rules.*.next_action": "next_action: Nurse call about wound care",
    "attempts": "attempts: {max: 3, min_spacing: 4h}",
    "attempts.max": "max: 3",
    "attempts.min_spacing": "min_spacing: 4h",
    "attempts.voicemail": "voicemail: {patient_name: none}",
    "attempts.voicemail.patient_name": "patient_name: none",
    "scripts": 'scripts: {voicemail_minimal: "Hello, this is {practice} returning a call."}',
    "scripts.outcomes": 'outcomes: {reached_scheduled: "Reached patient; scheduled {what}."}',
    "scripts.outcomes.*": 'reached_scheduled: "Reached patient; scheduled {what} for {when}."',
    "scripts.never_say": "never_say: [It is probably nothing.]",
    "scripts.never_say.*": "never_say: [It is probably nothing.]",
    "scripts.*": 'voicemail_minimal: "This is {practice}. Please call {callback_number}."',
    "clock_skew": "clock_skew: 10m",
    "alerts": "alerts: [{when: emergency, command: [/usr/local/bin/page-nurse]}]",
    "alerts.*": "{when: clinical_overdue, after: 15m, command: [/usr/local/bin/page-nurse]}",
    "alerts.*.name": "name: emergency_pager",
    "alerts.*.when": "when: clinical_overdue",
    "alerts.*.after": "after: 15m",
    "alerts.*.command": "command: [/usr/local/bin/page-nurse, --urgent]",
    "alerts.*.command.*": "command: [/usr/local/bin/page-nurse, --urgent]",
    "alerts.*.timeout": "timeout: 30",
    "alerts.*.include_phi": "include_phi: false",
    "alerts.*.mail": (
        "mail: {to: [nurse@example.org], from: cbtrack@example.org, smtp: "
        "'mail.example.org:587', user: cbtrack, password_env: CBTRACK_SMTP_PASSWORD}"
    ),
    "alerts.*.mail.to": "to: [nurse@example.org]",
    "alerts.*.mail.to.*": "to: [nurse@example.org]",
    "alerts.*.mail.from": "from: cbtrack@example.org",
    "alerts.*.mail.smtp": "smtp: 'mail.example.org:587'",
    "alerts.*.mail.starttls": "starttls: true",
    "alerts.*.mail.user": "user: cbtrack",
    "alerts.*.mail.password_env": "password_env: CBTRACK_SMTP_PASSWORD",
}

#: Keys whose value is a time range, a duration, or a fixed word.
_WINDOW_KEYS = {"call_hours", "business_hours.hours"}
_DURATION_KEYS = {
    "attempts.min_spacing",
    "urgencies.*.due",
    "urgencies.*.retry",
    "deadline_lead",
    "dependency_wait",
    "clock_skew",
    "alerts.*.after",
}

#: Named mappings: a key below them is a name (a user, a role, a category), not a field.
_NAMED = {
    "staff",
    "roles",
    "urgencies",
    "categories",
    "scripts.outcomes",
    "concepts",
    "scripts.languages",
}


_MAIL_WORDS = {
    "alerts.*.mail.smtp": "is not a mail server written HOST:PORT",
    "alerts.*.mail.to.*": "is not a mail address",
    "alerts.*.mail.from": "is not a mail address",
    "alerts.*.mail.password_env": "is not an environment variable's name",
}


def _pattern(loc: tuple[int | str, ...]) -> str:
    """`categories.general.owner` -> `categories.*.owner`; list positions become `*`."""
    parts: list[str] = []
    for part in loc:
        prefix = ".".join(parts)
        parts.append("*" if isinstance(part, int) or prefix in _NAMED else str(part))
    return ".".join(parts)


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _example(pattern: str) -> str | None:
    if pattern in EXAMPLES:
        return EXAMPLES[pattern]
    if pattern.startswith("scripts.") and pattern.count(".") == 1:
        return EXAMPLES["scripts.*"]
    return None


def _known_keys(pattern: str) -> list[str]:
    """The keys a mapping at `pattern` may hold (for 'did you mean')."""
    models: dict[str, type[StrictModel]] = {
        "": Policy,
        "business_hours": BusinessHours,
        "staff.*": StaffMember,
        "urgencies.*": UrgencyRule,
        "categories.*": CategoryPolicy,
        "triage": TriageSection,
        "triage.rules.*": TriageRule,
        "attempts": AttemptPolicy,
        "attempts.voicemail": VoicemailRules,
        "scripts": Scripts,
        "scripts.languages.*": Translation,
        "alerts.*": AlertRule,
        "alerts.*.mail": AlertMail,
    }
    model = models.get(pattern)
    return [info.alias or name for name, info in model.model_fields.items()] if model else []


def _what_is_wrong(err: Any, pattern: str) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        parent, _, name = pattern.rpartition(".")
        known = _known_keys(parent if "." in pattern else "")
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"is not a key cbtrack knows here{hint}; remove it or fix its spelling"
    if kind == "string_pattern_mismatch":
        if pattern in _WINDOW_KEYS:
            return "is not a time range from opening to closing, in 24-hour HH:MM"
        if pattern in _DURATION_KEYS:
            return "is not a duration: a number and m, h, d or bd (business days)"
        if pattern == "attempts.voicemail.patient_name":
            return "must be none or first"
        if pattern.startswith("alerts.*.mail."):
            return _MAIL_WORDS.get(pattern, "is not valid here")
        return "is not a name: use letters, digits, _ . or - (up to 40)"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping of keys to values, not a single value or a list"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list"
    if kind in ("string_type", "string_too_short"):
        return "must be text (not empty)"
    if kind == "string_too_long":
        return "is too long"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "too_short":
        return "must list at least one entry"
    if kind.startswith("date"):
        return "must be a date written YYYY-MM-DD"
    if kind.startswith("bool"):
        return "must be true or false"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return "is not valid here"


def describe_policy_problems(exc: Any) -> list[str]:
    """Each problem of a policy that does not validate, in plain words: the key, what is
    wrong, and a right value. `exc` is pydantic's ValidationError."""
    out: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        if loc and loc[-1] == "[key]":
            key, pattern = _key(loc[:-2]), _pattern(loc[:-2])
            if err["type"] == "enum":
                what = "has a key that is not an urgency level (the levels are " + (
                    ", ".join(u.value for u in Urgency) + ")"
                )
            else:
                what = "has a key that is not a name: use letters, digits, _ . or - (up to 40)"
            loc = loc[:-2]
        else:
            key, pattern = _key(loc), _pattern(loc)
            what = _what_is_wrong(err, pattern)
        if not loc:
            # checks across keys: one line each, starting with the key it is about
            out += str(err["msg"]).removeprefix("Value error, ").splitlines()
            continue
        example = _example(pattern)
        right = f"; for example {example}" if example and err["type"] != "extra_forbidden" else ""
        out.append(f"{key} {what}{right}")
    return out
