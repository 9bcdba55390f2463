"""History that tells the truth: each way a desk with shell access tried to slip a change
past the rule book ends in a refusal or a `verify` finding.

A practice with a roster: `fd` at the front desk, `rn` a nurse (clinical), `lead` the
practice administrator (admin). Hand work is plain git and a text editor, as at a desk.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cbtrack import history
from cbtrack.cli import app
from tests.helpers_git import BRANCH, at, git, git_env

STAFF = [
    "--staff",
    "fd=Frank Desk:front_desk",
    "--staff",
    "rn=Riya Nurse:clinical",
    "--staff",
    "lead=Lee Admin:front_desk_lead,admin",
]


class Desk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.runner = CliRunner()

    def run(self, user: str, *args: str, now: str = at("09:00")) -> Any:
        argv = ["--store", str(self.path), "--as", user, *args]
        return self.runner.invoke(app, argv, env={"CBTRACK_NOW": now})

    def ok(self, user: str, *args: str, now: str = at("09:00")) -> str:
        result = self.run(user, *args, now=now)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return str(result.stdout)

    def refused(self, user: str, *args: str, now: str = at("09:00")) -> str:
        head = self.head()
        result = self.run(user, *args, now=now)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert self.head() == head
        return str(result.stderr)

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").stdout.strip()

    def add_emergency(self, now: str = at("09:00")) -> str:
        return self.ok(
            "fd",
            "add",
            "--patient",
            "Ada Example",
            "--phone",
            "+15550100123",
            "--category",
            "general",
            "--reason",
            "Chest pain since this morning",
            "--detail",
            "topic=chest",
            "--symptoms",
            "yes",
            now=now,
        ).strip()

    def path_of(self, cid: str) -> Path:
        hits = sorted(self.path.glob(f"callbacks/**/{cid}.yaml"))
        assert len(hits) == 1, hits
        return hits[0]

    def data(self, cid: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.path_of(cid).read_text())
        return loaded

    def write(self, cid: str, data: dict[str, Any], path: Path | None = None) -> None:
        (path or self.path_of(cid)).write_text(yaml.safe_dump(data, sort_keys=False))

    def verify(self, *extra: str) -> tuple[int, list[dict[str, Any]]]:
        result = self.runner.invoke(app, ["--store", str(self.path), "verify", "--json", *extra])
        return result.exit_code, json.loads(result.stdout)["findings"]


def hand_git(cwd: Path, *args: str, author: str = "fd", check: bool = True) -> str:
    proc = git(cwd, *args, author=author, check=check)
    return proc.stdout.strip() + proc.stderr.strip()


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    result = CliRunner().invoke(
        app, ["--as", "lead", "init", str(tmp_path / "s"), *STAFF], env={"CBTRACK_NOW": at("08:00")}
    )
    assert result.exit_code == 0, result.stderr
    return Desk(tmp_path / "s")


@pytest.fixture
def pair(tmp_path: Path, desk: Desk) -> tuple[Desk, Desk]:
    """The desk and a sibling clone sharing a bare remote."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(desk.path, "remote", "add", "origin", str(remote))
    desk.ok("lead", "sync", now=at("08:01"))
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "b"))
    return desk, Desk(tmp_path / "b")


def kinds(findings: list[dict[str, Any]]) -> set[str]:
    return {f["kind"] for f in findings}


# --- 1. a command commits only what it made -------------------------------------------


def test_a_hand_downgrade_is_not_committed_by_the_next_command(desk: Desk) -> None:
    cid = desk.add_emergency()
    path = desk.path_of(cid)
    text = path.read_text()
    text = text.replace("urgency: emergency", "urgency: routine").replace(
        "owner: clinical", "owner: front_desk"
    )
    path.write_text(text)
    for user, args in (
        ("fd", ("close", cid, "--reason", "resolved", "--summary", "x")),
        ("rn", ("note", cid, "Called the patient back")),
    ):
        err = desk.refused(user, *args, now=at("09:30"))
        rel = f"callbacks/open/{cid}.yaml"
        assert f"{rel} differs from the last commit" in err
        assert f"git checkout HEAD -- {rel}" in err
    assert path.read_text() == text  # the hand edit is left for a person to decide
    # committed by hand, it is a finding: nothing explains the new urgency or owner
    hand_git(desk.path, "commit", "-q", "--no-verify", "-am", "tidy")
    code, found = desk.verify()
    assert code == 1 and {"unexplained", "guardrail"} <= kinds(found)
    assert any("fd" in f["message"] and f["callback"] == cid for f in found)


def test_the_hook_refuses_a_hand_edit_and_names_the_field(desk: Desk) -> None:
    cid = desk.add_emergency()
    data = desk.data(cid)
    data["owner"] = "front_desk"
    desk.write(cid, data)
    out = hand_git(desk.path, "commit", "-qam", "mine", check=False)
    assert "field owner was changed without" in out and "commit refused" in out


# --- 2. merges are judged against their base ------------------------------------------


def _rewrite_a_note(d: Desk, cid: str) -> None:
    data = d.data(cid)
    data["attempts"][0]["note"] = "Spoke with the patient, all sorted"
    d.write(cid, data)


def test_a_crafted_merge_with_an_orphan_parent_is_refused_by_sync_and_found_by_verify(
    pair: tuple[Desk, Desk],
) -> None:
    a, b = pair
    cid = a.add_emergency()
    a.ok(
        "rn",
        "attempt",
        cid,
        "--method",
        "phone",
        "--result",
        "no_answer",
        "--note",
        "No answer on the mobile, will retry",
        now=at("09:10"),
    )
    a.ok("lead", "sync", now=at("09:11"))
    b.ok("lead", "sync", now=at("09:12"))
    _rewrite_a_note(b, cid)
    hand_git(b.path, "add", "-A")
    tree = hand_git(b.path, "write-tree")
    orphan = hand_git(b.path, "commit-tree", tree, "-m", "backup")
    merged = hand_git(b.path, "commit-tree", tree, "-p", "HEAD", "-p", orphan, "-m", "merge")
    hand_git(b.path, "reset", "-q", "--hard", merged)
    hand_git(b.path, "push", "-q", "origin", f"HEAD:{BRANCH}")
    before = a.head()
    result = a.run("lead", "sync", now=at("09:30"))
    assert result.exit_code == 1, result.stdout
    assert "Sync took in nothing" in result.stderr and "Traceback" not in result.stderr
    assert a.head() == before
    code, found = b.verify("--full")
    assert code == 1 and "root" in kinds(found)


def test_merging_an_unrelated_history_is_refused_by_the_hook(desk: Desk) -> None:
    desk.add_emergency()
    hand_git(desk.path, "checkout", "-q", "--orphan", "other")
    hand_git(desk.path, "commit", "-q", "--no-verify", "-m", "orphan")
    hand_git(desk.path, "checkout", "-q", BRANCH)
    out = hand_git(
        desk.path, "merge", "--allow-unrelated-histories", "-m", "join", "other", check=False
    )
    assert "shares no commit" in out


def test_a_merge_that_moves_a_closed_record_back_is_found(desk: Desk) -> None:
    cid = desk.add_emergency()
    closed_before = desk.head()
    desk.ok(
        "rn", "close", cid, "--reason", "resolved", "--summary", "Seen in clinic", now=at("10:00")
    )
    # a merge of HEAD and HEAD~1 whose tree is HEAD~1's: the record is open again
    tree = hand_git(desk.path, "rev-parse", f"{closed_before}^{{tree}}")
    merged = hand_git(
        desk.path, "commit-tree", tree, "-p", "HEAD", "-p", closed_before, "-m", "merge"
    )
    hand_git(desk.path, "reset", "-q", "--hard", merged)
    code, found = desk.verify()
    assert code == 1 and kinds(found) & {"merge", "removed", "deleted"}
    assert any(f["callback"] == cid for f in found)


# --- 3. forged events ------------------------------------------------------------------


def _forge_close(d: Desk, cid: str, by: str) -> None:
    data = d.data(cid)
    when = at("11:00")
    data["status"] = "closed"
    data["closure"] = {"at": when, "by": by, "reason": "resolved", "summary": "done"}
    data["events"].append(
        {
            "id": "f0rged",
            "at": when,
            "by": by,
            "type": "closed",
            "note": "done",
            "set": {"status": "closed", "reason": "resolved"},
        }
    )
    src = d.path_of(cid)
    dest = d.path / "callbacks" / "closed" / "2026-11" / f"{cid}.yaml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    d.write(cid, data, dest)
    src.unlink()


def test_a_forged_close_by_the_front_desk_breaks_the_guardrail(desk: Desk) -> None:
    cid = desk.add_emergency()
    _forge_close(desk, cid, "fd")
    out = hand_git(desk.path, "add", "-A")
    out = hand_git(desk.path, "commit", "-qm", "close", check=False)
    assert "does not have the clinical role" in out
    # doctor --repair does not commit it in the lead's name
    before = desk.head()
    desk.run("lead", "doctor", "--repair", now=at("11:30"))
    assert desk.head() == before
    # nor does crash recovery when the ID is written into the journal by hand
    (desk.path / ".cbtrack").mkdir(exist_ok=True)
    (desk.path / ".cbtrack" / "pending").write_text(f"{cid}\n")
    other = desk.add_emergency(now=at("11:40"))
    assert (other and cid in desk.ok("rn", "queue", "--json", now=at("11:41"))) or True
    log = hand_git(desk.path, "log", "--format=%s")
    assert f"recover {cid}" not in log
    assert desk.path.joinpath("callbacks", "closed", "2026-11", f"{cid}.yaml").exists()


def test_an_event_by_someone_else_than_the_author_is_found(desk: Desk) -> None:
    cid = desk.add_emergency()
    data = desk.data(cid)
    data["events"].append(
        {"id": "n0te02", "at": at("10:00"), "by": "rn", "type": "note", "note": "ok"}
    )
    desk.write(cid, data)
    hand_git(desk.path, "commit", "-q", "--no-verify", "-am", "note", author="fd")
    code, found = desk.verify()
    assert code == 1 and "author" in kinds(found)
    assert any("by rn but the commit that adds it is by fd" in f["message"] for f in found)


# --- 4. the roster comes from history -------------------------------------------------


def _promote(d: Desk, user: str) -> None:
    policy = d.path / "cbtrack.yaml"
    text = policy.read_text()
    assert "fd: {name: Frank Desk, roles: [front_desk]}" in text or "front_desk]" in text
    data = yaml.safe_load(text)
    data["staff"][user]["roles"] = ["front_desk", "clinical"]
    policy.write_text(yaml.safe_dump(data, sort_keys=False))


def test_an_uncommitted_self_promotion_gives_no_clinical_power(desk: Desk) -> None:
    cid = desk.add_emergency()
    _promote(desk, "fd")
    err = desk.refused(
        "fd", "close", cid, "--reason", "resolved", "--summary", "x", now=at("09:30")
    )
    assert "clinical role" in err
    err = desk.refused("fd", "validate", "--commit", now=at("09:31"))
    assert "admin role" in err
    desk.ok("lead", "validate", "--commit", now=at("09:32"))  # the admin may


def test_a_role_taken_away_is_taken_away_for_work_merged_from_before(desk: Desk) -> None:
    """The lead takes rn's clinical role away; rn closes an emergency on a branch started
    before that, then merges it back: the merge carries in an act the roster no longer
    allows, so the hook refuses it and verify reports it."""
    cid = desk.add_emergency()
    before = hand_git(desk.path, "rev-parse", "HEAD")
    main = hand_git(desk.path, "rev-parse", "--abbrev-ref", "HEAD")
    policy = desk.path / "cbtrack.yaml"
    data = yaml.safe_load(policy.read_text())
    data["staff"]["rn"]["roles"] = ["front_desk"]
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    desk.ok("lead", "validate", "--commit", now=at("09:30"))
    desk.refused("rn", "close", cid, "--reason", "resolved", "--summary", "Fine", now=at("09:40"))
    hand_git(desk.path, "checkout", "-q", "-b", "stale", before)
    desk.ok("rn", "close", cid, "--reason", "resolved", "--summary", "Fine", now=at("09:41"))
    hand_git(desk.path, "checkout", "-q", main)
    refused = git(desk.path, "merge", "-q", "--no-edit", "stale", author="rn", check=False)
    assert refused.returncode != 0
    assert "rn, who does not have the clinical role, closed it" in refused.stderr
    hand_git(desk.path, "merge", "--abort", check=False)
    hand_git(desk.path, "merge", "-q", "--no-edit", "--no-verify", "stale", author="rn")
    code, found = desk.verify()
    assert code == 1 and "guardrail" in kinds(found)


def test_a_role_granted_on_a_branch_works_when_merged(desk: Desk) -> None:
    """The other way round is ordinary work: the lead makes fd clinical on one branch, fd
    closes an emergency there, and the merge into a branch that never heard of it is fine
    (nothing was taken away on the other side since they parted)."""
    cid = desk.add_emergency()
    main = hand_git(desk.path, "rev-parse", "--abbrev-ref", "HEAD")
    hand_git(desk.path, "checkout", "-q", "-b", "grant")
    _promote(desk, "fd")
    desk.ok("lead", "validate", "--commit", now=at("09:30"))
    desk.ok("fd", "close", cid, "--reason", "resolved", "--summary", "Fine", now=at("09:41"))
    hand_git(desk.path, "checkout", "-q", main)
    desk.ok("fd", "note", desk.add_emergency(now=at("09:50")), "Another one", now=at("09:51"))
    merged = git(desk.path, "merge", "-q", "--no-edit", "grant", author="lead", check=False)
    assert merged.returncode == 0, merged.stderr
    code, found = desk.verify()
    assert code == 0, found


def test_only_an_admin_may_widen_the_clock_skew(desk: Desk) -> None:
    """`clock_skew` bounds how far back an entry may be dated: widening it would switch the
    rule off for everyone, so it is the admin's, like the roster."""
    policy = desk.path / "cbtrack.yaml"
    data = yaml.safe_load(policy.read_text())
    data["clock_skew"] = "1000d"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    err = desk.refused("fd", "validate", "--commit", now=at("09:31"))
    assert "clock_skew changed by fd" in err and "admin role" in err
    desk.ok("lead", "validate", "--commit", now=at("09:32"))  # the admin may


def test_a_policy_change_by_a_non_admin_is_a_finding(desk: Desk) -> None:
    _promote(desk, "fd")
    hand_git(desk.path, "commit", "-q", "--no-verify", "-am", "roles", author="fd")
    code, found = desk.verify()
    assert code == 1 and "policy" in kinds(found)
    assert any("staff changed by fd" in f["message"] for f in found)


# --- 5. sync judges what it takes in --------------------------------------------------


def test_sync_refuses_a_no_verify_rewrite_and_a_pushed_local_folder(
    pair: tuple[Desk, Desk],
) -> None:
    a, b = pair
    cid = a.add_emergency()
    a.ok(
        "rn",
        "attempt",
        cid,
        "--method",
        "phone",
        "--result",
        "no_answer",
        "--note",
        "No answer on the mobile, will retry",
        now=at("09:10"),
    )
    a.ok("lead", "sync", now=at("09:11"))
    b.ok("lead", "sync", now=at("09:12"))
    _rewrite_a_note(b, cid)
    hand_git(b.path, "commit", "-q", "--no-verify", "-am", "fix typo")
    hand_git(b.path, "push", "-q", "origin", f"HEAD:{BRANCH}")
    before = a.head()
    result = a.run("lead", "sync", now=at("09:30"))
    assert result.exit_code == 1 and "changed attempt" in result.stderr
    assert a.head() == before
    # a pushed .cbtrack/cache symlink
    hand_git(b.path, "reset", "-q", "--hard", "HEAD~1")
    (b.path / ".cbtrack").mkdir(exist_ok=True)
    os.symlink("/tmp", b.path / ".cbtrack" / "cache")
    hand_git(b.path, "add", "-f", ".cbtrack/cache")
    hand_git(b.path, "commit", "-q", "--no-verify", "-m", "cache")
    hand_git(b.path, "push", "-q", "-f", "origin", f"HEAD:{BRANCH}")
    result = a.run("lead", "sync", now=at("09:40"))
    assert result.exit_code == 1
    assert not (a.path / ".cbtrack" / "cache").is_symlink()


def test_local_files_are_never_written_through_a_symlink(desk: Desk, tmp_path: Path) -> None:
    cid = desk.add_emergency()
    outside = tmp_path / "outside"
    outside.mkdir()
    local = desk.path / ".cbtrack"
    subprocess.run(["rm", "-rf", str(local)], check=True)
    os.symlink(outside, local)
    result = desk.run("rn", "note", cid, "Checked in", now=at("09:30"))
    assert result.exit_code != 0 and "symlink" in result.stderr
    desk.run("rn", "queue", now=at("09:31"))
    assert list(outside.iterdir()) == []


# --- 6. time does not run backwards ---------------------------------------------------


def test_a_clock_behind_the_record_is_refused_and_found(desk: Desk) -> None:
    cid = desk.add_emergency(now="2026-11-27T09:00:00-05:00")
    err = desk.refused("rn", "note", cid, "Called back", now="2026-11-20T09:00:00-05:00")
    assert "clock_skew" in err
    # within the skew a desk whose clock is a little behind is fine
    desk.ok("rn", "note", cid, "Called back", now="2026-11-27T08:55:00-05:00")
    data = desk.data(cid)
    data["events"].append(
        {
            "id": "ba0k01",
            "at": "2026-11-20T09:00:00-05:00",
            "by": "fd",
            "type": "note",
            "note": "backdated",
        }
    )
    desk.write(cid, data)
    hand_git(desk.path, "commit", "-q", "--no-verify", "-am", "n", author="fd")
    code, found = desk.verify()
    assert code == 1 and "clock" in kinds(found)


def test_an_entry_dated_ahead_of_its_commit_or_the_clock_is_refused_and_found(
    desk: Desk,
) -> None:
    """An entry dated far ahead would hold the record for everyone (each later entry would
    seem to run backwards): the hook refuses it, and a commit dated ahead with it (past the
    hook) is found by verify and by the server's check."""
    cid = desk.add_emergency()
    data = desk.data(cid)
    ahead = "2099-01-04T09:00:00-05:00"
    data["events"].append({"id": "ahe4d1", "at": ahead, "by": "fd", "type": "note", "note": "x"})
    desk.write(cid, data)
    out = hand_git(desk.path, "commit", "-qam", "note", check=False)
    assert "event ahe4d1 is dated after the commit that adds it" in out
    env = {**git_env("fd"), "GIT_AUTHOR_DATE": ahead, "GIT_COMMITTER_DATE": ahead}
    subprocess.run(["git", "commit", "-q", "--no-verify", "-am", "n"], cwd=desk.path, env=env,
                   check=True)  # fmt: skip
    code, found = desk.verify()
    assert code == 1 and "clock" in kinds(found)
    assert any("more than an hour ahead of this desk's clock" in f["message"] for f in found)
    checked = desk.runner.invoke(app, ["server", "check", str(desk.path), "--json"])
    assert checked.exit_code == 1 and "an hour ahead" in checked.stdout
    # the record is not held: the next real entry is judged against the clock, not 2099
    hand_git(desk.path, "reset", "-q", "--hard", "HEAD~1")
    desk.ok("rn", "note", cid, "Called back", now=at("10:00"))


def test_a_desk_a_few_minutes_fast_stops_nobody_but_one_hours_ahead_is_found(
    pair: tuple[Desk, Desk],
) -> None:
    """Clocks far in the future (2090) so that the machine's clock is behind them: a desk
    15 minutes fast syncs with a desk on time; a commit two hours ahead of the checking
    desk's clock is refused by its sync, naming the clock to set right."""
    a, b = pair
    day = "2090-01-02T"
    a.add_emergency(now=f"{day}09:15:00-05:00")
    a.ok("lead", "sync", now=f"{day}09:15:00-05:00")
    b.ok("lead", "sync", now=f"{day}09:00:00-05:00")
    a.add_emergency(now=f"{day}11:30:00-05:00")
    a.ok("lead", "sync", now=f"{day}11:30:00-05:00")
    err = b.refused("lead", "sync", now=f"{day}09:05:00-05:00")
    assert "more than an hour ahead of this desk's clock" in err
    b.ok("lead", "sync", now=f"{day}11:00:00-05:00")  # a clock set right: it goes through


def test_front_desk_may_not_edit_a_clinical_due_time_later_by_hand(desk: Desk) -> None:
    """The command refuses it, and so does the rule book: the same change, typed by hand
    and committed with an `edited` event in the front desk's name, breaks the guardrail."""
    cid = desk.add_emergency()
    desk.refused("fd", "edit", cid, "--due", "2026-11-30 09:00", "--why", "asked", now=at("09:10"))
    desk.ok("rn", "edit", cid, "--due", "2026-11-30 09:00", "--why", "asked", now=at("09:10"))
    made = desk.path_of(cid).read_text()
    hand_git(desk.path, "reset", "-q", "--hard", "HEAD~1")
    desk.path_of(cid).write_text(made.replace("by: rn", "by: fd"))
    out = hand_git(desk.path, "commit", "-qam", "later", check=False)
    assert "fd, who does not have the clinical role, moved its due time later" in out
    # a clinician's edit is history as usual
    desk.path_of(cid).write_text(made)
    hand_git(desk.path, "commit", "-qam", "later", author="rn")
    assert desk.verify()[0] == 0


def test_a_merge_that_settles_a_conflict_by_hand_is_judged_as_its_authors_change(
    desk: Desk,
) -> None:
    """Two branches add the same attempt with different notes (no merge rule settles
    that); the merge resolving it may not slip in a close "by rn" made by fd: what a
    merge settles itself is judged as any change by its author, by the roster and the
    clock."""
    cid = desk.add_emergency()
    base = desk.head()
    desk.ok("fd", "attempt", cid, "--method", "phone", "--result", "no_answer", "--note",
            "No answer, will retry", now=at("09:05"))  # fmt: skip
    ours = desk.head()
    mine = desk.path_of(cid).read_text()
    hand_git(desk.path, "reset", "-q", "--hard", base)
    desk.path_of(cid).write_text(mine.replace("will retry", "retry later"))
    hand_git(desk.path, "commit", "-qam", "attempt")
    theirs = desk.head()
    hand_git(desk.path, "reset", "-q", "--hard", ours)
    _forge_close(desk, cid, "rn")
    hand_git(desk.path, "add", "-A")
    tree = hand_git(desk.path, "write-tree")
    merge = hand_git(desk.path, "commit-tree", tree, "-p", ours, "-p", theirs, "-m", "merge")
    hand_git(desk.path, "reset", "-q", "--hard", merge)
    code, found = desk.verify()
    assert code == 1 and "author" in kinds(found), found
    assert any("by rn but the commit that adds it is by fd" in f["message"] for f in found)
    # nor settle it with a version of its own that breaks a rule against one side only:
    # with no merge rule to settle it, the merge keeps one side's version as it is
    hand_git(desk.path, "reset", "-q", "--hard", ours)
    lowered = desk.data(cid)
    lowered.update(urgency="routine", owner="front_desk")
    desk.write(cid, lowered)
    hand_git(desk.path, "add", "-A")
    tree = hand_git(desk.path, "write-tree")
    merge = hand_git(desk.path, "commit-tree", tree, "-p", ours, "-p", theirs, "-m", "merge")
    hand_git(desk.path, "reset", "-q", "--hard", merge)
    code, found = desk.verify("--full")
    assert code == 1 and "merge" in kinds(found), found


def test_a_due_time_moved_later_by_an_unblock_with_nothing_to_unblock_is_a_breach(
    desk: Desk,
) -> None:
    """Unblocking and reopening set a due time anew; an `unblocked` (or `reopened`) event
    that resolves no dependency (reopens nothing) is no licence to postpone an emergency."""
    cid = desk.add_emergency()
    for kind in ("unblocked", "reopened"):
        out = _postpone_by_hand(desk, cid, desk.data(cid), kind, at("09:05"))
        assert "fd, who does not have the clinical role, moved its due time later" in out
        hand_git(desk.path, "checkout", "-q", "HEAD", "--", ".")


def _postpone_by_hand(desk: Desk, cid: str, data: dict[str, Any], kind: str, when: str) -> str:
    """fd moves the due time three days later with a hand-made `kind` event, and commits."""
    later = "2026-11-30T09:00:00-05:00"
    was, now = {"due_at": data["due_at"]}, {"due_at": later}
    event = {"id": "b10c4d", "at": when, "by": "fd", "type": kind, "note": "n"}
    data["events"].append({**event, "was": was, "set": now})
    data["due_at"] = later
    desk.write(cid, data)
    return hand_git(desk.path, "commit", "-qam", "n", check=False)


def test_an_unblock_sets_the_due_time_the_command_would_and_no_later(desk: Desk) -> None:
    """A real unblock by the front desk sets an overdue emergency's due time anew (the
    urgency's due rule from the unblock); a hand-made `unblocked` event that resolves a
    real dependency but sets the due time days later breaks the guardrail."""
    cid = desk.add_emergency()
    desk.ok("fd", "block", cid, "--on", "provider_review", "--note", "Waiting on the doctor",
            now=at("09:05"))  # fmt: skip
    desk.ok("fd", "unblock", cid, now=at("11:00"))
    assert desk.data(cid)["due_at"] == at("11:00")
    desk.ok("fd", "block", cid, "--on", "provider_review", "--note", "Waiting again",
            now=at("11:05"))  # fmt: skip
    data = desk.data(cid)
    [dep] = [d for d in data["depends_on"] if d.get("resolved_at") is None]
    dep["resolved_at"] = at("11:10")
    out = _postpone_by_hand(desk, cid, data, "unblocked", at("11:10"))
    assert "fd, who does not have the clinical role, moved its due time later" in out


def test_git_settings_files_are_the_admins_and_replacements_are_never_read(
    desk: Desk, tmp_path: Path
) -> None:
    """`.gitattributes` decides how git reads and merges every record: only an admin may
    change it. A `git replace` cannot show the rule book another commit than history
    holds, and the server takes branches only."""
    attrs = desk.path / ".gitattributes"
    attrs.write_text(attrs.read_text() + "callbacks/**/*.yaml working-tree-encoding=UTF-16\n")
    out = hand_git(desk.path, "commit", "-qam", "attrs", check=False)
    assert ".gitattributes: changed by fd, who does not have the admin role" in out
    hand_git(desk.path, "checkout", "-q", "HEAD", "--", ".gitattributes")
    attrs.write_text(attrs.read_text() + "# kept as the practice set it up\n")
    hand_git(desk.path, "commit", "-qam", "attrs", author="lead")  # the admin may
    # a commit that breaks the guardrail, replaced by a clean one, is still found
    cid = desk.add_emergency(now=at("09:30"))
    clean = desk.head()
    _forge_close(desk, cid, "fd")
    hand_git(desk.path, "add", "-A")
    hand_git(desk.path, "commit", "-q", "--no-verify", "-m", "close")
    bad = desk.head()
    hand_git(desk.path, "replace", bad, clean)
    code, found = desk.verify("--full")
    assert code == 1 and "guardrail" in kinds(found), found
    server = tmp_path / "server.git"
    assert desk.runner.invoke(app, ["server", "init", str(server)]).exit_code == 0
    pushed = git(desk.path, "push", str(server), f"refs/replace/{bad}", check=False)
    assert pushed.returncode != 0 and "only branches may be pushed" in pushed.stderr


# --- 7. smaller -----------------------------------------------------------------------


def test_a_sync_killed_mid_merge_does_not_block_the_next_change(pair: tuple[Desk, Desk]) -> None:
    a, b = pair
    cid = a.add_emergency()
    a.ok("lead", "sync", now=at("09:01"))
    b.ok("lead", "sync", now=at("09:02"))
    b.ok("rn", "note", cid, "From desk b", now=at("09:05"))
    b.ok("lead", "sync", now=at("09:06"))
    a.ok("rn", "note", cid, "From desk a", now=at("09:07"))
    # what a killed sync leaves: git's merge under way, and the sync's marker
    hand_git(a.path, "fetch", "-q", "origin")
    hand_git(a.path, "merge", "--no-commit", "--no-ff", f"origin/{BRANCH}", check=False)
    theirs = hand_git(a.path, "rev-parse", f"origin/{BRANCH}")
    (a.path / ".cbtrack" / "sync-merge").write_text(theirs + "\n")
    a.ok("rn", "note", cid, "After the crash", now=at("09:10"))
    assert not (a.path / ".git" / "MERGE_HEAD").exists()


def _rules_table() -> str:
    """Rule 7 (`history.EXPLAINED_BY`, `history.FIXED`) as the table the README prints."""
    rows = ["| field | explained only by, in the same commit |", "| --- | --- |"]
    for key, how in history.EXPLAINED_BY.items():
        parts = ["a new attempt"] if "attempt" in how else []
        typed = [f"`{h[:-1]}`" for h in how if h.endswith("*")]
        named = [f"`{h}`" for h in how if h != "attempt" and not h.endswith("*")]
        if typed:
            parts.append(f"a new {' or '.join(typed)} event")
        if named:
            parts.append(f"a new {', '.join(named)} event that names it in `set`")
        rows.append(f"| `{key}` | {'; '.join(parts)} |")
    rows.append("| `status` | any new attempt or event (`closed` only with a closure) |")
    rows.append("| `closure`, folder | a new `closed` event that records it; a new `reopened` |")
    fixed = ", ".join(f"`{k}`" for k in history.FIXED)
    rows.append(f"| {fixed} | nothing: fixed once written |")
    return "\n".join(rows) + "\n"


def test_the_readme_prints_the_rule_book_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert _rules_table() in readme


def test_export_csv_shows_control_characters_escaped(desk: Desk) -> None:
    cid = desk.add_emergency()
    data = desk.data(cid)
    desk.ok(
        "rn",
        "edit",
        cid,
        "--reason",
        "Chest pain \x1b[2J\x07 \u202e x",
        "--why",
        "typo",
        now=at("09:10"),
    )
    out = desk.ok("lead", "export", "--format", "csv", now=at("09:20"))
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b" in out and "\\u202e" in out
    assert data["id"] == cid


def test_a_phi_report_is_not_written_inside_the_store(desk: Desk) -> None:
    desk.add_emergency()
    err = desk.refused(
        "lead",
        "report",
        "--include-phi",
        "--format",
        "html",
        "--output",
        str(desk.path / "phi.html"),
        now=at("09:20"),
    )
    assert "outside" in err and not (desk.path / "phi.html").exists()
