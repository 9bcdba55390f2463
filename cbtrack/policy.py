"""The practice's rules as data (`cbtrack.yaml`): model, defaults and the calendar.

The default policy is a commented YAML file shipped in the package
(`cbtrack/data/policy.yaml`): `cbtrack init` writes that file, `Policy.default()` loads
it, and a short hand-written policy is completed from it. Everything the tool decides
about owners, urgency, due times, attempts and scripts comes from here.
"""

from __future__ import annotations

import copy
import functools
import string
from datetime import date
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cbtrack.clock import BusinessCalendar, parse_duration
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
    name: Name
    phrases: list[Text] = Field(min_length=1)
    urgency: Urgency
    route_to: Name | None = None
    next_action: Text | None = None


class VoicemailRules(StrictModel):
    patient_name: str = Field(default="none", pattern=r"^(none|first)$")


class AttemptPolicy(StrictModel):
    max: int = Field(default=3, ge=1, le=20)
    min_spacing: Duration = "4h"
    voicemail: VoicemailRules = Field(default_factory=VoicemailRules)


class Scripts(StrictModel):
    opening: Text
    voicemail_minimal: Text
    voicemail_detailed: Text
    outcomes: dict[Name, Text]
    clinical_handoff: Text
    emergency_guidance: Text
    never_say: list[Text] = Field(default_factory=list)


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
    attempts: AttemptPolicy = Field(default_factory=AttemptPolicy)
    scripts: Scripts

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
        for rule in self.triage:
            if rule.route_to and not self.is_owner(rule.route_to):
                raise ValueError(f"triage rule {rule.name} routes to unknown role {rule.route_to}")
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
            extra = fields_of(getattr(self.scripts, key)) - allowed
            if extra:
                raise ValueError(
                    f"scripts.{key} may not use {{{sorted(extra)[0]}}}; allowed: "
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

    @staticmethod
    def default() -> Policy:
        """The policy shipped with cbtrack, as `cbtrack init` writes it."""
        return Policy.model_validate(default_data())

    def placeholders(self) -> list[str]:
        """What is still the shipped placeholder and would be read to patients."""
        shipped = _shipped()
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


#: The default policy inside the package (read with importlib.resources).
DEFAULT_POLICY_RESOURCE = ("data", "policy.yaml")


def default_policy_text() -> str:
    """The commented default policy, exactly as `cbtrack init` writes it."""
    from importlib.resources import files

    resource = files("cbtrack").joinpath(*DEFAULT_POLICY_RESOURCE)
    return resource.read_text(encoding="utf-8")


@functools.cache
def _shipped() -> dict[str, Any]:
    # Only the store parses YAML (strictly: every scalar stays text); imported here because
    # the store imports this module.
    from cbtrack.store import parse_yaml

    data = parse_yaml(default_policy_text())
    if not isinstance(data, dict):
        raise TypeError("the packaged default policy is not a mapping")
    return data


def default_data() -> dict[str, Any]:
    """The default policy's data (a fresh copy; scalars as written in the file)."""
    return copy.deepcopy(_shipped())


def __getattr__(name: str) -> Any:
    """`DEFAULT_POLICY`: the default policy's data, read from the packaged file on use."""
    if name == "DEFAULT_POLICY":
        return default_data()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def complete_policy(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what a short, hand-written policy leaves out from the default policy:
    roles (the default ones plus every name used as an owner), the end-of-day and
    escalation owners, every urgency level, the triage rules, the scripts, and each
    category's label. Also accepts `roles` as a list and `business_hours` as "HH:MM-HH:MM"."""
    out = dict(data)
    defaults = default_data()
    hours = out.get("business_hours")
    if isinstance(hours, str):
        out["business_hours"] = {"hours": hours}
    for key in ("end_of_day_owner", "triage", "attempts", "holidays"):
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
        if isinstance(out["triage"], list):
            used += [r.get("route_to") for r in out["triage"] if isinstance(r, dict)]
        for name in used:
            if isinstance(name, str) and name and name not in (staff or {}):
                derived.setdefault(name, name)
        out["roles"] = derived
    return out
