"""Worker processes for the few jobs that read thousands of files at once (a first build of
the local index, judging a big commit): one way to start them, one rule for how many.

Workers are started fresh ("spawn"): nothing of this process (the store lock, open files)
goes along. When they cannot be started here, `run` returns None and the caller does the
work itself. Once started they are kept for the rest of the process (a cold build reads
one folder after another: starting workers costs each of them a Python and its imports),
and stopped at exit (`stop`).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

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
    from concurrent.futures.process import BrokenProcessPool

    out: list[R] = []
    try:
        for i, result in enumerate(_pool(workers).map(fn, jobs)):
            out.append(result)
            if each is not None:
                each(i, result)
    except (OSError, ValueError, BrokenProcessPool):
        stop()
        return None
    return out


_kept: dict[int, ProcessPoolExecutor] = {}  # the started pool, by its number of workers


def _pool(workers: int) -> ProcessPoolExecutor:
    """The kept pool of `workers` processes, started on first use."""
    pool = _kept.get(workers)
    if pool is None:
        import multiprocessing  # (here: only a big job pays for loading them)
        from concurrent.futures import ProcessPoolExecutor

        stop()
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        _kept[workers] = pool
    return pool


def stop() -> None:
    """Stop the kept workers, if any (they are started again when next needed)."""
    while _kept:
        _, pool = _kept.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(stop)
