"""Several desks sharing one queue through a bare remote: cbtrack sync end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cbtrack.cli import app
from tests.helpers_git import UPSTREAM, Desk, at, git, git_env, office, same_everywhere


def attempt_ids(desk: Desk, cid: str) -> set[str]:
    return {a["id"] for a in desk.record(cid)["attempts"]}


def test_concurrent_adds_on_two_desks_meet_on_both(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    mine = a.add(now=at("09:00"))
    theirs = b.add(now=at("09:00"), reason="Asks where to park for the new building")
    assert mine != theirs
    a.sync(at("09:10"))
    out = b.sync(at("09:11"))
    assert "took in 1 commit" in out and "pushed" in out
    a.sync(at("09:12"))
    same_everywhere([a, b])
    for desk in (a, b):
        assert {json.loads(desk.ok("queue", "--json"))[i]["id"] for i in (0, 1)} == {
            mine,
            theirs,
        }


def test_attempts_from_two_desks_are_all_kept(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"), "no_answer")
    b.attempt(cid, at("09:40"), "left_voicemail")
    a.sync(at("10:00"))
    out = b.sync(at("10:01"))
    assert "merged 1 record" in out
    a.sync(at("10:02"))
    same_everywhere([a, b])
    record = a.record(cid)
    assert [x["by"] for x in record["attempts"]] == ["jlee", "kim"]
    assert record["status"] == "waiting_patient"  # from the latest attempt, a voicemail
    parents = git(b.path, "log", "-1", "--format=%P").stdout.split()
    assert len(parents) == 2  # a merge, never a rebase
    subject = git(b.path, "log", "-1", "--format=%an %s").stdout.strip()
    assert subject.startswith("kim sync: merge origin/")


def test_close_on_one_desk_after_the_other_desks_attempt(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    b.attempt(cid, at("09:30"), "no_answer")
    a.attempt(cid, at("09:45"), "reached")
    a.ok(
        "close",
        cid,
        "--reason",
        "reached",
        "--summary",
        "Gave the parking directions",
        now=at("10:00"),
    )
    b.sync(at("10:05"))
    a.sync(at("10:06"))
    b.sync(at("10:07"))
    same_everywhere([a, b])
    record = b.record(cid)
    assert record["status"] == "closed"
    assert record["closure"]["reason"] == "reached"
    assert len(record["attempts"]) == 2
    assert (b.path / "callbacks/closed/2026-11" / f"{cid}.yaml").is_file()
    assert not (b.path / "callbacks/open" / f"{cid}.yaml").exists()


def test_attempt_after_a_close_on_another_desk_reopens_for_review(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"), "reached")
    a.ok(
        "close",
        cid,
        "--reason",
        "reached",
        "--summary",
        "Gave the parking directions",
        now=at("09:40"),
    )
    b.attempt(cid, at("10:15"), "left_voicemail")  # this desk had not seen the close
    a.sync(at("10:20"))
    result = b.run("sync", now=at("10:21"))
    assert result.exit_code == 0, result.stderr
    assert "open again for review" in result.stderr
    a.sync(at("10:22"))
    same_everywhere([a, b])
    record = a.record(cid)
    assert record["status"] == "waiting_patient" and "closure" not in record
    assert len(record["attempts"]) == 2
    types = [e["type"] for e in record["events"]]
    assert types[-2:] == ["closed", "reopened"]
    assert record["events"][-1]["by"] == "cbtrack"
    assert (a.path / "callbacks/open" / f"{cid}.yaml").is_file()
    assert cid[-5:] in a.ok("queue")


def test_three_desks_sync_both_ways_and_lose_nothing(tmp_path: Path) -> None:
    desks = office(tmp_path, ("jlee", "kim", "raj"))
    a, b, c = desks
    cid = a.add(now=at("09:00"))
    for d in desks:
        d.sync(at("09:05"))
    expected: set[str] = set()
    for i, d in enumerate(desks):
        d.attempt(cid, at(f"09:{10 + i}"))
        expected |= attempt_ids(d, cid)
        d.add(now=at(f"09:{20 + i}"))
    for when in ("10:00", "10:01", "10:02", "10:03"):
        for d in desks:
            d.sync(at(when))
    same_everywhere(desks)
    assert attempt_ids(c, cid) == expected and len(expected) == 3
    assert len(json.loads(b.ok("queue", "--json"))) == 4
    for d in desks:
        d.ok("verify")


def test_both_desks_close_the_same_callback(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    for desk, when in ((a, "09:30"), (b, "09:35")):
        desk.attempt(cid, at(when), "reached")
        desk.ok(
            "close",
            cid,
            "--reason",
            "resolved",
            "--summary",
            "Answered the question",
            now=at(when[:3] + "50"),
        )
    a.sync(at("10:00"))
    b.sync(at("10:01"))
    a.sync(at("10:02"))
    same_everywhere([a, b])
    record = a.record(cid)
    assert record["status"] == "closed" and record["closure"]["by"] == "kim"
    assert len(record["attempts"]) == 2
    assert [e["type"] for e in record["events"]].count("closed") == 2


def test_sync_commits_no_pending_edit_and_names_each(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    good = a.add(now=at("09:00"))
    bad = a.add(now=at("09:01"))
    unexplained = a.add(now=at("09:02"))
    # a note typed into the file "by" a colleague is one the rule book would accept, but no
    # command made it: sync never commits it in the name of whoever syncs
    note = {"id": "n0te01", "at": at("09:20"), "by": b.user, "type": "note", "note": "Map sent"}
    a.edit(good, lambda d: d["events"].append(note))
    a.edit(bad, lambda d: d.update(urgency="whenever"))
    a.edit(unexplained, lambda d: d.update(next_action="Email the parking map"))
    (a.path / "notes.txt").write_text("scratch notes\n")
    head = a.head()
    result = a.run("sync", now=at("09:30"))
    assert result.exit_code == 0, result.stderr
    assert a.head() == head
    assert f"callbacks/open/{good}.yaml: changed, but not by a cbtrack command" in result.stderr
    assert f"callbacks/open/{bad}.yaml: field urgency" in result.stderr
    assert f"callbacks/open/{unexplained}.yaml: field next_action was changed" in result.stderr
    assert f"git checkout HEAD -- callbacks/open/{good}.yaml" in result.stderr
    assert "notes.txt is not a store file" in result.stderr
    assert "whenever" not in result.stderr and "parking" not in result.stderr
    pending = git(a.path, "status", "--porcelain").stdout
    assert all(f"{cid}.yaml" in pending for cid in (good, bad, unexplained))
    b.sync(at("09:31"))
    assert [e["type"] for e in b.record(good)["events"]] == ["created"]
    assert b.record(bad)["urgency"] == "routine"


def test_sync_never_overwrites_a_hand_edit_the_incoming_changes_touch(tmp_path: Path) -> None:
    """A hand edit sync leaves out is never lost: when the other desk changed the same
    callback, sync takes nothing in (whether it would merge or fast-forward), names the
    file and says how to keep or drop the edit."""
    a, b = office(tmp_path)
    shared = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.edit(shared, lambda d: d.update(next_action="Typed by hand"))
    edited = a.record_path(shared).read_text()
    b.ok("note", shared, "Left a map at reception", now=at("09:10"))
    b.sync(at("09:11"))
    for mine in (False, True):  # fast-forward, then with a commit of a's own (a merge)
        if mine:
            a.add(now=at("09:12"))
        head = a.head()
        result = a.run("sync", now=at("09:20"))
        assert result.exit_code == 1, result.stderr
        assert f"callbacks/open/{shared}.yaml has changes not committed" in result.stderr
        assert f"git checkout HEAD -- callbacks/open/{shared}.yaml" in result.stderr
        assert a.head() == head and a.record_path(shared).read_text() == edited
    git(a.path, "checkout", "HEAD", "--", f"callbacks/open/{shared}.yaml")
    a.sync(at("09:21"))
    assert [e["type"] for e in a.record(shared)["events"]] == ["created", "note"]


def test_work_off_the_shared_branch_is_refused_before_it_is_lost(tmp_path: Path) -> None:
    """A change on a detached HEAD would be left behind when the branch is checked out
    again: refused, nothing written. Work on a second branch would reach no other desk:
    the shared store's hook refuses the new branch, and sync says so at once instead of
    retrying."""
    a, _b = office(tmp_path)
    remote = tmp_path / "remote.git"
    assert a.runner.invoke(app, ["server", "init", str(remote)]).exit_code == 0
    a.add(now=at("09:00"))
    a.sync(at("09:01"))
    git(a.path, "checkout", "-q", "--detach", "HEAD")
    head = a.head()
    result = a.run("note", "--help")  # (a read or a help is fine anywhere)
    assert result.exit_code == 0
    args = ["--patient", "Ada Example", "--phone", "+15550100123", "--category", "general"]
    added = a.run("add", *args, "--reason", "Parking", "--detail", "topic=p", now=at("09:05"))
    assert added.exit_code == 1 and "not on a branch (a detached HEAD" in added.stderr
    assert a.head() == head and not git(a.path, "status", "--porcelain").stdout.strip()
    git(a.path, "checkout", "-q", "-b", "side")
    a.add(now=at("09:06"))
    result = a.run("sync", now=at("09:07"))
    assert result.exit_code == 1
    assert "refs/heads/side: a new branch; the shared store keeps one" in result.stderr
    assert "kept pushing" not in result.stderr


def test_sync_json(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    a.add(now=at("09:00"))
    a.sync(at("09:01"))
    out = json.loads(b.ok("sync", "--json", now=at("09:02")))
    assert out["incoming_commits"] == 1 and out["pushed"] is False
    branch = git(b.path, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    assert out["remote"] == "origin" and out["branch"] == branch
    assert out["head"] == a.head()


def test_sync_without_a_remote_is_refused(tmp_path: Path) -> None:
    a = Desk(tmp_path / "alone", "jlee")
    a.runner.invoke(app, ["--as", "jlee", "init", str(a.path)])
    result = a.run("sync")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no git remote named 'origin'" in result.stderr
    result = a.run("sync", "--remote", "backup")
    assert result.exit_code == 1 and "'backup'" in result.stderr


def test_sync_needs_a_user(tmp_path: Path) -> None:
    a, _ = office(tmp_path)
    result = a.runner.invoke(app, ["--store", str(a.path), "sync"])
    assert result.exit_code == 1 and "--as USER" in result.stderr


def test_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    a, _ = office(tmp_path)
    git(a.path, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    result = a.run("sync")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Could not reach 'origin' ({tmp_path / 'gone.git'}): check that the shared "
        "store is there and this desk may read it, then sync again; nothing changed.\n"
    )


def test_policy_changed_on_both_desks_needs_a_person(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    for desk, name in ((a, "Maple Clinic"), (b, "Oak Clinic")):
        path = desk.path / "cbtrack.yaml"
        path.write_text(path.read_text().replace("Your Practice Name", name))
        desk.commit_by_hand("policy: practice name")
    a.sync(at("09:00"))
    head = b.head()
    result = b.run("sync", now=at("09:05"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "cbtrack.yaml was changed differently" in result.stderr
    assert "decide which version to keep" in result.stderr
    assert b.head() == head
    assert not (b.path / ".git" / "MERGE_HEAD").exists()
    assert git(b.path, "status", "--porcelain").stdout == ""
    assert "Oak Clinic" in (b.path / "cbtrack.yaml").read_text()


def test_plain_git_pull_merges_records_with_the_driver(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"))
    a.sync(at("09:31"))
    b.attempt(cid, at("09:40"), "left_voicemail")  # registers the driver in b's config
    branch = git(b.path, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    pulled = git(b.path, "pull", "-q", "--no-rebase", "--no-edit", "origin", branch, check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert len(b.record(cid)["attempts"]) == 2
    b.ok("validate")


def test_installed_cbtrack_syncs_as_a_subprocess(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    env = git_env()
    env.update(CBTRACK_NOW=at("09:05"), CBTRACK_USER="jlee")
    exe = Path(sys.executable).parent / "cbtrack"
    done = subprocess.run(
        [str(exe), "--store", str(a.path), "sync"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Synced with {UPSTREAM}")
    b.sync(at("09:06"))
    assert b.record(cid)["id"] == cid


def diverge(a: Desk, b: Desk) -> str:
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"))
    a.sync(at("09:31"))
    b.attempt(cid, at("09:40"))
    git(b.path, "fetch", "-q", "origin")
    return cid


def start_unfinished_merge(desk: Desk) -> None:
    """A merge of the other desk's work, stopped before its commit."""
    args = ["-c", "merge.cbtrack.driver=false", "merge", "--no-commit", UPSTREAM]
    git(desk.path, *args, check=False)


def test_a_merge_left_by_a_killed_sync_is_redone(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = diverge(a, b)
    # what a sync killed mid-merge leaves: git's merge state and the sync's marker
    start_unfinished_merge(b)
    theirs = git(b.path, "rev-parse", UPSTREAM).stdout
    (b.path / ".cbtrack" / "sync-merge").write_text(theirs)
    b.sync(at("10:00"))
    assert len(b.record(cid)["attempts"]) == 2
    assert not (b.path / ".cbtrack" / "sync-merge").exists()


def test_a_merge_started_by_hand_is_left_to_its_owner(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = diverge(a, b)
    start_unfinished_merge(b)
    result = b.run("sync", now=at("10:00"))
    assert result.exit_code == 1
    assert "A git merge is in progress" in result.stderr
    assert (b.path / ".git" / "MERGE_HEAD").exists()
    before = b.files()
    result = b.run("note", cid, "Patient asked about the new building", now=at("10:01"))
    assert result.exit_code == 1 and "A git merge is in progress" in result.stderr
    assert b.files() == before
