"""Progress of long work (a cold read of a big store, validate, sync, verify), for a terminal.

The library only counts; whoever set `Store.on_progress` (the CLI, when stderr is a terminal)
decides how to show it. Nothing is reported for work that ends within a second.
`CBTRACK_PROGRESS=1` shows progress even when stderr is not a terminal, from the start of
each step (for a log, and for tests); `CBTRACK_PROGRESS=0` never shows it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

Report = Callable[[str], None]  # a line to show; "" when the work is over


def wanted(is_terminal: bool) -> bool:
    """Whether to show progress, for stderr that is (or is not) a terminal."""
    forced = os.environ.get("CBTRACK_PROGRESS", "")
    return forced == "1" or (is_terminal and forced != "0")


def delay() -> float:
    """Seconds of work before anything is shown: none when progress is forced."""
    return 0.0 if os.environ.get("CBTRACK_PROGRESS") == "1" else Progress.DELAY


class Progress:
    """Counts `total` steps of `what`; tells `report` at most five times a second, from one
    second after the start, and clears the line at the end if anything was shown."""

    DELAY = 1.0
    EVERY = 0.2

    def __init__(self, what: str, total: int, report: Report | None) -> None:
        self.what, self.total, self.report = what, total, report
        self.count = 0
        self.shown = False
        self._next = time.monotonic() + delay()

    def step(self, n: int = 1) -> None:
        before = self.count
        self.count += n
        if self.report is None or before >> 6 == self.count >> 6:
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


@contextlib.contextmanager
def step(what: str, report: Report | None) -> Iterator[None]:
    """One step of long work that has nothing to count (a fetch, a push): says `what...`
    once it has taken a second, and clears the line when it ends."""
    if report is None:
        yield
        return
    guard = threading.Lock()
    shown = [False, False]  # shown, over

    def say() -> None:
        with guard:
            if not shown[1]:
                shown[0] = True
                report(f"{what}...")

    wait = delay()
    timer = threading.Timer(wait, say) if wait else None
    if timer is None:
        say()
    else:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
        with guard:
            shown[1] = True
            if shown[0]:
                report("")
