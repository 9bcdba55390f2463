"""Running git: every git process cbtrack starts goes through `run` or `run_bytes`, as the
acting user, signed when the store asks for it, and never while holding a lock fd open."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from cbtrack.errors import GitError, Refused
from cbtrack.files import held_lock_fds

RECORDS = "callbacks"  # the folder of records
NULL_SHA = "0" * 40
FILE_MODE = "100644"


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


#: Per store (its root): the key spec git signs this process's commits with. Set once
#: the acting user is known (`sign_with`), by `cbtrack.identity` under `signing: required`.
_signing: dict[Path, str] = {}


def sign_with(root: Path, spec: str | None) -> None:
    """Sign every commit this process makes in the store at `root` with `spec` (None:
    unsigned)."""
    if spec is None:
        _signing.pop(root, None)
    else:
        _signing[root] = spec


def _sign_options(root: Path) -> list[str]:
    spec = _signing.get(root)
    if spec is None:
        return ["-c", "commit.gpgsign=false"]
    return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={spec}",
            "-c", "commit.gpgsign=true"]  # fmt: skip


def run(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: str | None = None,
    keep_lock: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run git in the store. `keep_lock=False` for a command that may outlive this one
    (fetch, push and their ssh): it must not keep the store locked if we are killed."""
    proc = _spawn(root, [*_sign_options(root), *args], keep_lock, env=env, input=input, text=True)
    if check and proc.returncode != 0:
        raise _failed(root, args[0], proc.stderr)
    return proc


def run_bytes(root: Path, *args: str, input: bytes | None = None) -> bytes:
    """A git command whose output is binary or NUL-separated (blobs, -z listings)."""
    proc = _spawn(root, list(args), True, input=input)
    if proc.returncode != 0:
        raise _failed(root, args[0], proc.stderr.decode("utf-8", "replace"))
    out: bytes = proc.stdout
    return out


def _spawn(
    root: Path, args: list[str], keep_lock: bool, **options: Any
) -> subprocess.CompletedProcess[Any]:
    """Run git in the store. A local git inherits the store lock (see `held_lock_fds`): if
    we are killed mid-commit, the next command waits for it to finish. A network git does
    not: a stalled fetch or push (or its ssh) must not hold every desk's store. Git never
    reads `refs/replace/` here: a replacement would show the rule book (and the signature
    check) another commit than the one history holds."""
    env = dict(options.pop("env", None) or os.environ, GIT_NO_REPLACE_OBJECTS="1")
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            check=False,
            pass_fds=held_lock_fds() if keep_lock else (),
            env=env,
            **options,
        )
    except FileNotFoundError:
        raise GitError("git is not installed; install git, then try again.") from None


def _signing_failed(root: Path, stderr: str) -> Refused:
    last = (stderr.strip().splitlines() or ["no details"])[-1][:200]
    return Refused(
        f"The change could not be signed ({last}); check that CBTRACK_SIGNING_KEY names your "
        "key and, for a key with a passphrase, that it is loaded in ssh-agent (ssh-add)."
    )


def require_branch(root: Path) -> None:
    """Refuse a change on a detached HEAD (a `git checkout` of an old commit): its commit
    would be left behind, and lost to the desk, when the branch is checked out again."""
    try:
        head = (root / ".git" / "HEAD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # (a linked worktree, or unreadable: git itself says what is wrong)
    if not head.startswith("ref: "):
        raise Refused(
            "The store is not on a branch (a detached HEAD, after a 'git checkout' of an old "
            "commit), so a change made now would be left behind; check out your branch "
            "('git branch' lists it), then try again."
        )


#: What git says, in any of its lines, when it may not write into the repository.
_NOT_ALLOWED = ("permission denied", "insufficient permission", "read-only file system",
                "operation not permitted")  # fmt: skip


def _not_writable(root: Path, stderr: str) -> GitError | None:
    """One sentence of ours when git could not write into the store's repository (its
    permissions, or a full disk), else None."""
    said = stderr.lower()
    if any(words in said for words in _NOT_ALLOWED):
        return GitError(
            f"git may not write to {root / '.git'} (check that this login may write to that "
            "folder and everything in it)."
        )
    if "no space left on device" in said:
        return GitError(
            f"git could not write to {root / '.git'} because the disk is full (free some "
            "space, then run the command again)."
        )
    return None


def _failed(root: Path, command: str, stderr: str, otherwise: str | None = None) -> GitError:
    """A git command that failed: why, in our words where we know it (`_not_writable`),
    else `otherwise` (what the caller knows it means), else git's last line."""
    known = _not_writable(root, stderr)
    if known is not None:
        return known
    last = (stderr.strip().splitlines() or ["unknown error"])[-1]
    return GitError(f"git {command} failed in {root}: {otherwise or last[:200]}")


def is_repo_root(root: Path) -> bool:
    return (root / ".git").exists()
