"""Whole-process benchmark: does a change cost the same on a big store as on an empty one?

    python tests/bench/bench.py [--closed 100000] [--open 200] [--runs 7]

Builds two stores in a temporary folder: an empty one and one with N closed callbacks spread
over twelve months (plus some open ones), all committed to git. Then times, as separate
processes like staff and cron run them, the median of several runs of:

- `cbtrack --help` (the start-up baseline),
- `add`, `attempt` and `close` on each store,
- `queue` and `report` (a year) on the big store.

It prints the medians and the ratio of each big-store change to the same change on the
empty store (1.0 means "costs the same"). Not a test: timings vary by machine; the ratios
are what to watch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cbtrack import service
from cbtrack.model import (
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Closure,
    Patient,
    Status,
    Urgency,
)
from cbtrack.store import dump_record

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
CBTRACK = [sys.executable, "-m", "cbtrack"]


def make_store(root: Path, closed: int, open_: int) -> Path:
    service.init_store(root, "bench", NOW)
    start = NOW - timedelta(days=365)
    for i in range(closed + open_):
        created = start + timedelta(minutes=(i * 525_600) // max(closed + open_, 1))
        is_open = i >= closed
        cid = f"cb-{created:%Y%m%d}-{i:05x}"[:12] + _suffix(i)
        cb = Callback(
            id=cid,
            created_at=created,
            created_by="bench",
            patient=Patient(name=f"Bench Patient {i}", phone=f"+1555010{i % 10000:04d}"),
            category="general",
            reason="Benchmark question",
            details={"topic": "bench"},
            urgency=Urgency.routine,
            owner="front_desk",
            due_at=created + timedelta(days=2),
            next_action="Answer or route",
            attempts=[
                Attempt(
                    at=created + timedelta(hours=2),
                    by="bench",
                    method=AttemptMethod.phone,
                    result=AttemptResult.reached,
                    note="Reached patient; answered the benchmark question",
                )
            ],
        )
        if not is_open:
            cb.status = Status.closed
            cb.closure = Closure(
                at=created + timedelta(hours=3),
                by="bench",
                reason=CloseReason.reached,
                summary="Answered",
            )
            path = root / "callbacks" / "closed" / f"{created:%Y-%m}" / f"{cid}.yaml"
        else:
            cb.status = Status.in_progress
            path = root / "callbacks" / "open" / f"{cid}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_record(cb))
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="b@x",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="b@x",
    )
    if closed + open_:
        subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
        subprocess.run(
            ["git", "commit", "-qm", "bench data", "--no-verify"], cwd=root, check=True, env=env
        )
    return root


def _suffix(i: int) -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    out = ""
    for _ in range(5):
        out += alphabet[i % 32]
        i //= 32
    return out


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([*CBTRACK, *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed: {proc.stderr.strip()}")
    return elapsed, proc.stdout.strip()


def bench_changes(store: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    base = ["--store", str(store), "--as", "bench"]
    add_t, att_t, close_t = [], [], []
    for i in range(runs):
        e = dict(env, CBTRACK_NOW=(NOW + timedelta(minutes=i)).isoformat())
        t, cid = timed(
            [
                *base,
                "add",
                "--patient",
                "Run Patient",
                "--phone",
                "5550100999",
                "--category",
                "general",
                "--reason",
                "Benchmark add",
                "--detail",
                "topic=bench",
            ],
            e,
        )
        add_t.append(t)
        t, _ = timed(
            [
                *base,
                "attempt",
                cid,
                "--method",
                "phone",
                "--result",
                "reached",
                "--note",
                "Reached patient; benchmark attempt recorded",
            ],
            e,
        )
        att_t.append(t)
        t, _ = timed([*base, "close", cid, "--reason", "reached", "--summary", "Bench"], e)
        close_t.append(t)
    return {
        "add": statistics.median(add_t),
        "attempt": statistics.median(att_t),
        "close": statistics.median(close_t),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closed", type=int, default=100_000)
    ap.add_argument("--open", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cbtrack-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBTRACK_")}
    env.update(HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")
    try:
        t0 = time.perf_counter()
        empty = make_store(tmp / "empty", 0, 0)
        big = make_store(tmp / "big", args.closed, args.open)
        build = time.perf_counter() - t0
        e = dict(env, CBTRACK_NOW=NOW.isoformat())
        baseline = statistics.median(timed(["--help"], e)[0] for _ in range(args.runs))
        small = bench_changes(empty, args.runs, env)
        large = bench_changes(big, args.runs, env)
        queue = statistics.median(
            timed(["--store", str(big), "queue"], e)[0] for _ in range(args.runs)
        )
        report = statistics.median(
            timed(
                [
                    "--store",
                    str(big),
                    "report",
                    "--since",
                    "2025-11-27",
                    "--until",
                    "2026-11-27",
                    "--format",
                    "json",
                ],
                e,
            )[0]
            for _ in range(max(3, args.runs // 2))
        )
        result = {
            "closed": args.closed,
            "open": args.open,
            "runs": args.runs,
            "build_seconds": round(build, 1),
            "baseline_help": round(baseline, 3),
            "empty": {k: round(v, 3) for k, v in small.items()},
            "big": {k: round(v, 3) for k, v in large.items()},
            "ratio_big_to_empty": {k: round(large[k] / small[k], 2) for k in small},
            "ratio_to_baseline": {k: round(large[k] / baseline, 2) for k in large},
            "queue_big": round(queue, 3),
            "report_year_big": round(report, 3),
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"stores built in {build:.1f}s ({args.closed} closed, {args.open} open)")
            print(f"start-up baseline (--help): {baseline * 1000:.0f} ms")
            for k in small:
                print(
                    f"{k:8} empty {small[k] * 1000:6.0f} ms   big {large[k] * 1000:6.0f} ms"
                    f"   ratio {large[k] / small[k]:.2f}"
                )
            print(f"queue ({args.open} open of {args.closed + args.open}): {queue * 1000:.0f} ms")
            print(f"report over a year: {report * 1000:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
