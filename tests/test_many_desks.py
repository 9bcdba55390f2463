"""Many desks, one queue: merges by callback ID, syncs racing each other, and a scale run
of ten desks on one bare remote with a ledger of every change."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers_git import Desk, at, git, office, same_everywhere

CLI = [sys.executable, "-m", "cbtrack"]


def cli_env(now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CBTRACK_", "GIT_"))}
    env.update(CBTRACK_NOW=now, GIT_CONFIG_NOSYSTEM="1")
    env["GIT_CONFIG_GLOBAL"] = os.environ.get("GIT_CONFIG_GLOBAL", os.devnull)
    return env


def run(desk: Desk, *args: str, now: str) -> subprocess.CompletedProcess[str]:
    argv = [*CLI, "--store", str(desk.path), "--as", desk.user, *args]
    return subprocess.run(argv, env=cli_env(now), capture_output=True, text=True)


def timed_run(desk: Desk, *args: str, now: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = run(desk, *args, now=now)
    return result, time.monotonic() - started


def test_a_new_record_worded_like_one_closed_meanwhile_keeps_every_attempt(
    tmp_path: Path,
) -> None:
    """git's rename detection once paired a closed record's old file with a new, similar
    one, moving the other desk's attempt into the wrong callback; merges go by ID now."""
    a, b = office(tmp_path, ("d1", "d2"))
    x = a.add(now=at("09:00"), reason="Asks about parking for the clinic visit")
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    b.attempt(x, at("09:10"))
    b.sync(at("09:11"))
    a.attempt(x, at("09:20"))
    a.attempt(x, at("13:30"))
    a.ok("close", x, "--reason", "resolved", "--summary", "Sorted", now=at("13:40"))
    y = a.add(now=at("13:50"), reason="Asks about parking for the clinic visit")
    result = a.run("sync", now=at("14:00"))
    assert result.exit_code == 0, result.stderr
    b.sync(at("14:01"))
    for desk in (a, b):
        assert len(desk.record(x)["attempts"]) == 3
        assert desk.record(x)["status"] == "closed"
        assert desk.record(y)["attempts"] == []
    assert a.ok("verify") and b.ok("verify")


def test_the_merged_owner_is_what_the_latest_event_says(tmp_path: Path) -> None:
    a, b = office(tmp_path, ("d1", "d2"))
    x = a.add(now=at("09:00"))
    a.sync(at("09:01"))
    b.sync(at("09:02"))
    b.ok("route", x, "--to", "billing", "--note", "Billing question", now=at("09:50"))
    a.ok("assign", x, "d1", now=at("10:00"))
    b.attempt(x, at("10:05"))  # the desk with the latest activity did not set the owner last
    b.sync(at("10:10"))
    a.sync(at("10:11"))
    b.sync(at("10:12"))
    for desk in (a, b):
        record = desk.record(x)
        setting = [e for e in record["events"] if "owner" in (e.get("set") or {})]
        assert record["owner"] == max(setting, key=lambda e: e["at"])["set"]["owner"] == "d1"


def test_five_desks_syncing_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    desks = office(tmp_path, ("d1", "d2", "d3", "d4", "d5"))
    for d in desks[1:]:
        d.sync(at("08:30"))
    for i, d in enumerate(desks):
        d.add(now=at(f"09:0{i}"))
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda d: run(d, "sync", "--json", now=at("09:30")), desks))
    for r in results:
        assert r.returncode == 0, r.stderr
    retried = sum(json.loads(r.stdout)["push_retries"] > 0 for r in results)
    for d in desks:
        d.sync(at("09:40"))
    same_everywhere(desks)
    assert retried >= 0


@pytest.mark.slow
def test_ten_desks_twenty_rounds_lose_nothing(tmp_path: Path) -> None:
    """Ten desks, twenty rounds of random changes (several on the same callbacks), each
    round's syncs at the same moment; a ledger of every change that reported success."""
    users = tuple(f"d{i}" for i in range(10))
    desks = office(tmp_path, users)
    for d in desks[1:]:
        d.sync(at("08:10"))
    rng = random.Random(20261206)
    ledger: dict[str, set[str]] = {}  # callback -> attempt notes recorded
    minute = 0
    retries = retried = 0
    slowest: list[float] = []  # per round: until the last of the ten syncs finished
    each: list[float] = []  # every sync's own time
    locks: list[float] = []  # every sync's longest hold of its store lock
    for rnd in range(20):
        for d in desks:
            minute += 1
            now = f"2026-11-27T{9 + minute // 60:02d}:{minute % 60:02d}:00-05:00"
            known = sorted(ledger)
            if not known or rng.random() < 0.3:
                cid = d.add(now=now)
                ledger[cid] = set()
            else:
                cid = rng.choice(known[-6:])  # recent callbacks: several desks on each
                note = f"Round {rnd} call by {d.user}, no answer on the mobile"
                args = ["--method", "phone", "--result", "no_answer", "--note", note]
                result = d.run("attempt", cid, *args, "--force", "--why", "scale", now=now)
                if result.exit_code == 0:
                    ledger[cid].add(note)
        minute += 1
        now = f"2026-11-27T{9 + minute // 60:02d}:{minute % 60:02d}:00-05:00"
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(desks)) as pool:
            timed = list(pool.map(lambda d, t=now: timed_run(d, "sync", "--json", now=t), desks))
        slowest.append(time.monotonic() - started)
        for r, seconds in timed:
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            retries += out["push_retries"]
            retried += out["push_retries"] > 0
            each.append(seconds)
            locks.append(out["lock_held_s"])
    for d in desks:
        d.sync(at("18:00"))
    same_everywhere(desks)
    last = desks[-1]
    for cid, notes in ledger.items():
        record: dict[str, Any] = last.record(cid)
        held = [a["note"] for a in record["attempts"]]
        assert notes <= set(held), cid  # nothing lost
        assert len(held) == len(set(held)), cid  # nothing doubled
    for d in desks:
        assert "no finding" in d.ok("verify", now=at("18:10"))
    assert git(last.path, "status", "--porcelain").stdout == ""
    print(
        f"{len(ledger)} callbacks; {retried} of {len(each)} syncs needed a retry "
        f"({retries} retries); a sync took {statistics.median(each):.1f} s (median), "
        f"{max(each):.1f} s at most, and held its store lock {statistics.median(locks):.2f} s "
        f"(median), {max(locks):.2f} s at most; ten syncs at once finished in "
        f"{statistics.median(slowest):.1f} s (median round), {max(slowest):.1f} s at most"
    )


def test_a_report_waits_for_a_change_under_way(tmp_path: Path) -> None:
    """A report reads one consistent state: while a change (a sync's merge, say) holds the
    store, the report waits for it rather than count half of it."""
    (a,) = office(tmp_path, ("d1",))
    a.add(now=at("09:00"))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from cbtrack.store import Store\n"
         "with Store(Path(sys.argv[1])).lock():\n"
         "    print('held', flush=True); sys.stdin.read()", str(a.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env(at("09:10")),
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        env = dict(cli_env(at("09:10")), CBTRACK_LOCK_TIMEOUT="0.3")
        argv = [*CLI, "--store", str(a.path), "report", "--json"]
        waited = subprocess.run(argv, env=env, capture_output=True, text=True)
        assert waited.returncode != 0 and "lock" in waited.stderr
    finally:
        holder.communicate("")
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["totals"]["created"] == 1
