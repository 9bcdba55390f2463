"""Worker processes for the few jobs that read thousands of files at once (a first build of
the local index, judging a big commit): one way to start them, one rule for how many.

Workers are started fresh ("spawn"): nothing of this process (the store lock, open files)
goes along. When they cannot be started here, `run` returns None and the caller does the
work itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 4


def count(items: int, parallel_from: int) -> int:
    """How many workers for `items` pieces of work: one per core (up to `MAX_WORKERS`)
    from `parallel_from` pieces on, else none (1); `$CBTRACK_WORKERS` decides when set
    (1: never)."""
    wanted = os.environ.get("CBTRACK_WORKERS", "")
    if wanted.isdigit():
        return max(1, min(int(wanted), 16))
    if items < parallel_from:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def run(
    fn: Callable[[T], R],
    jobs: Iterable[T],
    workers: int,
    each: Callable[[int, R], None] | None = None,
) -> list[R] | None:
    """`fn` over `jobs` in `workers` processes, the results in order (`each` is told of
    each as it comes: its job's position and the result); None when the workers cannot be
    started or break (the caller then does the work itself). `fn` must be a module-level
    function: it reaches the workers by name."""
    import multiprocessing  # (here: only a big job pays for loading them)
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    out: list[R] = []
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for i, result in enumerate(pool.map(fn, jobs)):
                out.append(result)
                if each is not None:
                    each(i, result)
    except (OSError, ValueError, BrokenProcessPool):
        return None
    return out
