"""Git: the audit trail. The only module that runs git.

Every change is one commit authored and committed by the acting staff user, with a
message that names the action and the callback ID and nothing about the patient.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from cbtrack.errors import GitError, StoreError

MERGE_DRIVER = "cbtrack"
TOOL_USER = "cbtrack"


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
    try:
        proc = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *args],
            cwd=root,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed; install git, then try again.") from None
    if check and proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise GitError(f"git {args[0]} failed in {root}: {first[:200]}")
    return proc


def is_repo_root(root: Path) -> bool:
    return (root / ".git").exists()


def driver_command() -> str:
    """The merge driver, runnable without `cbtrack` on PATH: this Python, `-m cbtrack`."""
    return f"{shlex.quote(sys.executable)} -m cbtrack merge-driver %O %A %B %P"


def ensure_config(root: Path) -> None:
    """Register what a plain `git clone` does not carry: the merge driver, safe fsync."""
    want = {
        f"merge.{MERGE_DRIVER}.name": "cbtrack record merge (union of attempts and events)",
        f"merge.{MERGE_DRIVER}.driver": driver_command(),
        "core.fsync": "committed",
    }
    proc = run(root, "config", "--local", "--get-regexp", r"^(merge\.cbtrack\.|core\.fsync$)",
               check=False)
    have = dict(
        line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line
    )
    for key, value in want.items():
        if have.get(key) != value:
            run(root, "config", "--local", key, value)


def init_repo(root: Path) -> None:
    if not is_repo_root(root):
        run(root, "init", "-q", "-b", "main")
    ensure_config(root)


def require_repo(root: Path) -> None:
    if not is_repo_root(root):
        raise StoreError(
            f"The store at {root} is not a git repository, so changes cannot be recorded; "
            f"run 'cbtrack init {root}' to make it one."
        )


def commit(root: Path, paths: list[Path], message: str, user: str, when: datetime) -> None:
    """Stage `paths` (written, moved or removed) and commit them as `user`."""
    require_repo(root)
    ensure_config(root)
    rels = [str(p.relative_to(root)) for p in paths]
    env = identity_env(user, when)
    run(root, "add", "-A", "--", *rels, env=env)
    run(root, "commit", "-q", "--no-verify", "-m", message, env=env)


def commit_all(root: Path, message: str, user: str, when: datetime | None) -> bool:
    """Stage everything and commit; False when there was nothing to commit."""
    env = identity_env(user, when)
    run(root, "add", "-A", env=env)
    if run(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return False
    run(root, "commit", "-q", "--no-verify", "-m", message, env=env)
    return True
