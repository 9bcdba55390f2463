"""One guarded way into history: every commit the tool makes, the pre-commit hook, `verify`
and `sync` judge a change by the same rule book (`cbtrack.history`). A hand edit that
breaks it is never laundered into history by `doctor --repair`, `sync` or the journal."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import attempt_args, set_policy
from helpers_robust import commit_count, git_clean, subprocess_env

from cbtrack.store import Store
from cbtrack.yamlio import dump_record
from tests.helpers_git import Desk, at, git, git_env, office

NOTE = "Rang the mobile twice, no answer and no voicemail box"


def doctor_json(cli: Any, *args: str, user: str | None = None) -> tuple[int, dict[str, Any]]:
    result = cli("doctor", "--json", *args, user=user)
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


def rewrite_note(store_dir: Path, cid: str) -> Path:
    """A hand edit of the first attempt's note, in a valid record (the hook refuses it)."""
    s = Store(store_dir)
    cb = s.load(cid)
    cb.attempts[0].note = "Reached the patient, all sorted"
    path = s.path_of(cb)
    path.write_text(dump_record(cb))
    return path


def head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").stdout.strip()


# --- item 1: no laundering through doctor, sync or the journal ----------------------


def test_doctor_repair_leaves_a_rewritten_attempt_uncommitted(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", NOTE))
    path = rewrite_note(store_dir, cid)
    before = head(store_dir)
    code, data = doctor_json(cli, "--repair", user="jlee")
    assert code == 1 and head(store_dir) == before
    rel = f"callbacks/open/{cid}.yaml"
    problem = next(p for p in data["problems"] if p["path"] == rel)
    assert not problem["repairable"] and not problem["repaired"]
    assert "was changed; attempts and events are append-only" in problem["detail"]
    assert f"git checkout HEAD -- {rel}" in problem["detail"]
    assert "sorted" in path.read_text() and rel in git_clean(store_dir)
    assert "needs a person" in cli("doctor").stdout


def test_sync_leaves_a_rewritten_attempt_out_and_the_other_desk_never_sees_it(
    tmp_path: Path,
) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.attempt(cid, at("09:30"))
    a.sync(at("09:31"))
    a.edit(cid, lambda d: d["attempts"][0].update(note="Reached the patient, all sorted"))
    result = a.run("sync", now=at("10:00"))
    assert result.exit_code == 0, result.stderr
    assert "not shared (uncommitted)" in result.stderr
    assert "was changed; attempts and events are append-only" in result.stderr
    assert "sorted" not in result.stderr + result.stdout
    b.sync(at("10:01"))
    assert "sorted" not in b.record(cid)["attempts"][0]["note"]
    assert cid in git(a.path, "status", "--porcelain").stdout


def test_the_journal_does_not_commit_a_hand_edit_as_a_recovery(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    other = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", NOTE))
    rewrite_note(store_dir, cid)
    Store(store_dir).journal_path.write_text(f"{cid}\n")
    commits = commit_count(store_dir)
    result = cli("note", other, "Patient asked for a map of the car park", user="mkhan")
    assert result.exit_code == 0, result.stderr
    assert commit_count(store_dir) == commits + 1
    subjects = git(store_dir, "log", "--format=%s %an", "-3").stdout
    assert "recover" not in subjects
    assert f"{cid}.yaml" in git_clean(store_dir)
    assert "left uncommitted" in result.stderr and "git checkout HEAD --" in result.stderr
    assert Store(store_dir).journal_ids() is None
    # a change to the hand-edited record itself is refused, naming the file and the fix
    err = cli.refused("note", cid, "Another note", user="mkhan")
    assert f"callbacks/open/{cid}.yaml" in err and "git checkout HEAD --" in err


# --- item 2: records moved out of their folder or deleted ----------------------------


def test_doctor_does_not_commit_a_record_moved_out_of_its_folder(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    s = Store(store_dir)
    moved = store_dir / "callbacks" / f"{cid}.yaml"
    s.open_path(cid).rename(moved)
    before = head(store_dir)
    code, data = doctor_json(cli, "--repair", user="jlee")
    assert code == 1 and head(store_dir) == before
    assert not any(p["repaired"] for p in data["problems"])
    assert f"callbacks/open/{cid}.yaml" in git(store_dir, "ls-files").stdout
    assert moved.exists()


def test_doctor_does_not_commit_a_deletion_with_a_bad_copy_elsewhere(
    cli: Any, store_dir: Path
) -> None:
    cid = cli.add()
    s = Store(store_dir)
    s.open_path(cid).unlink()
    s.closed_path(cid).parent.mkdir(parents=True)
    s.closed_path(cid).write_text("id: [unclosed\n")
    before = head(store_dir)
    code, _ = doctor_json(cli, "--repair", user="jlee")
    assert code == 1 and head(store_dir) == before
    assert f"callbacks/open/{cid}.yaml" in git(store_dir, "ls-files").stdout


def test_a_record_moved_out_of_callbacks_folders_is_found_everywhere(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    git(a.path, "mv", f"callbacks/open/{cid}.yaml", f"callbacks/{cid}.yaml")
    a.commit_by_hand("tidy")
    result = a.run("verify", "--json")
    assert result.exit_code == 1
    kinds = {f["kind"] for f in json.loads(result.stdout)["findings"]}
    assert {"deleted", "stray"} <= kinds
    assert a.run("validate").exit_code == 1
    assert a.run("doctor").exit_code == 1


# --- item 3: creation, closure, status and folder are fixed but for their commands ---


def _close_by_hand(d: dict[str, Any]) -> None:
    d["status"] = "closed"
    d["closure"] = {"at": d["created_at"], "by": "jlee", "reason": "reached", "summary": "Done"}


def _close_by_hand_with_event(d: dict[str, Any]) -> None:
    """Closed as reached, with a made-up closed event, but nobody reached the patient."""
    _close_by_hand(d)
    event = {"id": "zzzzzz", "at": d["created_at"], "by": "jlee", "type": "closed",
             "set": {"status": "closed", "reason": "reached"}}  # fmt: skip
    d["events"].append(event)


HAND_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "reached": _close_by_hand_with_event,
    "created_at": lambda d: d.update(created_at="2026-11-20T09:00:00-05:00"),
    "created_by": lambda d: d.update(created_by="mkhan"),
    "source": lambda d: d.update(source="portal"),
    "import_key": lambda d: d.update(import_key="missed-call:20261127T140000Z:5550100123"),
    "status": lambda d: d.update(status="in_progress"),
    "closure": _close_by_hand,
}


@pytest.mark.parametrize("field", sorted(HAND_EDITS))
def test_fixed_fields_changed_by_hand_are_refused_and_found(tmp_path: Path, field: str) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.edit(cid, HAND_EDITS[field])
    if field in ("closure", "reached"):  # moved where a closed record belongs
        src = a.record_path(cid)
        dst = a.path / "callbacks" / "closed" / "2026-11" / f"{cid}.yaml"
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.rename(dst)
    assert a.run("validate").exit_code == 0  # the record itself is valid
    done = a.commit_by_hand("hand edit", verify=True)
    assert done.returncode != 0 and cid in done.stderr, done.stderr
    before = a.head()
    a.commit_by_hand("hand edit")  # --no-verify
    assert a.head() != before
    result = a.run("verify", "--json")
    assert result.exit_code == 1
    messages = " ".join(f["message"] for f in json.loads(result.stdout)["findings"])
    assert cid in messages and (field in messages or "closed" in messages)


def test_a_closed_record_moved_back_to_open_by_hand_is_found(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.ok("close", cid, "--reason", "resolved", "--summary", "Answered it", now=at("10:00"))
    rel = str(a.record_path(cid).relative_to(a.path))
    git(a.path, "mv", rel, f"callbacks/open/{cid}.yaml")
    a.commit_by_hand("move back")
    result = a.run("verify", "--json")
    assert result.exit_code == 1
    assert "status does not match the folder" in result.stdout


# --- item 4: a commit that makes a record invalid ------------------------------------


def test_verify_finds_a_commit_that_makes_a_record_invalid(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.edit(cid, lambda d: d.update(urgency="bogus"))
    a.commit_by_hand("hand edit")
    result = a.run("verify", "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["kind"], f["callback"]) for f in findings] == [("invalid", cid)]
    assert "field urgency" in findings[0]["message"] and "bogus" not in result.stdout


# --- laundering past the hook, then sync --------------------------------------------


def test_sync_does_not_push_a_hand_commit_that_skipped_the_hook(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.attempt(cid, at("09:30"))
    a.sync(at("09:31"))
    a.edit(cid, lambda d: d["attempts"][0].update(note="Reached the patient, all sorted"))
    a.commit_by_hand("tidy up")  # --no-verify
    result = a.run("sync", now=at("10:00"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cbtrack verify" in result.stderr
    assert f"attempt {a.record(cid)['attempts'][0]['id']}" in result.stderr
    b.sync(at("10:01"))
    assert "sorted" not in b.record(cid)["attempts"][0]["note"]
    # the lead reviews and accepts it: then sync shares it
    assert a.run("verify", "--accept").exit_code == 0
    assert a.run("sync", now=at("10:05")).exit_code == 0


def test_merges_of_two_desks_pass_the_rule_book(tmp_path: Path) -> None:
    a, b = office(tmp_path)
    cid = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    a.attempt(cid, at("09:30"))
    b.attempt(cid, at("09:40"), "left_voicemail")
    b.ok("close", cid, "--reason", "resolved", "--summary", "Answered it", now=at("09:45"))
    a.sync(at("10:00"))
    b.sync(at("10:01"))
    a.sync(at("10:02"))
    assert a.head() == b.head()
    for desk in (a, b):
        result = desk.run("verify", "--full")
        assert result.exit_code == 0, result.stdout


# --- item 8: a plain clone is made owner-only -----------------------------------------


def loose_paths(root: Path) -> list[str]:
    out = []
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        if stat.S_IMODE(p.stat().st_mode) & 0o077:
            out.append(str(p.relative_to(root)))
    return out


def clone_with_umask_022(tmp_path: Path, name: str) -> Desk:
    path = tmp_path / name
    subprocess.run(
        ["git", "clone", "-q", str(tmp_path / "remote.git"), str(path)],
        env=git_env(),
        check=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert loose_paths(path)  # as git leaves a clone under the usual umask
    return Desk(path, "kim")


def test_sync_and_doctor_make_a_plain_clone_owner_only(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b = clone_with_umask_022(tmp_path, "kim2")
    result = b.run("doctor", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["kind"], p["repairable"]) for p in problems] == [("loose_modes", True)]
    result = b.run("doctor", "--repair")
    assert result.exit_code == 0, result.stdout
    assert loose_paths(b.path) == []
    c = clone_with_umask_022(tmp_path, "kim3")
    c.sync(at("09:10"))
    assert loose_paths(c.path) == []


# --- item 13: the store lock and processes that outlive the command -------------------


def test_a_killed_sync_leaves_no_orphan_holding_the_store_lock(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    marker = tmp_path / "fetch-started"
    # the remote side of the fetch hangs, as a stalled network or ssh would
    git(a.path, "config", "remote.origin.uploadpack", f"touch {marker}; sleep 120; exit 1")
    env = subprocess_env(tmp_path / "home", CBTRACK_LOCK_TIMEOUT="3")
    sync = subprocess.Popen(
        [sys.executable, "-m", "cbtrack", "--store", str(a.path), "--as", "jlee", "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not marker.exists():
            assert sync.poll() is None, "sync ended before its fetch started"
            os.sched_yield()
        sync.kill()  # kill -9 of the command; git fetch and its helper live on
        sync.wait()
        done = subprocess.run(
            [sys.executable, "-m", "cbtrack", "--store", str(a.path), "--as", "jlee", "doctor"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert "store lock" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        os.killpg(sync.pid, 9)


def test_a_busy_lock_names_the_process_that_holds_it(store_dir: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from cbtrack.store import Store\n"
            "with Store(Path(sys.argv[1])).lock():\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(store_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(tmp_path / "home"),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        env = subprocess_env(tmp_path / "home", CBTRACK_LOCK_TIMEOUT="0.2")
        done = subprocess.run(
            [sys.executable, "-m", "cbtrack", "--store", str(store_dir), "--as", "jlee", "doctor"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert f"process {holder.pid}" in last and "nothing was written" in last


# --- item 14: doctor checks what validate checks; verify read-only -------------------


def test_doctor_does_not_call_a_store_healthy_that_validate_refuses(
    cli: Any, store_dir: Path
) -> None:
    cid = cli.add(category="billing")
    policy = yaml.safe_load((store_dir / "cbtrack.yaml").read_text())
    del policy["categories"]["billing"]
    set_policy(store_dir, categories=policy["categories"])
    # (set_policy commits the edit, as the lead does)
    assert cli("validate").exit_code == 1
    code, data = doctor_json(cli, "--repair", user="jlee")
    assert code == 1 and not data["healthy"]
    problem = next(p for p in data["problems"] if p["kind"] == "policy_mismatch")
    assert problem["path"] == f"callbacks/open/{cid}.yaml" and "category" in problem["detail"]
    assert "healthy" not in cli("doctor").stdout


def test_doctor_reports_an_owner_the_roster_no_longer_has(cli: Any, store_dir: Path) -> None:
    jamie = {"name": "Jamie Lee", "roles": ["front_desk"]}
    mo = {"name": "Mo Khan", "roles": ["scheduling"]}
    set_policy(store_dir, staff={"jlee": jamie, "mkhan": mo})
    # (set_policy commits the edit, as the lead does)
    cid = cli.add()
    cli.ok("assign", cid, "mkhan")
    set_policy(store_dir, staff={"jlee": jamie, "mokhan": mo})
    # (set_policy commits the edit, as the lead does)
    assert cli("validate").exit_code == 1
    code, data = doctor_json(cli)
    assert code == 1
    assert [p["detail"] for p in data["problems"] if p["kind"] == "policy_mismatch"] == [
        "field owner is not a role or staff user in the policy"
    ]


def test_verify_on_a_read_only_store_exits_3(tmp_path: Path) -> None:
    (a, _) = office(tmp_path)
    a.add(now=at("09:00"))
    env = subprocess_env(tmp_path / "home")
    argv = [sys.executable, "-m", "cbtrack", "--store", str(a.path), "verify"]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare to mount the store read-only as root")
        script = (
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
        )
        argv = ["unshare", "-rm", "sh", "-c", script, "sh", str(a.path), *argv]
        probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip("unshare is not allowed here")
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    else:
        for p in [a.path, *a.path.rglob("*")]:
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        finally:
            for p in [a.path, *a.path.rglob("*")]:
                p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o200)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "read-only" in done.stderr or "could not be recorded" in done.stderr


# --- the rule book itself: merges of two desks always pass it -------------------------


def _snapshot(cb: Any) -> dict[str, bytes | str | None]:
    from cbtrack import history

    open_rel, closed_rel = history.record_paths(cb.id)
    out: dict[str, bytes | str | None] = {open_rel: None, closed_rel: None}
    out[open_rel if cb.is_open else closed_rel] = dump_record(cb).encode()
    return out


def _act(cb: Any, step: tuple[str, int], who: str) -> None:
    """One change as the commands make it (attempt, close, reopen, note)."""
    from test_merge import attempt, t

    from cbtrack.model import CloseReason, Closure, EventType, Status

    kind, minutes = step
    if kind == "attempt" and cb.is_open:
        attempt(cb, minutes, who)
    elif kind == "close" and cb.is_open:
        cb.closure = Closure(at=t(minutes), by=who, reason=CloseReason.resolved, summary="Done")
        cb.log(t(minutes), who, EventType.closed, set={"status": "closed", "reason": "resolved"})
        cb.status = Status.closed
    elif kind == "reopen" and not cb.is_open:
        cb.closure = None
        cb.status = cb.resting_status()
        cb.log(t(minutes), who, EventType.reopened, note="Again")
    elif kind == "note":
        cb.log(t(minutes), who, EventType.note, note="A note")


def test_merged_records_pass_the_rule_book_against_both_parents() -> None:
    from hypothesis import given, settings, strategies as st
    from test_merge import base_record, copy

    from cbtrack import history, mergecheck
    from cbtrack.merge import merge_records

    step = st.tuples(st.sampled_from(["attempt", "close", "reopen", "note"]), st.integers(1, 90))
    steps = st.lists(step, max_size=6)

    @settings(max_examples=150, deadline=None)
    @given(common=steps, mine=steps, theirs=steps)
    def run(common: Any, mine: Any, theirs: Any) -> None:
        base = base_record()
        clock = 0  # each desk's clock runs forward (skewed clocks are another matter)
        for kind, step in common:
            clock += step
            _act(base, (kind, clock), "jlee")
        ours, other = copy(base), copy(base)
        for side, moves, who in ((ours, mine, "jlee"), (other, theirs, "kim")):
            at = clock
            for kind, step in moves:
                at += step
                _act(side, (kind, at), who)
        for side in (ours, other):  # each desk's own change passes
            snap = _snapshot(side)
            assert history.check(list(snap), [_snapshot(base)], snap) == []
        merged = merge_records(base, ours, other)
        if merged.record is None or merged.conflicts:
            return
        after = _snapshot(merged.record)
        paths = list(after)
        # a merge is judged against its base: it is what the merge rules make of both sides
        parents = [_snapshot(ours), _snapshot(other)]
        assert mergecheck.check_merge(paths, _snapshot(base), parents, after) == []

    run()


def test_the_rule_book_is_pure() -> None:
    """cbtrack.history reads no file and runs no git: it takes contents and returns
    breaches; from the store it borrows only the strict text parsing."""
    import ast

    tree = ast.parse((Path(__file__).parent.parent / "cbtrack" / "history.py").read_text())
    imports: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom):
            imports.setdefault(str(node.module), set()).update(a.name for a in node.names)
    assert not {"os", "subprocess", "pathlib", "cbtrack.gitlog", "cbtrack.service"} & set(imports)
    assert imports["cbtrack.store"] <= {
        "MAX_RECORD_BYTES",
        "MAX_POLICY_BYTES",
        "LOCAL_DIR",
        "POLICY_FILE",
        "decode_text",
        "parse_model",
        "validate_data",
    }
