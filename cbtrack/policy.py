"""The practice's rules as data (`cbtrack.yaml`): model, defaults and the calendar.

The default policy is a commented YAML file shipped in the package
(`cbtrack/data/policy.yaml`): `cbtrack init` writes that file, `Policy.default()` loads
it, and a short hand-written policy is completed from it. Everything the tool decides
about owners, urgency, due times, attempts and scripts comes from here.
"""

from __future__ import annotations

import copy
import string
from datetime import date
from functools import cache, cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cbtrack import packaged
from cbtrack.alertrules import AlertRule
from cbtrack.clock import BusinessCalendar, parse_duration
from cbtrack.ids import phone_digits
from cbtrack.matcher import Matcher, RuleSpec
from cbtrack.model import WINDOW_RE, Name, StrictModel, Text, Urgency
from cbtrack.words import PatternError

#: An example of right patterns, for every problem with a practice's rule or word group.
PATTERN_EXAMPLE = (
    "; write patterns like 'chest ..3 pain', '(blue|grey) lips' or '{chest} pressure' (a word "
    "group named under concepts, or a built-in one listed in cbtrack/data/triage.yaml)"
)

Window = Annotated[str, StringConstraints(pattern=WINDOW_RE)]
Duration = Annotated[str, StringConstraints(pattern=r"^\d{1,5}(m|h|d|bd)$")]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLINICAL_ROLE = "clinical"


class PolicyModel(StrictModel):
    """A part of the policy. Its validator is built when a policy is first checked, not
    when this module is imported: a command whose policy is kept (`rulecache.policy`)
    never needs it, and building all of them took about 25 ms."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


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


#: An SSH public key as `ssh-keygen` writes it: type, base64 body, optional comment.
SSH_KEY_RE = (
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"
    r"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]{0,200})?$"
)


class StaffMember(PolicyModel):
    name: Text | None = None
    roles: list[Name] = Field(default_factory=list)
    # The staff member's SSH public key (its .pub file's line): with `signing: required`,
    # the key their commits are signed with.
    key: Annotated[str, StringConstraints(strip_whitespace=True, pattern=SSH_KEY_RE)] | None = None


class BusinessHours(PolicyModel):
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: Window = "08:00-17:00"

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad or not v:
            raise ValueError(f"must list the open days among {', '.join(WEEKDAYS)}")
        return v

    @field_validator("hours")
    @classmethod
    def _opens_before_it_closes(cls, v: str) -> str:
        start, end = v.split("-")
        if start >= end:
            raise ValueError("must open before they close on the same day")
        return v


class UrgencyRule(PolicyModel):
    label: Text | None = None
    rank: int = Field(ge=0, le=100)
    due: Duration
    retry: Duration | None = None  # spacing between attempts; default attempts.min_spacing
    # clinical and emergency: how soon after it comes in a first call is on time (see
    # cbtrack/timing.py `first_call_due`); default `due` (15m for an emergency)
    first_call_within: Duration | None = None


class CategoryPolicy(PolicyModel):
    label: Text = ""
    owner: Name
    urgency: Urgency
    required_details: list[Name] = Field(default_factory=list)
    optional_details: list[Name] = Field(default_factory=list)
    note_template: Text | None = None
    next_action: Text = "Call the patient back"
    preventable: Text | None = None
    opening: Text | None = None


class TriageRule(PolicyModel):
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


RED_FLAG_MAX = 30


class TriageSection(PolicyModel):
    """`triage:` in the policy: the red-flag checklist asked at intake and the practice's own
    rules. A plain list is read as the rules (the form of versions before 0.3)."""

    red_flags: list[Text] = Field(default_factory=lambda: default_red_flags())
    rules: list[TriageRule] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _list_is_rules(cls, data: object) -> object:
        return {"rules": data} if isinstance(data, list) else data

    @field_validator("red_flags")
    @classmethod
    def _checklist(cls, flags: list[str]) -> list[str]:
        if not flags:
            raise ValueError("needs at least one sign; the symptoms question asks it")
        if len(flags) > RED_FLAG_MAX:
            raise ValueError(f"holds {len(flags)} signs; keep the checklist to {RED_FLAG_MAX}")
        seen: set[str] = set()
        for i, flag in enumerate(flags, 1):
            if "\n" in flag.strip() or len(flag) > 120:
                raise ValueError(f"sign {i} must be one line of at most 120 characters")
            if flag.strip().lower() in seen:
                raise ValueError(f"sign {i} is listed twice")
            seen.add(flag.strip().lower())
        return [f.strip() for f in flags]


def default_red_flags() -> list[str]:
    """The red-flag checklist of the default policy (cbtrack/data/policy.yaml)."""
    section = default_data()["triage"]
    return [str(f) for f in section["red_flags"]]


@cache
def builtin_triage() -> tuple[dict[str, str], dict[str, list[str]], tuple[TriageRule, ...]]:
    """The built-in spelling map, concepts and rules (cbtrack/data/triage.yaml), kept
    parsed in the user's cache folder (`rulecache.builtin`)."""
    from cbtrack.rulecache import builtin

    return builtin(_read_builtin_triage)


def _read_builtin_triage() -> tuple[dict[str, str], dict[str, list[str]], tuple[TriageRule, ...]]:
    data = packaged.load("triage.yaml")
    rules = tuple(TriageRule.model_validate(r) for r in data["rules"])
    return dict(data["spelling"]), dict(data["concepts"]), rules


class VoicemailRules(PolicyModel):
    patient_name: str = Field(default="none", pattern=r"^(none|first)$")


class AttemptPolicy(PolicyModel):
    max: int = Field(default=3, ge=1, le=20)
    min_spacing: Duration = "4h"
    voicemail: VoicemailRules = Field(default_factory=VoicemailRules)


class Translation(PolicyModel):
    """Approved scripts in one language; any part left out stays in the default language."""

    opening: Text | None = None
    voicemail_minimal: Text | None = None
    voicemail_detailed: Text | None = None
    outcomes: dict[Name, Text] = Field(default_factory=dict)
    clinical_handoff: Text | None = None
    emergency_guidance: Text | None = None
    never_say: list[Text] = Field(default_factory=list)


LanguageCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class Scripts(PolicyModel):
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


class Policy(PolicyModel):
    practice: Text
    callback_number: str
    timezone: str = "America/New_York"
    # ISO 3166 country: how export reads numbers without a + (E.164, cbtrack/phones.py)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    call_hours: Window = "08:00-20:00"
    staff: dict[Name, StaffMember] = Field(default_factory=dict)
    # off: who did it is the name typed (--as); required: every commit is signed with the
    # SSH key of a staff member, and the acting user is whose key signs.
    signing: Literal["off", "required"] = "off"
    roles: dict[Name, Text]
    end_of_day_owner: Name
    escalation_owner: Name
    holidays: list[date] = Field(default_factory=list)
    urgencies: dict[Urgency, UrgencyRule]
    categories: dict[Name, CategoryPolicy]
    triage: TriageSection = Field(default_factory=TriageSection)
    concepts: dict[Name, list[Text]] = Field(default_factory=dict)
    attempts: AttemptPolicy = Field(default_factory=AttemptPolicy)
    scripts: Scripts
    # A callback with a deadline is due at least this long before it (business time).
    deadline_lead: Duration = "1bd"
    # How long `block` waits for a dependency when no --until is given.
    dependency_wait: Duration = "2bd"
    # How far desks' clocks may disagree: nothing is recorded earlier than a callback's
    # latest entry by more than this (wall-clock time).
    clock_skew: Duration = "10m"
    # Who is told at once of an emergency, an overdue callback, a late dependency (see the
    # README, "Alerts").
    alerts: list[AlertRule] = Field(default_factory=list)

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
            raise ValueError("is not a time zone name cbtrack knows") from None
        return v

    @field_validator("callback_number")
    @classmethod
    def _number(cls, v: str) -> str:
        if not 7 <= len(phone_digits(v)) <= 15:
            raise ValueError("needs 7 to 15 digits")
        return v

    @model_validator(mode="after")
    def _references(self) -> Policy:
        """Checks across keys, all of them at once (one line each, each starting with the
        key it is about), so that one round of `validate` shows every problem."""
        problems = [*self._owner_problems(), *self._triage_problems(), *self._other_problems()]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _not_a_role(self, key: str, name: str, what: str = "a role or a staff user") -> str:
        roles = ", ".join(self.roles)
        return (
            f"{key} names {name}, which is not {what}; use one of the roles ({roles}) or add "
            "it under roles"
        )

    def _owner_problems(self) -> list[str]:
        out = []
        missing = [u.value for u in Urgency if u not in self.urgencies]
        if missing:
            out.append(
                f"urgencies is missing {', '.join(missing)}; every level needs a rule, for "
                f"example {missing[0]}: {{label: ..., rank: 3, due: 1bd}}"
            )
        for name, cat in self.categories.items():
            if not self.is_owner(cat.owner):
                out.append(self._not_a_role(f"categories.{name}.owner", cat.owner))
            clash = set(cat.required_details) & set(cat.optional_details)
            if clash:
                out.append(
                    f"categories.{name} lists {sorted(clash)[0]} in both required_details "
                    "and optional_details; keep it in one of them"
                )
        for key in ("end_of_day_owner", "escalation_owner"):
            if not self.is_owner(getattr(self, key)):
                out.append(self._not_a_role(key, getattr(self, key)))
        for user, member in self.staff.items():
            for role in member.roles:
                if role not in self.roles:
                    out.append(self._not_a_role(f"staff.{user}.roles", role, "a role"))
        return out

    def _triage_problems(self) -> list[str]:
        out = []
        builtin_names = {r.name for r in builtin_triage()[2]}
        for i, rule in enumerate(self.triage.rules, 1):
            if rule.route_to and not self.is_owner(rule.route_to):
                out.append(self._not_a_role(f"triage.rules[{i}].route_to", rule.route_to, "a role"))
            if rule.name in builtin_names:
                out.append(
                    f"triage.rules[{i}].name is {rule.name}, the name of a built-in rule, which "
                    "always applies; give your rule another name"
                )
        out += self._pattern_problems()
        return out

    def _other_problems(self) -> list[str]:
        out = []
        for level, level_rule in self.urgencies.items():
            try:
                parse_duration(level_rule.due)
            except ValueError:
                out.append(f"urgencies.{level}.due is not a duration; for example due: 1bd")
        for key, allowed in ALLOWED_FIELDS.items():
            texts = [("scripts", getattr(self.scripts, key))] + [
                (f"scripts.languages.{code}", getattr(tr, key))
                for code, tr in self.scripts.languages.items()
            ]
            for where, text in texts:
                extra = fields_of(text or "") - allowed
                if extra:
                    out.append(
                        f"{where}.{key} may not use {{{sorted(extra)[0]}}}; it may use only "
                        + ", ".join("{" + a + "}" for a in sorted(allowed))
                    )
        out += self._alert_problems()
        return out

    def _alert_problems(self) -> list[str]:
        out = []
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.alerts, 1):
            if rule.key in seen:
                out.append(
                    f"alerts[{i}] has the same name as alerts[{seen[rule.key]}] ({rule.key}); "
                    f"give each a name of its own, like name: {rule.when}_pager"
                )
            seen.setdefault(rule.key, i)
        return out

    def alert_warnings(self) -> list[str]:
        """What `validate` says of the alert rules without refusing them."""
        return [
            f"alerts[{i}] ({rule.key}) has include_phi: true, so its alerts carry the "
            "patient's name, phone and reason to wherever they go; make sure that channel "
            "is approved for patient data"
            for i, rule in enumerate(self.alerts, 1)
            if rule.include_phi
        ]

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
        return [*builtin_triage()[2], *self.triage.rules]

    def _pattern_problems(self) -> list[str]:
        """Compile the practice's own concepts, then each of its rules on its own, against
        the built-in concept names (cheap; the built-in rules are compiled when triage first
        needs them): a problem names its rule (`triage.rules[2] (rule wasp_sting)`) or says
        it is in the concepts."""
        spelling, concepts, _ = builtin_triage()
        known: dict[str, list[str]] = {name: [] for name in concepts}
        for name, terms in self.concepts.items():
            known[name] = list(terms)
        try:
            Matcher(known, [], spelling)
        except PatternError as exc:
            return [f"concepts: {exc}{PATTERN_EXAMPLE}"]
        out = []
        for i, rule in enumerate(self.triage.rules, 1):
            try:
                Matcher(known, [rule.spec()], spelling)
            except PatternError as exc:
                out.append(f"triage.rules[{i}] (rule {rule.name}): {exc}{PATTERN_EXAMPLE}")
        return out

    @cached_property
    def matcher(self) -> Matcher:
        spelling, concepts, _ = builtin_triage()
        merged = {name: list(terms) for name, terms in concepts.items()}
        for name, terms in self.concepts.items():
            merged[name] = [*merged.get(name, []), *terms]
        from cbtrack.rulecache import compiled

        return compiled(merged, [r.spec() for r in self.triage_rules], spelling)

    @property
    def roster_enforced(self) -> bool:
        return bool(self.staff)

    def staff_key(self, name: str) -> str:
        """`name` spelled as the roster spells it: user names match in any case (`Lead`
        is `lead`). A name the roster does not hold, or holds in more than one case, is
        returned as given."""
        if name in self.staff:
            return name
        folded = name.casefold()
        found = [user for user in self.staff if user.casefold() == folded]
        return found[0] if len(found) == 1 else name

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
        """The policy shipped with cbtrack, as `cbtrack init` writes it."""
        return Policy.model_validate(default_data())

    def placeholders(self) -> list[str]:
        """What is still the shipped placeholder and would be read to patients."""
        shipped = default_data()
        out = []
        if self.practice == shipped["practice"]:
            out.append(
                f"practice is still the placeholder '{self.practice}'; scripts and voicemails "
                "say it to patients: set it, like practice: Maple Street Family Medicine"
            )
        if phone_digits(self.callback_number) == phone_digits(shipped["callback_number"]):
            out.append(
                f"callback_number is still the placeholder {self.callback_number}; voicemails "
                'ask patients to call it: set it, like callback_number: "+15555550123"'
            )
        return out


#: The default policy inside the package (cbtrack/data/), read with importlib.resources.
DEFAULT_POLICY_FILE = "policy.yaml"


def default_policy_text() -> str:
    """The commented default policy shipped in the package, as `cbtrack init` writes it."""
    return packaged.text(DEFAULT_POLICY_FILE)


def default_data() -> dict[str, Any]:
    """The default policy's data (a fresh copy; scalars as written in the file)."""
    data = packaged.load(DEFAULT_POLICY_FILE)
    if not isinstance(data, dict):
        raise TypeError("the packaged default policy is not a mapping")
    return copy.deepcopy(data)


def __getattr__(name: str) -> Any:
    """`DEFAULT_POLICY`: the default policy's data, read from the packaged file on use."""
    if name == "DEFAULT_POLICY":
        return default_data()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def complete_policy(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what a short, hand-written policy leaves out from the default policy:
    roles (the default ones plus every name used as an owner), the end-of-day and
    escalation owners, every urgency level, the practice's triage rules, the scripts, the
    categories when none are given, and each category's label. Also accepts `roles` as a
    list and `business_hours` as "HH:MM-HH:MM"."""
    out = dict(data)
    defaults = default_data()
    hours = out.get("business_hours")
    if isinstance(hours, str):
        out["business_hours"] = {"hours": hours}
    for key in ("end_of_day_owner", "triage", "concepts", "attempts", "holidays", "categories"):
        out.setdefault(key, defaults[key])
    out.setdefault("escalation_owner", out["end_of_day_owner"])
    urgencies = out.get("urgencies")
    merged_urgencies = dict(defaults["urgencies"])
    if isinstance(urgencies, dict):
        for level, rule in urgencies.items():
            base = dict(merged_urgencies.get(level, {}))
            merged_urgencies[level] = {**base, **rule} if isinstance(rule, dict) else rule
    out["urgencies"] = merged_urgencies
    scripts = out.get("scripts")
    merged_scripts = dict(defaults["scripts"])
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
        derived: dict[str, str] = dict(defaults["roles"])
        used: list[object] = [out["end_of_day_owner"], out["escalation_owner"]]
        if isinstance(categories, dict):
            used += [c.get("owner") for c in categories.values() if isinstance(c, dict)]
        staff = out.get("staff")
        if isinstance(staff, dict):
            for member in staff.values():
                if isinstance(member, dict) and isinstance(member.get("roles"), list):
                    used += member["roles"]
        rules = out["triage"].get("rules") if isinstance(out["triage"], dict) else out["triage"]
        if isinstance(rules, list):
            used += [r.get("route_to") for r in rules if isinstance(r, dict)]
        for name in used:
            if isinstance(name, str) and name and name not in (staff or {}):
                derived.setdefault(name, name)
        out["roles"] = derived
    return out
