"""Progress of long work (a cold read of a big store, validate), for a terminal.

The library only counts; whoever set `Store.on_progress` (the CLI, when stderr is a terminal)
decides how to show it. Nothing is reported for work that ends within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Report = Callable[[str], None]  # a line to show; "" when the work is over


class Progress:
    """Counts `total` steps of `what`; tells `report` at most five times a second, from one
    second after the start, and clears the line at the end if anything was shown."""

    DELAY = 1.0
    EVERY = 0.2

    def __init__(self, what: str, total: int, report: Report | None) -> None:
        self.what, self.total, self.report = what, total, report
        self.count = 0
        self.shown = False
        self._next = time.monotonic() + self.DELAY

    def step(self, n: int = 1) -> None:
        self.count += n
        if self.report is None or self.count & 63:
            return  # the clock is read every 64 steps
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.EVERY
            self.shown = True
            self.report(f"{self.what}: {self.count:,} of {self.total:,}")

    def done(self) -> None:
        if self.shown and self.report is not None:
            self.report("")
        self.shown = False
