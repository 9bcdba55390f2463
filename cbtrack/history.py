"""The rule book for history: what may change between two versions of the store's records.

Pure: it takes file contents (bytes as a commit, git's index or the working tree holds
them) and returns the breaches, each naming its file and never a value. The pre-commit
hook, `verify` (every commit in history), `sync`, `doctor --repair`, crash recovery and
every command's commit (`gitlog.commit`) ask it; nothing enters history another way.

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

A merge is judged against each parent: it must keep every item of every parent (rule 4),
while a field (rules 5, 6) or a file's content (rules 1, 2) that it took unchanged from
one parent is that parent's doing, judged where that parent made it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from cbtrack.errors import Refused, StoreError
from cbtrack.model import ID_RE, Callback, CloseReason, EventType, id_month
from cbtrack.store import MAX_RECORD_BYTES, decode_text, parse_model

RECORDS = "callbacks"
OPEN = f"{RECORDS}/open/"
CLOSED = f"{RECORDS}/closed/"
KEEP_FILES = frozenset({f"{OPEN}.gitkeep", f"{CLOSED}.gitkeep"})
FIXED = ("id", "created_at", "created_by", "source", "import_key")

#: A file's content as one version holds it: bytes, None when absent, or a sentence
#: saying why it cannot be read (a FIFO or an oversized file in the working tree).
Content = bytes | str | None
Snapshot = Mapping[str, Content]


@dataclass(frozen=True)
class Breach:
    """One broken rule. `kind`: invalid, folder, stray, deleted, changed, removed, fixed,
    closure, status. `restore` is the path a parent holds the record at, when it does."""

    kind: str
    path: str
    detail: str
    callback: str | None = None
    item: str | None = None
    restore: str | None = None

    @property
    def sentence(self) -> str:
        return f"{self.path}: {self.detail}"

    def fix(self) -> str:
        """What a person must do, as a command where there is one."""
        if self.kind == "stray":
            return (
                f"move {self.path} out of {RECORDS}/ (only records in {OPEN} and "
                f"{CLOSED}<YYYY-MM>/ belong there)"
            )
        if self.restore:
            also = f" and delete {self.path}" if self.path != self.restore else ""
            return f"restore it with 'git checkout HEAD -- {self.restore}'{also}"
        return f"fix {self.path} or delete it"


class HistoryRefused(Refused):
    """A commit refused by the rule book; `breaches` lists every reason (exit 1)."""

    def __init__(self, breaches: list[Breach]) -> None:
        first = breaches[0]
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        super().__init__(f"{first.sentence}{more}; nothing was committed: {first.fix()}.")
        self.breaches = breaches


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


def wanted(changed: Iterable[str]) -> list[str]:
    """Every path whose content `check` needs for these changed paths."""
    out: dict[str, None] = {}
    for path in changed:
        out[path] = None
        cid = callback_of(path)
        if cid is not None:
            for p in record_paths(cid):
                out[p] = None
    return list(out)


# --- reading versions ----------------------------------------------------------------


class _Loose(BaseModel):
    """Any mapping under the store's strict YAML rules (an old or broken version)."""

    model_config = ConfigDict(extra="allow")


@dataclass
class _Version:
    model: Callback | None  # None when it does not validate
    loose: dict[str, Any] | None  # None when not even the YAML reads
    problem: str | None  # why it does not validate (names the file)


class Reader:
    """Parses contents once each (a version seen in a commit and again as the next commit's
    parent is read once). Holds the `limit` most recent versions only, so that walking a
    long history or a commit of 50,000 records takes bounded memory."""

    def __init__(self, limit: int = 4096) -> None:
        self._cache: dict[tuple[str, bytes], _Version] = {}
        self.limit = limit

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
    try:
        return _Version(parse_model(Callback, text, path), loose, None)
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


# --- the rules -----------------------------------------------------------------------


def check(
    changed: Iterable[str],
    parents: Sequence[Snapshot],
    after: Snapshot,
    reader: Reader | None = None,
) -> list[Breach]:
    """The breaches of one change: `changed` lists the paths under callbacks/ that differ
    between any parent and `after`; each snapshot holds (at least) the paths `wanted`
    names. With no parent the change is a first commit."""
    rd = reader or Reader()
    out: list[Breach] = []
    ids: dict[str, None] = {}
    for path in changed:
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
    for cid in ids:
        out += _check_record(cid, parents, after, rd)
    return out


def _inherited(path: str, parents: Sequence[Snapshot], after: Snapshot) -> bool:
    """The file is exactly as a parent holds it: not this change's doing (a merge that
    took one side's file, or the unchanged copy of a record touched elsewhere)."""
    return any(p.get(path) == after.get(path) for p in parents)


def _check_record(
    cid: str, parents: Sequence[Snapshot], after: Snapshot, rd: Reader
) -> list[Breach]:
    rels = record_paths(cid)
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
    befores = [_whole(p, rels, rd) for p in parents]
    held = [b for b in befores if b is not None]
    if not held:
        return out
    if not now:
        where = next(r for r in rels if any(p.get(r) is not None for p in parents))
        gone = "deleting a record (or moving it out of its folder) drops its attempts and events"
        return [*out, Breach("deleted", where, gone, cid, restore=where)]
    restore = _held_at(parents, rels)
    have: dict[str, Any] = {}
    for v in now.values():
        have.update(items_of(v.loose))
    path = next(iter(now))
    if any(v.loose is None for v in now.values()):
        return out  # unreadable: already reported; items cannot be compared
    # every item of every parent is kept; one that differs must equal some parent's
    # version (a merge keeps the original of an item one side rewrote)
    versions: dict[str, list[Any]] = {}
    for before in held:
        for item, value in items_of(before.loose).items():
            versions.setdefault(item, []).append(value)
    for item, values in versions.items():
        if item not in have:
            kind, verb = "removed", "removed"
        elif all(have[item] != v for v in values):
            kind, verb = "changed", "changed"
        else:
            continue
        detail = f"{item} was {verb}; attempts and events are append-only"
        out.append(Breach(kind, path, detail, cid, item, restore))
    after_v = _best(list(now.values()))
    if after_v.model is None:
        return out
    # a field is the change's doing only when it breaks the rules against every parent
    # that held the record (a merge may take a field as either parent had it)
    # (a parent whose copy could not be read at all has no fields to compare with)
    judged = [_field_breaches(b, after_v, path, cid, restore) for b in held if b.loose]
    if judged:
        keys = set.intersection(*({(x.kind, x.detail) for x in fb} for fb in judged))
        out += [x for x in judged[0] if (x.kind, x.detail) in keys]
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


def _field_breaches(
    before: _Version, after: _Version, path: str, cid: str, restore: str | None
) -> list[Breach]:
    old, new = before.loose or {}, after.loose or {}
    cb = after.model
    assert cb is not None
    out: list[Breach] = []
    for key in FIXED:
        if old.get(key) != new.get(key):
            out.append(
                Breach(
                    "fixed",
                    path,
                    f"field {key} was changed; it is fixed once the record is written",
                    cid,
                    restore=restore,
                )
            )
    old_items = items_of(before.loose)
    new_ids = {e.id for e in cb.events if f"event {e.id}" not in old_items}
    fresh = [e for e in cb.events if e.id in new_ids]
    if old.get("closure") != new.get("closure"):
        if cb.closure is None:
            if not any(e.type == EventType.reopened for e in fresh):
                out.append(
                    Breach(
                        "closure",
                        path,
                        "the closure was removed without a new reopened event; reopen a "
                        "callback with 'cbtrack reopen'",
                        cid,
                        restore=restore,
                    )
                )
        elif cb.closure.reason == CloseReason.reached and not cb.was_reached:
            out.append(
                Breach(
                    "closure",
                    path,
                    "the closure says reached but no attempt reached the patient",
                    cid,
                    restore=restore,
                )
            )
        elif not any(
            e.type == EventType.closed
            and e.at == cb.closure.at
            and e.by == cb.closure.by
            and (e.set or {}).get("reason") == cb.closure.reason.value
            for e in fresh
        ):
            out.append(
                Breach(
                    "closure",
                    path,
                    "the closure was set or changed without a new closed event that records "
                    "it; close a callback with 'cbtrack close'",
                    cid,
                    restore=restore,
                )
            )
    if old.get("status") != new.get("status"):
        new_attempts = [a for a in cb.attempts if f"attempt {a.id}" not in old_items]
        if not fresh and not new_attempts:
            out.append(
                Breach(
                    "status",
                    path,
                    "field status was changed without a new attempt or event",
                    cid,
                    restore=restore,
                )
            )
    return out


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
