"""cbtrack log: a record's history from its commits, merged with its attempts and events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cbtrack.cli import app
from tests.helpers_git import UPSTREAM, Desk, at, git, office


def log_json(desk: Desk, cid: str) -> list[dict[str, Any]]:
    out = json.loads(desk.ok("log", cid, "--json"))
    assert out["id"] == cid
    entries: list[dict[str, Any]] = out["entries"]
    return entries


def test_log_follows_the_record_from_open_to_closed(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.attempt(cid, at("09:30"), "reached")
    a.ok("close", cid, "--reason", "reached", "--summary", "Gave directions", now=at("10:00"))
    entries = log_json(a, cid)
    commits = [e for e in entries if e["kind"] == "commit"]
    assert [c["what"] for c in commits] == [
        f"add {cid}",
        f"attempt (reached) {cid}",
        f"close (reached) {cid}",
    ]
    assert all(c["by"] == "jlee" for c in commits)
    assert commits[0]["changes"] == ["record created"]
    assert any(ch.startswith("+attempt ") for ch in commits[1]["changes"])
    assert "closure" in commits[2]["changes"] and "status" in commits[2]["changes"]
    attempt = next(e for e in entries if e["kind"] == "attempt")
    assert attempt["commit"] == commits[1]["commit"]
    assert attempt["what"] == "phone reached" and attempt["by"] == "jlee"
    kinds = [e["kind"] for e in entries]
    assert kinds.count("event") == 2  # created, closed
    times = [e["at"] for e in entries]
    assert times == sorted(times)


def test_log_shows_who_did_what_from_two_desks(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"))
    b.attempt(cid, at("09:40"))
    a.sync(at("10:00"))
    b.sync(at("10:01"))
    entries = log_json(b, cid)
    attempts = [e for e in entries if e["kind"] == "attempt"]
    assert [x["by"] for x in attempts] == ["jlee", "kim"]
    assert all(x["commit"] for x in attempts)
    subjects = [e["what"] for e in entries if e["kind"] == "commit"]
    assert f"sync: merge {UPSTREAM}" in subjects
    text = b.ok("log", cid)
    assert text.startswith(f"History of {cid}:")
    assert "kim" in text and "jlee" in text and f"sync: merge {UPSTREAM}" in text


def test_log_of_an_unknown_id_is_refused(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    result = a.run("log", "cb-20261127-zzzzz")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: No callback cb-20261127-zzzzz")
    result = a.run("log", "not-an-id")
    assert result.exit_code == 1 and "Traceback" not in result.stderr


def test_log_of_a_record_deleted_by_hand_still_shows_its_history(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    git(a.path, "rm", "-q", f"callbacks/open/{cid}.yaml")
    a.commit_by_hand("remove")
    entries = log_json(a, cid)
    commits = [e for e in entries if e["kind"] == "commit"]
    assert commits[-1]["changes"] == ["record removed"]
    assert [e["kind"] for e in entries].count("event") == 1


def test_log_needs_no_user_and_prints_no_git_noise(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    result = a.runner.invoke(app, ["--store", str(a.path), "log", cid, "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    json.loads(result.stdout)
