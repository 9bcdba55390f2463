"""The one rule for "does this index entry still describe its file?" (`fresh`), and the
stamp an entry keeps of its file (`stamp`): the file's inode, size, mtime and ctime, and
only when the file was older than the moment it was read (git's racy rule: a change in the
same clock tick could hide behind equal times). The local index (`cbtrack.localindex`),
the duplicate check and the quick queue all ask it; nothing else decides it."""

from __future__ import annotations

import os
import time

# The file system stamps times from a clock that may lag the precise one by up to a tick
# (10 ms at the slowest common kernel setting): a file counts as read "before" a change
# only when its times are older than the read by more than that.
TICK_NS = 10_000_000


def signature(st: os.stat_result) -> str:
    """A file's inode, size, mtime and ctime (ns), as one string."""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def stamp(st: os.stat_result, checked: int) -> str:
    """What an entry keeps of its file, read at `checked` (ns): its signature, or "" when
    the file is not older than the read (git's racy rule: a change in the same clock tick
    could hide behind equal times), which no file ever matches."""
    if st.st_mtime_ns >= checked or st.st_ctime_ns >= checked:
        return ""
    return signature(st)


def fresh(kept: str, st: os.stat_result) -> bool:
    """The one "is this entry still the file?" rule: the file's inode, size, mtime and
    ctime are exactly those kept, and it was older than the moment it was read."""
    return still(kept, signature(st))


def still(kept: str | None, sig: str) -> bool:
    """`fresh` for a signature already taken."""
    return bool(kept) and kept == sig


def now_checked() -> int:
    """The moment to note as "read at" for files read from now on (see `TICK_NS`)."""
    return time.time_ns() - TICK_NS
