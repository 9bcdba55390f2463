"""A new desk on a big store: its first sync fixes only wrong modes, judges each commit once
(outside the store lock where it can), says what it is doing on a terminal, and a commit
that brings many records at once is judged as closely as a small one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cbtrack import audit, store
from tests.bench.make_store import make_store
from tests.helpers_git import Desk, at, git, office
from tests.test_terminal import on_a_terminal


def _clone(tmp_path: Path, name: str, umask: int = 0o022) -> Desk:
    """A plain `git clone` of the office's remote, under the usual umask."""
    old = os.umask(umask)
    try:
        git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(tmp_path / name))
    finally:
        os.umask(old)
    return Desk(tmp_path / name, name)


def test_first_sync_fixes_only_the_modes_that_are_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = office(tmp_path, users=("jlee",))
    for hhmm in ("09:00", "09:05", "09:10"):
        a.add(now=at(hhmm), reason=f"Question about parking ({hhmm})")
    a.sync(at("09:20"))
    b = _clone(tmp_path, "kim")
    records = sorted((b.path / "callbacks").rglob("*.yaml"))
    assert len(records) == 3
    assert all(p.stat().st_mode & 0o077 for p in records)  # the clone left them readable
    os.chmod(records[0], 0o600)  # already right: sync must leave it alone
    changed: list[Path] = []
    real = os.chmod

    def spy(path: Any, mode: int, *args: Any, **kw: Any) -> None:
        changed.append(Path(path))
        real(path, mode, *args, **kw)

    monkeypatch.setattr(os, "chmod", spy)
    b.sync(at("09:30"))
    assert records[0] not in changed
    assert set(records[1:]) <= set(changed)
    assert store.loose_modes(b.path) == []
    changed.clear()
    b.sync(at("09:31"))
    assert changed == []  # nothing is wrong any more: nothing is touched


def test_commits_judged_once_are_not_judged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = office(tmp_path)
    judged: list[str] = []
    real = audit.judge_commits

    def spy(root: Path, rd: Any, walked: list[Any], *args: Any, **kw: Any) -> Any:
        judged.extend(c.sha for c in walked)
        return real(root, rd, walked, *args, **kw)

    monkeypatch.setattr(audit, "judge_commits", spy)
    a.add(now=at("09:00"))
    a.add(now=at("09:01"), reason="Asks where to park for the new building")
    a.sync(at("09:02"))
    assert judged == []  # a desk's own commits were judged as they were made
    out = json.loads(b.ok("sync", "--json", now=at("09:03")))
    assert out["incoming_commits"] == 2
    assert out["judged_before_lock"] == 2  # judged before taking the lock ...
    assert sorted(judged) == sorted(set(judged)) and len(judged) == 2  # ... and only then
    b.sync(at("09:04"))
    assert len(judged) == 2
    a.add(now=at("09:05"), reason="Asks about the new parking garage")
    a.sync(at("09:06"))
    b.sync(at("09:07"))
    assert len(judged) == 3 and judged[-1] == a.head()


def _cbtrack(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cbtrack", "--store", str(root), "--as", "jlee", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


def test_progress_is_shown_on_a_terminal_or_when_forced_and_not_when_piped(
    tmp_path: Path,
) -> None:
    (a,) = office(tmp_path, users=("jlee",))
    a.add(now=at("09:00"))
    b = _clone(tmp_path, "kim", umask=0o077)
    piped = _cbtrack(b.path, "sync")
    assert piped.returncode == 0, piped.stderr
    assert "Fetching" not in piped.stderr and "\x1b" not in piped.stderr
    forced = _cbtrack(b.path, "verify", "--full", CBTRACK_PROGRESS="1")
    assert forced.returncode == 0, forced.stderr
    assert "Reading the history..." in forced.stderr
    assert "\x1b" not in forced.stderr  # plain lines when stderr is not a terminal
    forced = _cbtrack(b.path, "sync", CBTRACK_PROGRESS="1")
    assert "Fetching from 'origin'..." in forced.stderr
    # on a terminal, without waiting the usual second first
    script = (
        "from cbtrack.progress import Progress; Progress.DELAY = 0.0; "
        "from cbtrack.cli import main; main()"
    )
    argv = [sys.executable, "-c", script, "--store", str(b.path), "--as", "kim"]
    env = {k: v for k, v in os.environ.items() if k != "CBTRACK_PROGRESS"}
    shown = on_a_terminal([*argv, "verify", "--full"], env)
    assert "\x1b[KReading the history..." in shown
    shown = on_a_terminal([*argv, "sync"], env)
    assert "\x1b[KFetching from 'origin'..." in shown


def _findings(root: Path, workers: str) -> list[tuple[str, str | None]]:
    proc = _cbtrack(root, "verify", "--full", "--json", CBTRACK_WORKERS=workers)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return sorted((f["kind"], f["callback"]) for f in json.loads(proc.stdout)["findings"])


def test_a_big_commit_is_judged_as_closely_as_a_small_one(tmp_path: Path) -> None:
    root = make_store(tmp_path / "store", 40, 160, seed=3)
    records = sorted((root / "callbacks").rglob("*.yaml"))
    assert _findings_ok(root)
    git(root, "update-ref", "-d", "refs/cbtrack/verified")  # the amend below is no rewrite
    # tamper inside the first commit (which brings all 200 records): one record's ID
    # no longer matches its file name, another is not YAML at all
    renamed, broken = records[7], records[150]
    data = yaml.safe_load(renamed.read_text())
    data["id"] = data["id"][:-1] + ("a" if data["id"][-1] != "a" else "b")
    renamed.write_text(yaml.safe_dump(data, sort_keys=False))
    broken.write_text("id: [unclosed\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--amend", "--no-verify", "--no-edit")
    # and a second big commit, by hand: 120 records deleted, one attempt rewritten
    gone = records[20:140]
    for p in gone:
        p.unlink()
    edited = next(p for p in records[140:] if p != broken and "attempts:" in p.read_text())
    data = yaml.safe_load(edited.read_text())
    data["attempts"][0]["note"] = "rewritten later"
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "hand edit", author="mallory")
    shutil.rmtree(root / ".cbtrack" / "cache", ignore_errors=True)
    want = sorted(
        [("folder", renamed.stem), ("unreadable", broken.stem), ("changed", edited.stem)]
        + [("deleted", p.stem) for p in gone]
    )
    assert _findings(root, "1") == want
    assert _findings(root, "2") == want  # the same when worker processes share the work


def _findings_ok(root: Path) -> bool:
    proc = _cbtrack(root, "verify", "--full", "--json")
    return proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True
