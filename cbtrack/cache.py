"""The local read cache: parsed records, so read commands skip the YAML parse.

Reading 10,000 records costs about a second of strict YAML parsing; this cache keeps, for each
record file, the record's data as it was last read and validated, keyed by the file's inode,
size, mtime_ns and ctime_ns. It lives behind `Store` (nothing else uses it) in

    <store>/.cbtrack/cache/rows-<c>.bin        rows of the records in callbacks/open/ whose
                                               ID ends in <c>
    <store>/.cbtrack/cache/patients-<c>.bin    the same records by phone and MRN
    <store>/.cbtrack/cache/open-<cc>.bin       data of those whose ID ends in <cc>
    <store>/.cbtrack/cache/closed-YYYY-MM.bin  rows and data of callbacks/closed/YYYY-MM/
    <store>/.cbtrack/cache/policy.bin          what the queue needs of the policy (`Digest`)

Local only (`.cbtrack/` is git-ignored), owner-only, each file written to a temp file and
renamed over the old one. A file starts with a header naming the cache format, the cbtrack
version and a hash of the policy file: any other header, or a file that cannot be decoded,
is ignored and rewritten (a corrupt cache is rebuilt silently).

An entry holds a `Row` (the few plain fields the queue ranks and filters on, the duplicate
check compares and a report selects by) and the record's data, marshalled separately so that
it is decoded only for the records a command shows. For the open folder rows and data are
kept apart (32 files of rows, 1,024 of data): the queue ranks 10,000 records from the rows
and decodes only the screenful it shows, and a change rewrites two small files. Beside each
file of open rows, an index of the same records by phone and MRN (`patient_keys`) lets the
duplicate check on `add` read only the records that match.

A row may hold values derived from the policy (when a dependency is expected): the cache
key names the exact policy file, so a cache written under another policy is never used.

The cache is never trusted over the file:
- an entry is used only when the file's inode, size, mtime and ctime are exactly as recorded;
- git's racy rule: an entry whose file is not older than the cache file itself may hide a
  change made in the same clock tick, so that file is read again;
- a file read again goes through the strict parse and validation (`Store.load_path`), so a
  bad file gives the same error as without the cache;
- changes never read from it: `Store.load` reads the record's own file, and `Store.save`
  updates that record's entry only.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cbtrack.progress import Progress

FORMAT = "cbtrack-read-cache-5"
OPEN_ROWS = "rows"
OPEN_DATA = "open"
POLICY_DIGEST = "policy"
PATIENTS = "patients"
CACHE_DIR = "cache"
TMP_PREFIX = ".tmp-"

Data = dict[str, Any]


class Row(NamedTuple):
    """What the queue and the reports need of every record, as plain values."""

    owner: str
    category: str
    urgency: str
    status: str
    due: float  # POSIX timestamps: they order like the aware datetimes they come from
    created: float
    closed: float | None
    # With an open dependency, when the first of them is expected (POSIX time, from the
    # policy): until then the callback is paused, after it overdue. None without one.
    expected: float | None
    phone: str  # the patient's, for the duplicate check on add and for find
    name: str
    mrn: str | None


# inode, size, mtime_ns, ctime_ns, row (as a plain tuple), marshalled data; a file of open
# rows holds no data (None) and a file of open data no rows (None)
Entry = tuple[int, int, int, int, tuple[Any, ...] | None, bytes | None]

# When the first open dependency of a record's data is expected (POSIX time); given by the
# store, which knows the policy.
Expecter = Callable[[Data], float | None]


def signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def cache_key(version: str, policy_bytes: bytes) -> str:
    """What a cache file must have been written for: this format, this cbtrack version,
    this exact policy file, and this exact record model (`model.py`, so that a development
    copy whose model changed without a new version number does not reuse old entries)."""
    digest = hashlib.sha256(policy_bytes)
    with contextlib.suppress(OSError):
        digest.update(Path(__file__).with_name("model.py").read_bytes())
    return f"{FORMAT}:{version}:{digest.hexdigest()[:32]}"


def row_of(data: Data, expecter: Expecter | None = None) -> Row:
    """The row of a record's data (as `Store` dumps it); raises on anything unexpected."""
    closure = data.get("closure")
    closed = _timestamp(closure["at"]) if isinstance(closure, dict) else None
    blocked = any(d.get("resolved_at") is None for d in data.get("depends_on") or [])
    if blocked and expecter is None:
        raise ValueError("no policy to tell when a dependency is expected")
    return Row(
        str(data["owner"]),
        str(data["category"]),
        str(data["urgency"]),
        str(data["status"]),
        _timestamp(data["due_at"]),
        _timestamp(data["created_at"]),
        closed,
        expecter(data) if blocked and expecter is not None else None,
        str(data["patient"]["phone"]),
        str(data["patient"]["name"]),
        mrn if isinstance(mrn := data["patient"].get("mrn"), str) else None,
    )


def _timestamp(text: Any) -> float:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("a time without an offset")
    return when.timestamp()


class Cached:
    """One record as the cache gives it: its path, row, data (decoded on first use, and for
    an open record fetched from its data file then), and the model when the file was just
    read. `usable` is False for the rare record whose row could not be made: then only its
    model can be asked."""

    __slots__ = ("_blob", "_data", "_src", "folder", "model", "name", "row")

    def __init__(
        self,
        folder: Path,
        name: str,
        row: Row,
        blob: bytes | None,
        data: Data | None,
        model: Any,
        src: tuple[RecordCache, str, tuple[int, ...]] | None = None,
    ) -> None:
        self.folder, self.name, self.row = folder, name, row
        self._blob, self._data, self.model = blob, data, model
        self._src = src

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
        """The record's data, or None if the cache holds no good copy of it (then the
        caller reads the file)."""
        if self._data is None and self._blob is None and self._src is not None:
            rc, shard, sig = self._src
            self._src = None
            self._blob = rc.blob(shard, self.name, sig)
        if self._data is None and self._blob is not None:
            try:
                value = marshal.loads(self._blob)
            except Exception:
                value = None
            self._data = value if type(value) is dict else None
            self._blob = None
        return self._data


class Shard:
    """One cache file: its entries, and the file's own mtime for the racy rule."""

    def __init__(self, entries: dict[str, Entry], written_ns: int) -> None:
        self.entries = entries
        self.written_ns = written_ns
        self.dirty = False


ROW_FIELDS = len(Row._fields)


class RecordCache:
    """The cache for one store. Loads cache files lazily, writes the changed ones on `flush`.
    Every failure to read or write the cache is silent: the files are the truth."""

    def __init__(
        self, folder: Path, callbacks_dir: Path, key: str, expecter: Expecter | None = None
    ) -> None:
        self.folder = folder
        self.key = key
        self.expecter = expecter
        self._shards: dict[str, Shard] = {}
        self._open = str(callbacks_dir / "open")
        self._closed = str(callbacks_dir / "closed") + os.sep

    # reading ---------------------------------------------------------------------

    def _shard(self, name: str) -> Shard:
        shard = self._shards.get(name)
        if shard is None:
            shard = self._load(name)
            self._shards[name] = shard
        return shard

    def _load(self, name: str) -> Shard:
        found = self._read(name)
        if found is None or type(found[1]) is not dict:
            return Shard({}, 0)
        return Shard(found[1], found[0])

    def _read(self, name: str) -> tuple[int, Any] | None:
        """(mtime_ns, content) of one cache file written for this key, or None."""
        if not real_folder(self.folder):
            return None
        try:
            fd = os.open(self.folder / f"{name}.bin", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            with os.fdopen(fd, "rb", closefd=False) as f:
                header, content = marshal.loads(f.read())
        except Exception:  # corrupt, truncated, or not ours: rebuilt by the next flush
            return None
        finally:
            os.close(fd)
        if header != self.key:
            return None
        return st.st_mtime_ns, content

    def locate(self, path: Path) -> tuple[str, str, str] | None:
        """(rows file, data file, entry name) of a record path; plain string work, as this
        runs once per record."""
        head, _, name = str(path).rpartition(os.sep)
        if head == self._open:
            if not name.removesuffix(".yaml"):
                return None
            return (open_rows_name(name), open_data_name(name), name)
        if head.startswith(self._closed):
            month = head[len(self._closed) :]
            if month and os.sep not in month:
                return (f"closed-{month}", f"closed-{month}", name)
        return None

    def shard_namer(self, folder: Path) -> Callable[[str], tuple[str, str]] | None:
        """For a folder of records, the function from a file name to its rows and data
        files; None for a folder the cache does not cover."""
        where = self.locate(folder / "x.yaml")
        if where is None:
            return None
        if where[0].startswith(f"{OPEN_ROWS}-"):
            return lambda name: (open_rows_name(name), open_data_name(name))
        shards = (where[0], where[1])
        return lambda name: shards

    def get(
        self, path: Path, st: os.stat_result, where: tuple[str, str, str] | None
    ) -> Cached | None:
        """The cached record at `path` if its entry matches `st` and is not racy."""
        if where is None:
            return None
        return self._get(path.parent, where[0], where[1], where[2], st)

    def _get(
        self, folder: Path, rows: str, data: str, name: str, st: os.stat_result
    ) -> Cached | None:
        shard = self._shard(rows)
        entry = shard.entries.get(name)
        if type(entry) is not tuple or len(entry) != 6:
            return None
        sig = entry[:4]
        if sig != (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return None
        if st.st_mtime_ns >= shard.written_ns or st.st_ctime_ns >= shard.written_ns:
            return None  # racy: the file may have changed in the tick the cache was written
        row = entry[4]
        if type(row) is not tuple or len(row) != ROW_FIELDS:
            return None
        if rows == data:
            blob = entry[5]
            if type(blob) is not bytes:
                return None
            return Cached(folder, name, Row(*row), blob, None, None)
        return Cached(folder, name, Row(*row), None, None, None, (self, data, sig))

    def blob(self, data: str, name: str, sig: tuple[int, ...]) -> bytes | None:
        """The marshalled data of entry `name` in data file `data`, if it was written for
        the file version `sig` (inode, size, mtime, ctime) and is not racy."""
        shard = self._shard(data)
        entry = shard.entries.get(name)
        if type(entry) is not tuple or len(entry) != 6 or entry[:4] != sig:
            return None
        if sig[2] >= shard.written_ns or sig[3] >= shard.written_ns:
            return None
        blob = entry[5]
        return blob if type(blob) is bytes else None

    def entries(self, name: str) -> tuple[dict[str, Entry], int]:
        """The entries of one cache file, and when it was written (for the racy rule)."""
        shard = self._shard(name)
        return shard.entries, shard.written_ns

    def extra(self, name: str) -> Any:
        """The content of a cache file that holds no records (`POLICY_DIGEST`), or None."""
        found = self._read(name)
        return None if found is None else found[1]

    def patients(self, rows: str) -> tuple[dict[str, Any], dict[str, list[str]], int] | None:
        """For the open rows file `rows`: its records' signatures, their names by
        `patient_keys`, and when that was written; None when there is no good copy."""
        found = self._read(f"{PATIENTS}-{rows.removeprefix(OPEN_ROWS + '-')}")
        if found is None or type(found[1]) is not tuple or len(found[1]) != 2:
            return None
        sigs, keys = found[1]
        if type(sigs) is not dict or type(keys) is not dict:
            return None
        return sigs, keys, found[0]

    # writing ---------------------------------------------------------------------

    def put(self, path: Path, st: os.stat_result, data: Data) -> Row | None:
        """Record `data` as the content of `path` with stat `st`; its row, or None if the
        data has no row (then nothing is cached for it)."""
        where = self.locate(path)
        if where is None:
            return None
        try:
            row = row_of(data, self.expecter)
            blob = marshal.dumps(data)
        except (KeyError, TypeError, ValueError):
            return None
        rows, data_name, name = where
        sig = signature(st)
        shard = self._shard(rows)
        if rows == data_name:
            shard.entries[name] = (*sig, tuple(row), blob)
        else:
            shard.entries[name] = (*sig, tuple(row), None)
            other = self._shard(data_name)
            other.entries[name] = (*sig, None, blob)
            other.dirty = True
        shard.dirty = True
        return row

    def drop(self, path: Path) -> None:
        where = self.locate(path)
        if where is None:
            return
        for shard_name in {where[0], where[1]}:
            shard = self._shard(shard_name)
            if shard.entries.pop(where[2], None) is not None:
                shard.dirty = True

    def forget_missing(self, shard_name: str, present: Iterable[str]) -> None:
        """Drop entries of files that are gone (moved by a close, a pull, a checkout); for
        open rows, from the data files read so far too."""
        keep = set(present)
        names = [shard_name]
        if shard_name.startswith(f"{OPEN_ROWS}-"):
            end = shard_name.removeprefix(f"{OPEN_ROWS}-")
            names += [n for n in self._shards if n.startswith(f"{OPEN_DATA}-") and n.endswith(end)]
        for name in names:
            shard = self._shard(name)
            gone = [n for n in shard.entries if n not in keep]
            for n in gone:
                del shard.entries[n]
            if gone:
                shard.dirty = True

    def save_patients(self, rows: str | None = None) -> None:
        """Write the `patients` index of the open rows file `rows` (by default, of every
        one read so far)."""
        for name, shard in list(self._shards.items()):
            if name.startswith(f"{OPEN_ROWS}-") and rows in (None, name):
                self._save_patients(name, shard)

    def _save_patients(self, name: str, shard: Shard) -> None:
        end = name.removeprefix(f"{OPEN_ROWS}-")
        self.save_extra(f"{PATIENTS}-{end}", patient_index(shard.entries))

    def save_extra(self, name: str, content: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._write(name, marshal.dumps((self.key, content)))

    def flush(self) -> None:
        """Write every changed cache file: temp file, then rename (no fsync: a cache lost in
        a crash is rebuilt)."""
        for name, shard in self._shards.items():
            if not shard.dirty:
                continue
            shard.dirty = False
            with contextlib.suppress(OSError, ValueError):
                self._write(name, marshal.dumps((self.key, shard.entries)))
            if name.startswith(f"{OPEN_ROWS}-"):
                self._save_patients(name, shard)

    def _write(self, name: str, blob: bytes) -> None:
        write_file(self.folder, name, blob)


def real_folder(folder: Path) -> bool:
    """False when the folder or the one above it (`.cbtrack/`) is a symlink: cbtrack never
    reads or writes its local files through one (it could lead outside the store)."""
    return not (folder.is_symlink() or folder.parent.is_symlink())


def write_file(folder: Path, name: str, blob: bytes) -> None:
    """`<folder>/<name>.bin`, owner-only, through a temp file renamed over the old one (no
    fsync: a cache file lost in a crash is only rebuilt)."""
    if not real_folder(folder):
        raise OSError(f"{folder.name} is a symlink")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX)  # owner-only
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, folder / f"{name}.bin")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def patient_keys(phone: str, mrn: str | None) -> list[str]:
    """Lookup keys for the duplicate check (`index.same_patient`): the last 7 digits of the
    phone (numbers that match agree on at least those) and the case-folded MRN."""
    digits = re.sub(r"\D", "", phone)  # (as `model.phone_digits`)
    keys = [f"p:{digits[-7:]}"] if len(digits) >= 7 else []
    return [*keys, f"m:{mrn.casefold()}"] if mrn else keys


def patient_index(entries: dict[str, Entry]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    sigs: dict[str, Any] = {}
    keys: dict[str, list[str]] = {}
    for name, entry in entries.items():
        row = entry[4]
        if type(row) is not tuple or len(row) != ROW_FIELDS:
            continue
        sigs[name] = entry[:4]
        for key in patient_keys(row[8], row[10]):
            keys.setdefault(key, []).append(name)
    return sigs, keys


def open_rows_name(name: str) -> str:
    """The rows file of an open record: by the last character of its ID (32 files)."""
    stem = name.removesuffix(".yaml")
    return f"{OPEN_ROWS}-{stem[-1:] or '_'}"


def open_data_name(name: str) -> str:
    """The data file of an open record: by the last two characters of its ID (1,024 files,
    so a screenful of records reads a few small files, and a change rewrites one)."""
    stem = name.removesuffix(".yaml")
    return f"{OPEN_DATA}-{stem[-2:] if len(stem) >= 2 else '_'}"


# Reads a file strictly: its data and model, or None to leave the record out (gone or moved).
Loader = Callable[[Path], tuple[Data, Any] | None]


def read_one(
    cache: RecordCache, path: Path, load: Loader, where: tuple[str, str, str] | None = None
) -> Cached | None:
    """The record at `path`: from the cache when its entry holds, else through `load` (the
    strict read, which gives the data and the model), whose result replaces the entry. A
    file that cannot be stat'ed goes to `load`, which reports it as it would without the
    cache."""
    where = where or cache.locate(path)
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is not None:
        hit = cache.get(path, st, where)
        if hit is not None:
            return hit
    loaded = load(path)
    if loaded is None:
        return None
    data, model = loaded
    row = cache.put(path, st, data) if st is not None else None
    return Cached(path.parent, path.name, row or _row_or_blank(data, cache), None, data, model)


def _row_or_blank(data: Data, cache: RecordCache) -> Row:
    try:
        return row_of(data, cache.expecter)
    except (KeyError, TypeError, ValueError):
        return Row("", "", "", "", 0.0, 0.0, None, None, "", "", None)


def read_all(
    cache: RecordCache, paths: list[Path], load: Loader, progress: Progress | None = None
) -> list[Cached]:
    """Every record in `paths`, in order, as `read_one` gives it; entries of files no longer
    there are dropped, and the changed cache files written."""
    out: list[Cached] = []
    by_shard: dict[str, list[str]] = {}
    for path in paths:
        where = cache.locate(path)
        if where is not None:
            by_shard.setdefault(where[0], []).append(where[2])
        got = read_one(cache, path, load, where)
        if got is not None:
            out.append(got)
        if progress is not None:
            progress.step()
    if progress is not None:
        progress.done()
    for name, present in by_shard.items():
        cache.forget_missing(name, present)
    cache.flush()
    return out


def read_folder(
    cache: RecordCache,
    folder: Path,
    names: list[str],
    load: Loader,
    progress: Progress | None = None,
) -> list[Cached]:
    """`read_all` for the record files `names` of one folder, with less work per file: each
    is stat'ed relative to the open folder, and no path is made unless a file is read."""
    namer = cache.shard_namer(folder)
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        dfd = -1
    if namer is None or dfd < 0:
        return read_all(cache, [folder / n for n in names], load, progress)
    out: list[Cached] = []
    shards: dict[str, list[str]] = {}
    try:
        for name in names:
            rows, data = namer(name)
            shards.setdefault(rows, []).append(name)
            try:
                st: os.stat_result | None = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                st = None
            hit = cache._get(folder, rows, data, name, st) if st is not None else None
            if hit is None:
                path = folder / name
                loaded = load(path)
                if loaded is not None:
                    got, model = loaded
                    row = cache.put(path, st, got) if st is not None else None
                    hit = Cached(folder, name, row or _row_or_blank(got, cache), None, got, model)
            if hit is not None:
                out.append(hit)
            if progress is not None:
                progress.step()
    finally:
        os.close(dfd)
    if progress is not None:
        progress.done()
    for shard_name, present in shards.items():
        cache.forget_missing(shard_name, present)
    cache.flush()
    return out


def note_saved(
    cache: RecordCache, target: Path, removed: Path | None, data: Data, flush: bool = True
) -> None:
    """A change wrote `target` (and removed `removed`, its copy in the other folder, if
    any): update that record's entries, and no others (written now, or by the caller's
    `flush` later)."""
    with contextlib.suppress(OSError):
        cache.put(target, os.lstat(target), data)
    if removed is not None:
        cache.drop(removed)
    if flush:
        cache.flush()
