"""Helpers for the robustness tests (concurrency, crashes, hostile input, privacy).

Also a worker: `python helpers_robust.py worker STORE USER N OUT` makes N changes (add,
attempt, assign in turn) through the real CLI code in one process, and appends one JSON
line to OUT per change that the CLI reported done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
import typer.testing
from typer.testing import CliRunner

from cbtrack.files import TMP_PREFIX
from cbtrack.store import Store

NOW = "2026-11-27T10:00:00-05:00"  # a Friday, inside business and call hours
HERE = Path(__file__).resolve().parent


def cbtrack_argv() -> list[str]:
    """The installed cbtrack, as cron would run it (works with a non-editable install)."""
    return [sys.executable, "-m", "cbtrack"]


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a subprocess: no machine git config, a private HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "CBTRACK_")) and k not in ("HOME", "XDG_CACHE_HOME")
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        CBTRACK_NOW=NOW,
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def git(store: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=store, capture_output=True, text=True, check=True
    ).stdout


def commit_count(store: Path) -> int:
    return int(git(store, "rev-list", "--count", "HEAD").strip())


def git_clean(store: Path) -> str:
    """`git status --porcelain` (untracked files included): empty when all is committed."""
    return git(store, "status", "--porcelain", "--untracked-files=all")


def add_args(patient: str, phone: str = "+15550100123", reason: str = "Question") -> list[str]:
    """`add` of a general callback (one required detail)."""
    return [
        "add",
        "--patient",
        patient,
        "--phone",
        phone,
        "--category",
        "general",
        "--reason",
        reason,
        "--detail",
        "topic=parking",
    ]


def attempt_args(cid: str, note: str) -> list[str]:
    """A forced phone attempt (spacing and maximum do not get in the way)."""
    return [
        "attempt",
        cid,
        "--method",
        "phone",
        "--result",
        "no_answer",
        "--note",
        note,
        "--force",
        "--why",
        "robustness test",
    ]


def temp_files(store: Path) -> list[Path]:
    return sorted(p for p in store.rglob(f"{TMP_PREFIX}*") if ".git" not in p.parts)


def load_all(store: Path) -> dict[str, Any]:
    """Every record under callbacks/ (each must load), by ID."""
    s = Store(store)
    out: dict[str, Any] = {}
    for path in [*s.open_paths(), *s.closed_paths()]:
        cb = s.load_path(path)
        out.setdefault(cb.id, []).append(cb)
    return out


def file_state(store: Path) -> dict[str, bytes]:
    """Files under callbacks/ plus the HEAD commit: what 'old state' means in the tests."""
    files = {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted((store / "callbacks").rglob("*"))
        if p.is_file()
    }
    files["<HEAD>"] = git(store, "rev-parse", "HEAD").encode()
    return files


_COMMAND: list[Any] = []


def click_command() -> Any:
    """The CLI's click command, built once (typer rebuilds it on every call otherwise,
    which costs more than the change itself in a test that makes hundreds)."""
    if not _COMMAND:
        from cbtrack.cli import app

        _COMMAND.append(typer.main.get_command(app))
    return _COMMAND[0]


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    """The CLI in this process, as CliRunner runs it: (exit code, stdout, stderr)."""
    from cbtrack.cli import app

    command = click_command()
    real = typer.testing._get_command
    typer.testing._get_command = lambda _app: command
    try:
        result = CliRunner().invoke(app, argv)
    finally:
        typer.testing._get_command = real
    return result.exit_code, result.stdout, result.stderr


def worker(store: str, user: str, n: int, out: str) -> int:
    """N changes through the CLI code: add, attempt, assign in turn, on this worker's own
    records; each change reported done becomes one JSON line in OUT."""
    os.umask(0o077)
    base = ["--store", store, "--as", user]
    mine: list[str] = []
    owners: dict[str, str] = {}
    waits = 0
    with open(out, "a", encoding="utf-8") as fh:
        for i in range(n):
            step = i % 3
            if step == 0 or not mine:
                argv = add_args(f"Worker {user} patient {i}", reason=f"Worker {user} change {i}")
                code, stdout, stderr = run_in_process([*base, *argv])
                done: dict[str, Any] = {"op": "add", "id": stdout.strip()}
                if code == 0:
                    mine.append(done["id"])
                    owners[done["id"]] = "front_desk"
            elif step == 1:
                note = f"Worker {user} attempt {i}: no answer, will try again"
                code, stdout, stderr = run_in_process([*base, *attempt_args(mine[-1], note)])
                done = {"op": "attempt", "id": mine[-1], "note": note}
            else:
                cid = mine[-1]
                owner = "scheduling" if owners[cid] != "scheduling" else "billing"
                code, stdout, stderr = run_in_process([*base, "assign", cid, owner])
                done = {"op": "assign", "id": cid, "owner": owner}
                if code == 0:
                    owners[cid] = owner
            waits += "Waiting for another cbtrack command" in stderr
            if code != 0:
                sys.stderr.write(f"change {i} failed ({code}): {stderr}\n")
                return 1
            fh.write(json.dumps(done) + "\n")
            fh.flush()
    print(json.dumps({"waits": waits}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        sys.exit(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    sys.exit("usage: helpers_robust.py worker STORE USER N OUT")
