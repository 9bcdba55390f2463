"""Git: the audit trail and the way desks share a queue. The only module that runs git.

Every change is one commit authored and committed by the acting staff user, with a
message that names the action and the callback ID and nothing about the patient.
Besides committing, this module offers the few plumbing calls that sync, log and verify
need: refs, ancestry, tree diffs in bulk and blob reads in bulk.

Local state that a clone does not carry is registered when missing, cheaply (one small
file read on the fast path): the merge driver in `.git/config`, `core.fsync`, and the
pre-commit hook that validates staged records.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import stat
import sys
import tempfile
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cbtrack import history, mergecheck
from cbtrack.errors import GitError, Refused, StoreError
from cbtrack.files import TMP_PREFIX, append_private_log
from cbtrack.gitread import read_blobs, read_objects
from cbtrack.gitrun import (
    FILE_MODE as FILE_MODE,
    NULL_SHA as NULL_SHA,
    RECORDS as RECORDS,
    _failed,
    _signing,
    _signing_failed,
    identity_env as identity_env,
    is_repo_root as is_repo_root,
    require_branch,
    run as run,
    run_bytes as run_bytes,
    sign_with as sign_with,
)
from cbtrack.history import Breach, HistoryRefused
from cbtrack.store import LOCAL_DIR, MAX_RECORD_BYTES, POLICY_FILE
from cbtrack.yamlio import read_text

MERGE_DRIVER = "cbtrack"
TOOL_USER = "cbtrack"
VERIFIED_REF = "refs/cbtrack/verified"
SYNCED_PREFIX = "refs/cbtrack/synced/"
HOOK_MARK = "# cbtrack pre-commit hook"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


# --- local set-up a clone does not carry ----------------------------------------------


def driver_command() -> str:
    """The merge driver, runnable without `cbtrack` on PATH and without the CLI's start-up:
    this Python, `-m cbtrack.mergedriver` (the same code as `cbtrack merge-driver`)."""
    return f"{shlex.quote(sys.executable)} -m cbtrack.mergedriver %O %A %B %P"


def hook_text() -> str:
    """The pre-commit hook: validates staged records with this Python, no PATH needed."""
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARK}, installed by cbtrack: refuses staged callback records that break\n"
        "# the history rules (cbtrack.history): invalid, misplaced, deleted, or rewritten.\n"
        f"exec {shlex.quote(sys.executable)} -m cbtrack --store . check-staged\n"
    )


def _wanted_config() -> dict[str, str]:
    return {
        f"merge.{MERGE_DRIVER}.name": "cbtrack record merge (union of attempts and events)",
        f"merge.{MERGE_DRIVER}.driver": driver_command(),
        "core.fsync": "committed",
        # git's index in two files: a command's change rewrites a small one, not all
        # 100,000 entries (`git update-index --split-index`)
        "core.splitIndex": "true",
        # a plain `git pull` merges (through the driver) instead of asking how to reconcile
        "pull.rebase": "false",
    }


def _config_looks_done(root: Path) -> bool:
    """Fast path: the config file already holds every wanted line (no git process)."""
    try:
        text = (root / ".git" / "config").read_text(encoding="utf-8")
    except OSError:
        return False
    lines = {line.strip() for line in text.splitlines()}
    if f'[merge "{MERGE_DRIVER}"]' not in lines:
        return False
    return all(f"{key.rsplit('.', 1)[1]} = {v}" in lines for key, v in _wanted_config().items())


def ensure_config(root: Path) -> None:
    """Register what a plain `git clone` does not carry: the merge driver, safe fsync,
    and the pre-commit hook. Costs one file read or two when all is in place."""
    if not _config_looks_done(root):
        proc = run(
            root,
            "config",
            "--local",
            "--get-regexp",
            r"^(merge\.cbtrack\.|core\.fsync$|core\.splitindex$|pull\.rebase$)",
            check=False,
        )
        have = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        for key, value in _wanted_config().items():
            if have.get(key.lower()) != value:  # (git names keys in lower case)
                run(root, "config", "--local", key, value)
    ensure_hook(root)


HOOKS = ("pre-commit", "pre-merge-commit")  # a merge git makes itself runs the second


def ensure_hook(root: Path) -> None:
    """Install or refresh our hooks; a hook of the practice's own is left alone."""
    for name in HOOKS:
        _ensure_hook(root, name)


def _ensure_hook(root: Path, name: str) -> None:
    hooks = root / ".git" / "hooks"
    if not (root / ".git").is_dir():
        return
    path = hooks / name
    want = hook_text()
    try:
        have = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        have = None
    except OSError:
        return
    if have == want or (have is not None and HOOK_MARK not in have):
        return
    hooks.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = hooks / f".{name}.cbtrack-tmp"
    tmp.write_text(want, encoding="utf-8")
    tmp.chmod(0o700)
    os.replace(tmp, path)


def init_repo(root: Path) -> None:
    if not is_repo_root(root):
        # git's own default branch name, so a bare remote made with plain `git init --bare`
        # on the same machine points its HEAD at the branch desks push, and clones check out.
        run(root, "init", "-q")
    ensure_config(root)


def require_repo(root: Path, merging_ok: bool = False) -> None:
    """The store must be a git repository, and (for a change) on a branch and not in the
    middle of a merge: a commit then would be left behind, fail or be a half-made merge."""
    if not is_repo_root(root):
        raise StoreError(
            f"The store at {root} is not a git repository, so changes cannot be recorded; "
            f"run 'cbtrack init {root}' to make it one."
        )
    if not merging_ok and (root / ".git" / "MERGE_HEAD").exists():
        raise Refused(
            "A git merge is in progress in this store (an interrupted sync, or one started "
            "by hand); run 'cbtrack sync' to redo it or 'git merge --abort' to drop it, "
            "then try again."
        )
    if not merging_ok:
        require_branch(root)


# --- commits: the one guarded way into history --------------------------------------


def commit(
    root: Path,
    paths: Sequence[Path | str],
    message: str,
    user: str,
    when: datetime | None,
    *,
    merging: bool = False,
    recovering: bool = False,
) -> bool:
    """The one way the tool commits (commands, doctor, sync, crash recovery, init).

    Stages `paths` (written, moved or removed; none: what is already staged, as for a
    merge) and judges every staged record against HEAD (and the merge's other parent) by
    `cbtrack.history`. On any breach nothing is committed, `paths` are unstaged again, and
    `HistoryRefused` names the file and what a person must do. Anything else someone
    staged by hand stays out of the commit. `recovering`: finishing a change a killed
    command left (crash recovery), which must also look like a command's work (it adds
    an attempt or event, or a record), not a hand edit. False when nothing changed."""
    require_repo(root, merging_ok=merging)
    ensure_config(root)
    rels = [str(p.relative_to(root)) if isinstance(p, Path) else p for p in paths]
    env = identity_env(user, when)
    if rels and not merging and not recovering:
        done = _commit_direct(root, rels, message, env, user)
        if done is not None:
            return done
    if rels:
        stage(root, rels)
    changed, breaches = check_index(root, rels, recovering, author=user)
    if breaches:
        if rels and changed and not merging:
            run(root, "reset", "-q", "--", *changed, check=False)
        raise HistoryRefused(breaches)
    if not changed and not merging:
        return False
    args = ["commit", "-q", "--no-verify", "-m", message]
    run(root, *args, *(["--", *changed] if rels and not merging else []), env=env)
    made = rev(root, "HEAD")
    if made:
        remember_judged(root, [made])
    return True


JUDGED_FILE = "judged"  # in .cbtrack/: commits this desk judged clean (made or took in)


def remember_judged(root: Path, shas: Sequence[str]) -> None:
    """Note commits the rule book passed here, so sync need not judge them again (a local
    shortcut only: verify, other desks and the server judge every commit themselves)."""
    with contextlib.suppress(OSError):
        append_private_log(root / LOCAL_DIR / JUDGED_FILE, "".join(f"{s}\n" for s in shas))


def judged(root: Path) -> set[str]:
    """The commits `remember_judged` noted (an unreadable note: none)."""
    path = root / LOCAL_DIR / JUDGED_FILE
    try:
        if path.is_symlink() or path.parent.is_symlink():
            return set()
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    return {line for line in text.split() if re.fullmatch(r"[0-9a-f]{40}", line)}


# --- the direct commit: new objects along the changed paths only -----------------------

TREE_MODE = "40000"
# git's defaults for `gc.auto` (loose objects) and `gc.autoPackLimit` (packs)
GC_AUTO, GC_AUTO_PACK_LIMIT = 6700, 50


def _commit_direct(
    root: Path, rels: list[str], message: str, env: dict[str, str], author: str
) -> bool | None:
    """`commit` for a command's own files without `git add` and `git commit`, which read,
    refresh and rewrite git's whole index (seconds' worth at 100,000 records): a blob for
    each changed file, new trees only along their paths (the rest is HEAD's), a commit
    object, git's index updated for those paths alone, then the branch moved only if it
    still points where it did (compare-and-swap). The rule book judges the change before
    anything is referenced; what someone staged by hand stays staged and out of the
    commit, as with `git commit -- PATH`. None when this way does not apply (no commit
    yet, a path that is not a plain file, an unusual name, a SHA-256 repository): the
    caller then takes the general path."""
    head = rev(root, "HEAD")
    new = _new_files(root, rels) if head is not None and len(head) == 40 else None
    if head is None or new is None:
        return None
    records = [r for r in new if r.startswith(f"{RECORDS}/")]
    need = [*history.wanted(records), *(r for r in new if r not in records)]
    dirs = _tree_paths(new)
    objects = read_objects(root, [f"{head}:{p}" for p in need] + [f"{head}:{d}" for d in dirs])
    before: dict[str, bytes | None] = {}
    for p in need:
        obj = objects.get(f"{head}:{p}")
        if obj is not None and obj[0] != "blob":
            return None  # a folder where a file goes: the general path says what is wrong
        before[p] = obj[1] if obj else None
    changed = [p for p in new if new[p] != before.get(p)]
    if not changed:
        return False
    _refuse_breaches(changed, before, new, author)
    tree = _new_tree(root, head, dirs, objects, changed, new)
    if tree is None:
        return None
    _record_commit(root, head, tree, changed, message, env)
    return True


def _new_files(root: Path, rels: list[str]) -> dict[str, bytes | None] | None:
    """Each path's bytes now (None: gone), or None when one is not a plain file with a
    plain name (the general path takes those)."""
    new: dict[str, bytes | None] = {}
    try:
        for rel in dict.fromkeys(rels):
            if not _plain_name(rel):
                return None
            new[rel] = _plain_file(root, rel)
    except _Unusual:
        return None
    return new


def _new_tree(
    root: Path,
    head: str,
    dirs: list[str],
    objects: dict[str, tuple[str, bytes] | None],
    changed: list[str],
    new: dict[str, bytes | None],
) -> str | None:
    """Write the changed files' blobs and the trees along their paths (the rest is HEAD's);
    the new top tree's ID, or None when git's objects are not what this reading expects."""
    trees: dict[str, _Tree] = {}
    for d in dirs:
        obj = objects.get(f"{head}:{d}")
        if obj is not None and obj[0] != "tree":
            return None
        try:
            trees[d] = _Tree(obj[1] if obj else b"")
        except ValueError:
            return None  # a tree this reading does not follow: let git do it
    written = [p for p in changed if new[p] is not None]
    blob_ids = _write_blobs(root, written, new)
    if blob_ids is None:
        return None
    for p in changed:
        folder, name = _split(p)
        trees[folder].put(name, FILE_MODE, blob_ids.get(p))
    return _write_trees(root, trees)


def _record_commit(
    root: Path, head: str, tree: str, changed: list[str], message: str, env: dict[str, str]
) -> None:
    """The commit object, git's index for the changed paths, then the branch moved only
    if it still points at `head` (compare-and-swap)."""
    sign = ["-S"] if root in _signing else []
    made = run(root, "commit-tree", *sign, tree, "-p", head, input=_clean_message(message),
               env=env, check=False)  # fmt: skip
    if made.returncode != 0:
        raise _signing_failed(root, made.stderr) if sign else _failed(root, "commit-tree",
                                                                      made.stderr)  # fmt: skip
    commit_id = made.stdout.strip()
    # The index first (the old order: staged, then committed), so that a failure or a kill
    # before the branch moves leaves what the journal's recovery expects to find.
    _index_paths(root, changed)
    moved = run(root, "update-ref", "-m", f"commit: {_subject(message)}", "HEAD", commit_id,
                head, env=env, check=False)  # fmt: skip
    if moved.returncode != 0:
        raise _failed(root, "update-ref", moved.stderr, "the branch moved during this change "
                      "(a git command run by hand?); try the command again.")  # fmt: skip
    remember_judged(root, [commit_id])
    # What `git commit` does after committing: pack loose objects when there are many
    # (git detaches that work); without the store lock, and never a reason to fail.
    if _maintenance_due(root):
        with contextlib.suppress(OSError, GitError):
            run(root, "maintenance", "run", "--auto", "--quiet", check=False, keep_lock=False)


class _Unusual(Exception):
    """A path the direct commit leaves to the general one."""


def _plain_file(root: Path, rel: str) -> bytes | None:
    """A file's bytes, or None when it is gone; `_Unusual` for anything but a plain,
    non-executable file of a sensible size (the general path handles those)."""
    try:
        st = os.lstat(root / rel)
    except FileNotFoundError:
        return None
    except OSError:
        raise _Unusual from None
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111 or st.st_size > MAX_RECORD_BYTES * 4:
        raise _Unusual
    try:
        return (root / rel).read_bytes()
    except OSError:
        raise _Unusual from None


def _plain_name(rel: str) -> bool:
    return (
        not any(c in rel for c in "\n\t\0")
        and not rel.startswith(("/", '"'))
        and all(part not in ("", ".", "..", ".git") for part in rel.split("/"))
    )


def _split(path: str) -> tuple[str, str]:
    folder, _, name = path.rpartition("/")
    return folder, name


def _tree_paths(paths: Iterable[str]) -> list[str]:
    """Every folder from the top down to each path's own ("" is the top)."""
    out: dict[str, None] = {"": None}
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out["/".join(parts[:i])] = None
    return list(out)


def _refuse_breaches(
    changed: list[str], before: dict[str, bytes | None], new: dict[str, bytes | None], author: str
) -> None:
    records = [p for p in changed if history.judged(p)]
    after = {p: new.get(p, before.get(p)) for p in history.wanted(records)}
    parent = {p: before.get(p) for p in after}
    breaches = history.check(records, [parent], after, author=author) if records else []
    if POLICY_FILE in changed:
        problem = _policy_problem(new[POLICY_FILE])
        if problem:
            breaches.append(history.Breach("invalid", POLICY_FILE, problem, restore=POLICY_FILE))
    if breaches:
        raise HistoryRefused(breaches)


def _write_blobs(
    root: Path, paths: list[str], new: dict[str, bytes | None]
) -> dict[str, str] | None:
    """Store the files as blobs (as `git add` would, filters included); None when git's
    blob is not the bytes the rule book judged (a filter changed them)."""
    if not paths:
        return {}
    out = run(root, "hash-object", "-w", "--stdin-paths", input="".join(f"{p}\n" for p in paths))
    ids = out.stdout.split()
    if len(ids) != len(paths):
        return None
    for p, oid in zip(paths, ids, strict=True):
        data = new[p] or b""
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != oid:
            return None
    return dict(zip(paths, ids, strict=True))


_ENTRY = re.compile(rb"([0-7]{5,6}) ([^\0]+)\0(.{20})", re.DOTALL)


class _Tree:
    """A tree object's entries, raw and in git's order (a folder sorts as if its name
    ended in '/'), for changing a few of them without rebuilding the rest."""

    def __init__(self, body: bytes) -> None:
        self.keys: list[bytes] = []
        self.raw: list[bytes] = []
        pos, folder = 0, TREE_MODE.encode()
        for m in _ENTRY.finditer(body):
            if m.start() != pos:
                raise ValueError("not a tree this code reads")
            self.keys.append(m[2] + b"/" if m[1] == folder else m[2])
            self.raw.append(m[0])
            pos = m.end()
        if pos != len(body):
            raise ValueError("not a tree this code reads")

    def put(self, name: str, mode: str, oid: str | None) -> None:
        """Set the entry `name` (a file or a folder of that name is replaced); None
        removes it."""
        raw_name = name.encode("utf-8", "surrogateescape")
        for key in (raw_name, raw_name + b"/"):
            i = bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                del self.keys[i], self.raw[i]
        if oid is None:
            return
        key = raw_name + b"/" if mode == TREE_MODE else raw_name
        i = bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.raw.insert(i, b"%s %s\0%s" % (mode.encode(), raw_name, bytes.fromhex(oid)))

    def object(self) -> tuple[bytes, str]:
        """The tree object's body and its ID."""
        body = b"".join(self.raw)
        return body, hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def _write_trees(root: Path, trees: dict[str, _Tree]) -> str | None:
    """Write the changed folders' trees, deepest first (a folder left empty is dropped
    from its parent, as git never records one), all with one git process; returns the top
    tree's ID, or None if git's IDs are not the ones computed here."""
    bodies: list[tuple[bytes, str]] = []
    top: str | None = None
    for d in sorted(trees, key=lambda d: d.count("/") + (d != ""), reverse=True):
        tree = trees[d]
        if not tree.keys and d == "":
            return None  # nothing left at all: the general path says so
        oid = None
        if tree.keys:
            body, oid = tree.object()
            bodies.append((body, oid))
        if d == "":
            top = oid
            break
        parent, name = _split(d)
        trees[parent].put(name, TREE_MODE, oid)
    if top is None or not bodies:
        return None
    local = root / LOCAL_DIR
    if not local.is_dir() or local.is_symlink():
        return None
    paths: list[str] = []
    try:
        for body, _ in bodies:
            # beside the store's local files, never in the system's temp folder: a killed
            # command leaves at most a temp file `cbtrack doctor` finds and removes
            fd, tmp = tempfile.mkstemp(dir=local, prefix=f"{TMP_PREFIX}tree-")
            paths.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
        got = run_bytes(root, "hash-object", "-w", "-t", "tree", "--stdin-paths",
                        input="".join(f"{p}\n" for p in paths).encode())  # fmt: skip
    finally:
        for tmp in paths:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if got.decode("ascii", "replace").split() != [oid for _, oid in bodies]:
        return None
    return top


def _maintenance_due(root: Path) -> bool:
    """Whether `git maintenance run --auto` may have work, by git's own estimate with its
    default limits: loose objects (counted in one of the 256 folders, as git counts them)
    past `gc.auto`, or more packs than `gc.autoPackLimit`. Saves a git process on most
    commits; when unsure, it says yes."""
    objects = root / ".git" / "objects"
    try:
        loose = sum(1 for n in os.listdir(objects / "17") if len(n) == 38)
    except FileNotFoundError:
        loose = 0
    except OSError:
        return True
    try:
        packs = sum(1 for n in os.listdir(objects / "pack") if n.endswith(".pack"))
    except FileNotFoundError:
        packs = 0
    except OSError:
        return True
    return loose * 256 > GC_AUTO or packs > GC_AUTO_PACK_LIMIT


def _index_paths(root: Path, paths: list[str]) -> None:
    """Bring git's index in line for these paths only (a hand-staged file elsewhere stays
    staged); the index is switched once to version 4, a third smaller at 100,000 files."""
    version = []
    with contextlib.suppress(OSError):
        with open(root / ".git" / "index", "rb") as fh:
            head = fh.read(8)
        if head[:4] == b"DIRC" and int.from_bytes(head[4:8], "big") != 4:
            version = ["--index-version", "4"]
    run(root, "update-index", *version, "--add", "--remove", "--", *paths)


def _subject(message: str) -> str:
    return (_clean_message(message).splitlines() or [""])[0]


def _clean_message(message: str) -> str:
    """The message as `git commit -m` stores it: trailing spaces and blank lines at the
    ends dropped, runs of blank lines made one."""
    lines: list[str] = []
    for line in message.splitlines():
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def parents_of_next(root: Path) -> list[str]:
    """The parents the next commit gets: HEAD, and the other side of a merge under way."""
    out = [c for c in (rev(root, "HEAD"),) if c]
    if out and (root / ".git" / "MERGE_HEAD").is_file():
        other = (root / ".git" / "MERGE_HEAD").read_text(encoding="utf-8").split()
        out += [c for c in other[:1] if rev(root, c)]
    elif out:
        # git's pre-merge-commit hook runs before MERGE_HEAD is written; git names the
        # merged commits in GITHEAD_<id> variables then
        named = [k[len("GITHEAD_") :] for k in os.environ if k.startswith("GITHEAD_")]
        out += [c for c in named if re.fullmatch(r"[0-9a-f]{40}", c) and c != out[0]][:1]
    return out


def check_index(
    root: Path, rels: Sequence[str] = (), recovering: bool = False, author: str | None = None
) -> tuple[list[str], list[Breach]]:
    """What the index changes against the next commit's parents (under `rels`, else all),
    and the breaches of the rule book in it (the records, the policy, the tree), judged
    as a commit by `author` (None: git's author for the next commit, as a hook sees it)."""
    parents = parents_of_next(root)
    changed: dict[str, None] = {}
    modes: list[tuple[str, str]] = []
    for parent in parents or [EMPTY_TREE]:
        raw = run_bytes(root, "diff", "--cached", "--raw", "-z", "--no-renames", parent,
                        "--", *rels)  # fmt: skip
        tokens = raw.decode("utf-8", "surrogateescape").split("\0")
        for i in range(0, len(tokens) - 1, 2):
            meta = tokens[i].split()
            if len(meta) >= 5:
                changed[tokens[i + 1]] = None
                modes.append((tokens[i + 1], meta[1]))
    when = None
    if author is None:
        author, when = next_author(root)
    breaches = history.tree_breaches(m for m in modes if m[1] != "000000")
    judged = _judge(root, list(changed), parents, ":", recovering, author, when)
    return list(changed), breaches + judged


def next_author(root: Path) -> tuple[str | None, datetime | None]:
    """The author name and date git gives the next commit (environment, then
    configuration; the date is the clock's unless `GIT_AUTHOR_DATE` sets it)."""
    proc = run(root, "var", "GIT_AUTHOR_IDENT", check=False)
    ident = proc.stdout.strip()
    if proc.returncode != 0 or " <" not in ident:
        return None, None
    name, _, rest = ident.partition(" <")
    stamp = rest.rpartition("> ")[2].split()  # git's raw date: `1764000000 -0500`
    ok = len(stamp) == 2 and stamp[0].isdigit()
    return name, datetime.fromtimestamp(int(stamp[0]), UTC) if ok else None


def check_worktree(
    root: Path, rels: Sequence[str], recovering: bool = False, author: str | None = None
) -> list[Breach]:
    """The breaches the working-tree files `rels` would bring into the next commit."""
    odd = [(r, "120000") for r in rels if os.path.islink(root / r)]
    return history.tree_breaches(odd) + _judge(
        root, list(rels), parents_of_next(root), None, recovering, author
    )


def _judge(
    root: Path,
    changed: list[str],
    parents: list[str],
    index: str | None,
    recovering: bool,
    author: str | None,
    when: datetime | None = None,
) -> list[Breach]:
    records = [p for p in changed if history.judged(p)]
    need = history.wanted(records)
    policy = [POLICY_FILE] if POLICY_FILE in changed else []
    base = merge_base(root, parents[0], parents[1]) if len(parents) == 2 else None
    specs = [f"{c}:{p}" for c in [*parents, *([base] if base else [])] for p in need]
    if index is not None:
        specs += [f"{index}{p}" for p in need]
    blobs = read_blobs(root, specs)
    befores = [{p: blobs.get(f"{c}:{p}") for p in need} for c in parents]
    if index is not None:
        after: dict[str, bytes | str | None] = {p: blobs.get(f"{index}{p}") for p in need}
    else:
        after = {p: _worktree(root, p) for p in need}
    policy_data = after.get(POLICY_FILE) if policy else None
    if len(parents) == 2:
        based = {p: blobs.get(f"{base}:{p}") for p in need} if base else None
        out = mergecheck.check_merge(records, based, befores, after, author=author, when=when)
    else:
        out = history.check(records, befores, after, author=author, when=when)
    if recovering and not out:
        out = history.hand_edits(records, befores[0] if befores else {}, after)
    if policy:
        problem = _policy_problem(policy_data)
        if problem:
            out.append(history.Breach("invalid", POLICY_FILE, problem, restore=POLICY_FILE))
    return out


def _worktree(root: Path, rel: str) -> bytes | str | None:
    """A working-tree file as bytes; None if absent; why not, if it cannot be read."""
    path = root / rel
    if not os.path.lexists(path):
        return None
    try:
        return read_text(path, MAX_RECORD_BYTES, rel).encode("utf-8")
    except StoreError as exc:
        return exc.message


def _policy_problem(data: bytes | str | None) -> str | None:
    from cbtrack.store import MAX_POLICY_BYTES
    from cbtrack.yamlio import decode_text, parse_policy

    if data is None:
        return "the policy was deleted; every command needs it"
    if isinstance(data, str):
        return data.removeprefix(POLICY_FILE).lstrip(": ")
    try:
        parse_policy(decode_text(data, MAX_POLICY_BYTES, POLICY_FILE), POLICY_FILE)
    except StoreError as exc:
        return exc.message.removeprefix(POLICY_FILE).lstrip(": ").rstrip(".")
    return None


def differs_from_head(root: Path, rels: Sequence[str]) -> list[str]:
    """The paths among `rels` whose working-tree file is not what HEAD holds (edited,
    added, removed, or not a plain file). One git process."""
    return [rel for rel, _ in head_differences(root, rels)]


def head_differences(root: Path, rels: Sequence[str]) -> list[tuple[str, bool]]:
    """(path, whether HEAD holds it) for each of `rels` that differs from HEAD."""
    raw = run_bytes(root, "ls-tree", "-z", "HEAD", "--", *rels) if rev(root, "HEAD") else b""
    held: dict[str, str] = {}
    for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        if path:
            held[path] = meta.split()[2]
    out = []
    for rel in rels:
        try:
            st = os.lstat(root / rel)
        except FileNotFoundError:
            if rel in held:
                out.append((rel, True))
            continue
        if not stat.S_ISREG(st.st_mode) or rel not in held:
            out.append((rel, rel in held))
            continue
        data = (root / rel).read_bytes()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != held[rel]:
            out.append((rel, True))
    return out


def has_changes(root: Path, rel: str) -> bool:
    """True when `rel` differs from the last commit (edited, new, or removed)."""
    return bool(run(root, "status", "--porcelain", "--untracked-files=all", "--", rel).stdout)


def untracked(root: Path) -> list[str]:
    """Files git neither tracks nor ignores (what a plain `git add -A` would take in)."""
    out = run_bytes(root, "ls-files", "--others", "--exclude-standard", "-z")
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def stage(root: Path, rels: list[str]) -> None:
    """Stage each path as the working tree has it: written, or gone (unmerged ones too)."""
    present = [r for r in rels if (root / r).exists()]
    missing = [r for r in rels if r not in present]
    if present:
        run(root, "add", "-A", "--", *present)
    if missing:
        run(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", *missing)


# --- refs and ancestry ---------------------------------------------------------------


def rev(root: Path, ref: str) -> str | None:
    """The commit a ref names, or None when it does not exist."""
    proc = run(root, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return run(root, "merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def merge_base(root: Path, a: str, b: str) -> str | None:
    proc = run(root, "merge-base", a, b, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def first_root(root: Path, head: str = "HEAD") -> str | None:
    """The store's first commit: where `head`'s first-parent line begins."""
    proc = run(root, "rev-list", "--first-parent", "--max-parents=0", head, check=False)
    found = proc.stdout.split()
    return found[-1] if proc.returncode == 0 and found else None


def set_ref(root: Path, ref: str, sha: str, why: str) -> None:
    run(root, "update-ref", "-m", why, ref, sha)


def refs_under(root: Path, prefix: str) -> dict[str, str]:
    """Every ref below `prefix` (like refs/cbtrack/synced/), name -> commit."""
    out = run(root, "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def current_branch(root: Path) -> str | None:
    proc = run(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return proc.stdout.strip() or None


def has_remote(root: Path, name: str) -> bool:
    return name in run(root, "remote").stdout.split()


def write_commit_graph(root: Path) -> None:
    """Best effort: an incremental commit-graph with changed-path filters, which makes
    `git log -- PATH` (cbtrack log) fast on a long history. A few ms per sync."""
    run(root, "commit-graph", "write", "--reachable", "--changed-paths", "--split", check=False)


def short(sha: str) -> str:
    return sha[:10]
