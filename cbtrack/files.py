"""Files that are written whole or not at all: atomic writes, owner-only outputs and logs
that never follow a symlink, the change journal's shape, and the store's flock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cbtrack.errors import Refused

TMP_PREFIX = ".cbtrack-tmp-"
DEFAULT_LOCK_TIMEOUT = 30.0


# --- atomic writes -------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path,
    text: str | bytes,
    make_folders: bool = True,
    on_replaced: Callable[[], None] | None = None,
) -> None:
    """Temp file in the same folder (owner-only), write, fsync, rename over the target,
    fsync the folder. A crash at any point leaves the old file or the new one.
    `on_replaced` is told the moment the new file is in place (a failure after that, of
    the folder's fsync, leaves the new file)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if make_folders:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if on_replaced is not None:
        on_replaced()
    fsync_dir(path.parent)


def check_output(path: Path) -> None:
    """Refuse an `--output` that is not a regular file or a new name in an existing folder:
    a device node, FIFO, socket or folder (written over, `/dev/full` would be replaced by a
    report), a symbolic link (it may point at any of those, or at a file of someone
    else's), or a path whose folder does not exist (a typo; folders are never made)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise Refused(f"Cannot use {path} for the output ({exc.strerror}).") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise Refused(
                f"{path} is a symbolic link; give --output the path of a regular file "
                "or a new file."
            )
        if stat.S_ISDIR(info.st_mode):
            raise Refused(f"{path} is a folder; give --output a file name.")
        if not stat.S_ISREG(info.st_mode):
            raise Refused(
                f"{path} is not a regular file (a device, pipe or socket); give --output "
                "a regular file or a new file."
            )
        return
    if not path.parent.is_dir():
        raise Refused(
            f"The folder {path.parent} does not exist; create it first, or give --output "
            "a path in an existing folder."
        )


def outside_store(root: Path, path: Path, what: str) -> Path:
    """`path` resolved, refused when it falls inside the store at `root` (where it could
    be committed and shared): `what` says what the file holds."""
    real = path.parent.resolve() / path.name
    if real == root or root in real.parents:
        raise Refused(
            f"The {what} holds patient data and would be committed if written in the store; "
            "give --output a path outside it."
        )
    return real


def write_output(path: Path, text: str) -> None:
    """Write a report or export to `path` (checked as `check_output` says): atomically,
    owner-only, never making folders. Refused with one sentence when it cannot be done."""
    check_output(path)
    try:
        write_atomic(path, text, make_folders=False)
    except OSError as exc:
        raise Refused(
            f"Cannot write to {path} ({exc.strerror or 'I/O error'}); nothing was written."
        ) from None


def append_private_log(path: Path, text: str) -> None:
    """Append to an owner-only log file (folders created owner-only too); never through a
    symlink (of the file or its folder)."""
    if path.parent.is_symlink():
        raise OSError(f"{path.parent.name} is a symlink")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)


def remove_file(path: Path, on_removed: Callable[[], None] | None = None) -> None:
    """Unlink and fsync the folder, so the removal survives a crash (`on_removed` is told
    as soon as the file is gone)."""
    path.unlink()
    if on_removed is not None:
        on_removed()
    fsync_dir(path.parent)


# --- the store -----------------------------------------------------------------------

Undo = list[tuple[Path, bytes | None]]  # files written under the lock, with their old bytes


REMOVED = "-"  # a journal's note for a file the change removes
NAME_PATTERN = r"[A-Za-z0-9_.-]{1,40}"


@dataclass
class Journal:
    """What a change under the lock noted before writing: the records, who it is by, and
    each file's SHA-256 (or REMOVED)."""

    ids: list[str]
    by: str | None
    files: dict[str, str]


def file_digest(path: Path) -> str | None:
    """A plain file's SHA-256, REMOVED when there is none, None when it is something else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return REMOVED
    if not stat.S_ISREG(st.st_mode):
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the lock ----------------------------------------------------------------------------


_HELD_LOCK_FDS: set[int] = set()


def held_lock_fds() -> tuple[int, ...]:
    """Descriptors of store locks this process holds. Local git children inherit them, so
    a killed command's git commit keeps the store locked until it has finished too; git
    fetch and push do not (`gitlog.run(keep_lock=False)`): a stalled network must not
    hold the store after the command that started it is gone."""
    return tuple(sorted(_HELD_LOCK_FDS))


def _busy_message(fd: int, wait: float) -> str:
    holder = lock_holder(fd)
    if holder is None:
        return (
            f"Another cbtrack command held the store lock for {wait:g}s; nothing was "
            "written, try again in a moment."
        )
    pid, name = holder
    return (
        f"The store lock is held by process {pid} ({name}), so after {wait:g}s nothing was "
        f"written; try again in a moment, or if that process is stuck, stop it with "
        f"'kill {pid}'."
    )


def lock_holder(fd: int) -> tuple[int, str] | None:
    """The process holding the flock on the file open as `fd`, and its command name
    (never its arguments, which may hold patient data), from /proc; None when this
    process is the holder or the system cannot tell. The holder may be a child that
    inherited the lock from a command that died."""
    try:
        info = os.fstat(fd)
        entries = os.listdir("/proc")
    except OSError:
        return None
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for num in fds:
            try:
                target = os.stat(f"/proc/{entry}/fd/{num}")
                if (target.st_dev, target.st_ino) != (info.st_dev, info.st_ino):
                    continue
                with open(f"/proc/{entry}/fdinfo/{num}", encoding="utf-8") as fh:
                    held = any(" FLOCK " in line for line in fh if line.startswith("lock:"))
                with open(f"/proc/{entry}/comm", encoding="utf-8", errors="replace") as fh:
                    name = fh.read().strip() or "unknown"
            except OSError:
                continue
            if held:
                return int(entry), name
    return None


def lock_timeout() -> float:
    raw = os.environ.get("CBTRACK_LOCK_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise Refused("CBTRACK_LOCK_TIMEOUT must be a number of seconds, like 30.") from None
    if value != value or value < 0:  # NaN or negative
        raise Refused("CBTRACK_LOCK_TIMEOUT must be a number of seconds, like 30.")
    return value


def _try_lock(fd: int, kind: int = fcntl.LOCK_EX) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True
