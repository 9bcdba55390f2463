"""What a callback's history says, written once for the model (`model.Callback`) and for
the read-only view of the index's data (`views.CallbackView`): both inherit these.

Plain Python (no pydantic), so the queue on a terminal can use it without the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cbtrack.enums import AttemptMethod, AttemptResult, EventType, Status


class CallbackFacts:
    """Derived facts over `status`, `attempts`, `events` and `depends_on`."""

    if TYPE_CHECKING:  # (fields of the model, attributes of the view)

        @property
        def status(self) -> Status: ...
        @property
        def attempts(self) -> Sequence[Any]: ...
        @property
        def events(self) -> Sequence[Any]: ...
        @property
        def depends_on(self) -> Sequence[Any]: ...

    @property
    def is_open(self) -> bool:
        return self.status != Status.closed

    @property
    def outbound_attempts(self) -> list[Any]:
        return [a for a in self.attempts if a.method.outbound]

    @property
    def last_attempt(self) -> Any:
        """The latest attempt, or None."""
        return max(self.attempts, key=lambda a: a.at) if self.attempts else None

    @property
    def open_dependencies(self) -> list[Any]:
        return [d for d in self.depends_on if d.resolved_at is None]

    @property
    def was_reached(self) -> bool:
        return any(a.result == AttemptResult.reached for a in self.attempts)

    @property
    def reopened_at(self) -> datetime | None:
        """When the callback was last reopened (None if never)."""
        times: list[datetime] = [e.at for e in self.events if e.type == EventType.reopened]
        return max(times) if times else None

    @property
    def current_attempts(self) -> list[Any]:
        """The attempts since the last reopen: what counts towards closing it again."""
        since = self.reopened_at
        return [a for a in self.attempts if since is None or a.at > since]

    @property
    def reached_since_reopen(self) -> bool:
        return any(a.result == AttemptResult.reached for a in self.current_attempts)

    @property
    def phone_corrected_at(self) -> datetime | None:
        """When the patient's phone was last corrected (an `edited` event that sets
        `patient.phone`), if ever."""
        times: list[datetime] = [
            e.at
            for e in self.events
            if e.type == EventType.edited and "patient.phone" in (e.set or {})
        ]
        return max(times, default=None)

    @property
    def number_is_wrong(self) -> bool:
        """True when the last phone or text attempt found the number wrong and the phone
        has not been corrected since."""
        calls = [a for a in self.attempts if a.method in (AttemptMethod.phone, AttemptMethod.text)]
        if not calls:
            return False
        last = max(calls, key=lambda a: a.at)
        if last.result != AttemptResult.wrong_number:
            return False
        corrected = self.phone_corrected_at
        return corrected is None or corrected < last.at
