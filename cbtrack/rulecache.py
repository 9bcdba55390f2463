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
from pathlib import Path
from typing import Any, TypeVar

from cbtrack.matcher import Matcher, RuleSpec

# What the compiled form depends on besides the rules: the code that reads them.
_SOURCES = ("matcher.py", "words.py", "readings.py", "rulecache.py")
# ... and what the validated policy depends on besides its text.
_POLICY_SOURCES = ("policy.py", "alertrules.py", "model.py", "enums.py", "yamlio.py")
T = TypeVar("T")
KEEP = 4  # compiled matchers kept (a practice's rules change rarely)
_MEMO: dict[tuple[str, str], Any] = {}  # (within one process: tests, a long import)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cbtrack"


def digest(
    concepts: Mapping[str, Iterable[str]], rules: list[RuleSpec], spelling: Mapping[str, str]
) -> str:
    from cbtrack import __version__

    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        with contextlib.suppress(OSError):
            h.update((here / name).read_bytes())
    plain = (
        sorted((k, list(v)) for k, v in concepts.items()),
        rules,
        sorted(spelling.items()),
    )
    h.update(repr(plain).encode())
    return h.hexdigest()[:32]


def compiled(
    concepts: Mapping[str, Iterable[str]], rules: list[RuleSpec], spelling: Mapping[str, str]
) -> Matcher:
    """`Matcher(concepts, rules, spelling)`, from the cache when it holds it."""
    concepts = {k: list(v) for k, v in concepts.items()}
    key = digest(concepts, rules, spelling)
    found: Matcher = _kept("matcher", key, lambda: Matcher(concepts, rules, spelling), Matcher)
    return found


def builtin(read: Callable[[], T]) -> T:
    """The built-in rules as `read` takes them from cbtrack/data/triage.yaml (parsed and
    validated: longer than the rest of reading a policy), kept under a digest of that file,
    this cbtrack version and the code of the models they are read into."""
    from cbtrack import __version__, packaged

    h = hashlib.sha256(__version__.encode())
    h.update(packaged.text("triage.yaml").encode("utf-8"))
    here = Path(__file__).parent
    for name in ("policy.py", "model.py", "enums.py", "rulecache.py"):
        with contextlib.suppress(OSError):
            h.update((here / name).read_bytes())
    found: T = _kept("builtin", h.hexdigest()[:32], read, tuple)
    return found


def policy(text: str, make: Callable[[], T], expected: type) -> T:
    """The practice's policy as `make` validates it from `text` (cbtrack.yaml), kept under a
    digest of that text, the built-in rules it is checked against, this cbtrack version and
    the code that reads it. Its models are built on first use (`defer_build`), so a kept
    policy spares a command both the checks and building them (about 30 ms). Each call
    reads its own copy: a policy is never shared between two stores of one process."""
    from cbtrack import __version__, packaged

    h = hashlib.sha256(__version__.encode())
    h.update(text.encode("utf-8"))
    h.update(packaged.text("triage.yaml").encode("utf-8"))
    here = Path(__file__).parent
    for name in (*_POLICY_SOURCES, *_SOURCES):
        with contextlib.suppress(OSError):
            h.update((here / name).read_bytes())
    path = cache_dir() / f"policy-{h.hexdigest()[:32]}.pickle"
    found: T | None = _read(path, expected)
    if found is None:
        found = make()
        _write(path, found, "policy")
    return found


def _kept(kind: str, key: str, make: Callable[[], Any], expected: type) -> Any:
    """What `make` gives, from this process's memo or the cache folder when either holds
    the `kind` for `key` (and it is an `expected`); else made and kept."""
    found = _MEMO.get((kind, key))
    if found is None:
        path = cache_dir() / f"{kind}-{key}.pickle"
        found = _read(path, expected)
        if found is None:
            found = make()
            _write(path, found, kind)
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
