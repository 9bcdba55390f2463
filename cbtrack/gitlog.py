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

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cbtrack.errors import GitError, Refused, StoreError
from cbtrack.store import held_lock_fds

MERGE_DRIVER = "cbtrack"
TOOL_USER = "cbtrack"
RECORDS = "callbacks"
VERIFIED_REF = "refs/cbtrack/verified"
SYNCED_PREFIX = "refs/cbtrack/synced/"
HOOK_MARK = "# cbtrack pre-commit hook"
NULL_SHA = "0" * 40


def identity_env(user: str, when: datetime | None) -> dict[str, str]:
    """Author and committer set by the tool, so a machine with no git identity works."""
    env = dict(os.environ)
    email = f"{user}@cbtrack.invalid"
    env.update(
        GIT_AUTHOR_NAME=user,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=user,
        GIT_COMMITTER_EMAIL=email,
        GIT_TERMINAL_PROMPT="0",
    )
    if when is not None:
        stamp = when.isoformat()
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return env


def run(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = _spawn(root, ["-c", "commit.gpgsign=false", *args], env=env, input=input, text=True)
    if check and proc.returncode != 0:
        raise _failed(root, args[0], proc.stderr)
    return proc


def run_bytes(root: Path, *args: str, input: bytes | None = None) -> bytes:
    """A git command whose output is binary or NUL-separated (blobs, -z listings)."""
    proc = _spawn(root, list(args), input=input)
    if proc.returncode != 0:
        raise _failed(root, args[0], proc.stderr.decode("utf-8", "replace"))
    out: bytes = proc.stdout
    return out


def _spawn(root: Path, args: list[str], **options: Any) -> subprocess.CompletedProcess[Any]:
    """Run git in the store; its children inherit the store lock (see `held_lock_fds`)."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            check=False,
            pass_fds=held_lock_fds(),
            **options,
        )
    except FileNotFoundError:
        raise GitError("git is not installed; install git, then try again.") from None


def _failed(root: Path, command: str, stderr: str) -> GitError:
    last = (stderr.strip().splitlines() or ["unknown error"])[-1]
    return GitError(f"git {command} failed in {root}: {last[:200]}")


def is_repo_root(root: Path) -> bool:
    return (root / ".git").exists()


# --- local set-up a clone does not carry ----------------------------------------------


def driver_command() -> str:
    """The merge driver, runnable without `cbtrack` on PATH and without the CLI's start-up:
    this Python, `-m cbtrack.mergedriver` (the same code as `cbtrack merge-driver`)."""
    return f"{shlex.quote(sys.executable)} -m cbtrack.mergedriver %O %A %B %P"


def hook_text() -> str:
    """The pre-commit hook: validates staged records with this Python, no PATH needed."""
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARK}, installed by cbtrack: refuses staged callback records that do not\n"
        "# validate, or that change or drop an attempt or event.\n"
        f"exec {shlex.quote(sys.executable)} -m cbtrack --store . check-staged\n"
    )


def _wanted_config() -> dict[str, str]:
    return {
        f"merge.{MERGE_DRIVER}.name": "cbtrack record merge (union of attempts and events)",
        f"merge.{MERGE_DRIVER}.driver": driver_command(),
        "core.fsync": "committed",
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
            r"^(merge\.cbtrack\.|core\.fsync$|pull\.rebase$)",
            check=False,
        )
        have = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        for key, value in _wanted_config().items():
            if have.get(key) != value:
                run(root, "config", "--local", key, value)
    ensure_hook(root)


def ensure_hook(root: Path) -> None:
    """Install or refresh our pre-commit hook; a hook of the practice's own is left alone."""
    hooks = root / ".git" / "hooks"
    if not (root / ".git").is_dir():
        return
    path = hooks / "pre-commit"
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
    tmp = hooks / ".pre-commit.cbtrack-tmp"
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
    """The store must be a git repository, and (for a change) not in the middle of a merge:
    a commit then would either fail or commit a half-made merge."""
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


# --- commits -------------------------------------------------------------------------


def commit(root: Path, paths: list[Path], message: str, user: str, when: datetime) -> None:
    """Stage `paths` (written, moved or removed) and commit only them, as `user`: anything
    else someone staged by hand stays out of the tool's commit (and under the hook)."""
    require_repo(root)
    ensure_config(root)
    rels = [str(p.relative_to(root)) for p in paths]
    env = identity_env(user, when)
    run(root, "add", "-A", "--", *rels, env=env)
    run(root, "commit", "-q", "--no-verify", "-m", message, "--", *rels, env=env)


def commit_all(root: Path, message: str, user: str, when: datetime | None) -> bool:
    """Stage everything and commit; False when there was nothing to commit."""
    env = identity_env(user, when)
    run(root, "add", "-A", env=env)
    if run(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return False
    run(root, "commit", "-q", "--no-verify", "-m", message, env=env)
    return True


def commit_paths(root: Path, rels: list[str], message: str, user: str, when: datetime) -> bool:
    """Stage exactly `rels` and commit only them; False when they hold no change."""
    env = identity_env(user, when)
    run(root, "add", "-A", "--", *rels, env=env)
    if run(root, "diff", "--cached", "--quiet", "--", *rels, check=False).returncode == 0:
        return False
    run(root, "commit", "-q", "--no-verify", "-m", message, "--", *rels, env=env)
    return True


def has_changes(root: Path, rel: str) -> bool:
    """True when `rel` differs from the last commit (edited, new, or removed)."""
    return bool(run(root, "status", "--porcelain", "--untracked-files=all", "--", rel).stdout)


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


# --- history in bulk -----------------------------------------------------------------


@dataclass
class CommitInfo:
    sha: str
    parents: list[str]
    author: str
    at: str
    subject: str


def commits(
    root: Path,
    head: str,
    since: str | None = None,
    paths: list[str] | None = None,
) -> list[CommitInfo]:
    """Commits reachable from `head` and not from `since`, oldest first (parents first)."""
    args = ["log", "--reverse", "--topo-order", "--format=%H%x1f%P%x1f%an%x1f%aI%x1f%s%x1e"]
    if paths:
        args.append("--full-history")
    args.append(head)
    if since:
        args.append(f"^{since}")
    if paths:
        args += ["--", *paths]
    out: list[CommitInfo] = []
    for chunk in run(root, *args).stdout.split("\x1e"):
        parts = chunk.strip("\n").split("\x1f")
        if len(parts) == 5:
            sha, parents, author, at, subject = parts
            out.append(CommitInfo(sha, parents.split(), author, at, subject))
    return out


@dataclass
class Change:
    """One file changed between a parent and a commit (raw diff-tree entry)."""

    old: str | None  # blob in the parent, None if added
    new: str | None  # blob in the commit, None if deleted
    path: str


def tree_changes(
    root: Path,
    pairs: list[tuple[str, str]],
    under: str = RECORDS,
) -> list[list[Change]]:
    """For each (parent, commit): the files under `under` that differ. One git process."""
    if not pairs:
        return []
    lines = "".join(f"{commit} {parent}\n" for parent, commit in pairs)
    raw = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "-z",
        "--always",
        "--no-renames",
        "--raw",
        "--",
        under,
        input=lines.encode(),
    )
    tokens = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[list[Change]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith(":"):
            meta = tok.split()
            old, new = meta[2], meta[3]
            out[-1].append(
                Change(
                    None if old == NULL_SHA else old,
                    None if new == NULL_SHA else new,
                    tokens[i + 1],
                )
            )
            i += 2
            continue
        if tok.strip():
            out.append([])
        i += 1
    if len(out) != len(pairs):
        raise GitError("git diff-tree gave an unexpected listing; the repository may be damaged.")
    return out


def read_blobs(root: Path, specs: list[str]) -> dict[str, bytes | None]:
    """Contents for blob IDs or `commit:path` specs, in one git process; None if missing."""
    unique = list(dict.fromkeys(specs))
    if not unique:
        return {}
    raw = run_bytes(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in unique).encode())
    out: dict[str, bytes | None] = {}
    pos = 0
    for spec in unique:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            out[spec] = None
            if len(header) == 3:
                pos += int(header[2]) + 1
            continue
        size = int(header[2])
        out[spec] = raw[pos : pos + size]
        pos += size + 1
    return out


def staged_changes(root: Path) -> list[Change]:
    """Files under callbacks/ that the index changes against HEAD (all, if no HEAD yet)."""
    head = rev(root, "HEAD")
    args = ["diff-index", "--cached", "-r", "-z", "--no-renames", "--raw"]
    raw = run_bytes(root, *args, head or "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "--", RECORDS)
    tokens = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[Change] = []
    for i in range(0, len(tokens) - 1, 2):
        meta = tokens[i].split()
        if len(meta) < 5:
            continue
        old, new = meta[2], meta[3]
        out.append(
            Change(
                None if old == NULL_SHA else old, None if new == NULL_SHA else new, tokens[i + 1]
            )
        )
    return out


def pending_files(root: Path) -> list[tuple[str, str]]:
    """Uncommitted changes as (two-letter status, path), untracked files included."""
    raw = run_bytes(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    out: list[tuple[str, str]] = []
    for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
        if len(entry) > 3:
            out.append((entry[:2], entry[3:]))
    return out


def unmerged_paths(root: Path) -> list[str]:
    raw = run_bytes(root, "diff", "--name-only", "-z", "--diff-filter=U")
    return sorted({p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p})


def changed_since(root: Path, commit: str, under: str = RECORDS) -> list[str]:
    """Working-tree files under `under` that differ from `commit` (unmerged ones included)."""
    raw = run_bytes(root, "diff", "--name-only", "-z", "--no-renames", commit, "--", under)
    return sorted({p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p})
