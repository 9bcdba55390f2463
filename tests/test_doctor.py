"""`cbtrack doctor`: reports what crashes and hand edits leave behind (changing nothing),
and with --repair fixes what is safe to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import snapshot
from helpers_robust import commit_count, git_clean

from cbtrack.model import EventType
from cbtrack.store import Store
from cbtrack.yamlio import dump_record


def doctor(cli: Any, *args: str, user: str | None = None) -> tuple[int, dict[str, Any]]:
    result = cli("doctor", "--json", *args, user=user)
    assert result.stderr == "" or result.exit_code != 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, data


def kinds(data: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return sorted((p["kind"], p["path"], p["repairable"]) for p in data["problems"])


def test_a_healthy_store(cli: Any) -> None:
    cli.add()
    result = cli("doctor")
    assert result.exit_code == 0
    assert result.stdout == "The store is healthy.\n"
    code, data = doctor(cli)
    assert code == 0
    assert data["healthy"] is True and data["problems"] == [] and data["repair"] is False


def test_stale_files_are_reported_then_repaired(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    (s.open_dir / ".cbtrack-tmp-a1").write_text("x")
    (s.local_dir / ".cbtrack-tmp-b2").write_text("x")
    (store_dir / ".git" / "index.lock").write_text("")
    s.journal_path.write_text(f"{cid}\n")
    before = snapshot(store_dir)

    code, data = doctor(cli)
    assert code == 1
    assert kinds(data) == [
        ("interrupted_change", ".cbtrack/pending", True),
        ("stale_git_lock", ".git/index.lock", True),
        ("stale_temp_file", ".cbtrack/.cbtrack-tmp-b2", True),
        ("stale_temp_file", "callbacks/open/.cbtrack-tmp-a1", True),
    ]
    assert snapshot(store_dir) == before  # a report changes nothing
    assert (store_dir / ".git" / "index.lock").exists()
    assert (s.local_dir / ".cbtrack-tmp-b2").exists()

    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 0
    assert all(p["repaired"] for p in data["problems"])
    code, data = doctor(cli)
    assert code == 0 and data["problems"] == []
    assert git_clean(store_dir) == ""


def test_a_record_open_and_closed_keeps_the_newer_copy(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    old_open = s.open_path(cid).read_bytes()
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered the question")
    s.open_path(cid).write_bytes(old_open)  # as an interrupted move would leave it
    code, data = doctor(cli)
    assert code == 1
    assert ("open_and_closed", f"callbacks/open/{cid}.yaml", True) in kinds(data)
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 0, data
    assert not s.open_path(cid).exists()
    assert not s.load(cid).is_open
    assert git_clean(store_dir) == ""


def test_a_copy_of_an_open_record_in_the_closed_folder_is_dropped_in_one_run(
    cli: Any, store_dir: Path
) -> None:
    cid = cli.add()
    s = Store(store_dir)
    s.closed_path(cid).parent.mkdir(parents=True, exist_ok=True)
    s.closed_path(cid).write_bytes(s.open_path(cid).read_bytes())
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 0, data
    assert s.open_path(cid).exists() and not s.closed_path(cid).exists()
    code, data = doctor(cli)
    assert code == 0 and data["problems"] == []


def test_copies_whose_histories_differ_are_left_for_a_person(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    cli.ok("note", cid, "First note on the open copy")
    diverged = s.load(cid)
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered the question")
    diverged.log(diverged.created_at, "jlee", diverged.events[-1].type, note="Only here")
    s.open_path(cid).write_text(dump_record(diverged))
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 1
    assert ("open_and_closed", f"callbacks/open/{cid}.yaml", False) in kinds(data)
    assert s.open_path(cid).exists() and s.closed_path(cid).exists()


def test_a_file_whose_name_and_id_differ_needs_a_person(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    other = s.open_dir / "cb-20261127-zzzzz.yaml"
    shutil.copy(s.open_path(cid), other)
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 1
    found = kinds(data)
    assert ("id_mismatch", "callbacks/open/cb-20261127-zzzzz.yaml", False) in found
    assert ("uncommitted", "callbacks/open/cb-20261127-zzzzz.yaml", False) in found
    assert other.exists()
    result = cli("doctor")
    assert "id_mismatch: callbacks/open/cb-20261127-zzzzz.yaml: the file name and the " \
        "record's id differ [needs a person]" in result.stdout  # fmt: skip


def test_an_unexplained_hand_edit_is_named_and_left_uncommitted(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    cb = s.load(cid)
    cb.next_action = "Edited by hand, not committed"
    s.open_path(cid).write_text(dump_record(cb))
    commits = commit_count(store_dir)
    _code, data = doctor(cli)
    assert kinds(data) == [("uncommitted", f"callbacks/open/{cid}.yaml", False)]
    doctor(cli, "--repair", user="jlee")
    assert commit_count(store_dir) == commits


def test_a_valid_hand_edit_is_never_committed_by_a_repair(cli: Any, store_dir: Path) -> None:
    """A change no command made, even one the history rules would accept (a note "by" a
    colleague, typed into the file at a shared desk), is never committed in the name of
    whoever runs the repair: a person keeps it with git or drops it."""
    cid = cli.add()
    s = Store(store_dir)
    cb = s.load(cid)
    cb.log(cb.created_at, "mkhan", EventType.note, note="Written down, not yet committed")
    s.open_path(cid).write_text(dump_record(cb))
    commits = commit_count(store_dir)
    rel = f"callbacks/open/{cid}.yaml"
    code, data = doctor(cli)
    assert kinds(data) == [("uncommitted", rel, False)]
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 1
    assert commit_count(store_dir) == commits
    detail = data["problems"][0]["detail"]
    assert "not by a cbtrack command" in detail and f"git checkout HEAD -- {rel}" in detail
    assert rel in git_clean(store_dir)


def test_a_record_in_the_wrong_folder_is_moved(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered the question")
    s = Store(store_dir)
    s.closed_path(cid).rename(s.open_path(cid))
    code, data = doctor(cli)
    assert ("wrong_folder", f"callbacks/open/{cid}.yaml", True) in kinds(data)
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 0, data
    assert s.closed_path(cid).is_file() and not s.open_path(cid).exists()
    assert git_clean(store_dir) == ""


def test_repair_needs_a_user_and_a_report_does_not(cli: Any) -> None:
    cli.add()
    err = cli.refused("doctor", "--repair", user=None)
    assert err == "Error: Say who you are with --as USER or by setting CBTRACK_USER.\n"
    assert cli("doctor", user=None).exit_code == 0


def test_a_broken_policy_is_reported_not_a_crash(cli: Any, store_dir: Path) -> None:
    cli.add()
    policy = store_dir / "cbtrack.yaml"
    policy.write_text(policy.read_text() + "extra: &x 1\n")
    code, data = doctor(cli)
    assert code == 1
    assert [p["kind"] for p in data["problems"]] == ["policy_invalid", "uncommitted_policy"]
    assert data["problems"][0]["detail"].startswith("line ")
    result = cli("doctor")
    assert result.stdout.startswith("policy_invalid: cbtrack.yaml: line ")
    assert cli("doctor", "--repair", user="jlee").exit_code == 1  # policy needs a person


def test_invalid_records_are_listed(cli: Any, store_dir: Path) -> None:
    cli.add()
    bad = store_dir / "callbacks/open/cb-20261127-aaaaa.yaml"
    bad.write_text("reason: &r Private words\n")
    code, data = doctor(cli)
    assert code == 1
    problem = next(p for p in data["problems"] if p["kind"] == "invalid_record")
    assert problem["detail"].startswith("line 1: anchors (&name) are not allowed; fix it")
    assert "Private" not in json.dumps(data)


def test_an_edited_policy_is_left_to_validate_commit(cli: Any, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    path.write_text(path.read_text().replace("Your Practice Name", "Elm Test Clinic"))
    code, data = doctor(cli)
    assert code == 1 and ("uncommitted_policy", "cbtrack.yaml", False) in kinds(data)
    assert "validate --commit" in json.dumps(data)
    doctor(cli, "--repair", user="jlee")
    assert "cbtrack.yaml" in git_clean(store_dir)  # repair never commits the policy
    assert cli("validate", "--commit").exit_code == 0
    assert git_clean(store_dir) == ""
    path.write_text(path.read_text().replace('call_hours: "08:00-20:00"', "call_hours: soon"))
    code, data = doctor(cli, "--repair", user="jlee")
    assert code == 1 and ("uncommitted_policy", "cbtrack.yaml", False) in kinds(data)


def test_doctor_notes_a_machine_clock_in_another_zone(cli: Any) -> None:
    """Cron reads a crontab in the machine's zone: doctor says when it is not the
    practice's (a note on stderr; the exit code does not change)."""
    import os
    import shutil
    import subprocess
    import sys

    cbtrack = shutil.which("cbtrack", path=str(Path(sys.executable).parent)) or "cbtrack"
    env = {**os.environ, "CBTRACK_STORE": str(cli.store)}
    env.pop("CBTRACK_NOW", None)
    utc = subprocess.run([cbtrack, "doctor"], env={**env, "TZ": "UTC"}, capture_output=True,
                         text=True)  # fmt: skip
    assert "not the practice's time zone (America/New_York)" in utc.stderr
    assert "Running from cron" in utc.stderr
    home = subprocess.run([cbtrack, "doctor", "--json"], env={**env, "TZ": "America/New_York"},
                          capture_output=True, text=True)  # fmt: skip
    assert home.stderr == "" and json.loads(home.stdout)["notes"] == []
    assert utc.returncode == home.returncode
