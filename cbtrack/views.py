"""Read-only stand-ins for callbacks, made from the local index's data without pydantic.

The queue and the end-of-day review read every open record but change none: building and
validating 10,000 models costs them a second, most of it for fields they never look at.
A `CallbackView` is made from a record's indexed data (the output of `Callback.model_dump`
for a record that validated when it was indexed, see cbtrack/localindex.py) and answers the
attributes and derived views the queue, the review buckets and the queue's lines ask of a
`Callback`: plain values, datetimes, enums, and lists of attempts, events and
dependencies, each parsed on first use. Nothing may change a view or save it; changes load
the model from the record's file (`Store.load`).

Kept light on purpose (no pydantic, no YAML): the queue on a terminal renders its screen
from views without loading the models at all. tests/test_views.py checks, field by field
and command by command, that a view answers as the model does.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from cbtrack.enums import (
    AttemptMethod,
    AttemptResult,
    CloseReason,
    ContactMethod,
    DependencyKind,
    EventType,
    Status,
    Urgency,
)
from cbtrack.facts import CallbackFacts

Data = dict[str, Any]


def moment(text: Any) -> datetime:
    """A timestamp as the model holds it (always with an offset in cached data)."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("a time without an offset")
    return when


def maybe_moment(text: Any) -> datetime | None:
    return None if text is None else moment(text)


class PatientView:
    __slots__ = ("contact_window", "mrn", "name", "phone", "preferred_method")

    def __init__(self, data: Data) -> None:
        self.name: str = data["name"]
        self.phone: str = data["phone"]
        self.preferred_method = ContactMethod(data.get("preferred_method", "phone"))
        self.contact_window: str | None = data.get("contact_window")
        self.mrn: str | None = data.get("mrn")


class AttemptView:
    __slots__ = ("at", "method", "result")

    def __init__(self, data: Data) -> None:
        self.at = moment(data["at"])
        self.method = AttemptMethod(data["method"])
        self.result = AttemptResult(data["result"])


class EventView:
    __slots__ = ("at", "set", "type")

    def __init__(self, data: Data) -> None:
        self.at = moment(data["at"])
        self.type = EventType(data["type"])
        self.set: dict[str, str] | None = data.get("set")


class DependencyView:
    __slots__ = ("kind", "resolved_at", "since", "until")

    def __init__(self, data: Data) -> None:
        self.kind = DependencyKind(data["kind"])
        self.since = moment(data["since"])
        self.until = maybe_moment(data.get("until"))
        self.resolved_at = maybe_moment(data.get("resolved_at"))


class ClosureView:
    __slots__ = ("at", "by", "duplicate_of", "reason", "summary", "to")

    def __init__(self, data: Data) -> None:
        self.at = moment(data["at"])
        self.by: str = data["by"]
        self.reason = CloseReason(data["reason"])
        self.summary: str = data["summary"]
        self.to: str | None = data.get("to")
        self.duplicate_of: str | None = data.get("duplicate_of")


class CallbackView(CallbackFacts):
    """What the queue and the review read of one callback, from its indexed data; the
    derived facts are `Callback`'s own (cbtrack/facts.py)."""

    status: Status

    def __init__(self, data: Data) -> None:
        self._data = data
        self.id: str = data["id"]
        self.status = Status(data.get("status", "new"))
        self.urgency = Urgency(data["urgency"])
        self.owner: str = data["owner"]
        self.category: str = data["category"]
        self.reason: str = data["reason"]
        self.next_action: str = data["next_action"]
        self.due_at = moment(data["due_at"])
        self.created_at = moment(data["created_at"])
        # When the first open dependency is expected, if the reader knows it already
        # (cbtrack/quick.py, from the index's row); else `timing` works it out.
        self.expected_at: datetime | None = None

    @cached_property
    def deadline_at(self) -> datetime | None:
        return maybe_moment(self._data.get("deadline_at"))

    @cached_property
    def next_attempt_at(self) -> datetime | None:
        return maybe_moment(self._data.get("next_attempt_at"))

    @cached_property
    def closure(self) -> ClosureView | None:
        found = self._data.get("closure")
        return None if found is None else ClosureView(found)

    @cached_property
    def patient(self) -> PatientView:
        return PatientView(self._data["patient"])

    @cached_property
    def attempts(self) -> list[AttemptView]:
        return [AttemptView(a) for a in self._data.get("attempts") or []]

    @cached_property
    def events(self) -> list[EventView]:
        return [EventView(e) for e in self._data.get("events") or []]

    @cached_property
    def depends_on(self) -> list[DependencyView]:
        return [DependencyView(d) for d in self._data.get("depends_on") or []]
