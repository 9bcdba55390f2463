"""Three-way merge of one callback record: the rules that the merge driver and sync apply.

Pure: it takes the common version (or None when there is none), ours and theirs, and
returns the merged record plus the questions no rule answers. It reads no files and no
clock, and it gives the same result whichever side is "ours", so two desks that merge
each other's work at the same time end up with identical records.

The rules:

1. Attempts and events: the union by `id`, ordered by `at`, then `id`. Nothing is dropped.
   An item both sides hold with different content keeps the version equal to the common
   one (history is append-only; `cbtrack verify` reports the rewrite). If neither side
   matches the common version, that is a conflict.
2. Dependencies: the union by `id`. For one both sides hold, `resolved_at` is the earliest
   non-empty value; its other fields follow rule 5.
3. Open or closed: when both sides hold the same closure (or none), that stays; else the
   latest `closed` or `reopened` event of the merged events decides (with no such event,
   rule 5 on `closure`). A closed record keeps the latest closure of
   the two sides, and every attempt of both sides.
4. An attempt later than that closure (made on a desk that had not yet seen the close)
   reopens the record: the merge appends a `reopened` event by `cbtrack` at that attempt's
   time, so the callback is back in the queue for a person to review and close again.
   An open record's status is `waiting_internal` while a dependency is unresolved, else
   `escalated` if rule 5 keeps it escalated, else what its latest attempt implies.
5. Any other field (`patient` and `details` key by key): changed on one side only, that
   side's value; changed on both sides, the value of the side with the latest attempt or
   event; equal times, the larger value in canonical JSON order. Except `owner`, `urgency`
   and `due_at`: changed on both sides, the value the latest new event that sets it records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cbtrack.ids import ALPHABET
from cbtrack.model import (
    Attempt,
    Callback,
    Closure,
    Dependency,
    Event,
    EventType,
    Status,
    describe_validation,
)

MERGE_USER = "cbtrack"
SPECIAL = {"id", "attempts", "events", "depends_on", "closure", "status"}
BY_KEY = {"patient", "details"}
REOPEN_NOTE = (
    "Reopened by a merge: another desk recorded an attempt after the close; "
    "review it and close again."
)

Item = TypeVar("Item", Attempt, Event, Dependency)


@dataclass
class Merged:
    """The merged record (None when no rule could produce one), and what to tell staff."""

    record: Callback | None
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def latest_activity(cb: Callback) -> datetime | None:
    """When this side last recorded anything: its newest attempt or event."""
    times = [a.at for a in cb.attempts] + [e.at for e in cb.events]
    return max(times) if times else None


class _Sides:
    """Picks a value changed on both sides: the newer side, then canonical order."""

    def __init__(self, ours: Callback, theirs: Callback) -> None:
        self.ours_at = latest_activity(ours)
        self.theirs_at = latest_activity(theirs)

    def both_changed(self, ours: Any, theirs: Any) -> Any:
        if self.ours_at != self.theirs_at:
            if self.theirs_at is None:
                return ours
            if self.ours_at is None:
                return theirs
            return ours if self.ours_at > self.theirs_at else theirs
        return max(ours, theirs, key=canonical)

    def pick(self, base: Any, ours: Any, theirs: Any) -> Any:
        taken = three_way(base, ours, theirs)
        return self.both_changed(ours, theirs) if taken is BOTH else taken


BOTH: Any = object()  # both sides changed a value, each its own way


def three_way(base: Any, ours: Any, theirs: Any) -> Any:
    """The value a three-way merge keeps when at most one side changed it (that side's, or
    the common one); `BOTH` when both changed it differently (rule 5 then decides)."""
    if ours == theirs:
        return ours
    if ours == base:
        return theirs
    if theirs == base:
        return ours
    return BOTH


def _union(
    kind: str,
    base: list[Item],
    ours: list[Item],
    theirs: list[Item],
    result: Merged,
) -> list[Item]:
    """Rule 1: every item of both sides, once; a rewritten one goes back to the original."""
    original = {i.id: dump(i) for i in base}
    out: dict[str, Item] = {i.id: i for i in ours}
    for item in theirs:
        mine = out.get(item.id)
        if mine is None:
            out[item.id] = item
            continue
        a, b = dump(mine), dump(item)
        if a == b:
            continue
        old = original.get(item.id)
        if old in (a, b):
            out[item.id] = mine if old == a else item
            result.notes.append(
                f"{kind} {item.id} was rewritten on one side; the original was kept "
                "(run 'cbtrack verify' to see where)."
            )
        else:
            if canonical(b) > canonical(a):
                out[item.id] = item
            result.conflicts.append(
                f"{kind} {item.id} differs between the two desks and neither matches the "
                "common version; decide which version is right and keep only that one"
            )
    return list(out.values())


def _merge_dependencies(
    base: Callback | None, ours: Callback, theirs: Callback, sides: _Sides, result: Merged
) -> list[Dependency]:
    """Rule 2: union by id; the earliest resolution; other fields by rule 5."""
    old = {d.id: dump(d) for d in base.depends_on} if base else {}
    mine = {d.id: d for d in ours.depends_on}
    out: dict[str, Dependency] = dict(mine)
    for dep in theirs.depends_on:
        have = mine.get(dep.id)
        if have is None or dump(have) == dump(dep):
            out[dep.id] = dep
            continue
        a, b, o = dump(have), dump(dep), old.get(dep.id, {})
        data = {
            key: sides.pick(o.get(key), a.get(key), b.get(key))
            for key in ("id", "kind", "note", "since")
        }
        resolved = [d.resolved_at for d in (have, dep) if d.resolved_at is not None]
        merged = Dependency.model_validate(data)
        merged.resolved_at = min(resolved) if resolved else None
        out[dep.id] = merged
    return sorted(out.values(), key=lambda d: (d.since, d.id))


def _merge_fields(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], sides: _Sides
) -> dict[str, Any]:
    """Rule 5 over every plain field; `patient` and `details` key by key."""
    out: dict[str, Any] = {}
    for key in [*ours, *(k for k in theirs if k not in ours)]:
        if key in SPECIAL:
            continue
        b, o, t = base.get(key), ours.get(key), theirs.get(key)
        if key in BY_KEY and isinstance(o, dict) and isinstance(t, dict):
            b = b if isinstance(b, dict) else {}
            inner = {}
            for sub in [*o, *(k for k in t if k not in o)]:
                value = sides.pick(b.get(sub), o.get(sub), t.get(sub))
                if value is not None:
                    inner[sub] = value
            out[key] = inner
            continue
        value = sides.pick(b, o, t)
        if value is not None:
            out[key] = value
    return out


#: Fields an event records in `set`: changed on both sides, the latest such event decides.
EVENT_FIELDS = ("owner", "urgency", "due_at")


def _follow_events(
    data: dict[str, Any],
    base: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any],
    events: list[Event],
    old: Callback | None,
) -> None:
    """Rule 5's exception: an owner, urgency or due time that both sides changed is the
    one the latest new event that sets it says, so the record never contradicts its own
    history (whichever side was active last)."""
    seen = {e.id for e in old.events} if old else set()
    for key in EVENT_FIELDS:
        b, o, t = base.get(key), ours.get(key), theirs.get(key)
        if o in (t, b) or t == b:
            continue
        setting = [e for e in events if e.id not in seen and key in (e.set or {})]
        if setting:
            data[key] = max(setting, key=lambda e: (e.at, e.id)).set[key]  # type: ignore[index]


def _item_id(*parts: str) -> str:
    """A deterministic item ID, so two desks making the same merge make the same event."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:6])


def _lifecycle(
    base: Callback | None,
    ours: Callback,
    theirs: Callback,
    events: list[Event],
    sides: _Sides,
) -> Closure | None:
    """Rule 3: the closure the merged record keeps, or None if it is open."""
    if ours.closure == theirs.closure:
        return ours.closure  # both desks agree, whatever skewed clocks say about the turns
    turns = [e for e in events if e.type in (EventType.closed, EventType.reopened)]
    closures = [c for c in (ours.closure, theirs.closure) if c is not None]
    if turns:
        last = max(turns, key=lambda e: (e.at, e.id))
        if last.type != EventType.closed or not closures:
            return None
        return max(closures, key=lambda c: (c.at, canonical(dump(c))))
    old = dump(base.closure) if base and base.closure else None
    mine = dump(ours.closure) if ours.closure else None
    other = dump(theirs.closure) if theirs.closure else None
    chosen = sides.pick(old, mine, other)
    return Closure.model_validate(chosen) if chosen is not None else None


def merge_records(base: Callback | None, ours: Callback, theirs: Callback) -> Merged:
    """Merge two versions of one callback by the rules in this module's docstring."""
    result = Merged(None)
    if ours.id != theirs.id:
        result.conflicts.append(
            "the two sides hold different callbacks under one file name; decide which file is right"
        )
        return result
    if base is not None and base.id != ours.id:
        base = None
    sides = _Sides(ours, theirs)
    attempts = _union(
        "attempt", base.attempts if base else [], ours.attempts, theirs.attempts, result
    )
    events = _union("event", base.events if base else [], ours.events, theirs.events, result)
    deps = _merge_dependencies(base, ours, theirs, sides, result)
    b = dump(base) if base else {}
    mine, other = dump(ours), dump(theirs)
    data = _merge_fields(b, mine, other, sides)
    _follow_events(data, b, mine, other, events, base)
    data["id"] = ours.id
    data["status"] = Status.new.value
    try:
        cb = Callback.model_validate(data)
    except ValidationError as exc:
        result.conflicts.append(
            f"the merged fields do not make a valid record ({describe_validation(exc)}); "
            "decide the field by hand"
        )
        return result
    cb.attempts = sorted(attempts, key=lambda a: (a.at, a.id))
    cb.depends_on = deps
    cb.events = sorted(events, key=lambda e: (e.at, e.id))
    _settle_status(cb, base, ours, theirs, sides, result)
    try:
        result.record = Callback.model_validate(dump(cb))
    except ValidationError as exc:
        result.conflicts.append(
            f"the merged record does not validate ({describe_validation(exc)}); "
            "decide the field by hand"
        )
    return result


def _settle_status(
    cb: Callback,
    base: Callback | None,
    ours: Callback,
    theirs: Callback,
    sides: _Sides,
    result: Merged,
) -> None:
    """Open or closed, and the status, of the merged record `cb`: the closure the sides
    agree on or the latest one, undone (with a `reopened` event by cbtrack) when an attempt
    came after it."""
    closure = _lifecycle(base, ours, theirs, cb.events, sides)
    late = [a for a in cb.attempts if closure is not None and a.at > closure.at]
    if closure is not None and late:
        cb.closure = None
        status = cb.resting_status()
        newest = max(late, key=lambda a: (a.at, a.id))
        event = Event(
            id=_item_id(cb.id, closure.at.isoformat(), *sorted(a.id for a in late)),
            at=newest.at,
            by=MERGE_USER,
            type=EventType.reopened,
            note=REOPEN_NOTE,
            was={"status": Status.closed.value},
            set={"status": status.value},
        )
        if all(e.id != event.id for e in cb.events):
            cb.events = sorted([*cb.events, event], key=lambda e: (e.at, e.id))
        result.notes.append(
            f"{cb.id} was closed on one desk and attempted later on another; "
            "it is open again for review."
        )
        closure = None
    if closure is not None:
        cb.closure = closure
        cb.status = Status.closed
        cb.next_attempt_at = None
    else:
        cb.closure = None
        picked = sides.pick(
            base.status.value if base else None, ours.status.value, theirs.status.value
        )
        if cb.open_dependencies:
            cb.status = Status.waiting_internal
        elif picked == Status.escalated.value:
            cb.status = Status.escalated
        else:
            cb.status = cb.resting_status()
