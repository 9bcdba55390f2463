"""Reading the store: the ranked queue (over the local index's rows), `find`, and
`validate`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cbtrack.clock import past_due
from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module
from cbtrack.model import (
    Callback,
    Status,
    Urgency,
)
from cbtrack.progress import Progress
from cbtrack.store import Store

if TYPE_CHECKING:
    from cbtrack import doctor, history, timing
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


def queue(
    store: Store, now: datetime, f: QueueFilter | None = None, problems: list[str] | None = None
) -> list[Callback]:
    """The open callbacks, ranked; reads only `callbacks/open/`. With `problems`, a record
    that cannot be read is named there and the others are still listed."""
    return queue_page(store, now, f, None, problems).records


@dataclass
class QueuePage:
    """The head of the ranked queue, and counts over all of it."""

    records: list[Callback]
    total: int
    overdue: int
    waiting: int


def queue_page(
    store: Store,
    now: datetime,
    f: QueueFilter | None = None,
    limit: int | None = 20,
    problems: list[str] | None = None,
    views: bool = False,
) -> QueuePage:
    """The first `limit` (all, with None) open callbacks, ranked (`localindex.rank_key`),
    with counts over all that match. Filters and ranks on the index's rows, so only the
    callbacks shown are built: as models, or with `views` as read-only views of the
    index's data (cbtrack/views.py), which are cheaper still."""
    from cbtrack.localindex import rank_key
    from cbtrack.views import CallbackView

    f = f or QueueFilter()
    policy = store.policy
    owners = {f.owner, *policy.roles_of(f.owner)} if f.owner else set()
    ranks = {u.value: policy.rank(u) for u in Urgency}
    when = now.timestamp()
    rows: list[tuple[tuple[int, float, float], Any]] = []
    overdue = waiting = 0
    for c in store.cached_open(problems):
        r = c.row
        if not c.usable or r.urgency not in ranks:  # not what an indexed record holds
            cb = store.model_of(c)
            late = timing.overdue(policy, cb, now)
            r = r._replace(urgency=cb.urgency.value, status=cb.status.value, owner=cb.owner,
                           category=cb.category, due=cb.due_at.timestamp(),
                           created=cb.created_at.timestamp())  # fmt: skip
        else:
            # Overdue: past due; with an open dependency, past when it is expected.
            late = past_due(r.due, r.expected, when)
        if (
            (owners and r.owner not in owners)
            or (f.category and r.category != f.category)
            or (f.urgency and r.urgency != f.urgency)
            or (f.status and r.status != f.status)
        ):
            continue
        if f.overdue and not late:
            continue
        overdue += late
        waiting += r.status == Status.waiting_internal
        rows.append((rank_key(ranks, r.urgency, r.due, r.created), c))
    rows.sort(key=lambda row: row[0])  # stable
    head = rows if limit is None else rows[: max(limit, 0)]
    store.index.prefetch([c for _, c in head])
    shown: list[Any] = []
    for _, c in head:
        view: Any = None
        if views and not isinstance(c.model, Callback) and (data := c.data) is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                view = CallbackView(data)
                if c.row.expected is not None:
                    view.expected_at = datetime.fromtimestamp(c.row.expected, policy.tz)
        shown.append(view if view is not None else store.model_of(c))
    return QueuePage(shown, len(rows), overdue, waiting)


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
