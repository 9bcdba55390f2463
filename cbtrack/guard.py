"""A change's safety net, as the store's mixin: the lock held from reading a record to the
git commit, the journal noted before the first write (which records, who, the exact bytes),
and, when a change fails, the old bytes put back. Readers that need one consistent state
take the lock shared (`read_lock`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbtrack.errors import CbtrackError, LockTimeout, StoreError, WriteFailed
from cbtrack.files import (
    _HELD_LOCK_FDS,
    NAME_PATTERN,
    Journal,
    Undo,
    _busy_message,
    _try_lock,
    lock_timeout,
    remove_file,
    write_atomic,
)
from cbtrack.ids import ID_RE
from cbtrack.yamlio import (
    read_text,
)

if TYPE_CHECKING:
    from cbtrack.localindex import LocalIndex

LOCK_FILE = "lock"
ALERTS_LOCK_FILE = "alerts.lock"


class Guarded:
    """The lock and the journal of one store (mixed into `Store`)."""

    if TYPE_CHECKING:
        root: Path
        journal_by: str | None
        on_wait: Callable[[], None] | None
        on_notice: Callable[[str], None] | None
        on_abort: Callable[[Any, list[str], Undo], None] | None
        _lock_fd: int | None
        _undo: Undo
        _journal_ids: list[str]
        _journal_files: dict[str, str]

        @property
        def local_dir(self) -> Path: ...
        @property
        def journal_path(self) -> Path: ...
        def rel(self, path: Path) -> str: ...
        @property
        def index(self) -> LocalIndex: ...

    def _remember(self, path: Path, old: bytes | None) -> None:
        """Note that this change replaced or removed `path`, which held `old` before."""
        if self._lock_fd is not None and not any(p == path for p, _ in self._undo):
            self._undo.append((path, old))

    def _journal(self, callback_id: str, files: dict[str, str]) -> None:
        """Note, before writing, which record changes and the exact bytes it gets (a
        SHA-256 per file, or `-` for a removal): recovery commits only those bytes."""
        ids = [*self._journal_ids, *([] if callback_id in self._journal_ids else [callback_id])]
        written = {**self._journal_files, **files}
        lines = [f"by {self.journal_by}\n"] if self.journal_by else []
        lines += [f"{i}\n" for i in ids]
        lines += [f"file {digest} {rel}\n" for rel, digest in written.items()]

        def in_place() -> None:
            self._journal_ids = ids
            self._journal_files = written

        write_atomic(self.journal_path, "".join(lines), on_replaced=in_place)

    def journal_ids(self) -> list[str] | None:
        """IDs named by a journal left behind, or None when there is none."""
        found = self.journal()
        return None if found is None else found.ids

    def journal(self) -> Journal | None:
        """The journal left behind, or None when there is none. Read as untrusted (it is
        local, but anyone at the desk can write it): lines that are not an ID, a user or a
        file note are ignored, and recovery commits only files whose bytes match a note."""
        try:
            text = read_text(self.journal_path, 64_000, self.rel(self.journal_path))
        except StoreError:
            if not self.journal_path.exists() and not self.journal_path.is_symlink():
                return None
            return Journal([], None, {})
        ids: list[str] = []
        by: str | None = None
        files: dict[str, str] = {}
        for line in text.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 1 and ID_RE.match(parts[0]):
                ids.append(parts[0])
            elif len(parts) == 2 and parts[0] == "by" and re.fullmatch(NAME_PATTERN, parts[1]):
                by = parts[1]
            elif (
                len(parts) == 3 and parts[0] == "file" and re.fullmatch(r"[0-9a-f]{64}|-", parts[1])
            ):
                files[parts[2]] = parts[1]
        return Journal(ids, by, files)

    def clear_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            remove_file(self.journal_path)

    def restore(self, undo: Undo) -> None:
        """Put back the bytes each file had before this change (remove new files)."""
        for path, old in reversed(undo):
            if old is None:
                if path.exists():
                    remove_file(path)
            elif _old_bytes(path) != old:  # (a full disk may still allow what needs no room)
                write_atomic(path, old)

    def _abort(self) -> bool:
        """A change failed under the lock: put its files back, and let `on_abort` bring
        git in line. True when the store is back where it was (or the change turned out
        committed); otherwise the journal stays and the next command completes it."""
        undo, ids = self._undo, list(self._journal_ids)
        if self.on_abort is not None:
            try:
                self.on_abort(self, ids, undo)
            except Exception:  # the original failure is the one to report
                pass
            else:
                with contextlib.suppress(OSError):
                    self.clear_journal()
                return True
        try:
            self.restore(undo)  # the journal stays: the next `recover` fixes git's index
        except Exception:
            return False
        return True

    def _after_failure(self, exc: BaseException) -> None:
        """A change failed after it began writing: undo it, then make the error say what
        really happened to it (nothing written, undone, or written and to be completed)."""
        undo = list(self._undo)
        written = sorted({path.stem for path, _ in undo})
        restored = self._abort()
        if not isinstance(exc, Exception):
            return  # an interrupt: the CLI says so; the journal (if kept) completes it
        why = exc.message.rstrip(".") if isinstance(exc, CbtrackError) else type(exc).__name__
        if not restored:
            raise WriteFailed(
                f"The change to {', '.join(written)} was written but not committed ({why}) "
                "and could not be undone; the next cbtrack command will complete it (or "
                "run 'cbtrack doctor')."
            ) from None
        if not isinstance(exc, CbtrackError):
            return
        if not undo:
            exc.message = f"{why}; nothing was changed."
        elif all(_holds(path, old) for path, old in undo):
            exc.message = f"{why}; the change to {', '.join(written)} was undone, nothing changed."

    # locking ---------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self, timeout: float | None = None, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """The store lock, held for a whole change (read, modify, write, commit).

        A `flock`, so a dead holder never leaves it behind. Re-entrant within one Store.
        `timeout` defaults to `$CBTRACK_LOCK_TIMEOUT` seconds, else 30."""
        if self._lock_fd is not None:
            yield
            return
        wait = lock_timeout() if timeout is None else timeout
        if self.local_dir.is_symlink():
            raise StoreError(
                f"{self.rel(self.local_dir)} is a symlink, and cbtrack keeps its lock, journal "
                "and logs only in a real folder of the store; remove the link "
                f"(rm {self.local_dir}) and run the command again."
            )
        try:
            self.local_dir.mkdir(exist_ok=True, mode=0o700)
            fd = os.open(self.local_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"The store lock in {self.rel(self.local_dir)} cannot be opened "
                f"({exc.strerror}); check the store's permissions."
            ) from None
        try:
            if not _try_lock(fd):
                notify = on_wait or self.on_wait
                if notify:
                    notify()
                deadline = time.monotonic() + wait
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise LockTimeout(_busy_message(fd, wait))
                    time.sleep(0.02)
            self._lock_fd = fd
            _HELD_LOCK_FDS.add(fd)
            self._undo, self._journal_ids, self._journal_files = [], [], {}
            try:
                yield
            except BaseException as exc:
                if self._journal_ids:
                    self._after_failure(exc)
                raise
            if self._journal_ids:
                with contextlib.suppress(OSError):
                    self.clear_journal()
        finally:
            if "index" in self.__dict__:
                self.index.flush()  # (entries of what this change saved)
            _HELD_LOCK_FDS.discard(fd)
            self._lock_fd = None
            self._undo, self._journal_ids, self._journal_files = [], [], {}
            os.close(fd)  # closing the descriptor releases the flock

    @contextlib.contextmanager
    def read_lock(self, timeout: float | None = None) -> Iterator[None]:
        """A shared lock for a reader that must see one consistent state (a report): it
        waits for a change or a sync under way to finish, and holds changes back only
        while it reads. Without a lock file to share (a read-only copy), reads as is."""
        if self._lock_fd is not None or self.local_dir.is_symlink():
            yield
            return
        try:
            fd = os.open(self.local_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            yield
            return
        try:
            deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
            while not _try_lock(fd, fcntl.LOCK_SH):
                if time.monotonic() >= deadline:
                    raise LockTimeout(_busy_message(fd, lock_timeout()))
                time.sleep(0.02)
            yield
        finally:
            os.close(fd)

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    @contextlib.contextmanager
    def alerts_lock(self, timeout: float) -> Iterator[bool]:
        """Held by one alerts run from planning to recording what it sent, so two runs on
        this desk (cron, an emergency add) never send one alert twice; the store lock is
        not held while sending. Yields False when another run held it `timeout` seconds."""
        if self.local_dir.is_symlink():
            raise StoreError(f"{self.rel(self.local_dir)} is a symlink; remove the link.")
        self.local_dir.mkdir(exist_ok=True, mode=0o700)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(self.local_dir / ALERTS_LOCK_FILE, flags, 0o600)
        try:
            deadline = time.monotonic() + timeout
            got = _try_lock(fd)
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
                got = _try_lock(fd)
            yield got
        finally:
            os.close(fd)


def _old_bytes(path: Path) -> bytes | None:
    """What `path` holds now (None when there is no such file)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _holds(path: Path, old: bytes | None) -> bool:
    """Whether `path` holds `old` again (None: no file); False when that cannot be read."""
    try:
        return _old_bytes(path) == old
    except OSError:
        return False
