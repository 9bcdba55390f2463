"""verify walks history for changed or removed attempts and events and for rewrites; the
pre-commit hook keeps a broken hand edit out of history in the first place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cbtrack import audit
from tests.helpers_git import UPSTREAM, Desk, at, git, git_env, office


def verify_json(desk: Desk, *extra: str) -> tuple[int, dict[str, Any]]:
    result = desk.run("verify", "--json", *extra)
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


def two_attempts(desk: Desk) -> str:
    cid = desk.add(now=at("09:00"))
    desk.attempt(cid, at("09:30"))
    desk.attempt(cid, at("14:00"), "left_voicemail")
    return cid


def test_a_clean_history_verifies_and_later_runs_are_incremental(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    two_attempts(a)
    code, out = verify_json(a)
    assert code == 0 and out["ok"] and out["findings"] == []
    assert out["commits_checked"] >= 4 and out["recorded_as_verified"]
    assert git(a.path, "rev-parse", "refs/cbtrack/verified").stdout.strip() == a.head()
    a.add(now=at("15:00"))
    code, out = verify_json(a)
    assert code == 0 and out["commits_checked"] == 1
    code, out = verify_json(a, "--full")
    assert code == 0 and out["commits_checked"] >= 5
    assert "History verified" in a.ok("verify")


def test_a_rewritten_attempt_is_reported_until_accepted(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    a.ok("verify")
    a.edit(cid, lambda d: d["attempts"][0].update(note="Reached the patient, all sorted"))
    assert a.commit_by_hand("tidy up").returncode == 0  # --no-verify skips the hook
    bad = a.head()
    result = a.run("verify")
    assert result.exit_code == 1
    first = a.record(cid)["attempts"][0]["id"]
    assert f"changed attempt {first} of {cid}" in result.stdout
    assert "commit " + bad[:10] + " by someone" in result.stdout
    assert "sorted" not in result.stdout + result.stderr
    assert result.stderr.startswith("Error: 1 finding")
    code, out = verify_json(a)
    assert code == 1 and not out["recorded_as_verified"]
    assert out["findings"][0] == {
        "kind": "changed",
        "commit": bad,
        "callback": cid,
        "item": f"attempt {first}",
        "message": out["findings"][0]["message"],
    }
    code, out = verify_json(a, "--accept")
    assert code == 0 and out["recorded_as_verified"]  # accepting is a success
    assert verify_json(a)[0] == 0  # accepted: later runs start after it
    assert verify_json(a, "--full")[0] == 1  # the whole walk still shows it


def test_removed_events_and_deleted_records_are_reported(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    other = a.add(now=at("15:00"))
    a.edit(cid, lambda d: d.update(events=[]))
    git(a.path, "rm", "-q", str(a.record_path(other).relative_to(a.path)))
    a.commit_by_hand("clean up")
    code, out = verify_json(a)
    kinds = {
        (f["kind"], f["callback"], (f["item"] or "record").split()[0]) for f in out["findings"]
    }
    assert code == 1
    assert ("removed", cid, "event") in kinds
    assert ("deleted", other, "record") in kinds


def test_a_move_to_closed_is_not_a_finding_but_a_lost_attempt_in_it_is(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    a.ok("close", cid, "--reason", "resolved", "--summary", "Answered it", now=at("15:00"))
    assert verify_json(a)[0] == 0
    path = a.record_path(cid)
    rel = path.relative_to(a.path)
    git(a.path, "mv", str(rel), f"callbacks/open/{cid}.yaml")
    a.edit(cid, lambda d: d.update(attempts=d["attempts"][1:]))
    a.commit_by_hand("move back")
    code, out = verify_json(a)
    # the closed record in open/ is a finding of its own since the rule book (issue 10)
    assert code == 1 and sorted(f["kind"] for f in out["findings"]) == ["folder", "removed"]


def test_a_local_history_rewrite_is_reported(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    a.ok("verify")
    git(a.path, "reset", "-q", "--hard", "HEAD~1")  # drops the second attempt's commit
    a.attempt(cid, at("16:00"))
    code, out = verify_json(a)
    assert code == 1
    kinds = [f["kind"] for f in out["findings"]]
    assert kinds[0] == "rewritten" and "removed" in kinds


def test_a_force_pushed_remote_is_refused_by_sync_and_reported_by_verify(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = two_attempts(a)
    a.sync(at("15:00"))
    b.sync(at("15:01"))
    # b rewrites the commit that recorded the first attempt and force-pushes
    b.edit(cid, lambda d: d["attempts"][0].update(result="reached"))
    git(b.path, "commit", "-q", "-a", "--amend", "--no-edit", "--no-verify")
    git(b.path, "push", "-q", "--force", "origin", "HEAD")
    head = a.head()
    result = a.run("sync", now=at("15:10"))
    assert result.exit_code == 1
    assert "history on 'origin' was rewritten" in result.stderr
    assert result.stderr.count("\n") == 1
    assert a.head() == head and git(a.path, "status", "--porcelain").stdout == ""
    code, out = verify_json(a)
    assert code == 1
    kinds = {f["kind"] for f in out["findings"]}
    assert kinds == {"remote_rewritten", "changed"}
    # after review, --accept lets sync go on: the merge puts the original attempt back
    verify_json(a, "--accept")
    result = a.run("sync", now=at("15:20"))
    assert result.exit_code == 0, result.stderr
    assert "was rewritten on one side; the original was kept" in result.stderr
    b.sync(at("15:21"))
    for desk in (a, b):
        assert desk.record(cid)["attempts"][0]["result"] == "no_answer"


def test_the_desk_that_rewrote_its_history_sees_it(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    a.ok("verify")
    a.edit(cid, lambda d: d["attempts"][-1].update(note="Different words for this call"))
    git(a.path, "commit", "-q", "-a", "--amend", "--no-edit", "--no-verify")
    code, out = verify_json(a)
    assert code == 1 and out["findings"][0]["kind"] == "rewritten"
    assert any(f["kind"] == "changed" for f in out["findings"])


# --- the pre-commit hook ------------------------------------------------------------


def hand_commit_with_hook(desk: Desk) -> Any:
    """`git commit` as a person would, with PATH lacking cbtrack (the hook must not need it)."""
    env = git_env()
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    import subprocess

    subprocess.run(["git", "add", "-A"], cwd=desk.path, env=env, check=True)
    return subprocess.run(
        ["git", "commit", "-q", "-m", "hand edit"],
        cwd=desk.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_hook_refuses_a_broken_hand_edit(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    hook = a.path / ".git" / "hooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    a.edit(cid, lambda d: d.update(urgency="whenever"))
    head = a.head()
    done = hand_commit_with_hook(a)
    assert done.returncode != 0
    assert f"callbacks/open/{cid}.yaml: field urgency" in done.stderr
    assert "whenever" not in done.stderr
    assert a.head() == head


def test_the_hook_refuses_changed_attempts_and_deleted_records(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    a.edit(cid, lambda d: d["attempts"][0].update(note="Something else entirely happened"))
    done = hand_commit_with_hook(a)
    assert done.returncode != 0 and "was changed; attempts and events are append-only" in (
        done.stderr
    )
    git(a.path, "checkout", "--", ".")
    git(a.path, "reset", "-q")
    git(a.path, "checkout", "--", ".")
    a.record_path(cid).unlink()
    done = hand_commit_with_hook(a)
    assert done.returncode != 0 and "deleting a record" in done.stderr


def test_deleting_the_policy_is_refused_by_the_hook_and_reported_by_verify(
    tmp_path: Path,
) -> None:
    """With no policy, a later commit would run with no roster: re-adding one that names
    oneself admin would pass. So removing it is a breach whoever does it."""
    (a, _) = office(tmp_path)
    a.add(now=at("09:00"))
    git(a.path, "rm", "-q", "cbtrack.yaml")
    done = hand_commit_with_hook(a)
    assert done.returncode != 0 and "cbtrack.yaml" in done.stderr  # (no store without it)
    a.commit_by_hand("no policy")  # --no-verify
    git(a.path, "checkout", "HEAD~1", "--", "cbtrack.yaml")
    a.commit_by_hand("a policy again")  # (a roster of one's own choosing would pass here)
    code, out = verify_json(a)
    assert code == 1
    assert any("cbtrack.yaml" in json.dumps(f) and "was deleted" in json.dumps(f)
               for f in out["findings"])  # fmt: skip


def test_the_hook_refuses_a_hand_edit_that_no_event_explains(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.edit(cid, lambda d: d.update(next_action="Email the parking map"))
    done = hand_commit_with_hook(a)
    assert done.returncode != 0
    assert "field next_action was changed without" in done.stderr
    assert "Email the parking map" not in done.stderr


def test_a_plain_clone_gets_the_hook_and_driver_on_its_first_command(tmp_path: Path) -> None:
    _, b = office(tmp_path)
    hook = b.path / ".git" / "hooks" / "pre-commit"
    assert not hook.exists()
    b.ok("verify")  # read-only: sets nothing up
    assert not hook.exists()
    b.sync(at("09:00"))
    assert "check-staged" in hook.read_text()
    assert "mergedriver %O %A %B %P" in git(b.path, "config", "merge.cbtrack.driver").stdout


def test_a_hand_merge_that_drops_the_other_desks_attempt_is_reported(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    b.attempt(cid, at("09:30"))
    b.sync(at("09:31"))
    a.attempt(cid, at("09:40"))
    git(a.path, "fetch", "-q", "origin")
    merged = git(a.path, "merge", "-q", "-s", "ours", "--no-edit", UPSTREAM, check=False)
    assert merged.returncode != 0 and "was removed" in merged.stderr  # the hook refuses it
    git(a.path, "merge", "--abort")
    git(a.path, "merge", "-q", "-s", "ours", "--no-edit", "--no-verify", UPSTREAM)
    code, out = verify_json(a)
    assert code == 1
    dropped = b.record(cid)["attempts"][0]["id"]
    assert [(f["kind"], f["item"]) for f in out["findings"]] == [("removed", f"attempt {dropped}")]


def test_the_hook_also_checks_commit_dash_a(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.edit(cid, lambda d: d.update(status="closed"))
    done = git(a.path, "commit", "-q", "-a", "-m", "close by hand", check=False)
    assert done.returncode != 0
    assert "closure go together" in done.stderr and cid in done.stderr


def test_a_big_commit_is_judged_in_pieces_with_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit of many records is read a few files at a time (bounded memory); split down
    to one file per piece, the findings are the same."""
    monkeypatch.setattr(audit, "PATHS_PER_UNIT", 1)
    monkeypatch.setattr(audit, "BLOBS_PER_READ", 2)
    (a, _) = office(tmp_path)
    cid = two_attempts(a)
    other = a.add(now=at("15:00"))
    third = a.add(now=at("15:10"))
    a.ok("close", third, "--reason", "resolved", "--summary", "Answered it", now=at("15:20"))
    a.edit(cid, lambda d: d.update(events=[]))
    git(a.path, "rm", "-q", str(a.record_path(other).relative_to(a.path)))
    a.commit_by_hand("clean up")
    code, out = verify_json(a, "--full")
    kinds = sorted(
        (f["kind"], f["callback"], (f["item"] or "record").split()[0]) for f in out["findings"]
    )
    assert code == 1
    assert ("removed", cid, "event") in kinds and ("deleted", other, "record") in kinds
    assert all(c != third for _, c, _ in kinds)  # its move to closed/ is no finding
    assert len(kinds) == len(set(kinds))
