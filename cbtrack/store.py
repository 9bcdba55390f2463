"""The store on disk: finding it, strict YAML, atomic writes, the lock, record lookup.

The only module that touches files. Layout:

    <store>/cbtrack.yaml
    <store>/callbacks/open/<id>.yaml
    <store>/callbacks/closed/<YYYY-MM>/<id>.yaml   (month of creation, read from the ID)
    <store>/.cbtrack/                              local only: lock, private error log
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cbtrack.errors import LockTimeout, NotFound, Refused, StoreError
from cbtrack.model import ID_RE, Callback, describe_validation, id_month, new_callback_id
from cbtrack.policy import Policy

M = TypeVar("M", bound=BaseModel)

POLICY_FILE = "cbtrack.yaml"
OPEN_DIR = Path("callbacks/open")
CLOSED_DIR = Path("callbacks/closed")
LOCAL_DIR = ".cbtrack"
TMP_PREFIX = ".cbtrack-tmp-"
MAX_RECORD_BYTES = 1_000_000
MAX_POLICY_BYTES = 1_000_000
GITATTRIBUTES = "callbacks/**/*.yaml merge=cbtrack\n"
GITIGNORE = ".cbtrack/\n.cbtrack-tmp-*\n"


# --- strict YAML ---------------------------------------------------------------------


class _StrictLoader(yaml.CBaseLoader):  # type: ignore[misc, name-defined]
    """libyaml parser, every scalar kept as text, duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _YamlProblem("a mapping key is not plain text", key_node)
            if key_node.value in seen:
                raise _YamlProblem(f"the key '{key_node.value[:40]}' appears twice", key_node)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=True)  # type: ignore[no-any-return]


class _YamlProblem(Exception):
    def __init__(self, what: str, node: yaml.Node | yaml.Event | None) -> None:
        super().__init__(what)
        self.what = what
        mark = getattr(node, "start_mark", None)
        self.line = mark.line + 1 if mark else None


def parse_yaml(text: str) -> Any:
    """Safe, strict YAML: no anchors, aliases or tags, no duplicate keys, text scalars."""
    documents = 0
    for event in yaml.parse(text, Loader=yaml.CBaseLoader):
        if isinstance(event, yaml.AliasEvent):
            raise _YamlProblem("aliases (*name) are not allowed", event)
        if getattr(event, "anchor", None):
            raise _YamlProblem("anchors (&name) are not allowed", event)
        if getattr(event, "tag", None) and not isinstance(event, yaml.DocumentStartEvent):
            raise _YamlProblem("tags (!name) are not allowed", event)
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _YamlProblem("only one YAML document is allowed per file", event)
    return yaml.load(text, Loader=_StrictLoader)


def dump_yaml(data: Any) -> str:
    """Stable, diff-friendly YAML: key order as given, ambiguous strings quoted."""
    return yaml.dump(
        data,
        Dumper=yaml.CSafeDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
    )


def record_data(cb: Callback) -> dict[str, Any]:
    return cb.model_dump(mode="json", exclude_none=True)


def dump_record(cb: Callback) -> str:
    """The record as YAML, after validating the whole of it once more."""
    data = record_data(cb)
    try:
        Callback.model_validate(data)
    except ValidationError as exc:
        raise Refused(f"The change would make {cb.id} invalid: {describe_validation(exc)}.") from None
    return dump_yaml(data)


def read_text(path: Path, limit: int, rel: str) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise StoreError(f"{rel} is missing.") from None
    except OSError as exc:
        raise StoreError(f"{rel} cannot be read ({exc.strerror}).") from None
    if len(raw) > limit:
        raise StoreError(f"{rel} is larger than {limit // 1000} KB; it cannot be a valid file.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{rel} is not valid UTF-8 (byte {exc.start}).") from None


def load_model(model: type[M], path: Path, rel: str, limit: int) -> M:
    """Read, parse and validate one file; errors name the file, line or field, never values."""
    text = read_text(path, limit, rel)
    try:
        data = parse_yaml(text)
    except _YamlProblem as exc:
        where = f" line {exc.line}" if exc.line else ""
        raise StoreError(f"{rel}{where}: {exc.what}.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise StoreError(f"{rel}{where}: not valid YAML ({exc.problem or 'syntax error'}).") from None
    except yaml.YAMLError:
        raise StoreError(f"{rel}: not valid YAML.") from None
    if not isinstance(data, dict):
        raise StoreError(f"{rel}: expected a mapping of keys at the top level.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise StoreError(f"{rel}: {describe_validation(exc)}.") from None


# --- atomic writes -------------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same folder, fsync, rename over the target, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


# --- the store -----------------------------------------------------------------------


class Store:
    """One store folder. Cheap to make: nothing is read until asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.on_wait: Callable[[], None] | None = None  # told when the lock is busy

    # finding ---------------------------------------------------------------------

    @classmethod
    def find(cls, explicit: str | None = None, cwd: Path | None = None) -> Store:
        """`--store`, else `$CBTRACK_STORE`, else the nearest folder upwards with cbtrack.yaml."""
        chosen = explicit or os.environ.get("CBTRACK_STORE")
        if chosen:
            root = Path(chosen).expanduser()
            if not (root / POLICY_FILE).is_file():
                raise StoreError(
                    f"No cbtrack store at {root} (no {POLICY_FILE}); create one with "
                    f"'cbtrack init {root}' or point --store at an existing store."
                )
            return cls(root)
        here = (cwd or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / POLICY_FILE).is_file():
                return cls(folder)
        raise StoreError(
            "No cbtrack store here or in any parent folder; use --store DIR, set "
            "CBTRACK_STORE, or create one with 'cbtrack init DIR'."
        )

    # policy ----------------------------------------------------------------------

    @cached_property
    def policy(self) -> Policy:
        return load_model(Policy, self.root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)

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

    def open_path(self, callback_id: str) -> Path:
        return self.open_dir / f"{callback_id}.yaml"

    def closed_path(self, callback_id: str) -> Path:
        return self.closed_dir / id_month(callback_id) / f"{callback_id}.yaml"

    def path_of(self, cb: Callback) -> Path:
        return self.open_path(cb.id) if cb.is_open else self.closed_path(cb.id)

    def resolve_id(self, text: str) -> str:
        """A full ID, or the 5-character suffix of an open callback's ID."""
        cid = text.strip().lower()
        if ID_RE.match(cid):
            return cid
        if len(cid) == 5 and all(c.isalnum() for c in cid):
            hits = sorted(self.open_dir.glob(f"cb-*-{cid}.yaml"))
            if len(hits) == 1:
                return hits[0].stem
        raise NotFound(
            f"'{text[:40]}' is not a callback ID; IDs look like cb-20261127-k7m2q "
            "(see 'cbtrack queue')."
        )

    # reading ---------------------------------------------------------------------

    def load_path(self, path: Path) -> Callback:
        cb = load_model(Callback, path, self.rel(path), MAX_RECORD_BYTES)
        if cb.id != path.stem:
            raise StoreError(f"{self.rel(path)}: field id does not match the file name.")
        if cb.is_open != (path.parent == self.open_dir):
            raise StoreError(f"{self.rel(path)}: field status does not match the folder.")
        return cb

    def load(self, text: str) -> Callback:
        """One callback by ID: reads only its own file (two, if a move was interrupted)."""
        cid = self.resolve_id(text)
        found = [p for p in (self.open_path(cid), self.closed_path(cid)) if p.is_file()]
        if not found:
            raise NotFound(f"No callback {cid} in this store; check the ID with 'cbtrack queue'.")
        records = [self.load_path(p) for p in found]
        # An interrupted move leaves both copies; histories only grow, so the longer is newer.
        return max(records, key=lambda c: len(c.events) + len(c.attempts))

    def open_paths(self) -> list[Path]:
        if not self.open_dir.is_dir():
            return []
        return sorted(p for p in self.open_dir.iterdir() if _is_record(p))

    def closed_paths(self, months: set[str] | None = None) -> list[Path]:
        if not self.closed_dir.is_dir():
            return []
        out: list[Path] = []
        for month in sorted(self.closed_dir.iterdir()):
            if month.is_dir() and (months is None or month.name in months):
                out.extend(sorted(p for p in month.iterdir() if _is_record(p)))
        return out

    def open_records(self) -> list[Callback]:
        return [self.load_path(p) for p in self.open_paths()]

    def closed_records(self, months: set[str] | None = None) -> Iterator[Callback]:
        for p in self.closed_paths(months):
            yield self.load_path(p)

    def all_records(self) -> Iterator[Callback]:
        yield from self.open_records()
        yield from self.closed_records()

    # writing ---------------------------------------------------------------------

    def new_id(self, cb_created: Any) -> str:
        for _ in range(100):
            cid = new_callback_id(cb_created)
            if not self.open_path(cid).exists() and not self.closed_path(cid).exists():
                return cid
        raise Refused("Could not pick a free callback ID; try again.")

    def save(self, cb: Callback) -> list[Path]:
        """Write the record where its status puts it; remove a copy left in the other folder.
        Returns the paths that changed (for the commit)."""
        target = self.path_of(cb)
        other = self.closed_path(cb.id) if cb.is_open else self.open_path(cb.id)
        write_atomic(target, dump_record(cb))
        changed = [target]
        if other.exists():
            other.unlink()
            fsync_dir(other.parent)
            changed.append(other)
        return changed

    # locking ---------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self, timeout: float | None = None, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """The store lock, held for a whole change (read, modify, write, commit)."""
        if timeout is None:
            timeout = float(os.environ.get("CBTRACK_LOCK_TIMEOUT", "30"))
        local = self.root / LOCAL_DIR
        local.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(local / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _try_lock(fd):
                notify = on_wait or self.on_wait
                if notify:
                    notify()
                deadline = time.monotonic() + timeout
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise LockTimeout(
                            f"Another cbtrack command held the store lock for {timeout:g}s; "
                            "nothing was written, try again in a moment."
                        )
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _is_record(path: Path) -> bool:
    return path.suffix == ".yaml" and not path.name.startswith(".")


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
    return written
