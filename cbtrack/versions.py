"""A record as one commit holds it, read once and kept: its parsed data, its model when it
validates, and the rules of the policy in force (staff, roles, guardrails) at that commit."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from cbtrack.clock import wall_delta
from cbtrack.errors import StoreError
from cbtrack.model import Callback
from cbtrack.store import MAX_POLICY_BYTES, MAX_RECORD_BYTES, POLICY_FILE
from cbtrack.yamlio import decode_text, parse_model, validate_data

#: A file's content as one version holds it: bytes, None when absent, or a sentence
#: saying why it cannot be read (a FIFO or an oversized file in the working tree).
Content = bytes | str | None
CLINICAL_ROLE = "clinical"
ADMIN_ROLE = "admin"
DEFAULT_SKEW = "10m"
#: The policy keys that say who may do what; only an admin changes them (rule 10).
# (`clock_skew` too: it bounds how far back a desk may date an entry, a rule of history
# that anyone could otherwise switch off)
GOVERNED = ("staff", "roles", "triage", "concepts", "signing", "alerts", "clock_skew")


# --- reading versions ----------------------------------------------------------------


class _Loose(BaseModel):
    """Any mapping under the store's strict YAML rules (an old or broken version)."""

    model_config = ConfigDict(extra="allow")


@dataclass
class _Version:
    model: Callback | None  # None when it does not validate
    loose: dict[str, Any] | None  # None when not even the YAML reads
    problem: str | None  # why it does not validate (names the file)


@dataclass(frozen=True)
class Rules:
    """What the rule book reads from a committed policy: who holds which role, the clock
    skew allowed between desks, and the governed keys (rules 8 to 10). Read loosely, so
    an old policy that a newer cbtrack would not accept still says who was who."""

    staff: dict[str, frozenset[str]] = field(default_factory=dict)
    skew: timedelta = timedelta(minutes=10)
    governed: dict[str, Any] = field(default_factory=dict)
    signing: bool = False  # `signing: required`: every commit after it is signed
    keys: dict[str, str] = field(default_factory=dict)  # user -> SSH public key line
    text: str | None = None  # the policy file itself (due rules, calendar), when it reads

    def has_role(self, user: str | None, role: str) -> bool:
        return user is not None and role in self.staff.get(user, frozenset())

    @property
    def roster(self) -> bool:
        return bool(self.staff)

    @property
    def admins(self) -> list[str]:
        return sorted(u for u, roles in self.staff.items() if ADMIN_ROLE in roles)

    def clinical_owner(self, owner: str) -> bool:
        return owner == CLINICAL_ROLE or self.has_role(owner, CLINICAL_ROLE)


def rules_of(data: dict[str, Any] | None) -> Rules:
    if not isinstance(data, dict):
        return Rules()
    staff: dict[str, frozenset[str]] = {}
    keys: dict[str, str] = {}
    members = data.get("staff")
    if isinstance(members, dict):
        for user, member in members.items():
            if not isinstance(member, dict):
                staff[str(user)] = frozenset()
                continue
            roles = member.get("roles")
            staff[str(user)] = (
                frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()
            )
            key = member.get("key")
            if isinstance(key, str) and key.strip():
                keys[str(user)] = key.strip()
    skew = timedelta(minutes=10)
    text = data.get("clock_skew", DEFAULT_SKEW)
    with contextlib.suppress(ValueError):
        skew = wall_delta(str(text))
    signing = data.get("signing") == "required"
    return Rules(staff, skew, {k: data.get(k) for k in GOVERNED}, signing, keys)


class Reader:
    """Parses contents once each (a version seen in a commit and again as the next commit's
    parent is read once). Holds the `limit` most recent versions only, so that walking a
    long history or a commit of 50,000 records takes bounded memory."""

    def __init__(self, limit: int = 4096) -> None:
        self._cache: dict[tuple[str, bytes], _Version] = {}
        self._rules: dict[bytes, Rules] = {}
        self.limit = limit

    def rules(self, data: Content) -> Rules:
        """The rules a policy file's content gives (defaults when absent or unreadable)."""
        if not isinstance(data, bytes):
            return Rules()
        key = hashlib.sha1(data).digest()
        found = self._rules.get(key)
        if found is None:
            text: str | None = None
            try:
                text = decode_text(data, MAX_POLICY_BYTES, POLICY_FILE)
                loose = parse_model(_Loose, text, POLICY_FILE).model_dump()
            except StoreError:
                loose = None
            found = self._rules[key] = replace(rules_of(loose), text=text)
        return found

    def version(self, path: str, data: bytes | str) -> _Version:
        if isinstance(data, str):
            return _Version(None, None, data)
        key = (path, hashlib.sha1(data).digest())
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _read(path, data)
            if len(self._cache) > self.limit:
                del self._cache[next(iter(self._cache))]  # the oldest
        return found


def _read(path: str, data: bytes) -> _Version:
    try:
        text = decode_text(data, MAX_RECORD_BYTES, path)
        loose = parse_model(_Loose, text, path).model_dump()
    except StoreError as exc:
        return _Version(None, None, exc.message)
    try:  # the YAML is parsed once: the loose mapping is what it read
        return _Version(validate_data(Callback, loose, path), loose, None)
    except StoreError as exc:
        return _Version(None, loose, exc.message)


def items_of(data: dict[str, Any] | None) -> dict[str, Any]:
    """`attempt <id>` / `event <id>` -> the item, from a loosely read version."""
    out: dict[str, Any] = {}
    for key, kind in (("attempts", "attempt"), ("events", "event")):
        items = (data or {}).get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    out[f"{kind} {item.get('id', '?')}"] = item
    return out
