"""The queue's one selection: which open callbacks a filter keeps, in rank order, and the
counts over them. Works on the local index's rows (plain values), so the full path
(`reading.queue_page`) and the terminal's quick path (`quick.py`) share it without
either loading a model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, NamedTuple, TypeVar

from cbtrack.clock import past_due
from cbtrack.indexrow import Row, rank_key

T = TypeVar("T")


def owners(owner: str | None, roles: Iterable[str] = ()) -> frozenset[str]:
    """The owners a queue keeps: `--owner X` keeps X alone; `--mine` passes the user with
    the user's `roles` (callbacks a role of theirs owns are theirs too)."""
    return frozenset({owner, *roles}) if owner else frozenset()


class Filter(NamedTuple):
    """What `cbtrack queue` narrows to (plain values; `owners`, from `owners`)."""

    owners: frozenset[str] = frozenset()
    category: str | None = None
    urgency: str | None = None
    status: str | None = None
    overdue: bool = False


class Picked(NamedTuple, Generic[T]):
    """The callbacks a filter keeps, most urgent first, with counts over all of them."""

    items: list[T]
    overdue: int
    waiting: int


def pick(
    entries: Iterable[tuple[Row, T]], f: Filter, ranks: dict[str, int], now: float
) -> Picked[T]:
    """Keep the entries whose row `f` lets through, ranked (`indexrow.rank_key`); an entry
    is overdue when past due or, with an open dependency, past when it is expected
    (`clock.past_due`, the one rule). Every row's urgency must be in `ranks`."""
    kept: list[tuple[tuple[int, float, float], T]] = []
    late_count = waiting = 0
    for r, item in entries:
        if (
            (f.owners and r.owner not in f.owners)
            or (f.category and r.category != f.category)
            or (f.urgency and r.urgency != f.urgency)
            or (f.status and r.status != f.status)
        ):
            continue
        late = past_due(r.due, r.expected, now)
        if f.overdue and not late:
            continue
        late_count += late
        waiting += r.status == "waiting_internal"
        kept.append((rank_key(ranks, r.urgency, r.due, r.created), item))
    kept.sort(key=lambda k: k[0])  # stable: equal ranks keep the file order
    return Picked([item for _, item in kept], late_count, waiting)
