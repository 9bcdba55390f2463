"""The triage matcher, compiled once and kept for the next command.

Compiling the built-in rules and word groups (cbtrack/data/triage.yaml, thousands of
patterns) costs more than the rest of an `add`. The compiled matcher is kept in the user's
cache folder (`$XDG_CACHE_HOME/cbtrack`, else `~/.cache/cbtrack`), one file per set of rules,
named by a digest of everything it is made from: this cbtrack version, the matcher's own
source, the built-in and practice rules, word groups and spellings. Any change makes a new
file; the few newest are kept. It holds rules only, never patient data.

The file is a pickle, so it is trusted only as far as the user's own files are: it is read
only when it is a regular file (never through a symlink) owned by this user and writable by
no one else, and anything wrong with it (damaged, old, another user's) means it is compiled
again. Deleting the folder is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from cbtrack.matcher import Matcher, RuleSpec

# What the compiled form depends on besides the rules: the code that reads them.
_SOURCES = ("matcher.py", "words.py", "readings.py", "rulecache.py", "typos.py",
            "data/near_words.txt")  # fmt: skip
# ... and what the validated policy depends on besides its text.
_POLICY_SOURCES = ("policy.py", "alertrules.py", "model.py", "enums.py", "yamlio.py")
T = TypeVar("T")
KEEP = 4  # compiled matchers kept (a practice's rules change rarely)
_MEMO: dict[tuple[str, str], Any] = {}  # (within one process: tests, a long import)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cbtrack"


def _key(sources: Iterable[str], *parts: str) -> str:
    """A digest of this cbtrack version, the code files named in `sources` and `parts`."""
    from cbtrack import __version__

    h = hashlib.sha256(__version__.encode())
    for name in sources:
        h.update(_file_digest(name))
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


@cache
def _file_digest(name: str) -> bytes:
    """A digest of one of cbtrack's files (read once per process: every key names some)."""
    if name == "triage.yaml":
        from cbtrack import packaged

        return hashlib.sha256(packaged.text(name).encode("utf-8")).digest()
    try:
        return hashlib.sha256((Path(__file__).parent / name).read_bytes()).digest()
    except OSError:
        return b""


def digest(
    concepts: Mapping[str, Iterable[str]], rules: list[RuleSpec], spelling: Mapping[str, str]
) -> str:
    plain = (
        sorted((k, list(v)) for k, v in concepts.items()),
        rules,
        sorted(spelling.items()),
    )
    return _key(_SOURCES, repr(plain))


def compiled(
    concepts: Mapping[str, Iterable[str]], rules: list[RuleSpec], spelling: Mapping[str, str]
) -> Matcher:
    """`Matcher(concepts, rules, spelling)`, reading slips of the built-in rules' words
    (`cbtrack.typos`), from the cache when it holds it."""
    plain = {k: list(v) for k, v in concepts.items()}
    key = digest(plain, rules, spelling)

    def make() -> Matcher:
        from cbtrack import typos

        return Matcher(plain, rules, spelling, typos.builtin())

    found: Matcher = _kept("matcher", key, make, Matcher)
    return found


def builtin(read: Callable[[], T]) -> T:
    """The built-in rules as `read` takes them from cbtrack/data/triage.yaml (parsed and
    validated: longer than the rest of reading a policy), kept under a digest of that file,
    this cbtrack version and the code of the models they are read into."""
    key = _key(("triage.yaml", "policy.py", "model.py", "enums.py", "rulecache.py"))
    found: T = _kept("builtin", key, read, tuple)
    return found


def policy(text: str, make: Callable[[], T], expected: type) -> T:
    """The practice's policy as `make` validates it from `text` (cbtrack.yaml), kept under a
    digest of that text, the built-in rules it is checked against, this cbtrack version and
    the code that reads it. Its models are built on first use (`defer_build`), so a kept
    policy spares a command both the checks and building them (about 30 ms). Not kept in
    this process's memo: each store reads its own copy, never one another store changed."""
    key = _key(("triage.yaml", *_POLICY_SOURCES, *_SOURCES), text)
    found: T = _kept("policy", key, make, expected, memo=False)
    return found


def _kept(kind: str, key: str, make: Callable[[], Any], expected: type, memo: bool = True) -> Any:
    """What `make` gives, from this process's memo (unless `memo` is false) or the cache
    folder when either holds the `kind` for `key` (and it is an `expected`); else made
    and kept."""
    found = _MEMO.get((kind, key)) if memo else None
    if found is None:
        path = cache_dir() / f"{kind}-{key}.pickle"
        found = _read(path, expected)
        if found is None:
            found = make()
            _write(path, found, kind)
        if memo:
            _MEMO[(kind, key)] = found
    return found


def _read(path: Path, expected: type) -> Any:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not _trusted(st):
            return None
        try:
            value = pickle.load(f)
        except Exception:  # damaged or from another version: made again
            return None
    return value if isinstance(value, expected) else None


def _trusted(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _write(path: Path, value: Any, kind: str) -> None:
    """Keep `value` at `path` (atomically, owner-only), and only the newest few of its
    kind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        kept = sorted(path.parent.glob(f"{kind}-*.pickle"), key=_age)
        for old in kept[:-KEEP]:
            old.unlink()
    except (OSError, pickle.PicklingError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
