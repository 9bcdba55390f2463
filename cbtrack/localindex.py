"""The store's one local index: `.cbtrack/index.sqlite`.

The record files are the only truth; this index keeps, for every record file it has read,
what the read commands need without parsing YAML again: the file's stat signature, a row
of plain values (owner, category, urgency, status, due, created, closed, when a dependency
is expected, the patient's phone, name and MRN), the patient keys `find` and the duplicate
check look up (phone digits, folded name words, MRN), the record's data (marshalled, for
the records a command shows) and its de-identified report row (`reportrows.row_of`).

Rules:
- **One freshness check** (`freshness.fresh`): an entry is used only when the file's inode, size,
  mtime and ctime are exactly as recorded, and the file is older than the moment it was
  read (git's racy rule: a change in the same clock tick could hide behind equal times).
  Anything else is read again, strictly (`Store.load_path`), so a bad file gives the error
  it gives without the index.
- **Local and disposable**: owner-only, never committed, never read or written through a
  symlink. It is rebuilt from the files when missing or damaged, or written by another
  cbtrack version, record model or policy file (`key`); deleting it is always safe. Every
  failure to use it is silent and costs only time.
- **Cold builds use every core**: when many files must be read, worker processes read them
  and make all that is kept of each (`read_job`); this process only writes it down, as it
  comes, and keeps no record's data but its marshalled copy.

sqlite3 is in the standard library; the file is opened with a busy timeout, so commands
running at once take turns for the few milliseconds a write takes.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cbtrack import workers
from cbtrack.freshness import fresh, now_checked, signature, stamp, still
from cbtrack.indexrow import (
    BLANK,
    ROW_FIELDS,
    Data,
    Expecter,
    Row,
    kept_line,
    row_of,
)
from cbtrack.progress import Progress

FORMAT = "cbtrack-index-6"
FILE_NAME = "index.sqlite"
# Below this many files to read, worker processes cost more than they save.
PARALLEL_FROM = 400
CHUNK = 500  # at most, files a worker reads per job
WRITE_BATCH = 2500  # entries written in one transaction (some tens of ms with the lock)
_COLUMNS = 20
PAGE_SIZE = 16384

# Reads a file strictly: its data and model, or None to leave the record out (gone or moved).
Loader = Callable[[Path], tuple[Data, Any] | None]
# The report row of a record's model under a policy, as the index keeps it (marshalled), or
# None when it is not wanted now; a module-level function (or a partial of one): it goes to
# the workers.
Reporter = Callable[[Any, Any], bytes | None]
# A worker's job: a folder, names of files in it, the key the index was built for (a worker
# that reckons another key does nothing) and the `Reporter`, if any.
Job = tuple[str, list[str], str, Reporter | None]
# The clock-free part of an open record's queue line (`queuefmt.line_of`) as a plain tuple,
# or None; given by the store, which knows the policy.
Liner = Callable[[Data, Row], tuple[Any, ...] | None]
# (In a worker process) `read_job` of a `Job` with the store's index and loader: a
# module-level function of the store's (`workers.run`).
Parser = Callable[[Job], bytes]

_SCHEMA = """
CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
CREATE TABLE rec(
    folder TEXT NOT NULL, name TEXT NOT NULL,
    stamp TEXT NOT NULL,
    owner TEXT, category TEXT, urgency TEXT, status TEXT, due REAL, created REAL,
    closed REAL, expected REAL, phone TEXT, pname TEXT, mrn TEXT,
    phone7 TEXT, mrnkey TEXT, words TEXT,
    data BLOB, line BLOB, report BLOB,
    PRIMARY KEY(folder, name)
) WITHOUT ROWID;
-- a folder's stamps, rows and queue lines are read from this index alone, without the
-- records' data
CREATE INDEX rec_rows ON rec(folder, name, stamp, owner, category, urgency, status, due,
    created, closed, expected, phone, pname, mrn, line);
CREATE INDEX rec_phone ON rec(phone7);
CREATE INDEX rec_mrn ON rec(mrnkey);
"""
_ROW_COLUMNS = "owner, category, urgency, status, due, created, closed, expected, phone, pname, mrn"
# An entry as `known` and `entries` give it: name, stamp, row, queue line
_ENTRY_SQL = f"SELECT name, stamp, {_ROW_COLUMNS}, line FROM rec WHERE folder = ?"


def key_of(version: str, policy_bytes: bytes) -> str:
    """What an index must have been built for: this format, cbtrack version, policy file
    and record model (`model.py`, so that a development copy whose model changed without a
    new version number does not reuse old rows)."""
    digest = hashlib.sha256(policy_bytes)
    with contextlib.suppress(OSError):
        digest.update(Path(__file__).with_name("model.py").read_bytes())
    return f"{FORMAT}:{version}:{digest.hexdigest()[:32]}"


def real_folder(folder: Path) -> bool:
    """False when the folder or the one above it (`.cbtrack/`) is a symlink: cbtrack never
    reads or writes its local files through one (it could lead outside the store)."""
    return not (folder.is_symlink() or folder.parent.is_symlink())


class Cached:
    """One record as the index gives it: its path, row, data (fetched or decoded on first
    use), and the model when the file was just read."""

    __slots__ = ("_data", "_line", "_src", "folder", "model", "name", "row")

    def __init__(
        self,
        folder: Path,
        name: str,
        row: Row,
        data: Data | bytes | None,
        model: Any,
        src: tuple[LocalIndex, str] | None = None,
        line: tuple[Any, ...] | bytes | None = None,
    ) -> None:
        self.folder, self.name, self.row = folder, name, row
        self._data, self.model, self._src = data, model, src
        self._line = line

    @property
    def line(self) -> tuple[Any, ...] | None:
        """The clock-free part of its queue line (`Liner`), when the index holds it."""
        return kept_line(self._line)

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def id(self) -> str:
        return self.name.removesuffix(".yaml")

    @property
    def usable(self) -> bool:
        return self.row.urgency != ""

    @property
    def data(self) -> Data | None:
        """The record's data, or None if the index holds no good copy (then the caller reads
        the file)."""
        if self._data is None and self._src is not None:
            index, folder = self._src
            self._src = None
            self._data = index.data(folder, self.name)
        if type(self._data) is bytes:  # as a worker read it (`read_job`)
            self._data = _unmarshal(self._data)
        return self._data  # type: ignore[return-value]


class LocalIndex:
    """The index of one store. Opened on first use; every failure is silent."""

    def __init__(
        self,
        local_dir: Path,
        callbacks_dir: Path,
        key: str,
        expecter: Expecter | None = None,
        parse: Parser | None = None,
        liner: Liner | None = None,
    ) -> None:
        self.path = local_dir / FILE_NAME
        self.callbacks = callbacks_dir
        self.key = key
        self.expecter = expecter
        self.parse = parse
        self.liner = liner
        # Set by a command that wants the report's rows: workers make them with the rest.
        self.reporter: Reporter | None = None
        self._db: sqlite3.Connection | None = None
        self._tried = False
        self._pending: list[tuple[Path, Path | None, Data]] = []

    # the connection ----------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection | None:
        if not self._tried:
            self._tried = True
            self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection | None:
        local = self.path.parent
        if not real_folder(local) or self.path.is_symlink():
            return None
        for _ in range(2):  # a damaged file is removed and made again once
            try:
                local.mkdir(exist_ok=True, mode=0o700)
                fd = os.open(
                    self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
                )
                os.close(fd)
                db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            except (OSError, sqlite3.Error):
                return None
            try:
                db.execute("PRAGMA synchronous=OFF")
                if self._meta(db, "key") != self.key or not self._sound(db):
                    self._rebuild(db)
                return db
            except sqlite3.DatabaseError as exc:
                db.close()
                if _busy(exc):
                    return None  # (another command holds it: read without it this time)
                with contextlib.suppress(OSError):
                    os.unlink(self.path)  # damaged: made again from the files
        return None

    @staticmethod
    def _meta(db: sqlite3.Connection, k: str) -> str | None:
        try:
            got = db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if got is None else str(got[0])

    @staticmethod
    def _sound(db: sqlite3.Connection) -> bool:
        """Whether the tables have the columns this version reads and writes."""
        try:
            db.execute(
                f"SELECT folder, name, stamp, {_ROW_COLUMNS}, data, line, report FROM rec LIMIT 0"
            )
            return True
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise
            return False

    def _rebuild(self, db: sqlite3.Connection) -> None:
        # An entry (its data, queue line and report row) is one to two KB: on pages of
        # 4 KB each would spill to a page of its own. (Takes effect on a new file only.)
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        db.execute("BEGIN IMMEDIATE")
        try:
            # (another process may have just made it)
            if self._meta(db, "key") != self.key or not self._sound(db):
                db.execute("DROP TABLE IF EXISTS meta")
                db.execute("DROP TABLE IF EXISTS rec")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('key', ?)", (self.key,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._drop_old_caches()

    def _drop_old_caches(self) -> None:
        """Remove what 0.2 kept beside the records before this index (copies of record data
        that nothing reads any more): `.cbtrack/cache/` and `.cbtrack/find-index.json`."""
        local = self.path.parent
        old = local / "cache"
        with contextlib.suppress(OSError):
            if old.is_dir() and not old.is_symlink():
                for entry in os.scandir(old):
                    if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                        os.unlink(entry.path)
                old.rmdir()
        with contextlib.suppress(OSError):
            os.unlink(local / "find-index.json")

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db, self._tried = None, False

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, or nothing at all when the index cannot be written."""
        db = self.db
        if db is None:
            raise _Skip
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            raise _Skip from None
        try:
            yield db
            db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise _Skip from None

    def meta(self, k: str) -> str | None:
        db = self.db
        if db is None:
            return None
        try:
            return self._meta(db, k)
        except sqlite3.Error:
            return None

    def set_meta(self, k: str, v: str) -> None:
        with contextlib.suppress(_Skip), self._writing() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, v))

    # reading -----------------------------------------------------------------------

    def folder_of(self, folder: Path) -> str | None:
        """The index's name of a folder of records: `open` or `closed/YYYY-MM`."""
        try:
            rel = folder.relative_to(self.callbacks)
        except ValueError:
            return None
        return rel.as_posix()

    def known(self, folder: str, names: list[str] | None = None) -> dict[str, tuple[Any, ...]]:
        """name -> (stamp, *row, queue line) of one folder's entries, or of those `names`
        only (from the covering index alone); the line as kept (`indexrow.kept_line` reads
        it), or None."""
        if names is None:
            return {r[0]: r[1:] for r in self.entries(folder)}
        db = self.db
        if db is None:
            return {}
        out: dict[str, tuple[Any, ...]] = {}
        try:
            for at in range(0, len(names), 500):
                chunk = names[at : at + 500]
                marks = ",".join("?" * len(chunk))
                cur = db.execute(f"{_ENTRY_SQL} AND name IN ({marks})", (folder, *chunk))
                out.update((r[0], r[1:]) for r in cur)
        except sqlite3.Error:
            return {}
        return out

    def entries(self, folder: str) -> list[tuple[Any, ...]]:
        """(name, stamp, *row, queue line) of one folder's entries in name order (from the
        covering index alone)."""
        db = self.db
        if db is None:
            return []
        try:
            return db.execute(f"{_ENTRY_SQL} ORDER BY name", (folder,)).fetchall()
        except sqlite3.Error:
            return []

    def stamps(self, folder: str) -> dict[str, str]:
        """name -> stamp of one folder's entries (all `fresh` needs)."""
        db = self.db
        if db is None:
            return {}
        try:
            return dict(db.execute("SELECT name, stamp FROM rec WHERE folder = ?", (folder,)))
        except sqlite3.Error:
            return {}

    def stale(self, folder: Path, names: list[str]) -> list[str]:
        """Those of `names` (files of `folder`, sorted) the index holds no fresh entry for
        (`fresh`): new, changed or gone since it read them, or not to be read at all.

        Once a folder's files are all found fresh, a digest of their names and signatures
        is kept: while no entry of the folder is written (`_store` drops the digest), the
        same digest means the same files with the same signatures, all fresh, so the next
        check compares one digest instead of every entry."""
        names = sorted(names)
        rel = self.folder_of(folder)
        if rel is None:
            return names
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return names
        sigs: list[str] = []
        try:
            for n in names:
                try:
                    sigs.append(signature(os.stat(n, dir_fd=dfd, follow_symlinks=False)))
                except OSError:
                    sigs.append("")  # (gone or unreadable: never fresh)
        finally:
            os.close(dfd)
        digest = hashlib.sha1(
            "\n".join(f"{n}\0{s}" for n, s in zip(names, sigs, strict=True)).encode(
                "utf-8", "surrogateescape"
            )
        ).hexdigest()
        key = f"fresh:{rel}"
        if self.meta(key) == digest:
            return []
        kept = self.stamps(rel)
        out = [n for n, sig in zip(names, sigs, strict=True) if not still(kept.get(n), sig)]
        if not out:
            self.set_meta(key, digest)
        return out

    def data(self, folder: str, name: str) -> Data | None:
        db = self.db
        if db is None:
            return None
        try:
            got = db.execute(
                "SELECT data FROM rec WHERE folder = ? AND name = ?", (folder, name)
            ).fetchone()
            value = marshal.loads(got[0]) if got is not None and got[0] is not None else None
        except Exception:  # damaged: the caller reads the file
            return None
        return value if type(value) is dict else None

    def prefetch(self, records: list[Cached]) -> None:
        """Fetch the data of many indexed records at once (one query, not one each)."""
        wanted: dict[str, list[Cached]] = {}
        for c in records:
            if c._data is None and c._src is not None and c._src[0] is self:
                wanted.setdefault(c._src[1], []).append(c)
        db = self.db
        if db is None:
            return
        for folder, group in wanted.items():
            by_name = {c.name: c for c in group}
            names = list(by_name)
            try:
                for at in range(0, len(names), 500):
                    chunk = names[at : at + 500]
                    marks = ",".join("?" * len(chunk))
                    cur = db.execute(
                        f"SELECT name, data FROM rec WHERE folder = ? AND name IN ({marks})",
                        (folder, *chunk),
                    )
                    for name, blob in cur:
                        c = by_name[name]
                        with contextlib.suppress(Exception):
                            value = marshal.loads(blob)
                            if type(value) is dict:
                                c._data, c._src = value, None
            except sqlite3.Error:
                return

    def candidates(
        self, id_end: str, mrn: str, phone7: str | None, readings: list[tuple[str, ...]]
    ) -> list[tuple[str, str]]:
        """(folder, file name) of every indexed record that may match a `find` query: the
        ID or its end, the folded MRN, the phone's last 7 digits, or every name word of one
        reading of the query (a word of three letters or more also as the start of one). A
        superset: each is confirmed on its record (`patients.Query`)."""
        db = self.db
        if db is None:
            return []
        conds: list[str] = []
        args: list[str] = []
        if id_end:
            conds.append("name LIKE ?")
            args.append(f"%{id_end}.yaml")
        if mrn:
            conds.append("mrnkey = ?")
            args.append(mrn)
        if phone7:
            conds.append("phone7 = ?")
            args.append(phone7)
        for words in readings:
            conds.append(" AND ".join("(' ' || words || ' ') LIKE ?" for _ in words))
            args += [f"% {w}%" if len(w) >= 3 else f"% {w} %" for w in words]
        if not conds:
            return []
        sql = "SELECT folder, name FROM rec WHERE " + " OR ".join(f"({c})" for c in conds)
        try:
            return list(db.execute(sql + " ORDER BY folder, name", args))
        except sqlite3.Error:
            return []

    def names_with(self, phone7: str | None, mrnkey: str | None) -> set[str]:
        """Names of open records whose lookup keys match (`patients.lookup_keys`)."""
        db = self.db
        if db is None:
            return set()
        try:
            cur = db.execute(  # (two lookups, each on its own index, not a scan)
                "SELECT name FROM rec WHERE phone7 = ? AND folder = 'open' UNION "
                "SELECT name FROM rec WHERE mrnkey = ? AND folder = 'open'",
                (phone7, mrnkey),
            )
            return {r[0] for r in cur}
        except sqlite3.Error:
            return set()

    def read_folder(
        self,
        folder: Path,
        names: list[str],
        load: Loader,
        progress: Progress | None = None,
        changed_only: bool = False,
        whole: bool = True,
    ) -> list[Cached]:
        """Every record of `folder` named in `names`, in that order: from the index where
        `fresh` says so, else read strictly through `load` (in worker processes when many)
        and noted for next time. When `names` is the `whole` listing of the folder, entries
        of files no longer in it are dropped. With
        `changed_only`, only the records read again are given (the index is brought up to
        date; the caller queries it for the rest)."""
        rel = self.folder_of(folder)
        known: dict[str, Any] = {}
        if rel is not None and changed_only:
            known = self.stamps(rel)
        elif rel is not None:
            known = self.known(rel, None if whole else names)
        out, stale = self._sweep(folder, rel, names, known, changed_only, progress)
        checked = now_checked()
        new = self._read_stale(folder, rel, out, stale, load, checked, progress)
        if progress is not None:
            progress.done()
        if rel is not None:
            listed = set(names)
            gone = [n for n in known if n not in listed] if whole else []
            self._store(rel, new, gone)
        return [c for c in out if c is not None]

    def _sweep(
        self,
        folder: Path,
        rel: str | None,
        names: list[str],
        known: dict[str, Any],
        changed_only: bool,
        progress: Progress | None,
    ) -> tuple[list[Cached | None], list[tuple[int, str, os.stat_result | None]]]:
        """One `stat` per name: the records the index still holds (`fresh`), in order, and
        a gap with (position, name, stat) for each file to read again."""
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            dfd = -1
        out: list[Cached | None] = []
        stale: list[tuple[int, str, os.stat_result | None]] = []
        make = Row._make
        src = (self, rel) if rel is not None else None
        try:
            for name in names:  # (a file read again counts in `progress` once it is read)
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False) if dfd >= 0 else None
                except OSError:
                    st = None
                entry = known.get(name)
                if changed_only:
                    if st is not None and entry is not None and fresh(entry, st):
                        if progress is not None:
                            progress.step()
                        continue
                elif st is not None and entry is not None and fresh(entry[0], st):
                    row = make(entry[1 : ROW_FIELDS + 1])
                    out.append(Cached(folder, name, row, None, None, src, entry[-1]))
                    if progress is not None:
                        progress.step()
                    continue
                stale.append((len(out), name, st))
                out.append(None)
        finally:
            if dfd >= 0:
                os.close(dfd)
        return out, stale

    def _read_stale(
        self,
        folder: Path,
        rel: str | None,
        out: list[Cached | None],
        stale: list[tuple[int, str, os.stat_result | None]],
        load: Loader,
        checked: int,
        progress: Progress | None,
    ) -> list[tuple[Any, ...]]:
        """Read each stale file strictly (many at once in worker processes, whose entries
        are written as they come), fill its gap in `out`, and give the entries of the files
        read here for `_store`."""
        stats = {n: st for _, n, st in stale if st is not None}
        read = self._read_many(folder, rel, stats, checked, progress)
        new: list[tuple[Any, ...]] = []
        for at, name, st in stale:
            got = read.get(name)
            if got is not None:
                cols, blob = got
                if cols is None:
                    out[at] = Cached(folder, name, BLANK, blob, None)
                else:
                    row = Row._make(cols[:ROW_FIELDS])
                    out[at] = Cached(folder, name, row, cols[-2], None, None, cols[-1])
                continue
            if progress is not None:
                progress.step()
            loaded = load(folder / name)
            if loaded is None:
                continue
            data, model = loaded
            row, line, cols = self.entry_of(rel, data)
            if st is not None and cols is not None and rel is not None:
                new.append((rel, name, stamp(st, checked), *cols, None))
            out[at] = Cached(folder, name, row, data, model, None, line)
        return new

    def _read_many(
        self,
        folder: Path,
        rel: str | None,
        stats: dict[str, os.stat_result],
        checked: int,
        progress: Progress | None = None,
    ) -> dict[str, tuple[tuple[Any, ...] | None, bytes]]:
        """Many files read strictly by worker processes (`read_job`): a cold build uses
        every core. Each worker's entries are written as they come; gives, by name, the
        entry's columns after the stamp (None when the record has no row: then it is not
        kept) and the data, marshalled. Files a worker could not read are left out (the
        caller reads them itself, and reports them as it always does). `progress` counts
        each file read."""
        names = list(stats)
        n = workers.count(len(names), PARALLEL_FROM)
        if self.parse is None or n < 2 or not names:
            return {}
        # Jobs of at most CHUNK files, as many for each worker, of sizes within one file.
        per = -(-len(names) // (n * CHUNK))
        jobs = n * per
        size, extra = divmod(len(names), jobs)
        chunks: list[Job] = []
        at = 0
        for i in range(jobs):
            end = at + size + (i < extra)
            chunks.append((str(folder), names[at:end], self.key, self.reporter))
            at = end
        out: dict[str, tuple[tuple[Any, ...] | None, bytes]] = {}
        kept: list[tuple[Any, ...]] = []  # entries to write, a few thousand at a time

        def each(_i: int, blob: bytes) -> None:
            got: list[tuple[Any, ...]] = marshal.loads(blob)
            for name, cols, data, report in got:
                if cols is None:
                    out[name] = (None, data)
                else:
                    out[name] = (cols, cols[-2])
                    if rel is not None:
                        kept.append((rel, name, stamp(stats[name], checked), *cols, report))
            if rel is not None and len(kept) >= WRITE_BATCH:
                self._store(rel, kept, [])
                kept.clear()
            if progress is not None:
                progress.step(len(got))

        done = workers.run(self.parse, chunks, n, each)
        if rel is not None:
            self._store(rel, kept, [])
        return {} if done is None else out

    def read_job(self, job: Job, load: Loader, policy: Any) -> bytes:
        """(In a worker process) what the index keeps of each file of the job that reads
        strictly through `load`, marshalled: a list of (name, the entry's columns after its
        stamp, data, report row under `policy`), the columns None (then the data given
        apart) when the record has no row. Nothing when this index was built for another
        key than the job's (the policy changed meanwhile): the caller reads the files."""
        folder, names, key, reporter = job
        out: list[tuple[Any, ...]] = []
        if key != self.key:
            return marshal.dumps(out)
        rel = self.folder_of(Path(folder))
        for name in names:
            loaded = load(Path(folder) / name)
            if loaded is None:
                continue
            data, model = loaded
            _, _, cols = self.entry_of(rel, data)
            if cols is None:
                out.append((name, None, marshal.dumps(data), None))
                continue
            report = reporter(policy, model) if reporter is not None else None
            out.append((name, cols, None, report))
        return marshal.dumps(out)

    def entry_of(
        self, folder: str | None, data: Data
    ) -> tuple[Row, tuple[Any, ...] | None, tuple[Any, ...] | None]:
        """A record's row (`BLANK` when its data has none), queue line (`_line`) and what
        the index keeps of it after its folder, name and stamp, before its report row: the
        row, patient keys, name words, data and queue line, those two marshalled (None
        when it cannot be kept)."""
        from cbtrack.patients import lookup_keys, name_words

        try:
            row = row_of(data, self.expecter)
        except (KeyError, TypeError, ValueError):
            return BLANK, None, None
        line = self._line(folder, data, row)
        try:
            blob = marshal.dumps(data)
            line_blob = None if line is None else marshal.dumps(tuple(line))
        except (KeyError, TypeError, ValueError):
            return row, line, None
        phone7, mrnkey = lookup_keys(row.phone, row.mrn)
        words = " ".join(name_words(row.name))
        return row, line, (*row, phone7, mrnkey, words, blob, line_blob)

    def _line(self, folder: str | None, data: Data, row: Row) -> tuple[Any, ...] | None:
        """An open record's queue line (`Liner`), or None (then it is worked out when shown)."""
        if folder != "open" or self.liner is None or row.urgency == "":
            return None
        try:
            return self.liner(data, row)
        except (KeyError, TypeError, ValueError):
            return None

    # writing -----------------------------------------------------------------------

    def _store(self, folder: str, new: list[tuple[Any, ...]], gone: list[str]) -> None:
        """Write entries (every column) of `folder` and drop those of `gone` names."""
        if not new and not gone:
            return
        with contextlib.suppress(_Skip), self._writing() as db:
            db.executemany(f"INSERT OR REPLACE INTO rec VALUES ({','.join('?' * _COLUMNS)})", new)
            db.executemany(
                "DELETE FROM rec WHERE folder = ? AND name = ?", [(folder, n) for n in gone]
            )
            db.execute("DELETE FROM meta WHERE k = ?", (f"fresh:{folder}",))

    def note_saved(self, target: Path, removed: Path | None, data: Data) -> None:
        """A change wrote `target` (and removed `removed`, its copy in the other folder):
        noted when `flush` runs (after the commit, so the file is older than the note)."""
        self._pending.append((target, removed, data))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        checked = now_checked()
        for target, removed, data in pending:
            rel = self.folder_of(target.parent)
            if rel is not None:
                _, _, cols = self.entry_of(rel, data)
                with contextlib.suppress(OSError):
                    st = os.lstat(target)
                    kept = (
                        []
                        if cols is None
                        else [(rel, target.name, stamp(st, checked), *cols, None)]
                    )
                    self._store(rel, kept, [])
            gone = self.folder_of(removed.parent) if removed is not None else None
            if gone is not None and removed is not None:
                self._store(gone, [], [removed.name])

    # the report's rows ---------------------------------------------------------------

    def report_rows(self, folder: str) -> dict[str, bytes | None]:
        db = self.db
        if db is None:
            return {}
        try:
            return dict(db.execute("SELECT name, report FROM rec WHERE folder = ?", (folder,)))
        except sqlite3.Error:
            return {}

    def set_report_rows(self, folder: str, rows: list[tuple[str, bytes]]) -> None:
        if not rows:
            return
        with contextlib.suppress(_Skip), self._writing() as db:
            db.executemany(
                "UPDATE rec SET report = ? WHERE folder = ? AND name = ?",
                [(blob, folder, name) for name, blob in rows],
            )

    def forget_report_rows(self) -> None:
        with contextlib.suppress(_Skip), self._writing() as db:
            db.execute("UPDATE rec SET report = NULL")


def _busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


class _Skip(Exception):
    """The index could not be written: carry on without it."""


def _unmarshal(blob: bytes) -> Data | None:
    """Data as `marshal` kept it, or None when damaged (then the caller reads the file)."""
    try:
        value = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    return value if type(value) is dict else None
