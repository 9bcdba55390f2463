"""Desks that share one bare remote, for the git tests.

The first desk is made with `cbtrack init` and pushes the store to the bare remote; every
other desk is a plain `git clone` used with `cbtrack --store CLONE`, as a new workstation
would be. Git runs with HOME in tmp_path and no system or global config.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from cbtrack.cli import app

DAY = "2026-11-27"  # a Friday, inside business and call hours


def _default_branch() -> str:
    """The branch name this git gives a new repository when nothing is configured."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        subprocess.run(["git", "init", "-q", tmp], env=env, check=True)
        out = subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=tmp, env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
        return out.stdout.strip()


BRANCH = _default_branch()
UPSTREAM = f"origin/{BRANCH}"


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00-05:00"


def git_env(author: str = "someone") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(Path(env.get("HOME", "/nonexistent")) / ".gitconfig"),
        GIT_AUTHOR_NAME=author,
        GIT_AUTHOR_EMAIL=f"{author}@example.invalid",
        GIT_COMMITTER_NAME=author,
        GIT_COMMITTER_EMAIL=f"{author}@example.invalid",
        GIT_AUTHOR_DATE=at("18:00"),  # hand commits at a fixed time, after the day's work
        GIT_COMMITTER_DATE=at("18:00"),
    )
    return env


def git(
    cwd: Path, *args: str, check: bool = True, author: str = "someone"
) -> subprocess.CompletedProcess[str]:
    """Plain git, as a person at the desk would run it (a hand identity, no cbtrack)."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(author), capture_output=True, text=True, check=False
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


class Desk:
    """One workstation: a clone of the shared store, used by one staff member."""

    def __init__(self, path: Path, user: str) -> None:
        self.path = path
        self.user = user
        self.runner = CliRunner()

    def run(self, *args: str, now: str = at("09:00"), user: str | None = None) -> Any:
        argv = ["--store", str(self.path), "--as", user or self.user, *args]
        return self.runner.invoke(app, argv, env={"CBTRACK_NOW": now})

    def ok(self, *args: str, now: str = at("09:00")) -> str:
        result = self.run(*args, now=now)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return str(result.stdout)

    def add(self, now: str = at("09:00"), reason: str = "Question about parking") -> str:
        return self.ok(
            "add",
            "--patient",
            "Ada Example",
            "--phone",
            "+15550100123",
            "--category",
            "general",
            "--reason",
            reason,
            "--detail",
            "topic=parking",
            now=now,
        ).strip()

    def attempt(self, cid: str, now: str, result: str = "no_answer") -> str:
        note = f"Tried the mobile at {now[11:16]}; will try again after lunch"
        return self.ok(
            "attempt", cid, "--method", "phone", "--result", result, "--note", note, now=now
        )

    def sync(self, now: str = at("12:00")) -> str:
        return self.ok("sync", now=now)

    def record(self, cid: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.ok("show", cid, "--json"))
        return data

    def record_path(self, cid: str) -> Path:
        hits = sorted(self.path.glob(f"callbacks/**/{cid}.yaml"))
        assert len(hits) == 1, hits
        return hits[0]

    def edit(self, cid: str, change: Any) -> None:
        """A hand edit of a record's YAML, the way someone in a text editor would."""
        path = self.record_path(cid)
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def commit_by_hand(self, message: str = "hand edit", verify: bool = False) -> Any:
        git(self.path, "add", "-A")
        args = ["commit", "-q", "-m", message] + ([] if verify else ["--no-verify"])
        return git(self.path, *args, check=False)

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").stdout.strip()

    def files(self) -> dict[str, bytes]:
        root = self.path / "callbacks"
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.yaml"))}


def office(tmp_path: Path, users: tuple[str, ...] = ("jlee", "kim")) -> list[Desk]:
    """A bare remote and one desk per user; the first desk created the store."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))  # git's default branch, as staff would
    first = Desk(tmp_path / users[0], users[0])
    result = CliRunner().invoke(
        app, ["--as", users[0], "init", str(first.path)], env={"CBTRACK_NOW": at("08:00")}
    )
    assert result.exit_code == 0, result.stderr
    git(first.path, "remote", "add", "origin", str(remote))
    first.sync(now=at("08:00"))
    desks = [first]
    for user in users[1:]:
        path = tmp_path / user
        git(tmp_path, "clone", "-q", str(remote), str(path))
        desks.append(Desk(path, user))
    return desks


def same_everywhere(desks: list[Desk]) -> None:
    """Every desk holds the same records and the same HEAD, and each validates."""
    first = desks[0].files()
    for desk in desks:
        assert desk.files() == first, desk.user
        assert desk.head() == desks[0].head(), desk.user
        desk.ok("validate")
