"""What the local index keeps of one record besides its data: its row of plain values (what
the queue, `find`, the duplicate check and the reports select by), read from the record's
data (`row_of`), the queue's one rank order over rows (`rank_key`), and how a kept queue
line is read back (`kept_line`). Plain Python: the quick paths use it without the models.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

Data = dict[str, Any]


class Row(NamedTuple):
    """What the queue, find, the duplicate check and the reports select by."""

    owner: str
    category: str
    urgency: str
    status: str
    due: float  # POSIX timestamps: they order like the aware datetimes they come from
    created: float
    closed: float | None
    # With an open dependency, when the first of them is expected (POSIX time, from the
    # policy): until then the callback is paused, after it overdue. None without one.
    expected: float | None
    phone: str
    name: str
    mrn: str | None


ROW_FIELDS = len(Row._fields)
BLANK = Row("", "", "", "", 0.0, 0.0, None, None, "", "", None)

# When the first open dependency of a record's data is expected (POSIX time); given by the
# store, which knows the policy.
Expecter = Callable[[Data], float | None]


def rank_key(
    ranks: dict[str, int], urgency: str, due: float, created: float
) -> tuple[int, float, float]:
    """The queue's one order: most urgent first, then soonest due, then oldest (times as
    POSIX timestamps, which order like the aware datetimes they come from)."""
    return (-ranks[urgency], due, created)


def row_of(data: Data, expecter: Expecter | None = None) -> Row:
    """The row of a record's data (as `Store` dumps it); raises on anything unexpected."""
    closure = data.get("closure")
    closed = _timestamp(closure["at"]) if isinstance(closure, dict) else None
    blocked = any(d.get("resolved_at") is None for d in data.get("depends_on") or [])
    if blocked and expecter is None:
        raise ValueError("no policy to tell when a dependency is expected")
    return Row(
        str(data["owner"]),
        str(data["category"]),
        str(data["urgency"]),
        str(data["status"]),
        _timestamp(data["due_at"]),
        _timestamp(data["created_at"]),
        closed,
        expecter(data) if blocked and expecter is not None else None,
        str(data["patient"]["phone"]),
        str(data["patient"]["name"]),
        mrn if isinstance(mrn := data["patient"].get("mrn"), str) else None,
    )


def kept_line(kept: tuple[Any, ...] | bytes | None) -> tuple[Any, ...] | None:
    """A queue line as the index keeps it (`Liner`), or None when there is none or it is
    damaged (then it is worked out again from the record)."""
    if kept is None or type(kept) is tuple:
        return kept
    try:
        value = marshal.loads(kept)  # type: ignore[arg-type]
    except (EOFError, ValueError, TypeError):
        return None
    return value if type(value) is tuple else None


def _timestamp(text: Any) -> float:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("a time without an offset")
    return when.timestamp()
