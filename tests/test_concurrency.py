"""Several staff at once: real processes, one store, every change kept and committed once.

The store lock is a `flock` on .cbtrack/lock held from reading the record to the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_robust import (
    HERE,
    add_args,
    attempt_args,
    cbtrack_argv,
    commit_count,
    git,
    git_clean,
    load_all,
    run_in_process,
    subprocess_env,
)

from cbtrack.store import Store

WAITING = "Waiting for another cbtrack command to finish (store lock)"


def _poll(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll for a process to reach a state (not a sleep standing in for a sync)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_four_processes_times_25_changes_are_all_kept(store_dir: Path, tmp_path: Path) -> None:
    workers, per_worker = 4, 25
    before = commit_count(store_dir)
    env = subprocess_env(tmp_path / "home")
    outs = [tmp_path / f"worker{i}.jsonl" for i in range(workers)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "helpers_robust.py"),
                "worker",
                str(store_dir),
                f"desk{i}",
                str(per_worker),
                str(out),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    waits = 0
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        waits += json.loads(stdout.strip().splitlines()[-1])["waits"]

    done = [json.loads(line) for out in outs for line in out.read_text().splitlines()]
    assert len(done) == workers * per_worker
    records = {cid: copies[0] for cid, copies in load_all(store_dir).items()}
    assert all(len(copies) == 1 for copies in load_all(store_dir).values())
    for change in done:
        cb = records[change["id"]]
        if change["op"] == "attempt":
            assert change["note"] in [a.note for a in cb.attempts]
        elif change["op"] == "assign":
            assert any(
                e.type == "assigned" and e.set == {"owner": change["owner"]} for e in cb.events
            )
    for cid, cb in records.items():
        mine = [c for c in done if c["id"] == cid]
        assigns = [c["owner"] for c in mine if c["op"] == "assign"]
        assert cb.owner == (assigns[-1] if assigns else "front_desk")
        assert len(cb.attempts) == sum(c["op"] == "attempt" for c in mine)

    # one commit per change, each touching exactly one record, nothing left over
    assert commit_count(store_dir) == before + workers * per_worker
    log = git(store_dir, "log", f"-{workers * per_worker}", "--format=%x00%s", "--name-only")
    for entry in log.split("\0")[1:]:
        lines = [x for x in entry.strip().splitlines() if x]
        assert len(lines) == 2, lines  # subject + one file
    assert git_clean(store_dir) == ""
    print(f"\n4x25 changes: {waits} of them waited for the lock")


def test_eight_concurrent_changes_on_one_record(store_dir: Path, tmp_path: Path) -> None:
    """Eight real cbtrack processes attempt the same callback at once. The test holds the
    lock until all eight say they are waiting, then lets them race for it."""
    code, out, err = run_in_process(["--store", str(store_dir), "--as", "jlee", *add_args("Ada")])
    assert code == 0, err
    cid = out.strip()
    before = commit_count(store_dir)
    env = subprocess_env(tmp_path / "home")
    notes = [f"Desk {k} called: no answer, trying again later" for k in range(8)]
    errs = [tmp_path / f"err{k}.txt" for k in range(8)]
    store = Store(store_dir)
    with store.lock():
        procs = []
        for note, err_path in zip(notes, errs, strict=True):
            argv = [*cbtrack_argv(), "--store", str(store_dir), "--as", "jlee"]
            with err_path.open("w") as err_fh:
                procs.append(
                    subprocess.Popen(
                        [*argv, *attempt_args(cid, note)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=err_fh,
                    )
                )
        _poll(
            lambda: all(WAITING in p.read_text() for p in errs),
            what="all eight commands to report that they wait for the lock",
        )
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    for err_path in errs:
        lines = err_path.read_text().splitlines()
        assert lines[0] == WAITING + "...", lines
        assert all(line.startswith("Warning: ") for line in lines[1:]), lines

    cb = Store(store_dir).load(cid)
    assert sorted(a.note for a in cb.attempts) == sorted(notes)
    assert len({a.id for a in cb.attempts}) == 8
    assert commit_count(store_dir) == before + 8
    assert git_clean(store_dir) == ""


def test_lock_timeout_is_a_clear_error_and_writes_nothing(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_in_process(["--store", str(store_dir), "--as", "jlee", *add_args("Ada")])
    cid = out.strip()
    before = commit_count(store_dir)
    files = sorted(p.read_bytes() for p in (store_dir / "callbacks").rglob("*.yaml"))
    monkeypatch.setenv("CBTRACK_LOCK_TIMEOUT", "0.3")
    with Store(store_dir).lock():
        started = time.monotonic()
        code, out, err = run_in_process(
            ["--store", str(store_dir), "--as", "jlee", "assign", cid, "scheduling"]
        )
        waited = time.monotonic() - started
    assert code == 1
    assert err.splitlines() == [
        WAITING + "...",
        "Error: Another cbtrack command held the store lock for 0.3s; nothing was written, "
        "try again in a moment.",
    ]
    assert 0.3 <= waited < 5
    assert commit_count(store_dir) == before
    assert sorted(p.read_bytes() for p in (store_dir / "callbacks").rglob("*.yaml")) == files
    # once the lock is free the same command goes through
    code, out, err = run_in_process(
        ["--store", str(store_dir), "--as", "jlee", "assign", cid, "scheduling"]
    )
    assert code == 0, err
    assert WAITING not in err


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_lock_timeout_is_refused(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CBTRACK_LOCK_TIMEOUT", value)
    code, _out, err = run_in_process(["--store", str(store_dir), "--as", "jlee", *add_args("Ada")])
    assert code == 1
    assert err == "Error: CBTRACK_LOCK_TIMEOUT must be a number of seconds, like 30.\n"
    assert commit_count(store_dir) == 1


def test_the_lock_of_a_killed_holder_is_free(store_dir: Path, tmp_path: Path) -> None:
    """A flock dies with its holder: no stale store lock after kill -9."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cbtrack.store import Store\n"
            "with Store(Path(sys.argv[1])).lock():\n"
            "    print('held', flush=True); time.sleep(600)",
            str(store_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(tmp_path / "home"),
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    code, _out, err = run_in_process(["--store", str(store_dir), "--as", "jlee", *add_args("Ada")])
    assert code == 0, err
    assert WAITING not in err
