"""The store's one local index (`.cbtrack/index.sqlite`, cbtrack/localindex.py): private,
never committed, never trusted over the files, rebuilt from them whenever in doubt."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cbtrack import freshness, localindex
from cbtrack.store import Store
from tests.conftest import Cli, attempt_args, git


def _queue_ids(cli: Cli) -> list[str]:
    return [cb["id"] for cb in json.loads(cli.ok("queue", "--json").stdout)]


def _index(store: Path) -> Path:
    return store / ".cbtrack" / localindex.FILE_NAME


def _rows(store: Path, folder: str = "open") -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(_index(store)) as db:
        cur = db.execute("SELECT name, stamp, data FROM rec WHERE folder = ?", (folder,))
        return {r[0]: r[1:] for r in cur}


def test_reads_fill_an_owner_only_index_that_git_never_sees(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(), cli.add(category="general", reason="Parking question")]
    cli.ok("close", ids[1], "--reason", "resolved", "--summary", "Answered")
    assert sorted(_queue_ids(cli)) == [ids[0]]
    cli.ok("report", "--since", "2026-11-01", "--format", "json")
    path = _index(store_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert git(store_dir, "status", "--porcelain") == ""
    assert list(_rows(store_dir)) == [f"{ids[0]}.yaml"]
    assert list(_rows(store_dir, "closed/2026-11")) == [f"{ids[1]}.yaml"]
    with sqlite3.connect(path) as db:
        # the report's de-identified rows sit beside the entries; no other local cache is left
        assert db.execute("SELECT count(*) FROM rec WHERE report IS NOT NULL").fetchone()[0] == 2
        assert (
            db.execute("SELECT v FROM meta WHERE k = 'key'")
            .fetchone()[0]
            .startswith(localindex.FORMAT)
        )
    assert not (path.parent / "cache").exists()  # (0.2's four caches are gone)


def test_the_caches_of_0_2_are_removed_when_the_index_is_made(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    old = store_dir / ".cbtrack" / "cache"
    old.mkdir(parents=True, exist_ok=True)
    (old / "open-aa.bin").write_bytes(b"old record data")
    (store_dir / ".cbtrack" / "find-index.json").write_text("{}")
    _index(store_dir).unlink(missing_ok=True)
    assert _queue_ids(cli) == [cid]
    assert not old.exists() and not (store_dir / ".cbtrack" / "find-index.json").exists()


def test_the_queue_from_the_index_matches_the_files(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(), cli.add(category="billing", reason="Copay question")]
    cli.ok(*attempt_args(ids[0], "phone", "no_answer", "No answer, will retry this afternoon"))
    cold = cli.ok("queue", "--json").stdout
    assert _index(store_dir).exists()
    warm = cli.ok("queue", "--json").stdout
    _index(store_dir).unlink()  # deleting it is always safe
    assert warm == cold == cli.ok("queue", "--json").stdout


def test_a_hand_edit_is_seen_even_with_the_same_size_and_time(cli: Cli, store_dir: Path) -> None:
    cid = cli.add(reason="New patient visit")
    _queue_ids(cli)
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    before = path.stat()
    path.write_text(path.read_text().replace("New patient visit", "Old patient visit"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as before
    shown = json.loads(cli.ok("queue", "--json").stdout)
    assert shown[0]["reason"] == "Old patient visit"


def test_a_bad_file_gives_the_same_error_with_a_warm_index(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    _queue_ids(cli)
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    path.write_text(path.read_text().replace("urgency: time_sensitive", "urgency: whenever"))
    warm = cli("queue")
    _index(store_dir).unlink()
    cold = cli("queue")
    assert warm.exit_code == cold.exit_code == 3
    assert warm.stderr == cold.stderr and f"{cid}.yaml" in warm.stderr


def test_a_checkout_and_a_pull_are_seen(cli: Cli, store_dir: Path, tmp_path: Path) -> None:
    cid = cli.add()
    clone = tmp_path / "desk2"
    subprocess.run(["git", "clone", "-q", str(store_dir), str(clone)], check=True)
    desk2 = Cli(clone)
    assert [cb["attempts"] for cb in json.loads(desk2.ok("queue", "--json").stdout)] == [[]]
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    git(clone, "pull", "-q", "--ff-only")
    assert len(json.loads(desk2.ok("queue", "--json").stdout)[0]["attempts"]) == 1
    _queue_ids(cli)
    git(store_dir, "checkout", "-q", "HEAD~1", "--", f"callbacks/open/{cid}.yaml")
    assert json.loads(cli.ok("queue", "--json").stdout)[0]["attempts"] == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_tables"])
def test_a_damaged_index_is_rebuilt(cli: Cli, store_dir: Path, damage: str) -> None:
    ids = [cli.add(), cli.add(category="general", reason="Parking question")]
    expected = cli.ok("queue", "--json").stdout
    path = _index(store_dir)
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 500)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:600])
    else:
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE rec")
            db.execute("CREATE TABLE rec(x)")
    assert cli.ok("queue", "--json").stdout == expected
    assert cli.ok("show", ids[1]).exit_code == 0
    assert cli.ok("queue", "--json").stdout == expected
    assert len(_rows(store_dir)) == 2


def test_an_index_for_another_policy_or_version_is_not_used(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add()
    _queue_ids(cli)

    def key() -> str:
        with sqlite3.connect(_index(store_dir)) as db:
            return str(db.execute("SELECT v FROM meta WHERE k = 'key'").fetchone()[0])

    old = key()
    policy = store_dir / "cbtrack.yaml"
    policy.write_text(policy.read_text() + "\n# edited by hand\n")
    _queue_ids(cli)
    assert key() != old
    edited = key()
    monkeypatch.setattr(localindex, "FORMAT", "cbtrack-index-0")
    _queue_ids(cli)
    assert key() != edited and key().startswith("cbtrack-index-0")


def test_the_racy_rule(tmp_path: Path) -> None:
    """An entry is used only for a file older than the moment it was read."""
    record = tmp_path / "r.yaml"
    record.write_text("x")
    st = record.stat()
    assert freshness.stamp(st, st.st_mtime_ns) == ""  # read in the same tick: never fresh
    assert freshness.stamp(st, st.st_ctime_ns) == ""
    assert not freshness.fresh("", st)
    kept = freshness.stamp(st, max(st.st_mtime_ns, st.st_ctime_ns) + 1)
    assert freshness.fresh(kept, st)
    record.write_text("y")  # same size; a new mtime and ctime
    assert not freshness.fresh(kept, record.stat())
    # noted a tick early: a change right after a read is never hidden
    assert freshness.now_checked() <= time.time_ns() - freshness.TICK_NS


def test_a_change_updates_its_own_entry_only(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(reason=f"Visit request {i}") for i in range(6)]
    _queue_ids(cli)
    before = _rows(store_dir)
    cid = ids[3]
    name = f"{cid}.yaml"
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    after = _rows(store_dir)
    path = store_dir / "callbacks" / "open" / name
    assert after[name][0] in ("", freshness.signature(path.stat()))  # ("": read in its tick)
    assert after[name][1] is not None
    assert {k: v for k, v in after.items() if k != name} == {
        k: v for k, v in before.items() if k != name
    }
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Booked")
    assert name not in _rows(store_dir)
    closed = store_dir / "callbacks" / "closed" / "2026-11" / name
    assert _rows(store_dir, "closed/2026-11")[name][0] in ("", freshness.signature(closed.stat()))


def test_the_duplicate_check_keeps_every_other_entry(cli: Cli, store_dir: Path) -> None:
    """`add` reads only the records its duplicate check points at: the others stay indexed
    (a partial read once dropped them all, and the next command read every file again)."""
    ids = [cli.add(reason=f"Visit request {i}") for i in range(5)]
    _queue_ids(cli)
    assert len(_rows(store_dir)) == 5
    cli.ok("add", "--patient", "Bo Otherperson", "--phone", "+1 (555) 019-7777", "--category",
           "general", "--reason", "Again", "--detail", "topic=x")  # fmt: skip
    rows = _rows(store_dir)
    assert {f"{i}.yaml" for i in ids} <= set(rows) and len(rows) == 6


def test_never_through_a_symlink(cli: Cli, store_dir: Path, tmp_path: Path) -> None:
    cid = cli.add()
    outside = tmp_path / "elsewhere.sqlite"
    outside.write_bytes(b"")
    local = store_dir / ".cbtrack"
    local.mkdir(exist_ok=True)
    _index(store_dir).unlink(missing_ok=True)
    _index(store_dir).symlink_to(outside)
    assert _queue_ids(cli) == [cid]
    assert outside.read_bytes() == b""
    _index(store_dir).unlink()
    shutil.move(str(local), str(tmp_path / "real-local"))
    local.symlink_to(tmp_path / "real-local")
    assert _queue_ids(cli) == [cid]
    assert not (tmp_path / "real-local" / localindex.FILE_NAME).exists()


def test_a_cold_build_in_worker_processes_reads_as_strictly(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [cli.add(reason=f"Visit request {i}") for i in range(8)]
    serial = cli.ok("queue", "--json").stdout
    monkeypatch.setattr(localindex, "PARALLEL_FROM", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    _index(store_dir).unlink()
    assert cli.ok("queue", "--json").stdout == serial
    assert len(_rows(store_dir)) == 8
    bad = store_dir / "callbacks" / "open" / f"{ids[5]}.yaml"
    bad.write_text(bad.read_text().replace("urgency: time_sensitive", "urgency: whenever"))
    # the workers read every good file; the bad one is left to this process, which reports it
    st = Store(store_dir)
    names = sorted(f"{i}.yaml" for i in ids)
    stats = {n: os.stat(st.open_dir / n) for n in names}
    got = st.index._read_many(st.open_dir, None, stats, freshness.now_checked())
    assert set(got) == set(names) - {bad.name}
    _index(store_dir).unlink()
    result = cli("queue")
    assert result.exit_code == 3 and f"{ids[5]}.yaml" in result.stderr


def test_commands_at_once_share_one_index(cli: Cli, store_dir: Path) -> None:
    for i in range(30):
        cli.add(reason=f"Visit request {i}")
    _index(store_dir).unlink()
    exe = str(Path(sys.executable).parent / "cbtrack")
    env = {**os.environ, "CBTRACK_STORE": str(store_dir)}
    procs = [
        subprocess.Popen(
            [exe, "queue", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    outs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1 and len(json.loads(outs[0][0])) == 30
    assert len(_rows(store_dir)) == 30


def test_the_store_reads_one_record_without_the_index(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    _index(store_dir).unlink(missing_ok=True)
    assert Store(store_dir).load(cid[-5:]).id == cid
    assert not _index(store_dir).exists()


def test_commands_run_in_one_process_leave_no_index_open(cli: Any) -> None:
    # typer's test runner (and a program using the CLI in-process) runs many commands in one
    # process: each lets go of the local index when it ends
    def open_files() -> int:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # (the listing's own descriptor is gone)
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return len([n for n in names if n.endswith(localindex.FILE_NAME)])

    cid = cli.add()
    cli.ok("queue")
    before = open_files()
    for _ in range(5):
        cli.ok("queue")
        cli.ok("show", cid)
        cli.ok("find", "Ada")
    assert open_files() <= before
