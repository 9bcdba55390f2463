"""The rule book for a merge: what a merge commit may hold, judged against its merge base.

Pure, as cbtrack/history.py (which judges every other change): each record a merge
touches must be what the three-way merge of the two sides gives (one side's version, or
their union by the merge rules of cbtrack/merge.py); two histories with no common commit
may not merge. Roles and clock skew come from the first parent's policy, and the clinical
acts a merge carries in from one side are judged by the other side's roster too
(`_carried_in`); where no merge rule settles a record, the merge keeps one side's version
as it is (`_merge_record`). The pre-commit hook, `verify` and `sync` ask `check_merge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cbtrack.breach import KEEP_FILES, RECORDS, Breach
from cbtrack.history import (
    Snapshot,
    _check_record,
    _guardrails,
    _held_at,
    _inherited,
    _whole,
    callback_of,
    record_paths,
)
from cbtrack.merge import BOTH, merge_records, three_way
from cbtrack.store import POLICY_FILE
from cbtrack.treerules import is_settings, policy_breaches, settings_breaches
from cbtrack.versions import CLINICAL_ROLE, Reader, Rules, items_of


def check_merge(
    changed: Iterable[str],
    base: Snapshot | None,
    parents: Sequence[Snapshot],
    after: Snapshot,
    reader: Reader | None = None,
    author: str | None = None,
    when: datetime | None = None,
) -> list[Breach]:
    """The breaches of a merge, judged against its merge base `base` (None: the two
    histories share no commit). Each record the merge holds differently from a parent
    must be the three-way merge of the two sides; the policy likewise, else the merge's
    own change to it is judged as any change by its author (at `when`, its date)."""
    rd = reader or Reader()
    if base is None:
        return [
            Breach(
                "root",
                "(merge)",
                "the merge joins a history that shares no commit with this one (a second "
                "first commit); only histories cloned from the store's own may be merged",
            )
        ]
    if len(parents) != 2:
        return [
            Breach("merge", "(merge)", "a merge of more than two histories; merge two at a time")
        ]
    out: list[Breach] = []
    ids: dict[str, None] = {}
    for path in changed:
        cid = callback_of(path)
        if cid is not None:
            ids[cid] = None
        elif path == POLICY_FILE:
            want = three_way(base.get(path), parents[0].get(path), parents[1].get(path))
            if (want is BOTH or after.get(path) != want) and author is not None:
                for p in parents:
                    out += policy_breaches(rd, p.get(path), after.get(path), author)
        elif _inherited(path, parents, after):
            continue
        elif is_settings(path) and author is not None:
            for p in parents:
                was, now = p.get(path), after.get(path)
                out += settings_breaches(rd, p.get(POLICY_FILE), path, was, now, author)
        elif (
            path.startswith(f"{RECORDS}/")
            and path not in KEEP_FILES
            and after.get(path) is not None
        ):
            out.append(Breach("stray", path, "is not a record in its place"))
    # a version the merge makes itself is judged as any change by its author too
    rules = rd.rules(parents[0].get(POLICY_FILE))
    for cid in ids:
        out += _merge_record(cid, base, parents, after, rd, (rules, author, when))
    return out


def _merge_record(
    cid: str,
    base: Snapshot,
    parents: Sequence[Snapshot],
    after: Snapshot,
    rd: Reader,
    judge: tuple[Rules, str | None, datetime | None],
) -> list[Breach]:
    rels = record_paths(cid)
    state = tuple(after.get(r) for r in rels)
    want = three_way(*(tuple(s.get(r) for r in rels) for s in (base, *parents)))
    where = next((r for r, d in zip(rels, state, strict=True) if d is not None), rels[0])
    if want is not BOTH:
        if state == want:
            return _carried_in(cid, base, parents, after, rd)
        found = _check_record(cid, parents, after, rd, *judge)
        why = "the merge holds a version that neither side made (judged against the merge base)"
        return found or [Breach("merge", where, why, cid, restore=where)]
    sides = [_whole(s, rels, rd) for s in (base, *parents)]
    old, mine, other = (v.model if v is not None else None for v in sides)
    merged = merge_records(old, mine, other) if mine is not None and other is not None else None
    if merged is None or merged.record is None or merged.conflicts:
        # no rule settles it: the merge keeps one side's version as it is (a person settles
        # the rest in a commit of its own, judged as any change)
        found = _check_record(cid, parents, after, rd, *judge)  # (nothing either side held lost)
        if any(tuple(p.get(r) for r in rels) == state for p in parents):
            return found
        why = (
            "no merge rule settles what the two sides did to this record, so the merge must "
            "keep one side's version as it is (settle the rest in a commit after the merge)"
        )
        return [*found, Breach("merge", where, why, cid, restore=where)]
    result = _whole(after, rels, rd)
    expected = merged.record
    place = rels[0] if expected.is_open else rels[1]
    if (
        result is None
        or result.model != expected
        or after.get(place) is None
        or all(d is not None for d in state)
    ):
        return _check_record(cid, parents, after, rd, *judge) or [
            Breach(
                "merge",
                where,
                "the merge's version is not the union of the two sides by the merge rules: "
                "it holds changes of its own (judged against the merge base)",
                cid,
                restore=where,
            )
        ]
    return []


def _carried_in(
    cid: str, base: Snapshot, parents: Sequence[Snapshot], after: Snapshot, rd: Reader
) -> list[Breach]:
    """A record one side changed, taken as that side made it: when the other side took the
    actor's clinical role away since the merge base, the record's guardrail acts are judged
    by that side's roster (a role taken away stays away for work on an older branch; one
    granted on the acting side, or taken away after the act on it, changes nothing)."""
    rels = record_paths(cid)
    was = tuple(base.get(r) for r in rels)
    sides = [i for i, p in enumerate(parents) if tuple(p.get(r) for r in rels) != was]
    if len(sides) != 1:
        return []
    rules, before = (
        rd.rules(parents[1 - sides[0]].get(POLICY_FILE)),
        rd.rules(base.get(POLICY_FILE)),
    )
    lost = {u for u in before.staff if before.has_role(u, CLINICAL_ROLE)} - {
        u for u in rules.staff if rules.has_role(u, CLINICAL_ROLE)
    }
    old, new = (_whole(s, rels, rd) for s in (base, after)) if lost else (None, None)
    if old is None or new is None or new.model is None or not old.loose:
        return []  # (nobody lost the role on the other side: nothing to read)
    fresh = [e for e in new.model.events if f"event {e.id}" not in items_of(old.loose)]
    who = fresh[-1].by if fresh else None
    if who not in lost:
        return []
    path = next(r for r in rels if after.get(r) is not None)
    return _guardrails(old.loose, new.loose or {}, rules, who, path, cid, _held_at(parents, rels))
