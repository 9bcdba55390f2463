"""What a crash, a kill or a hand edit can leave behind, and the repairs that are safe.

Two entry points:

- `recover(store, now, user)`: called by every change right after it takes the store
  lock. Cheap when all is well (two `stat` calls and one small folder listing). After a
  crash it finishes the interrupted change: stale temp files go, a record copy left in
  both folders by an interrupted move goes, and the records that the dead command had
  written but not committed are committed as a recovery commit. It also arms
  `store.on_abort`, so a change that fails later under the same lock is rolled back in
  git's index as well as on disk.
- `examine(store, now, user, repair)`: the `cbtrack doctor` command: a full scan.

Git lock files (`.git/index.lock` and friends) are removed only when provably stale: we
hold the store lock (so no cbtrack command is running git) and no process named git has
its working folder inside the store (read from /proc). Where /proc cannot tell, the lock
file is reported and left alone. A git process still running in the store (the orphan of
a killed command finishing its commit) is waited for, up to `SETTLE_SECONDS`.

Nothing here writes record values anywhere: notices and logs carry IDs and file names.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cbtrack import gitlog, history, storefolder
from cbtrack.errors import CbtrackError, GitError
from cbtrack.files import (
    TMP_PREFIX,
    Undo,
    append_private_log,
    file_digest,
    remove_file,
    write_atomic,
)
from cbtrack.model import Callback
from cbtrack.policy import Policy
from cbtrack.store import (
    LOCAL_DIR,
    MAX_POLICY_BYTES,
    MAX_RECORD_BYTES,
    OPEN_DIR,
    POLICY_FILE,
    Store,
    loose_modes,
    make_owner_only,
)
from cbtrack.yamlio import load_model, load_policy

SETTLE_SECONDS = 10.0
ORPHAN_GRACE_SECONDS = 2.0
GIT_LOCKS = ("index.lock", "config.lock", "HEAD.lock", "packed-refs.lock", "shallow.lock")
RECOVERY_LOG = "recovery.log"
ERROR_LOG = "errors.log"


# --- recovery at the start of every change ------------------------------------------


def recover(store: Store, now: datetime, user: str | None = None) -> list[str]:
    """Bring the store back to a committed, consistent state; returns what was done.

    Call it holding the store lock. Raises GitError when a git process is still busy in
    the store after `SETTLE_SECONDS` (nothing is changed then)."""
    store.on_abort = _after_abort
    store.journal_by = user
    notices: list[str] = []
    notices += clear_sync_merge(store)
    notices += _remove_temp_files(store, [store.local_dir])
    ids = store.journal_ids()
    if ids is not None or git_lock_files(store.root):
        notices += settle_git(store.root, interrupted=ids is not None)
    if ids is not None:
        notices += finish_interrupted(store, ids, now, user)
    _tell(store, now, notices)
    return notices


SYNC_MERGE = "sync-merge"  # in .cbtrack/: the commit a sync is merging, while it does


def clear_sync_merge(store: Store) -> list[str]:
    """A merge that a killed sync left half done is undone (the next sync redoes it); a
    merge someone started by hand is left for them. Runs under the store lock, so never
    while a sync is still merging."""
    marker = store.local_dir / SYNC_MERGE
    head = store.root / ".git" / "MERGE_HEAD"
    if marker.is_symlink():
        marker.unlink()
        return []
    try:
        ours = marker.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    if head.exists() and head.read_text(encoding="utf-8").strip() == ours:
        gitlog.run(store.root, "merge", "--abort", check=False)
        out.append("undid the half-made merge of a sync that was interrupted (sync redoes it)")
    marker.unlink(missing_ok=True)
    return out


def _tell(store: Store, now: datetime, notices: list[str]) -> None:
    for line in notices:
        with contextlib.suppress(OSError):
            append_private_log(store.local_dir / RECOVERY_LOG, f"{now.isoformat()} {line}\n")
        if store.on_notice is not None:
            store.on_notice(line)


def finish_interrupted(store: Store, ids: list[str], now: datetime, user: str | None) -> list[str]:
    """Complete the change named by a journal left behind by a command that died. What
    the rule book refuses, or what no command could have written (a hand edit with the
    ID put in the journal), stays uncommitted and is named."""
    notices: list[str] = []
    folders = {store.open_dir}
    for cid in ids:
        folders.add(store.closed_path(cid).parent)
    notices += _remove_temp_files(store, sorted(folders))
    # Git's index first goes back to HEAD for these records: a dead command may have
    # staged a version that is no longer on disk.
    gitlog.run(store.root, "reset", "-q", "--", *[record_spec(cid) for cid in ids])
    rels: list[str] = []
    for cid in ids:
        notices += _drop_stale_copy(store, cid)
        if store.open_path(cid).is_file() or store.closed_path(cid).is_file():
            rels += history.record_paths(cid)
        elif _restore_from_index(store, cid):
            notices.append(f"restored {cid} from git: no copy was left on disk")
    journal = store.journal()
    noted = journal.files if journal is not None else {}
    author = (journal.by if journal is not None else None) or user or gitlog.TOOL_USER
    foreign = _not_written_by_journal(store, rels, noted)
    for rel in foreign:
        notices.append(
            f"{rel} was left uncommitted (it is not what the interrupted command wrote: "
            f"edited by hand?); keep it by committing it with git, or drop it with "
            f"'git checkout HEAD -- {rel}'"
        )
    refused = {history.callback_of(r) for r in foreign}
    breaches = gitlog.check_worktree(
        store.root, [r for r in rels if history.callback_of(r) not in refused], True, author
    )
    refused |= {b.callback for b in breaches}
    for b in breaches:
        notices.append(f"{b.path} was left uncommitted ({b.detail}); {b.fix()}")
    done = [cid for cid in ids if cid not in refused]
    rels = [r for r in rels if history.callback_of(r) in done]
    if rels and gitlog.commit(
        store.root,
        rels,
        f"recover {', '.join(done)}: finish a change interrupted before its commit",
        author,
        now,
        recovering=True,
    ):
        notices.append(f"committed the interrupted change to {', '.join(done)} (recovery commit)")
    store.clear_journal()
    return notices


def _not_written_by_journal(store: Store, rels: list[str], noted: dict[str, str]) -> list[str]:
    """The files among `rels` that differ from HEAD with bytes the journal did not note:
    recovery replays what the interrupted command wrote, never what it finds."""
    out = []
    for rel in gitlog.differs_from_head(store.root, rels):
        if noted.get(rel) is None or file_digest(store.root / rel) != noted[rel]:
            out.append(rel)
    return out


def _restore_from_index(store: Store, cid: str) -> bool:
    """A committed record with no copy on disk is put back from git (never a loss)."""
    spec = record_spec(cid)
    if not gitlog.run(store.root, "ls-files", "--", spec).stdout.strip():
        return False
    gitlog.run(store.root, "checkout", "-q", "--", spec)
    return True


def record_spec(callback_id: str) -> str:
    """A git pathspec for both places a record can live (open, closed/<month>)."""
    return f":(glob)callbacks/**/{callback_id}.yaml"


def _drop_stale_copy(store: Store, cid: str) -> list[str]:
    """An interrupted move can leave a record in both folders: keep the copy whose
    attempts and events include all of the other's (histories only grow)."""
    a, b = store.open_path(cid), store.closed_path(cid)
    if not (a.is_file() and b.is_file()):
        return []
    loser = _older_copy(store, a, b)
    if loser is None:
        return []
    remove_file(loser)
    return [f"removed the stale copy {store.rel(loser)} left by an interrupted move"]


def _older_copy(store: Store, a: Path, b: Path) -> Path | None:
    try:
        ra, rb = _load_loose(store, a), _load_loose(store, b)
    except CbtrackError:
        return None
    if _history(ra) == _history(rb):
        # the same history: keep the copy that sits where its status puts it
        return a if store.path_of(ra) != a else b
    if _history(ra) <= _history(rb):
        return a
    if _history(rb) <= _history(ra):
        return b
    return None


def _history(cb: Callback) -> set[str]:
    return {f"a:{x.id}" for x in cb.attempts} | {f"e:{x.id}" for x in cb.events}


class _NameMismatch(CbtrackError):
    """A record whose file name is not its ID."""


def _load_loose(store: Store, path: Path) -> Callback:
    """Load a record without the folder check (a copy may sit in the wrong folder)."""
    cb = load_model(Callback, path, store.rel(path), MAX_RECORD_BYTES)
    if cb.id != path.stem:
        raise _NameMismatch(f"{store.rel(path)}: the file name and the record's id differ.")
    return cb


def _after_abort(store: Store, ids: list[str], undo: Undo) -> None:
    """A change failed under the lock. If its commit had already happened there is
    nothing to undo; otherwise put the files back and git's index with them."""
    specs = [record_spec(cid) for cid in ids]
    status = gitlog.run(
        store.root, "status", "--porcelain", "--untracked-files=all", "--", *specs
    ).stdout
    if not status.strip():
        return  # committed: the change is complete
    store.restore(undo)
    gitlog.run(store.root, "reset", "-q", "--", *specs)


def _remove_temp_files(store: Store, folders: list[Path]) -> list[str]:
    notices: list[str] = []
    for folder in folders:
        for path in _temp_files_in(folder):
            try:
                remove_file(path)
            except FileNotFoundError:
                continue
            notices.append(f"removed the stale temp file {store.rel(path)}")
    return notices


def _temp_files_in(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                Path(e.path) for e in entries if e.name.startswith(TMP_PREFIX) and e.is_file()
            )
    except OSError:
        return []


# --- git lock files and git processes ------------------------------------------------


def git_lock_files(root: Path) -> list[Path]:
    git = root / ".git"
    found = [git / name for name in GIT_LOCKS if (git / name).exists()]
    heads = git / "refs" / "heads"
    if heads.is_dir():
        found += sorted(heads.rglob("*.lock"))
    return found


def git_processes(root: Path) -> list[int] | None:
    """PIDs of processes named git whose working folder is in the store; None when the
    system cannot tell (no /proc)."""
    proc = Path("/proc")
    if not (proc / "self" / "cwd").exists():
        return None
    found: list[int] = []
    try:
        entries = list(os.scandir(proc))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm", encoding="utf-8", errors="replace") as fh:
                if not fh.read().startswith("git"):
                    continue
            cwd = Path(os.readlink(f"/proc/{entry.name}/cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(entry.name))
    return found


def settle_git(root: Path, interrupted: bool, remove_stale: bool = True) -> list[str]:
    """Wait for git processes left running in the store (the orphans of a killed
    command); then remove git lock files that are provably stale."""
    start = time.monotonic()
    while True:
        locks = git_lock_files(root)
        procs = git_processes(root)
        waited = time.monotonic() - start
        if procs == [] and locks and remove_stale:
            return _remove_git_locks(root, locks)
        if not locks and (not procs or not interrupted or waited >= ORPHAN_GRACE_SECONDS):
            return []
        if waited >= SETTLE_SECONDS:
            rel = locks[0].relative_to(root)
            if procs is None:
                raise GitError(
                    f"{rel} exists in the store and this system cannot tell whether git is "
                    f"still running; if no git command is running, delete {rel} and try "
                    "again (nothing was written)."
                )
            raise GitError(
                f"A git command is still running in the store ({rel} exists); nothing was "
                "written, try again when it has finished."
            )
        time.sleep(0.02)


def _remove_git_locks(root: Path, locks: list[Path]) -> list[str]:
    notices: list[str] = []
    for path in locks:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        notices.append(f"removed the stale git lock {path.relative_to(root)} (no git was running)")
    return notices


# --- cbtrack doctor -------------------------------------------------------------------


@dataclass
class Problem:
    """One finding: `kind` is a stable key for scripts, `detail` a sentence for people."""

    kind: str
    path: str
    detail: str
    repairable: bool
    repaired: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def examine(store: Store, now: datetime, user: str | None, repair: bool) -> list[Problem]:
    """Every problem found (with `repaired` set where --repair fixed it). Holds the lock."""
    with store.lock():
        found = diagnose(store)
        if not repair or not any(p.repairable for p in found):
            return found
        _repair(store, found, now, user)
        left = {(p.kind, p.path) for p in diagnose(store)}
        for p in found:  # gone after the repairs (one may settle another's finding too)
            p.repaired = (p.kind, p.path) not in left
        return found


def diagnose(store: Store) -> list[Problem]:
    """A full scan; changes nothing. Call it holding the store lock."""
    root = store.root
    out: list[Problem] = []
    policy: Policy | None = None
    try:
        policy = load_policy(root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)
    except CbtrackError as exc:
        detail = exc.message.removeprefix(POLICY_FILE).lstrip(": ").rstrip(".")
        out.append(Problem("policy_invalid", POLICY_FILE, detail, False))
    ids = store.journal_ids()
    if ids is not None:
        names = ", ".join(ids) or "no readable IDs"
        out.append(
            Problem(
                "interrupted_change",
                f"{LOCAL_DIR}/pending",
                f"a change to {names} was interrupted before its commit",
                True,
            )
        )
    procs = git_processes(root)
    for lock in git_lock_files(root):
        rel = str(lock.relative_to(root))
        if procs == []:
            out.append(Problem("stale_git_lock", rel, "left by a git process that died", True))
        else:
            why = "a git process is running" if procs else "cannot tell if git is running"
            out.append(Problem("git_lock", rel, f"git lock file ({why})", False))
    for path in _all_temp_files(store):
        out.append(
            Problem("stale_temp_file", store.rel(path), "left by an interrupted write", True)
        )
    loose = loose_modes(root)
    if loose:
        out.append(
            Problem(
                "loose_modes",
                store.rel(loose[0]) if loose[0] != root else ".",
                f"{len(loose)} file(s) or folder(s) can be read by other users (as a plain "
                "git clone leaves them); the store should be owner-only",
                True,
            )
        )
    out += _record_problems(store, policy)
    out += [
        Problem("stray_file", rel, "not a record in its place; move it out of callbacks/", False)
        for rel in stray_files(store)
    ]
    if gitlog.is_repo_root(root):
        out += _uncommitted(store)
        if policy is not None and policy.signing == "required":
            out += _signing_key(store, policy)
    else:
        out.append(Problem("not_a_repository", ".", "the store is not a git repository", False))
    return out


def _signing_key(store: Store, policy: Policy) -> list[Problem]:
    """With signing required: does this desk have a key that some staff member holds?"""
    from cbtrack import identity

    keys = {u: m.key for u, m in policy.staff.items() if m.key}
    try:
        key = identity.signing_key(store.root)
    except CbtrackError as exc:
        return [Problem("no_signing_key", POLICY_FILE, exc.message.rstrip("."), False)]
    if key is None:
        why = f"the policy requires signed changes and this desk has no key; {identity.KEYGEN_HINT}"
    elif identity.owner_of(keys, key.public) is None:
        why = "this desk's signing key is no staff member's key in the policy (or was revoked)"
    else:
        return []
    return [Problem("no_signing_key", POLICY_FILE, why, False)]


def _all_temp_files(store: Store) -> list[Path]:
    folders = [store.root, store.local_dir, store.open_dir, store.closed_dir]
    if store.closed_dir.is_dir():
        folders += sorted(p for p in store.closed_dir.iterdir() if p.is_dir())
    return [p for f in folders for p in _temp_files_in(f)]


def _record_problems(store: Store, policy: Policy | None) -> list[Problem]:
    out: list[Problem] = []
    seen: dict[str, list[Path]] = {}
    for path in [*store.open_paths(), *store.closed_paths()]:
        rel = store.rel(path)
        try:
            cb = _load_loose(store, path)
        except _NameMismatch:
            out.append(
                Problem("id_mismatch", rel, "the file name and the record's id differ", False)
            )
            continue
        except CbtrackError as exc:
            detail = exc.message.removeprefix(rel).lstrip(": ").rstrip(".")
            out.append(Problem("invalid_record", rel, detail, False))
            continue
        seen.setdefault(cb.id, []).append(path)
        if policy is not None:
            out += [Problem("policy_mismatch", rel, d, False) for d in record_fit(policy, cb)]
        right = store.path_of(cb)
        if path != right and not right.exists():  # both there: open_and_closed covers it
            out.append(
                Problem(
                    "wrong_folder", rel, f"its status puts it in {store.rel(right.parent)}", True
                )
            )
    for cid, paths in sorted(seen.items()):
        if len(paths) > 1:
            rels = " and ".join(store.rel(p) for p in paths)
            out.append(
                Problem(
                    "open_and_closed",
                    store.rel(paths[0]),
                    f"{cid} is in {rels}",
                    len(paths) == 2 and _older_copy(store, *paths) is not None,
                )
            )
    return out


def _uncommitted(store: Store) -> list[Problem]:
    try:
        out = gitlog.run(
            store.root,
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            str(OPEN_DIR.parent),
            POLICY_FILE,
        ).stdout
    except GitError as exc:
        return [Problem("git_error", ".", exc.message, False)]
    problems: list[Problem] = []
    records: list[tuple[str, str]] = []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        code, rel = entry[:2], entry[3:]
        name = Path(rel).name
        if name.startswith(TMP_PREFIX) or rel in history.KEEP_FILES:
            continue
        if rel == POLICY_FILE:
            # The lead commits the policy, after checking it: never doctor --repair.
            why = (
                "an edited policy not yet committed; check and commit it with "
                "'cbtrack validate --commit'"
                if not store.policy_problems()
                else "an edited policy that does not validate; see 'cbtrack validate'"
            )
            problems.append(Problem("uncommitted_policy", rel, why, False))
        elif (cid := history.record_id(rel)) is not None and not (
            store.open_path(cid).is_file() and store.closed_path(cid).is_file()
        ):  # a record in both folders is covered by open_and_closed
            records.append((code, rel))
        # anything else under callbacks/ is reported by `stray_files`
    breaches = gitlog.check_worktree(store.root, [rel for _, rel in records])
    for code, rel in records:
        cid = history.record_id(rel)
        own = [b for b in breaches if b.callback == cid]
        if own:
            b = own[0]
            what = b.detail if b.path == rel else b.sentence
            problems.append(Problem("uncommitted", rel, f"{what}; {b.fix()}", False))
        else:  # not what a cbtrack command wrote (that is committed, or in the journal)
            held = storefolder.held_at_head(code)
            what = "removed" if "D" in code else "changed"
            why = f"{what} but not committed, not by a cbtrack command; "
            why += storefolder.keep_or_drop(rel, held)
            problems.append(Problem("uncommitted", rel, why, False))
    return problems


def stray_files(store: Store) -> list[str]:
    """Files under callbacks/ that are neither a record in its place nor a `.gitkeep`
    (nor a temp file, reported on its own): a record moved out of its folder, a note."""
    top = store.root / OPEN_DIR.parent
    listed = {store.open_dir, *(p for p in store.closed_dir.glob("*") if p.is_dir())}
    found: list[str] = []
    for folder, _dirs, files in os.walk(top):
        for name in files:
            rel = store.rel(Path(folder) / name)
            if name.startswith(TMP_PREFIX) or rel in history.KEEP_FILES:
                continue
            if Path(folder) in listed and name.endswith(".yaml") and not name.startswith("."):
                continue  # a record file where records are listed: checked as a record
            found.append(rel)
    return sorted(found)


def record_fit(policy: Policy, cb: Callback) -> list[str]:
    """What the policy says is wrong with a valid record (shared by `validate`)."""
    out: list[str] = []
    if cb.category not in policy.categories:
        out.append("field category names no category in the policy")
    elif cb.is_open:
        missing = [
            k for k in policy.categories[cb.category].required_details if k not in cb.details
        ]
        if missing:
            out.append(f"field details lacks {', '.join(missing)}")
    if not policy.accepts_owner(cb.owner):
        out.append("field owner is not a role or staff user in the policy")
    return out


def _repair(store: Store, found: list[Problem], now: datetime, user: str | None) -> None:
    kinds = {p.kind for p in found if p.repairable}
    if "loose_modes" in kinds:
        make_owner_only(store.root)
    if "stale_git_lock" in kinds:
        settle_git(store.root, interrupted=False)
    for p in found:
        if p.kind == "stale_temp_file":
            with contextlib.suppress(FileNotFoundError):
                remove_file(store.root / p.path)
    ids = store.journal_ids()
    if ids is not None:
        _tell(store, now, finish_interrupted(store, ids, now, user))
    for p in found:
        if p.kind == "open_and_closed" and p.repairable:
            _drop_stale_copy(store, Path(p.path).stem)
        elif p.kind == "wrong_folder" and p.repairable:
            _move_to_right_folder(store, store.root / p.path)
    # Nothing else is committed here: only the journal says what a command wrote (above).
    # A change no command made (a hand edit) stays for a person to keep with git or drop,
    # never committed in the name of whoever runs the repair; the policy likewise (the lead
    # checks and commits it with 'validate --commit').


def _move_to_right_folder(store: Store, path: Path) -> None:
    try:
        cb = _load_loose(store, path)
    except CbtrackError:
        return
    right = store.path_of(cb)
    if right.exists() or not path.exists():
        return
    write_atomic(right, path.read_bytes())
    remove_file(path)


# --- unexpected failures: a private log without record values -----------------------


def failure_report(exc: BaseException, command: str | None) -> str:
    """The exception's type, and for each frame the file, line and function: no
    messages (they may quote a record), no local variables."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    lines = [
        f"{stamp} cbtrack {_version()} command={command or '-'} python={sys.version.split()[0]}"
    ]
    seen: set[int] = set()
    current: BaseException | None = exc
    label = "failure"
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        kind = type(current)
        name = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
        err = getattr(current, "errno", None)
        if isinstance(err, int):
            name += f" [{_errno_name(err)}]"
        lines.append(f"{label}: {name}")
        for frame in traceback.extract_tb(current.__traceback__):
            lines.append(f"  {_short_file(frame.filename)}:{frame.lineno} in {frame.name}")
        if current.__cause__ is not None:
            current, label = current.__cause__, "caused by"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, label = current.__context__, "while handling"
        else:
            current = None
    return "\n".join(lines) + "\n\n"


def _errno_name(err: int) -> str:
    import errno

    return errno.errorcode.get(err, str(err))


def _short_file(filename: str) -> str:
    parts = Path(filename).parts
    if "cbtrack" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("cbtrack") :])
    return "/".join(parts[-2:])


def _version() -> str:
    from cbtrack import __version__

    return __version__


def failure_log_path(store_root: Path | None) -> Path:
    if store_root is not None and (store_root / POLICY_FILE).is_file():
        return store_root / LOCAL_DIR / ERROR_LOG
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cbtrack" / ERROR_LOG


def log_failure(exc: BaseException, store_root: Path | None, command: str | None) -> Path | None:
    """Append the failure report to the private log; its path, or None if unwritable."""
    report = failure_report(exc, command)
    for path in (failure_log_path(store_root), failure_log_path(None)):
        try:
            append_private_log(path, report)
        except OSError:
            continue
        return path
    return None
