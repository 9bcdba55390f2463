"""Reading the store: the ranked queue (over the local index's rows), `find`, and
`validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cbtrack.errors import Refused
from cbtrack.indexrow import Row
from cbtrack.lazy import lazy_module
from cbtrack.localindex import Cached
from cbtrack.model import (
    Callback,
    Status,
    Urgency,
)
from cbtrack.progress import Progress
from cbtrack.store import Store

if TYPE_CHECKING:
    from cbtrack import doctor, history, timing
    from cbtrack.queuefmt import Line
else:  # loaded by the commands that use them: reading the queue needs none of them
    doctor = lazy_module("cbtrack.doctor")
    history = lazy_module("cbtrack.history")
    timing = lazy_module("cbtrack.timing")


# --- reading -----------------------------------------------------------------------


@dataclass
class QueueFilter:
    owner: str | None = None
    category: str | None = None
    urgency: Urgency | None = None
    status: Status | None = None
    overdue: bool = False
    mine: bool = False  # `owner` is the user asking: their roles' callbacks are kept too


def queue(
    store: Store, now: datetime, f: QueueFilter | None = None, problems: list[str] | None = None
) -> list[Callback]:
    """The open callbacks, ranked; reads only `callbacks/open/`. With `problems`, a record
    that cannot be read is named there and the others are still listed."""
    return queue_page(store, now, f, None, problems).records


@dataclass
class QueuePage:
    """The head of the ranked queue, and counts over all of it."""

    records: list[Callback]  # the head as models (none when asked for `lines`)
    total: int
    overdue: int
    waiting: int
    lines: list[Line] = field(default_factory=list)  # the head's queue lines, when asked


def queue_page(
    store: Store,
    now: datetime,
    f: QueueFilter | None = None,
    limit: int | None = 20,
    problems: list[str] | None = None,
    lines: bool = False,
) -> QueuePage:
    """The first `limit` (all, with None) open callbacks, ranked, with counts over all
    that match (`queuepick.pick` over the index's rows). Only the callbacks shown are
    built: as models, or with `lines` as their queue lines, which the index keeps."""
    from cbtrack.queuefmt import Line, line_of
    from cbtrack.queuepick import Filter, owners, pick

    f = f or QueueFilter()
    policy = store.policy
    ranks = {u.value: policy.rank(u) for u in Urgency}
    entries: list[tuple[Row, Cached]] = []
    for c in store.cached_open(problems):
        r = c.row
        if not c.usable or r.urgency not in ranks:  # not what an indexed record holds
            cb = store.model_of(c)
            expected = timing.first_expected(policy, cb)
            r = r._replace(urgency=cb.urgency.value, status=cb.status.value, owner=cb.owner,
                           category=cb.category, due=cb.due_at.timestamp(),
                           created=cb.created_at.timestamp(),
                           expected=expected.timestamp() if expected else None)  # fmt: skip
        entries.append((r, c))
    chosen = Filter(
        owners(f.owner, policy.roles_of(f.owner) if f.mine and f.owner else ()),
        f.category,
        f.urgency.value if f.urgency else None,
        f.status.value if f.status else None,
        f.overdue,
    )
    picked = pick(entries, chosen, ranks, now.timestamp())
    head = picked.items if limit is None else picked.items[: max(limit, 0)]
    page = QueuePage([], len(picked.items), picked.overdue, picked.waiting)
    if lines:
        page.lines = [
            Line(*c.line) if c.line is not None else line_of(policy, store.model_of(c))
            for c in head
        ]
    else:
        store.index.prefetch(head)
        page.records = [store.model_of(c) for c in head]
    return page


def find(store: Store, text: str) -> tuple[list[Callback], list[str]]:
    """Callbacks, open and closed, matching a phone, name, MRN or ID; newest first."""
    if not text.strip():
        raise Refused("Give a phone number, a name, an MRN or a callback ID to look for.")
    return store.find_callbacks(text)


def validate(store: Store) -> list[str]:
    """Every problem in the policy and the records, one line each."""
    from cbtrack.errors import CbtrackError

    problems = store.policy_problems()
    if problems:
        return problems
    policy = store.policy
    paths = [*store.open_paths(), *store.closed_paths()]
    progress = Progress("Checking records", len(paths), store.on_progress)
    for path in paths:
        progress.step()
        try:
            cb = store.load_path(path)
        except CbtrackError as exc:
            problems.append(exc.message)
            continue
        rel = store.rel(path)
        if history.record_id(rel) is None:
            problems.append(f"{rel}: not in the folder its creation month names.")
        problems += [f"{rel}: {p}." for p in doctor.record_fit(policy, cb)]
    progress.done()
    problems += [
        f"{rel}: not a record in its place; move it out of callbacks/."
        for rel in doctor.stray_files(store)
    ]
    return problems
