"""The rule book for history: what may change between two versions of the store's records.

Pure: it takes file contents and returns the breaches, each naming its file and never a
value. The pre-commit hook, `verify`, `sync`, crash recovery and every command's commit
(`gitlog.commit`) ask it; nothing enters history another way.

The rules, for every record touched by a change (a commit against each of its parents):

1. Valid: a record parses strictly and validates against the model (policy-independent).
2. In its place: `callbacks/open/<id>.yaml` while open, `callbacks/closed/<YYYY-MM>/<id>.yaml`
   (month of creation, from the ID) once closed; the file name is the ID; one copy only.
   Nothing else lives under `callbacks/` except the two `.gitkeep` files.
3. Never gone: a record a parent holds is still held (in either place) afterwards.
4. Append-only: every attempt and event a parent holds is still there, unchanged.
5. Fixed once written: `id`, `created_at`, `created_by`, `source`, `import_key`.
6. Closure only through its commands: the closure changes only together with a new
   `closed` event that records it (same time, same person, same reason; `reached` only
   with an attempt that reached the patient), and goes away only with a new `reopened`
   event. `status` changes only together with a new attempt or event.
7. Explained: every other changed field is explained by what the same change appended
   (`EXPLAINED_BY`: an event of a listed type that names the field in `set`, or a new
   attempt where listed).
8. Signed by its author: every new attempt and event (and a new record's `created_by`)
   is by the commit's author, and none is dated earlier than the record's latest item, or
   later than the commit itself, by more than the policy's `clock_skew`.
9. Guardrails: with a roster, closing a `clinical` or `emergency` callback, handing it to
   an owner outside the clinical role, lowering its urgency, or moving its due time later
   (unless it resolves a dependency or takes a closure away and sets no later a due time
   than those commands do, `_resets_due`) needs an
   author with the clinical role in the policy as committed before the change.
10. Policy: a change to the keys in `GOVERNED`, or to git's settings files, needs an
   author with the `admin` role in the policy before the change (or a policy that names
   no admin yet); removing the policy never (cbtrack/treerules.py).
11. Tree: nothing under `.cbtrack/` (local files) and no symlink or submodule anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cbtrack.breach import (
    CLOSED as CLOSED,
    KEEP_FILES as KEEP_FILES,
    OPEN as OPEN,
    RECORDS as RECORDS,
    Breach as Breach,
    HistoryRefused as HistoryRefused,
)
from cbtrack.enums import CLINICAL_URGENCIES, Urgency
from cbtrack.ids import ID_RE
from cbtrack.model import Callback, CloseReason, Event, EventType, id_month
from cbtrack.store import POLICY_FILE
from cbtrack.treerules import (
    is_settings,
    policy_breaches,
    settings_breaches,
    tree_breaches as tree_breaches,
)
from cbtrack.versions import (
    CLINICAL_ROLE,
    Content,
    Reader,
    Rules,
    _Version,
    items_of,
)

if TYPE_CHECKING:
    from cbtrack.policy import Policy

FIXED = ("id", "created_at", "created_by", "source", "import_key", "category", "related_to")

#: Rule 7: field -> what may change it. An event type explains the field when the event
#: names it in `set`; a type ending in "*" explains it by its type alone; "attempt" is a
#: new attempt (for `next_action`, one whose own next action is the new value).
#: `patient.<field>`, `details.<key>` and `reason` change only by an `edited` event that
#: names them; `status` by any new attempt or event; `closure` by rule 6.
EXPLAINED_BY: dict[str, tuple[str, ...]] = {
    "urgency": ("urgency_changed", "triaged", "edited"),
    "owner": ("assigned", "routed", "rolled_over", "escalated", "triaged", "closed"),
    "due_at": ("urgency_changed", "triaged", "edited", "reopened", "unblocked"),
    "deadline_at": ("edited",),
    "next_action": ("attempt", "edited", "routed", "triaged"),
    "next_attempt_at": ("attempt", "closed*", "reopened*", "edited", "rolled_over"),
    "depends_on": ("blocked*", "unblocked*"),
    "patient.*": ("edited",),
    "details.*": ("edited",),
    "reason": ("edited",),
}
_URGENCY_ORDER = {u: i for i, u in enumerate(Urgency)}


Snapshot = Mapping[str, Content]


def record_id(path: str) -> str | None:
    """The callback ID a path holds when it is a record in its place, else None."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != RECORDS or not parts[-1].endswith(".yaml"):
        return None
    stem = parts[-1][: -len(".yaml")]
    if not ID_RE.match(stem):
        return None
    if len(parts) == 3 and parts[1] == "open":
        return stem
    if len(parts) == 4 and parts[1] == "closed" and parts[2] == id_month(stem):
        return stem
    return None


def callback_of(path: str) -> str | None:
    """The callback ID a file under callbacks/ is named after, wherever it sits."""
    name = path.rsplit("/", 1)[-1]
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else ""
    return stem if path.startswith(f"{RECORDS}/") and ID_RE.match(stem) else None


def record_paths(cid: str) -> tuple[str, str]:
    """The two places a record can live: open, and closed by month of creation."""
    return f"{OPEN}{cid}.yaml", f"{CLOSED}{id_month(cid)}/{cid}.yaml"


def judged(path: str) -> bool:
    """Whether the rule book judges a change to `path`: a record's place, the policy, or
    the repository's own settings (`treerules.GIT_SETTINGS`)."""
    return path.startswith(f"{RECORDS}/") or path == POLICY_FILE or is_settings(path)


def wanted(changed: Iterable[str]) -> list[str]:
    """Every path whose content `check` needs for these changed paths (the policy always:
    a change is judged by the roles its parent's policy gives)."""
    out: dict[str, None] = {POLICY_FILE: None}
    for path in changed:
        out[path] = None
        cid = callback_of(path)
        if cid is not None:
            for p in record_paths(cid):
                out[p] = None
    return list(out)


# --- the rules -----------------------------------------------------------------------


def check(
    changed: Iterable[str],
    parents: Sequence[Snapshot],
    after: Snapshot,
    reader: Reader | None = None,
    author: str | None = None,
    when: datetime | None = None,
) -> list[Breach]:
    """The breaches of one change: `changed` lists the paths that differ between any
    parent and `after` (records, and the policy); each snapshot holds (at least) the
    paths `wanted` names. With no parent the change is a first commit. `author` is who
    the commit names (None: rules 8 to 10 are not judged, as for an unknown author);
    `when`, the commit's date (None: entries dated ahead of it are not judged)."""
    rd = reader or Reader()
    out: list[Breach] = []
    ids: dict[str, None] = {}
    rules = rd.rules(parents[0].get(POLICY_FILE)) if parents else Rules()
    for path in changed:
        if path == POLICY_FILE and parents and author is not None:
            out += policy_breaches(rd, parents[0].get(POLICY_FILE), after.get(path), author)
            continue
        if is_settings(path):
            if parents and author is not None:
                was, now = parents[0].get(path), after.get(path)
                out += settings_breaches(rd, parents[0].get(POLICY_FILE), path, was, now, author)
            continue
        if not path.startswith(f"{RECORDS}/") or path in KEEP_FILES:
            continue
        cid = record_id(path)
        if cid is not None:
            ids[cid] = None
            continue
        named = callback_of(path)
        if named is not None:
            ids[named] = None
        if after.get(path) is not None and not _inherited(path, parents, after):
            out.append(Breach("stray", path, "is not a record in its place", named))
    # a first commit (a store made from an existing folder) brings records that people
    # wrote before the store had a history: whose they are cannot be judged from it
    for cid in ids:
        out += _check_record(cid, parents, after, rd, rules, author if parents else None, when)
    return out


def _inherited(path: str, parents: Sequence[Snapshot], after: Snapshot) -> bool:
    """The file is exactly as a parent holds it: not this change's doing (a merge that
    took one side's file, or the unchanged copy of a record touched elsewhere)."""
    return any(p.get(path) == after.get(path) for p in parents)


def _check_record(
    cid: str,
    parents: Sequence[Snapshot],
    after: Snapshot,
    rd: Reader,
    rules: Rules,
    author: str | None,
    when: datetime | None = None,
) -> list[Breach]:
    rels = record_paths(cid)
    now, out = _placement(cid, rels, parents, after, rd)
    befores = [_whole(p, rels, rd) for p in parents]
    held = [b for b in befores if b is not None]
    if not held:
        fresh = _best(list(now.values())) if now else None
        if fresh is not None and fresh.model is not None and author is not None:
            path = next(iter(now))
            if not all(_inherited(r, parents, after) for r in now):
                out += _new_record_authorship(fresh.model, author, path, cid)
                items = [*fresh.model.attempts, *fresh.model.events]
                out += _clock(None, items, rules, path, cid, None, when)
        return out
    if not now:
        where = next(r for r in rels if any(p.get(r) is not None for p in parents))
        gone = "deleting a record (or moving it out of its folder) drops its attempts and events"
        return [*out, Breach("deleted", where, gone, cid, restore=where)]
    restore = _held_at(parents, rels)
    path = next(iter(now))
    if any(v.loose is None for v in now.values()):
        return out  # unreadable: already reported; items cannot be compared
    out += _item_breaches(held, now, path, cid, restore)
    after_v = _best(list(now.values()))
    if after_v.model is None:
        return out
    # a field is the change's doing only when it breaks the rules against every parent
    # that held the record (a merge may take a field as either parent had it)
    # (a parent whose copy could not be read at all has no fields to compare with)
    judged = [
        _field_breaches(b, after_v, path, cid, restore, rules, author, when)
        for b in held
        if b.loose
    ]
    if judged:
        keys = set.intersection(*({(x.kind, x.detail) for x in fb} for fb in judged))
        out += [x for x in judged[0] if (x.kind, x.detail) in keys]
    return out


def _placement(
    cid: str, rels: tuple[str, str], parents: Sequence[Snapshot], after: Snapshot, rd: Reader
) -> tuple[dict[str, _Version], list[Breach]]:
    """The record's files after the change, and what is wrong with where they are or what
    they hold (invalid, unreadable, in the wrong folder, in both), for files the change
    touched."""
    out: list[Breach] = []
    now: dict[str, _Version] = {}
    for path in rels:
        data = after.get(path)
        if data is None:
            continue
        v = rd.version(path, data)
        now[path] = v
        if _inherited(path, parents, after):
            continue
        restore = _held_at(parents, rels)
        if v.model is None:
            kind = "invalid" if v.loose is not None else "unreadable"
            detail = (v.problem or "does not validate").removeprefix(f"{path}").lstrip(": ")
            out.append(Breach(kind, path, detail.rstrip("."), cid, restore=restore))
        elif v.model.id != cid:
            out.append(
                Breach("folder", path, "field id does not match the file name", cid, None, restore)
            )
        elif v.model.is_open != path.startswith(OPEN):
            out.append(
                Breach("folder", path, "field status does not match the folder", cid, None, restore)
            )
    if len(now) == 2 and not all(_inherited(r, parents, after) for r in rels):
        out.append(
            Breach(
                "folder",
                rels[1],
                f"the record is in both {OPEN} and {CLOSED}; keep only the copy its status "
                "puts it in",
                cid,
            )
        )
    return now, out


def _item_breaches(
    held: Sequence[_Version],
    now: dict[str, _Version],
    path: str,
    cid: str,
    restore: str | None,
) -> list[Breach]:
    """Attempts and events are append-only: every item of every parent is kept, and one
    that differs must equal some parent's version (a merge keeps the original of an item
    one side rewrote)."""
    have: dict[str, Any] = {}
    for v in now.values():
        have.update(items_of(v.loose))
    versions: dict[str, list[Any]] = {}
    for before in held:
        for item, value in items_of(before.loose).items():
            versions.setdefault(item, []).append(value)
    out = []
    for item, values in versions.items():
        if item not in have:
            kind, verb = "removed", "removed"
        elif all(have[item] != v for v in values):
            kind, verb = "changed", "changed"
        else:
            continue
        detail = f"{item} was {verb}; attempts and events are append-only"
        out.append(Breach(kind, path, detail, cid, item, restore))
    return out


def _held_at(parents: Sequence[Snapshot], rels: tuple[str, str]) -> str | None:
    """Where the first parent holding the record keeps it (what to restore)."""
    for p in parents:
        for r in rels:
            if p.get(r) is not None:
                return r
    return None


def _whole(snapshot: Snapshot, rels: tuple[str, str], rd: Reader) -> _Version | None:
    found = []
    for r in rels:
        data = snapshot.get(r)
        if data is not None:
            found.append(rd.version(r, data))
    if not found:
        return None
    if len(found) == 2 and found[0].loose is not None and found[1].loose is not None:
        # an interrupted move's two copies: the union of their items is what it held
        merged = dict(_best(found).loose or {})
        both = {**items_of(found[0].loose), **items_of(found[1].loose)}
        merged["attempts"] = [v for k, v in both.items() if k.startswith("attempt ")]
        merged["events"] = [v for k, v in both.items() if k.startswith("event ")]
        return _Version(_best(found).model, merged, None)
    return _best(found)


def _best(found: list[_Version]) -> _Version:
    """Of two copies, the one with the longer history (histories only grow)."""
    return max(found, key=lambda v: len(items_of(v.loose)))


def _new_record_authorship(cb: Callback, author: str, path: str, cid: str) -> list[Breach]:
    """Rule 8 for a record the change creates."""
    out = []
    if cb.created_by != author:
        why = f"the record is created by {cb.created_by} but the commit is by {author}"
        out.append(Breach("author", path, why, cid))
    for kind, items in (("attempt", cb.attempts), ("event", cb.events)):
        for item in items:
            if item.by != author:
                out.append(_not_author(kind, item.id, item.by, author, path, cid, None))
    return out


def _not_author(
    kind: str, item: str, by: str, author: str, path: str, cid: str, restore: str | None
) -> Breach:
    return Breach(
        "author",
        path,
        f"{kind} {item} is by {by} but the commit that adds it is by {author}",
        cid,
        f"{kind} {item}",
        restore,
    )


def _field_breaches(
    before: _Version,
    after: _Version,
    path: str,
    cid: str,
    restore: str | None,
    rules: Rules,
    author: str | None,
    when: datetime | None,
) -> list[Breach]:
    old, new = before.loose or {}, after.loose or {}
    cb = after.model
    assert cb is not None
    out: list[Breach] = []
    for key in FIXED:
        if old.get(key) != new.get(key):
            why = f"field {key} was changed; it is fixed once the record is written"
            out.append(Breach("fixed", path, why, cid, restore=restore))
    old_items = items_of(before.loose)
    new_ids = {e.id for e in cb.events if f"event {e.id}" not in old_items}
    fresh = [e for e in cb.events if e.id in new_ids]
    if old.get("closure") != new.get("closure"):
        out += _closure_breach(cb, fresh, path, cid, restore)
    new_attempts = [a for a in cb.attempts if f"attempt {a.id}" not in old_items]
    flat_old, flat_new = _flat(before), _flat(after)
    for key in [*flat_old, *(k for k in flat_new if k not in flat_old)]:
        value = flat_new.get(key)
        if flat_old.get(key) != value and not _explained(key, value, fresh, new_attempts):
            out.append(Breach("unexplained", path, _unexplained_detail(key), cid, restore=restore))
    if author is not None:
        for kind, items in (("attempt", new_attempts), ("event", fresh)):
            for item in items:
                if item.by != author:
                    out.append(_not_author(kind, item.id, item.by, author, path, cid, restore))
    out += _clock(before.model, [*new_attempts, *fresh], rules, path, cid, restore, when)
    who = author if author is not None else (fresh[-1].by if fresh else None)
    was = before.model
    later = was is not None and cb.due_at > was.due_at and not _resets_due(was, cb, fresh, rules)
    out += _guardrails(old, new, rules, who, path, cid, restore, later)
    if old.get("status") != new.get("status") and not fresh and not new_attempts:
        why = "field status was changed without a new attempt or event"
        out.append(Breach("status", path, why, cid, restore=restore))
    return out


def _resets_due(was: Callback, cb: Callback, fresh: list[Event], rules: Rules) -> bool:
    """Whether the change sets the due time anew, as unblocking and reopening do: it
    resolves a dependency the record waited on, or takes its closure away, and the new due
    time is no later than those commands set (the urgency's due rule from the event's
    time, in the practice's business time). Anything else that moves a clinical
    callback's due time later is a clinician's act (rule 9)."""
    reopened = was.closure is not None and cb.closure is None
    resolved = {d.id for d in cb.depends_on if d.resolved_at is not None}
    if not reopened and not any(d.resolved_at is None and d.id in resolved for d in was.depends_on):
        return False
    kinds = (EventType.reopened, EventType.unblocked)
    at = max((e.at for e in fresh if e.type in kinds), default=None)
    latest = _due_rule(rules, cb.urgency, at) if at is not None else None
    return latest is None or cb.due_at <= latest + rules.skew


def _due_rule(rules: Rules, urgency: Urgency, at: datetime) -> datetime | None:
    """When a callback at `urgency` set going at `at` is due by the policy as committed
    (None when that policy does not read as one this cbtrack checks)."""
    from cbtrack.triage import due_for

    policy = None if rules.text is None else _policy_of(rules.text)
    try:
        return None if policy is None else due_for(policy, urgency, at)
    except KeyError:
        return None


@lru_cache(maxsize=8)
def _policy_of(text: str) -> Policy | None:
    """The policy a committed text reads as (None when it does not), checked once per text
    however many records of a walk of history need its due rules."""
    from cbtrack.errors import CbtrackError
    from cbtrack.yamlio import parse_policy

    try:
        return parse_policy(text, POLICY_FILE)
    except CbtrackError:
        return None


def _closure_breach(
    cb: Callback, fresh: list[Event], path: str, cid: str, restore: str | None
) -> list[Breach]:
    """A changed closure must come with its own new event: `closed` recording it (and
    `reached` only when an attempt reached the patient), or `reopened` when it is gone."""
    if cb.closure is None:
        if any(e.type == EventType.reopened for e in fresh):
            return []
        detail = (
            "the closure was removed without a new reopened event; reopen a callback with "
            "'cbtrack reopen'"
        )
    elif cb.closure.reason == CloseReason.reached and not cb.was_reached:
        detail = "the closure says reached but no attempt reached the patient"
    elif any(
        e.type == EventType.closed
        and e.at == cb.closure.at
        and e.by == cb.closure.by
        and (e.set or {}).get("reason") == cb.closure.reason.value
        for e in fresh
    ):
        return []
    else:
        detail = (
            "the closure was set or changed without a new closed event that records it; "
            "close a callback with 'cbtrack close'"
        )
    return [Breach("closure", path, detail, cid, restore=restore)]


_NOT_FIELDS = frozenset({*FIXED, "status", "closure", "attempts", "events", "patient", "details"})


def _flat(v: _Version) -> dict[str, Any]:
    """The fields rule 7 judges, flattened to `patient.phone`, `details.KEY`, ... (model
    values when the version validates, so that a re-written timestamp compares equal)."""
    data: dict[str, Any] = (
        v.model.model_dump(exclude_none=True) if v.model is not None else dict(v.loose or {})
    )
    out = {k: val for k, val in data.items() if k not in _NOT_FIELDS}
    for group in ("patient", "details"):
        sub = data.get(group)
        if isinstance(sub, dict):
            out.update((f"{group}.{k}", val) for k, val in sub.items() if val is not None)
    return out


def _explained(key: str, value: Any, fresh: list[Any], attempts: list[Any]) -> bool:
    how = EXPLAINED_BY.get(key) or EXPLAINED_BY.get(key.split(".", 1)[0] + ".*", ())
    for h in how:
        if h == "attempt":
            if key == "next_action":
                if any(a.next_action == value for a in attempts):
                    return True
            elif attempts:
                return True
        elif h.endswith("*"):
            if any(e.type.value == h[:-1] for e in fresh):
                return True
        elif any(e.type.value == h and key in (e.set or {}) for e in fresh):
            return True
    return False


def _unexplained_detail(key: str) -> str:
    how = EXPLAINED_BY.get(key) or EXPLAINED_BY.get(key.split(".", 1)[0] + ".*")
    if not how:
        return f"field {key} was changed; no cbtrack command changes it"
    names = ", ".join(h.rstrip("*") for h in how)
    return f"field {key} was changed without a new {names} entry that explains it (a hand edit?)"


def _clock(
    cb: Callback | None,
    new: list[Any],
    rules: Rules,
    path: str,
    cid: str,
    restore: str | None,
    when: datetime | None,
) -> list[Breach]:
    """Rule 8's clock: nothing new is dated before the record's latest item (`cb`), nor
    after the commit that adds it (`when`), by more than the skew. An entry dated ahead
    would hold the record: every later entry would seem to run backwards."""
    out = []
    for item in new:
        kind = "attempt" if hasattr(item, "result") else "event"
        if cb is not None and too_early(cb, item.at, rules.skew) is not None:
            why = "before the record's latest entry"
        elif when is not None and item.at > when + rules.skew:
            why = "after the commit that adds it"
        else:
            continue
        detail = (
            f"{kind} {item.id} is dated {why} by more than the clock skew allowed "
            f"({_span(rules.skew)}); check the desk's clock"
        )
        out.append(Breach("clock", path, detail, cid, f"{kind} {item.id}", restore))
    return out


def too_early(cb: Callback, at: datetime, skew: timedelta) -> datetime | None:
    """The record's latest attempt or event time when `at` is earlier than it by more
    than `skew` (a clock running backwards), else None. Commands ask it before a change."""
    times = [a.at for a in cb.attempts] + [e.at for e in cb.events]
    latest = max(times) if times else None
    return latest if latest is not None and at < latest - skew else None


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes and minutes % 60 == 0 else f"{minutes}m"


def _guardrails(
    old: dict[str, Any],
    new: dict[str, Any],
    rules: Rules,
    who: str | None,
    path: str,
    cid: str,
    restore: str | None,
    postponed: bool = False,
) -> list[Breach]:
    """Rule 9, with the roles of the policy the change started from (`postponed`: the
    due time moved later, not set anew by an unblock or a reopen)."""
    level = old.get("urgency")
    if level not in CLINICAL_URGENCIES or not rules.roster:
        return []
    if rules.has_role(who, CLINICAL_ROLE):
        return []
    by = who or "someone"
    acts = []
    if old.get("closure") is None and new.get("closure") is not None:
        acts.append("closed it")
    owner = new.get("owner")
    if owner != old.get("owner") and isinstance(owner, str) and not rules.clinical_owner(owner):
        acts.append(f"handed it to {owner}")
    lowered = new.get("urgency")
    if (
        lowered in _URGENCY_ORDER
        and _URGENCY_ORDER[Urgency(lowered)] < _URGENCY_ORDER[Urgency(level)]
    ):
        acts.append(f"lowered it to {lowered}")
    if postponed:
        acts.append("moved its due time later")
    return [
        Breach(
            "guardrail",
            path,
            f"the callback is {level}, and {by}, who does not have the {CLINICAL_ROLE} role, {act}",
            cid,
            restore=restore,
        )
        for act in acts
    ]


def hand_edits(changed: Iterable[str], before: Snapshot, after: Snapshot) -> list[Breach]:
    """Changes no cbtrack command makes: every command adds an attempt or an event, or
    makes a new record, so a changed record with nothing new is somebody's hand edit (crash
    recovery must not commit it in the name of whoever runs the next command)."""
    rd = Reader()
    out: list[Breach] = []
    ids = {cid for p in changed if (cid := callback_of(p)) is not None}
    for cid in sorted(ids):
        rels = record_paths(cid)
        if all(before.get(r) == after.get(r) for r in rels):
            continue
        old, new = _whole(before, rels, rd), _whole(after, rels, rd)
        if old is None or new is None or set(items_of(new.loose)) - set(items_of(old.loose)):
            continue
        path = next(r for r in rels if after.get(r) is not None)
        out.append(
            Breach(
                "hand_edit",
                path,
                "was edited by hand (no attempt or event was added), so it is not the "
                "unfinished change of a cbtrack command",
                cid,
                restore=_held_at([before], rels),
            )
        )
    return out
