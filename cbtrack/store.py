"""The store on disk: finding it, its folders, reading and saving records, queries over the
local index (cbtrack/localindex.py); the lock and journal are its mixin (cbtrack/guard.py),
strict YAML is cbtrack/yamlio.py and atomic writes cbtrack/files.py.

With those three and the index, the only modules that touch the store's files. Layout:

    <store>/cbtrack.yaml
    <store>/callbacks/open/<id>.yaml
    <store>/callbacks/closed/<YYYY-MM>/<id>.yaml   (month of creation, read from the ID)
    <store>/.cbtrack/                              local only: lock, journal, private logs

What a change promises (proved by tests/test_crash.py and tests/test_concurrency.py):
- one `flock` on `.cbtrack/lock` is held from reading the record to the git commit;
- before the first write under the lock, the IDs being changed are noted in the journal
  `.cbtrack/pending`; the note is removed when the lock is released normally, that is
  after the commit. A journal found by the next lock holder means its writer died, and
  `cbtrack.doctor.recover` completes the change (a recovery commit);
- every file is written to a temp file (`.cbtrack-tmp-*`) in its folder, fsynced, renamed
  over the target, and the folder fsynced: a reader sees the old file or the new one;
- when a change fails with an exception under the lock, the files it wrote get their old
  bytes back (and `on_abort`, armed by `doctor.recover`, brings git's index back in line).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import marshal
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cbtrack import localindex
from cbtrack.errors import NotFound, Refused, StoreError, WriteFailed
from cbtrack.files import (
    REMOVED,
    Undo,
    remove_file,
    write_atomic,
)
from cbtrack.guard import Guarded, _old_bytes
from cbtrack.ids import ALPHABET, ID_RE, is_record_name
from cbtrack.indexrow import BLANK, Row
from cbtrack.localindex import Cached, LocalIndex
from cbtrack.model import Callback, id_month, new_callback_id
from cbtrack.patients import Query, lookup_keys, newest_first, same_patient
from cbtrack.policy import Policy
from cbtrack.policyproblems import describe_policy_problems
from cbtrack.progress import Progress
from cbtrack.storefolder import (
    POLICY_FILE as POLICY_FILE,  # (re-exported: the name of the store)
    locate,
)
from cbtrack.yamlio import (
    FileGone,
    _YamlProblem,
    dump_record,
    load_policy,
    parse_model,
    parse_yaml,
    read_text,
    record_data,
)

OPEN_DIR = Path("callbacks/open")
CLOSED_DIR = Path("callbacks/closed")
LOCAL_DIR = ".cbtrack"
JOURNAL_FILE = "pending"
MAX_RECORD_BYTES = 256_000
MAX_POLICY_BYTES = 256_000
GITATTRIBUTES = "callbacks/**/*.yaml merge=cbtrack\n"
GITIGNORE = ".cbtrack/\n.cbtrack-tmp-*\n"
# What `init` writes and commits; with the records, nothing else in the folder is tracked.
STORE_FILES = (
    POLICY_FILE,
    ".gitattributes",
    ".gitignore",
    f"{OPEN_DIR}/.gitkeep",
    f"{CLOSED_DIR}/.gitkeep",
)


class Store(Guarded):
    """One store folder. Cheap to make: nothing is read until asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.on_wait: Callable[[], None] | None = None  # told when the lock is busy
        self.on_notice: Callable[[str], None] | None = None  # told what recovery did
        self.on_progress: Callable[[str], None] | None = None  # told how long work goes
        # Armed by `doctor.recover`: undoes a failed change on disk and in git's index.
        self.on_abort: Callable[[Store, list[str], Undo], None] | None = None
        self._lock_fd: int | None = None
        self._undo: Undo = []
        self._journal_ids: list[str] = []
        self._journal_files: dict[str, str] = {}
        self.journal_by: str | None = None  # who the change is by (noted in the journal)

    # finding ---------------------------------------------------------------------

    @classmethod
    def find(cls, explicit: str | None = None, cwd: Path | None = None) -> Store:
        """`--store`, else `$CBTRACK_STORE`, else the nearest folder upwards with cbtrack.yaml
        (`storefolder.locate`)."""
        root, named = locate(explicit, cwd)
        if root is not None:
            return cls(root)
        if named is not None:
            raise StoreError(
                f"No cbtrack store at {named} (no {POLICY_FILE}); create one with "
                f"'cbtrack init {named}' or point --store at an existing store."
            )
        raise StoreError(
            "No cbtrack store here or in any parent folder; use --store DIR, set "
            "CBTRACK_STORE, or create one with 'cbtrack init DIR'."
        )

    # policy ----------------------------------------------------------------------

    def policy_problems(self) -> list[str]:
        """Every problem of the policy file, one line each (empty when it validates)."""
        try:
            _ = self.policy
            return []
        except StoreError as first:
            try:
                data = parse_yaml(read_text(self.root / POLICY_FILE, MAX_POLICY_BYTES, POLICY_FILE))
                Policy.model_validate(data)
            except ValidationError as exc:
                return [f"{POLICY_FILE}: {p}." for p in describe_policy_problems(exc)]
            except (StoreError, _YamlProblem, yaml.YAMLError, RecursionError):
                pass
            return [first.message]

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)

    def use_policy(self, policy: Policy) -> None:
        """Run by `policy` instead of the file as it is (the service's committed roles)."""
        self.__dict__["policy"] = policy

    # paths -----------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def open_dir(self) -> Path:
        return self.root / OPEN_DIR

    @property
    def closed_dir(self) -> Path:
        return self.root / CLOSED_DIR

    @property
    def local_dir(self) -> Path:
        return self.root / LOCAL_DIR

    @property
    def journal_path(self) -> Path:
        return self.local_dir / JOURNAL_FILE

    def open_path(self, callback_id: str) -> Path:
        return self.open_dir / f"{callback_id}.yaml"

    def closed_path(self, callback_id: str) -> Path:
        return self.closed_dir / id_month(callback_id) / f"{callback_id}.yaml"

    def path_of(self, cb: Callback) -> Path:
        return self.open_path(cb.id) if cb.is_open else self.closed_path(cb.id)

    def resolve_id(self, text: str) -> str:
        """A full ID, or the last 5 characters of one: open callbacks are looked up first,
        then closed ones. The typed text is never repeated (it might be a name)."""
        cid = text.strip().lower()
        if ID_RE.match(cid):
            return cid
        if len(cid) == 5 and all(c in ALPHABET for c in cid):
            pattern = f"cb-*-{cid}.yaml"
            for _ in range(2):  # a second look, in case a reopen moved it between the two
                hits = sorted(self.open_dir.glob(pattern)) or sorted(
                    self.closed_dir.glob(f"*/{pattern}")
                )
                if len(hits) == 1:
                    return hits[0].stem
                if len(hits) > 1:
                    raise NotFound(f"Several callbacks end in {cid}; give the full ID.")
            raise NotFound(
                f"No callback ends in {cid}; check the ID with 'cbtrack queue' (open "
                "callbacks) or give the full ID."
            )
        raise NotFound(
            "That is not a callback ID; IDs look like cb-20261127-k7m2q, and the last five "
            "characters of one will do (see 'cbtrack queue')."
        )

    # reading ---------------------------------------------------------------------

    def load_path(self, path: Path, text: str | None = None) -> Callback:
        """The record in `path` (whose `text` the caller may already have read)."""
        rel = self.rel(path)
        if text is None:
            text = read_text(path, MAX_RECORD_BYTES, rel)
        cb = parse_model(Callback, text, rel)
        if cb.id != path.stem:
            raise StoreError(f"{self.rel(path)}: field id does not match the file name.")
        if cb.is_open != (path.parent == self.open_dir):
            raise StoreError(f"{self.rel(path)}: field status does not match the folder.")
        return cb

    def load(self, text: str) -> Callback:
        """One callback by ID: reads only its own file (two, if a move was interrupted)."""
        cid = self.resolve_id(text)
        for _ in range(3):  # a concurrent close/reopen may move it while we look
            # lexists, not is_file: a FIFO or folder in a record's place is reported
            places = (self.open_path(cid), self.closed_path(cid))
            found = [p for p in places if os.path.lexists(p)]
            if not found:
                break
            records = []
            for path in found:
                try:
                    records.append(self.load_path(path))
                except FileGone:
                    continue  # moved since it was seen: look again
            if records:
                # An interrupted move leaves both copies; histories only grow, so the
                # longer is newer.
                return max(records, key=lambda c: len(c.events) + len(c.attempts))
        raise NotFound(f"No callback {cid} in this store; check the ID with 'cbtrack queue'.")

    def load_listed(self, path: Path) -> Callback | None:
        """A record found by listing a folder. A concurrent close or reopen may have moved
        it since: then it is read where it went; None when it is gone altogether."""
        try:
            return self.load_path(path)
        except FileGone:
            try:
                return self.load(path.stem)
            except NotFound:
                return None

    def open_paths(self) -> list[Path]:
        # sorted by name: the same order as by path here, and much cheaper for 10,000 files
        folder = self.open_dir
        return [folder / n for n in sorted(self.folder_names(folder)) if is_record_name(n)]

    def closed_paths(self, months: set[str] | None = None) -> list[Path]:
        if not self.closed_dir.is_dir():
            return []
        out: list[Path] = []
        for month in sorted(self.closed_dir.iterdir()):
            if month.is_dir() and (months is None or month.name in months):
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                    out.extend(sorted((p for p in month.iterdir() if _is_record(p)), key=_name))
        return out

    def folder_names(self, folder: Path) -> list[str]:
        """Every name in `folder` as the system lists it (unsorted); none when it is gone."""
        try:
            return os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def closed_folders(self) -> list[Path]:
        """The month folders of closed records, oldest first (as `closed_paths` reads them)."""
        if not self.closed_dir.is_dir():
            return []
        return [m for m in sorted(self.closed_dir.iterdir()) if m.is_dir()]

    def open_records(self, problems: list[str] | None = None) -> list[Callback]:
        """Every open callback. One moved meanwhile by a concurrent close is left out (it is
        no longer open). A file that cannot be read stops the listing (exit 3), unless
        `problems` is given: then its one-line problem goes there and the rest is read.
        Unchanged files come from the local index (cbtrack/localindex.py)."""
        found = self.cached_open(problems)
        self.index.prefetch(found)  # (every record's data, in a few queries)
        return [self.model_of(c) for c in found]

    def closed_records(self, months: set[str] | None = None) -> Iterator[Callback]:
        found = self.cached_records(self.closed_paths(months))
        self.index.prefetch(found)
        for c in found:
            yield self.model_of(c)

    def all_records(self) -> Iterator[Callback]:
        """Every callback once, even if one moves between the two folders meanwhile."""
        seen: set[str] = set()
        for cb in itertools.chain(self.open_records(), self.closed_records()):
            if cb.id not in seen:
                seen.add(cb.id)
                yield cb

    def records_for_period(self, start: datetime, end: datetime) -> Iterator[Callback]:
        """Every open callback, and the closed callbacks that can matter to [start, end).

        A closed callback matters only if it was created before `end` and closed at or
        after `start`. Closed records are filed by month of creation, so month folders
        after the month of `end` (plus a month of slack for time-zone edges) are never
        opened; in the others the index's row says when each closed, and only records
        closed at or after `start` become models. A callback created a year before the
        period and closed in it still counts."""
        seen: set[str] = set()
        for cb in self.open_records():
            seen.add(cb.id)
            yield cb
        for c in self.closed_cached(end, seen):
            if not c.usable or c.row.closed is None or c.row.closed >= start.timestamp():
                yield self.model_of(c)

    def closed_cached(self, end: datetime, seen: set[str]) -> Iterator[Cached]:
        """The closed records of the month folders up to a month after `end`, by folder and
        name, leaving out those in `seen` (read in the open folder before they closed, they
        count once) and adding to it. One reopened meanwhile is given from where it went."""
        last = f"{end.astimezone(self.policy.tz) + timedelta(days=31):%Y-%m}"
        months = [m for m in self.closed_folders() if m.name <= last]
        listings = [self.folder_names(m) for m in months]
        progress = Progress("Reading closed records", sum(map(len, listings)), self.on_progress)
        for month, raw in zip(months, listings, strict=True):
            names = sorted(n for n in raw if is_record_name(n) and n[:-5] not in seen)
            moved: list[Callback] = []
            for c in self.index.read_folder(month, names, self._loader(None, moved), progress):
                seen.add(c.id)
                yield c
            for cb in moved:
                if cb.id not in seen:
                    seen.add(cb.id)
                    yield Cached(self.open_dir, f"{cb.id}.yaml", BLANK, record_data(cb), cb)
        progress.done()

    # the local index (cbtrack/localindex.py) ------------------------------------

    @cached_property
    def index(self) -> LocalIndex:
        from cbtrack import __version__

        try:
            policy = (self.root / POLICY_FILE).read_bytes()
        except OSError:
            policy = b""
        return LocalIndex(
            self.local_dir,
            self.root / OPEN_DIR.parent,
            localindex.key_of(__version__, policy),
            self._expected,
            partial(parse_for_index, str(self.root)),
            self._queue_line,
        )

    def close(self) -> None:
        """Let go of the local index's connection (a library caller that opens many stores
        in one process calls this when done; the next read opens it again)."""
        index = self.__dict__.get("index")
        if index is not None:
            index.close()

    def _queue_line(self, data: dict[str, Any], row: Row) -> tuple[Any, ...]:
        """The clock-free part of an open record's queue line (`queuefmt.line_of`), kept
        in the index so that the whole queue is laid out without reading record data."""
        from cbtrack.queuefmt import line_of
        from cbtrack.views import CallbackView

        view: Any = CallbackView(data)  # (answers what a line asks of a `Callback`)
        if row.expected is not None:
            view.expected_at = datetime.fromtimestamp(row.expected, self.policy.tz)
        return tuple(line_of(self.policy, view))

    def _expected(self, data: dict[str, Any]) -> float:
        """When the first open dependency of a record's data is expected, as `timing`
        reckons it under this store's policy (a row of the index keeps it)."""
        from cbtrack.model import Dependency
        from cbtrack.timing import expected_by

        try:
            policy = self.policy
            deps = [Dependency.model_validate(d) for d in data["depends_on"]]
        except (StoreError, ValidationError) as exc:
            raise ValueError("no expected time") from exc
        return min(expected_by(policy, d) for d in deps if d.resolved_at is None).timestamp()

    def cached_open(self, problems: list[str] | None = None) -> list[Cached]:
        """The open records, as `open_records` reads them (same order, same handling of a
        record moved meanwhile or unreadable), with their index rows."""
        names = [p.name for p in self.open_paths()]
        progress = Progress("Reading records", len(names), self.on_progress)
        found = self.index.read_folder(self.open_dir, names, self._loader(problems), progress)
        self._note_digest()
        return found

    def open_views(self, problems: list[str] | None = None) -> list[Callback]:
        """The open records as `open_records` gives them, but as read-only views made from
        the index's data (cbtrack/views.py) where it has them, so that reading 10,000
        records builds no models. Only for reading: a view cannot be changed or saved."""
        from cbtrack.views import CallbackView

        out: list[Callback] = []
        found = self.cached_open(problems)
        self.index.prefetch(found)
        for c in found:
            view: Any = c.model
            data = c.data if view is None else None
            if data is not None:
                try:
                    view = CallbackView(data)
                except (KeyError, TypeError, ValueError):
                    view = None
            out.append(view if view is not None else self.model_of(c))
        return out

    def open_same_patient(self, phone: str, mrn: str | None) -> list[str]:
        """IDs of the open callbacks whose patient has the same phone digits or MRN
        (`patients.same_patient`), in ID order: the duplicate check on `add`.

        The index keeps the open records' patient keys, so this costs a listing and a
        stat per open file, then a strict read of each hit and of each file changed since
        the index saw it (a hand edit, a pull); an unreadable file stops it as it stops a
        full read."""
        names = [n for n in self.folder_names(self.open_dir) if is_record_name(n)]
        ix = self.index
        wanted = ix.names_with(*lookup_keys(phone, mrn))
        check = sorted({*ix.stale(self.open_dir, names), *(n for n in names if n in wanted)})
        out = []
        for c in ix.read_folder(self.open_dir, check, self._loader(None), whole=False):
            cb = self.model_of(c)
            if same_patient(cb.patient.phone, cb.patient.mrn, phone, mrn):
                out.append(cb.id)
        return out

    def _note_digest(self) -> None:
        """Keep in the index what the queue and `find` need of the policy (`quick.py`
        reads it instead of validating the policy)."""
        try:
            digest = json.dumps(policy_digest(self.policy), sort_keys=True)
        except StoreError:
            return
        if self.index.meta("policy") != digest:
            self.index.set_meta("policy", digest)

    def cached_records(self, paths: list[Path], problems: list[str] | None = None) -> list[Cached]:
        """Each record in `paths` (grouped by folder, in order) from the index when its file
        is unchanged, else read strictly (`load_path`) and noted for next time."""
        progress = Progress("Reading records", len(paths), self.on_progress)
        out: list[Cached] = []
        for folder, group in itertools.groupby(paths, key=lambda p: p.parent):
            names = [p.name for p in group]
            out += self.index.read_folder(folder, names, self._loader(problems), progress)
        progress.done()
        return out

    def _loader(
        self, problems: list[str] | None, moved: list[Callback] | None = None
    ) -> localindex.Loader:
        """How the index reads a file it cannot answer for: strictly, as `load_listed`.
        None (the record is left out, or put in `moved` when given) when it is gone, or
        was moved to the other folder since the listing; an unreadable file raises, or
        with `problems` is noted there."""

        def load(path: Path) -> tuple[dict[str, Any], Callback] | None:
            try:
                cb = self.load_listed(path)
            except StoreError as exc:
                if problems is None:
                    raise
                problems.append(exc.message)
                return None
            if cb is None or self.path_of(cb) != path:
                if cb is not None and moved is not None:
                    moved.append(cb)
                return None
            return record_data(cb), cb

        return load

    def model_of(self, cached: Cached) -> Callback:
        """The model of an indexed record: the one just read, else built from the index's
        data (which validated when it was noted; if it no longer does, the file is read)."""
        if isinstance(cached.model, Callback):
            return cached.model
        data = cached.data
        cb: Callback | None = None
        if data is not None:
            with contextlib.suppress(ValidationError):
                cb = Callback.model_validate(data)
        if cb is None:
            cb = self.load_path(cached.path)
        cached.model = cb
        return cb

    def import_keys(self, days: set[str]) -> dict[str, list[str]]:
        """The `import_key`s of the callbacks created on `days` (`YYYYMMDD`), open or closed,
        each with the IDs that hold it (two, when two desks imported one call before they
        synced).

        IDs carry their creation day and closed records are filed by month, so only the
        files of those days are opened, and each is scanned as text, not parsed: a store
        with years of closed callbacks costs no more than an empty one."""
        found: dict[str, list[str]] = {}
        for day in sorted(days):
            folders = (self.open_dir, self.closed_dir / f"{day[:4]}-{day[4:6]}")
            for folder in folders:
                if not folder.is_dir():
                    continue
                for path in sorted(folder.glob(f"cb-{day}-*.yaml")):
                    if not _is_record(path):
                        continue
                    m = _IMPORT_KEY.search(read_text(path, MAX_RECORD_BYTES, self.rel(path)))
                    if m:
                        found.setdefault(m.group(1), []).append(path.stem)
        return {key: sorted(set(ids)) for key, ids in found.items()}

    # finding callbacks (cbtrack find) ----------------------------------------------

    def find_callbacks(self, text: str) -> tuple[list[Callback], list[str]]:
        """Open and closed callbacks whose phone, name, MRN or ID match `text`, newest
        first, and a problem line per file that could not be read. Every folder is brought
        up to date in the index (changed files read strictly, and checked at once), the
        index is asked for candidates on its prepared keys, and each candidate is confirmed
        on its record: no record that cannot match is read."""
        query = Query.parse(text)
        problems: list[str] = []
        hits: list[Callback] = []
        seen: set[str] = set()

        def consider(cb: Callback | None) -> None:
            if cb is not None and cb.id not in seen and query.matches_record(cb):
                seen.add(cb.id)
                hits.append(cb)

        ix = self.index
        folders = [self.open_dir, *(f for f in self.closed_folders() if not f.is_symlink())]
        for folder in folders:
            names = sorted(n for n in self.folder_names(folder) if is_record_name(n))
            moved: list[Callback] = []
            loader = self._loader(problems, moved)
            for c in ix.read_folder(folder, names, loader, changed_only=True):
                consider(self.model_of(c))
            for cb in moved:
                consider(cb)
        self._note_digest()
        found = ix.candidates(*query.index_keys)
        for folder_rel, name in found:
            try:  # (a reopen or close may have moved it meanwhile: read where it went)
                consider(self.load_listed(self.root / OPEN_DIR.parent / folder_rel / name))
            except StoreError as exc:
                problems.append(exc.message)
        return newest_first(hits), problems

    # writing ---------------------------------------------------------------------

    def new_id(self, cb_created: Any) -> str:
        for _ in range(100):
            cid = new_callback_id(cb_created)
            if not self.open_path(cid).exists() and not self.closed_path(cid).exists():
                return cid
        raise Refused("Could not pick a free callback ID; try again.")

    def save(self, cb: Callback) -> list[Path]:
        """Write the record where its status puts it; remove a copy left in the other folder.
        Returns the paths that changed (for the commit). Under the lock the change is
        journalled first and undone if the change fails (see the module docstring).
        A file counts as changed from the moment it is renamed into place (or removed), so
        a failure can always say truthfully what was and was not written."""
        text = dump_record(cb)
        target = self.path_of(cb)
        other = self.closed_path(cb.id) if cb.is_open else self.open_path(cb.id)
        locked = self._lock_fd is not None
        doing, failed = target, "written"
        try:
            if locked:
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                self._journal(cb.id, {self.rel(target): digest, self.rel(other): REMOVED})
        except OSError as exc:
            # With a journal in place the lock's handler finishes the sentence.
            outcome = "" if self._journal_ids else "; nothing was changed"
            raise WriteFailed(
                f"The change to {cb.id} could not be started: {self.rel(self.journal_path)} "
                f"could not be written ({exc.strerror or 'I/O error'}){outcome}."
            ) from None
        try:
            old = _old_bytes(target) if locked else None
            write_atomic(target, text, on_replaced=lambda: self._remember(target, old))
            changed = [target]
            if other.exists():
                doing, failed = other, "removed"
                old_other = _old_bytes(other) if locked else None
                remove_file(other, on_removed=lambda: self._remember(other, old_other))
                changed.append(other)
        except OSError as exc:
            raise WriteFailed(
                f"{self.rel(doing)} could not be {failed} ({exc.strerror or 'I/O error'})."
            ) from None
        removed = changed[1] if len(changed) > 1 else None
        # Under the lock the index is written when it is released, after the commit:
        # by then the clock has moved on, so the racy rule keeps trusting this entry.
        self.index.note_saved(target, removed, record_data(cb))
        if not locked:
            self.index.flush()
        return changed


_IMPORT_KEY = re.compile(r"^import_key: '?([^'\n]+?)'?$", re.MULTILINE)


def parse_for_index(root: str, job: localindex.Job) -> bytes:
    """(In a worker process of the index's first build) what the index keeps of each file
    of the job that reads strictly (`LocalIndex.read_job`); the others are left for the
    caller to read and report as always."""
    store = Store(Path(root))

    def load(path: Path) -> tuple[dict[str, Any], Callback] | None:
        try:
            cb = store.load_path(path)
        except (StoreError, OSError):
            return None
        return record_data(cb), cb

    try:
        policy = store.policy
    except StoreError:
        return marshal.dumps([])
    return store.index.read_job(job, load, policy)


def policy_digest(policy: Policy) -> dict[str, Any]:
    """The little the queue needs of a validated policy, as plain values."""
    from cbtrack.model import Urgency

    return {
        "timezone": policy.timezone,
        "ranks": {u.value: policy.rank(u) for u in Urgency},
        "staff": {user: list(m.roles) for user, m in policy.staff.items()},
        "categories": sorted(policy.categories),
        # who may own a callback (`Policy.accepts_owner`): a role or a rostered user, or
        # anyone while there is no roster
        "owners": sorted(set(policy.roles) | set(policy.staff)),
        "any_owner": not policy.roster_enforced,
    }


def _name(path: Path) -> str:
    return path.name


def _is_record(path: Path) -> bool:
    return is_record_name(path.name)


def init_layout(root: Path, policy_text: str) -> list[Path]:
    """Create a store's folders and files; keeps an existing policy. Returns what it wrote."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: list[Path] = []
    policy = root / POLICY_FILE
    if not policy.exists():
        write_atomic(policy, policy_text)
        written.append(policy)
    for sub in (OPEN_DIR, CLOSED_DIR):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        keep = root / sub / ".gitkeep"
        if not keep.exists():
            write_atomic(keep, "")
            written.append(keep)
    for name, text in ((".gitattributes", GITATTRIBUTES), (".gitignore", GITIGNORE)):
        path = root / name
        if not path.exists():
            write_atomic(path, text)
            written.append(path)
    _owner_only(root)
    return written


def loose_modes(root: Path) -> list[Path]:
    """Files and folders of the store (git's own included) that others may read or
    write, as a plain `git clone` under the usual umask leaves them."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = Path(folder) / name if name != "." else Path(folder)
            try:
                info = path.lstat()
            except OSError:
                continue
            if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                found.append(path)
    return found


def make_owner_only(root: Path) -> list[Path]:
    """Take every right of group and others away, as `init` does for a new store (git
    tracks no such bits, so a clone or a copied folder carries none of ours). Returns
    what it changed."""
    changed = loose_modes(root)
    for path in changed:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IMODE(path.lstat().st_mode) & 0o700)
    return changed


def _owner_only(root: Path) -> None:
    """A store copied in from elsewhere may carry group- or world-readable files: take
    those rights away from the policy and every record (git tracks no such bits)."""
    for path in (root, root / POLICY_FILE, *(root / OPEN_DIR.parent).rglob("*")):
        if path.is_symlink() or not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        want = mode & (0o700 if path.is_dir() else 0o600)
        if want != mode:
            os.chmod(path, want)
