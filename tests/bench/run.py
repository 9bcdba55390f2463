"""Whole-process benchmark of cbtrack beside its baselines, with ratios from the same run.

    python tests/bench/run.py                        # the full run (stores up to 60,000 records)
    python tests/bench/run.py --open 1000 --closed 0,5000 --rounds 5     # a quick look
    python tests/bench/run.py --keep /tmp/cbbench    # build stores once, reuse them next time

Builds cbtrack stores (tests/bench/make_store.py) of every `--open` x `--closed` size plus an
empty one, and Taskwarrior data of the same sizes (`task import` of generated JSON, in a
throwaway TASKDATA and TASKRC). Then times, in interleaved rounds (every command on every store
once per round, so a busy moment on a shared machine hits all of them alike), whole processes
as staff and cron run them: `cbtrack --help`, `add`, `show`, `attempt`, `close`, `find`,
`queue` (piped, and on a terminal), `review`, `report` over a year and over everything,
`validate` and `verify`, and a new desk's `git clone`, first `sync`, `queue`, `verify` and
`verify --full` (with the longest time that sync held the store lock); and the baselines
`python -c "import yaml, pydantic, typer"`, `task next` (piped and on a terminal), `task add`
and `task summary`. Prints the median wall time and the peak memory of each, then the ratios
the targets are written in.

Only ratios from one run mean anything: the machine is shared and timings drift.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_store import DEFAULT_NOW, PER_YEAR, make_store

NOW = datetime.fromisoformat(DEFAULT_NOW)
BIN = Path(sys.executable).parent
CBTRACK = (
    [str(BIN / "cbtrack")] if (BIN / "cbtrack").exists() else [sys.executable, "-m", "cbtrack"]
)
IMPORT_LINE = [sys.executable, "-c", "import yaml, pydantic, typer"]
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
TERM_ROWS, TERM_COLS = 40, 100
# `report` over a year on a store whose local index was deleted: rebuilt from every file
COLD = "report (a year, cold)"


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    peak_kb: int = 0

    def add(self, seconds: float, kb: int) -> None:
        self.seconds.append(seconds)
        self.peak_kb = max(self.peak_kb, kb)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run(
    argv: list[str], env: dict[str, str], tty: bool = False, ok: tuple[int, ...] = (0,)
) -> tuple[float, int, str]:
    """Wall time, peak resident memory (KB) and stdout of one process, from its own rusage."""
    master = slave = -1
    if tty:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", TERM_ROWS, TERM_COLS, 0, 0))
    out: list[bytes] = []
    # GNU time measures the command's own peak memory; a child's rusage from here would also
    # count the copy of this (larger) process it was forked from.
    mem_file = None
    if TIME_BIN:
        fd, mem_file = tempfile.mkstemp(prefix="cbbench-mem-")
        os.close(fd)
        argv = [TIME_BIN, "-f", "%M", "-o", mem_file, *argv]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=slave if tty else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    if tty:
        os.close(slave)
    src = master if tty else proc.stdout.fileno()  # type: ignore[union-attr]
    errs: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(src, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr.fileno(), errs), daemon=True),  # type: ignore[union-attr]
    ]
    for r in readers:
        r.start()
    # os.wait4 rather than Popen.wait: it returns this one child's own peak memory
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(timeout=10)
    if tty:
        os.close(master)
    else:
        proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    err = b"".join(errs)
    peak_kb = usage.ru_maxrss
    if mem_file:
        lines = Path(mem_file).read_text().split()
        os.unlink(mem_file)
        peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(argv[-3:])} failed ({proc.returncode}): {err.decode()[-500:].strip()}"
        )
    return elapsed, peak_kb, b"".join(out).decode("utf-8", "replace")


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a terminal's master side reports EIO once the child is gone
            return
        if not chunk:
            return
        into.append(chunk)


def drop_index(root: Path) -> None:
    """Delete a store's local index (and any journal beside it): the next command builds
    it again from every record file."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / ".cbtrack" / f"index.sqlite{suffix}")


@contextlib.contextmanager
def without_index(root: Path) -> Iterator[None]:
    """The store with no local index for the time of the block, then its warm index back
    (a cold report builds report rows only for its own period, so the warm rows of every
    other period must not be lost to the commands timed after it)."""
    index = root / ".cbtrack" / "index.sqlite"
    kept = index.with_name("index.sqlite.bench-warm")
    with contextlib.suppress(FileNotFoundError):
        os.replace(index, kept)
    drop_index(root)
    try:
        yield
    finally:
        drop_index(root)
        with contextlib.suppress(FileNotFoundError):
            os.replace(kept, index)


# --- Taskwarrior ---------------------------------------------------------------------


def tw_tasks(open_: int, closed: int, seed: int) -> list[dict[str, object]]:
    """Tasks shaped like callbacks: project (category), priority (urgency), due, tags,
    annotations (attempts); completed ones spread over the same months as make_store's."""
    rng = random.Random(seed)
    months = max(1, -(-closed * 12 // PER_YEAR))
    first = NOW - timedelta(days=months * 30.44)
    last = NOW - timedelta(days=21)
    cats = ["scheduling", "rescheduling", "referral_status", "insurance", "billing", "prescription"]

    def stamp(t: datetime) -> str:
        return t.astimezone().strftime("%Y%m%dT%H%M%SZ")

    tasks: list[dict[str, object]] = []
    for i in range(closed + open_):
        done = i < closed
        if done:
            entry = first + (last - first) * i / max(closed, 1)
        else:
            entry = last + (NOW - last) * rng.random()
        task: dict[str, object] = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "description": f"Call back bench patient {i} about a {rng.choice(cats)} request",
            "entry": stamp(entry),
            "project": rng.choice(cats),
            "priority": rng.choice(["L", "M", "H"]),
            "tags": [rng.choice(["phone", "portal", "voicemail"])],
            "due": stamp(entry + timedelta(days=2)),
            "annotations": [
                {"entry": stamp(entry + timedelta(hours=k + 1)), "description": "Called patient"}
                for k in range(rng.choice([0, 1, 1, 2, 3]))
            ],
            "status": "completed" if done else "pending",
        }
        if done:
            task["end"] = stamp(entry + timedelta(hours=6))
        tasks.append(task)
    return tasks


def make_tw(root: Path, open_: int, closed: int, seed: int) -> dict[str, str]:
    """A Taskwarrior data folder and rc file; returns the environment that uses them."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rc = root / "taskrc"
    rc.write_text(f"data.location={data}\nconfirmation=off\nverbose=nothing\ncolor=off\n")
    env = dict(os.environ, TASKRC=str(rc), TASKDATA=str(data))
    if open_ + closed and not (data / "pending.data").exists():
        src = root / "tasks.json"
        src.write_text(json.dumps(tw_tasks(open_, closed, seed)))
        subprocess.run(["task", "import", str(src)], env=env, check=True, capture_output=True)
        src.unlink()
    return env


# --- the run -------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def label(open_: int, closed: int) -> str:
    return f"{open_:,}+{closed:,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--open", default="1000,10000", help="open record counts (comma list)")
    ap.add_argument("--closed", default="0,50000", help="closed record counts (comma list)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (at least 5)")
    ap.add_argument("--keep", type=Path, help="build stores here and reuse them on later runs")
    ap.add_argument("--skip", default="", help="commands to leave out (comma list)")
    ap.add_argument(
        "--cold-rounds",
        type=int,
        default=3,
        help=f"rounds that also time '{COLD}' (it is long: the first few rounds only)",
    )
    ap.add_argument("--no-taskwarrior", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="cbtrack-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    combos = [(o, c) for o in sizes(args.open) for c in sizes(args.closed)]
    if (0, 0) not in combos:
        combos.insert(0, (0, 0))
    has_task = shutil.which("task") is not None and not args.no_taskwarrior
    try:
        _bench(args, tmp, combos, skip, has_task)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _bench(
    args: argparse.Namespace,
    tmp: Path,
    combos: list[tuple[int, int]],
    skip: set[str],
    has_task: bool,
) -> None:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CBTRACK_", "TASK"))}
    base_env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1", LC_ALL="C.UTF-8")
    note = print if not args.json else (lambda *a, **k: print(*a, **k, file=sys.stderr))
    t0 = time.perf_counter()
    stores: dict[tuple[int, int], Path] = {}
    tws: dict[tuple[int, int], dict[str, str]] = {}
    for o, c in combos:
        root = tmp / f"cb-{o}-{c}"
        if not (root / "cbtrack.yaml").exists():
            shutil.rmtree(root, ignore_errors=True)
            t = time.perf_counter()
            make_store(root, o, c, seed=o + c)
            note(f"built cbtrack store {label(o, c)} in {time.perf_counter() - t:.1f}s")
        stores[(o, c)] = root
        if has_task:
            tws[(o, c)] = dict(
                make_tw(tmp / f"tw-{o}-{c}", o, c, seed=o + c), **{"HOME": str(home)}
            )
    pair = _signing_pair(tmp, base_env)
    note(f"stores ready in {time.perf_counter() - t0:.1f}s")
    has_find = _has_cmd("find")
    if not has_find:
        note("note: this cbtrack has no 'find' command; find is skipped")
        skip.add("find")
    if not has_task:
        note("note: Taskwarrior ('task') is not installed; its baselines are skipped")

    results: dict[str, dict[str, Sample]] = {}

    def record(name: str, where: str, seconds: float, kb: int) -> None:
        results.setdefault(name, {}).setdefault(where, Sample()).add(seconds, kb)

    year_since = f"{NOW - timedelta(days=365):%Y-%m-%d}"
    rounds = max(args.rounds, 1)
    for rnd in range(rounds):
        now = (NOW + timedelta(minutes=rnd)).isoformat()
        t, kb, _ = run(IMPORT_LINE, base_env)
        record("import yaml, pydantic, typer", "-", t, kb)
        t, kb, _ = run([*CBTRACK, "--help"], base_env)
        record("cbtrack --help", "-", t, kb)
        if pair is not None and "add" not in skip:  # one add on an empty store, each way
            for name, (root, extra) in pair.items():
                env = dict(base_env, CBTRACK_NOW=now, CBTRACK_USER="bench", **extra)
                t, kb, _ = run([*CBTRACK, "--store", str(root), *SIGNED_ADD], env)
                record(name, "-", t, kb)
        for key, root in stores.items():
            where = label(*key)
            env = dict(base_env, CBTRACK_NOW=now, CBTRACK_USER="bench")
            cb = [*CBTRACK, "--store", str(root)]

            def timed(
                name: str,
                argv: list[str],
                tty: bool = False,
                cb: list[str] = cb,
                env: dict[str, str] = env,
                where: str = where,
            ) -> str:
                if name in skip:
                    return ""
                t, kb, out = run([*cb, *argv], env, tty)
                record(name, where, t, kb)
                return out

            out = timed(
                "add",
                ["add", "--patient", "Bench Runner", "--phone", "555-010-0999",
                 "--category", "general", "--reason", "Benchmark question",
                 "--detail", "topic=bench", "--json"],
            )  # fmt: skip
            cid = json.loads(out)["id"] if out else None
            if cid:
                timed("show", ["show", cid])
                timed(
                    "attempt",
                    ["attempt", cid, "--method", "phone", "--result", "no_answer",
                     "--note", "No answer on the benchmark call"],
                )  # fmt: skip
                timed("close", ["close", cid, "--reason", "resolved", "--summary", "Bench"])
            timed("find", ["find", "555-010-0999"])
            timed("queue (piped)", ["queue"])
            timed("queue (terminal)", ["queue"], tty=True)
            timed("review", ["review"])
            timed("report (a year)", ["report", "--since", year_since, "--format", "json"])
            timed("report (all)", ["report", "--since", "2000-01-01", "--format", "json"])
            if rnd < args.cold_rounds and COLD not in skip:
                with without_index(root):
                    timed(COLD, ["report", "--since", year_since, "--format", "json"])
            timed("validate", ["validate"])
            timed("verify", ["verify"])
            if "new desk" not in skip and key != (0, 0):
                _new_desk(tmp, root, env, record, where)
            if has_task:
                tenv = tws[key]
                for name, argv, tty in (
                    ("task next (piped)", ["next"], False),
                    ("task next (terminal)", ["next"], True),
                    ("task add", ["add", "Call back bench runner", "project:general"], False),
                    ("task summary", ["summary"], False),
                ):
                    if name not in skip:
                        t, kb, _ = run(["task", *argv], tenv, tty, ok=(0, 1))  # 1: no matches
                        record(name, where, t, kb)
        note(f"round {rnd + 1}/{rounds} done ({time.perf_counter() - t0:.0f}s)")
    _print(args, results, combos, rounds)


def _new_desk(
    tmp: Path,
    root: Path,
    env: dict[str, str],
    record: Callable[[str, str, float, int], None],
    where: str,
) -> None:
    """A new desk joins: `git clone` of a bare copy of the store, then its first `sync`,
    `queue` (piped), `verify` and `verify --full`, each a whole process, and the longest
    the sync held the store lock (its --json; no memory figure)."""
    bare = tmp / f"{root.name}.git"
    if not bare.exists():
        subprocess.run(["git", "clone", "-q", "--bare", str(root), str(bare)], check=True, env=env)
    desk = tmp / f"{root.name}-desk"
    shutil.rmtree(desk, ignore_errors=True)
    t, kb, _ = run(["git", "clone", "-q", str(bare), str(desk)], env)
    record("new desk: git clone", where, t, kb)
    cb = [*CBTRACK, "--store", str(desk)]
    t, kb, out = run([*cb, "sync", "--json"], env)
    record("new desk: first sync", where, t, kb)
    record("new desk: sync's longest lock hold", where, json.loads(out)["lock_held_s"], 0)
    for name, argv in (
        ("first queue (piped)", ["queue"]),
        ("first verify", ["verify"]),
        ("verify --full", ["verify", "--full"]),
    ):
        t, kb, _ = run([*cb, *argv], env)
        record(f"new desk: {name}", where, t, kb)
    shutil.rmtree(desk)


SIGNED_ADD = ["add", "--patient", "Bench Runner", "--phone", "555-010-0999", "--category",
              "general", "--reason", "Benchmark question", "--detail", "topic=bench"]  # fmt: skip


def _signing_pair(tmp: Path, env: dict[str, str]) -> dict[str, tuple[Path, dict[str, str]]] | None:
    """Two empty stores, one with `signing: required` and a key made by ssh-keygen, to
    time what signing adds to a change (None without ssh-keygen)."""
    if shutil.which("ssh-keygen") is None:
        return None
    key = tmp / "bench_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    out: dict[str, tuple[Path, dict[str, str]]] = {}
    signing = ["--signing", "required", "--key", f"bench={key}.pub"]
    ways: list[tuple[str, list[str], dict[str, str]]] = [
        ("add (unsigned, empty)", [], {}),
        ("add (signed, empty)", signing, {"CBTRACK_SIGNING_KEY": str(key)}),
    ]
    for name, extra, signed in ways:
        root = tmp / name.split()[1].strip("(,")
        if not (root / "cbtrack.yaml").exists():
            argv = [*CBTRACK, "--as", "bench", "init", str(root), "--staff",
                    "bench=Bench Runner:front_desk", *extra]  # fmt: skip
            subprocess.run(argv, env=env, check=True, capture_output=True)
        out[name] = (root, signed)
    return out


def _has_cmd(name: str) -> bool:
    proc = subprocess.run([*CBTRACK, name, "--help"], capture_output=True)
    return proc.returncode == 0


def _print(
    args: argparse.Namespace,
    results: dict[str, dict[str, Sample]],
    combos: list[tuple[int, int]],
    rounds: int,
) -> None:
    def med(name: str, where: str) -> float | None:
        s = results.get(name, {}).get(where)
        return s.median if s else None

    ratios: list[tuple[str, float, str]] = []

    def ratio(what: str, a: float | None, b: float | None, target: str) -> None:
        if a is not None and b is not None and b > 0:
            ratios.append((what, a / b, target))

    ratio(
        "--help / import line",
        med("cbtrack --help", "-"),
        med("import yaml, pydantic, typer", "-"),
        "<= 1.3",
    )
    ratio(
        "add (signed) / add (unsigned), empty stores",
        med("add (signed, empty)", "-"),
        med("add (unsigned, empty)", "-"),
        "<= 1.3",
    )
    empty = label(0, 0)
    for o, c in combos:
        where = label(o, c)
        if (o, c) == (0, 0):
            continue
        for term in ("terminal", "piped"):
            ratio(
                f"queue ({term}) / task next ({term}) at {where}",
                med(f"queue ({term})", where),
                med(f"task next ({term})", where),
                "<= 1.0" if term == "terminal" else "",
            )
        for name in ("add", "attempt", "close"):
            ratio(
                f"{name} / task add at {where}", med(name, where), med("task add", where), "<= 1.0"
            )
            ratio(
                f"{name} at {where} / {name} on empty", med(name, where), med(name, empty), "<= 1.2"
            )
        ratio(
            f"report (all) / task summary at {where}",
            med("report (all)", where),
            med("task summary", where),
            "<= 1.0 warm",
        )
        ratio(
            f"report (a year) / task summary at {where}",
            med("report (a year)", where),
            med("task summary", where),
            "",
        )
        ratio(
            f"{COLD} / task summary at {where}",
            med(COLD, where),
            med("task summary", where),
            "<= 20",
        )
    if args.json:
        out = {
            "rounds": rounds,
            "cold_rounds": min(args.cold_rounds, rounds),
            "when": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": _machine(),
            "medians_s": {
                n: {w: round(s.median, 4) for w, s in by.items()} for n, by in results.items()
            },
            "peak_mb": {
                n: {w: round(s.peak_kb / 1024, 1) for w, s in by.items()}
                for n, by in results.items()
            },
            "ratios": {w: round(r, 2) for w, r, _ in ratios},
        }
        print(json.dumps(out, indent=2))
        return
    wheres = ["-", *(label(o, c) for o, c in combos)]
    print(f"\n{_machine()}; {rounds} interleaved rounds; median ms (peak MB)\n")
    print("| command | " + " | ".join(w if w != "-" else "" for w in wheres[1:]) + " |")
    print("|---" * (len(wheres)) + "|")
    for name, by in results.items():
        if "-" in by:
            s = by["-"]
            cells = [f"{s.median * 1000:.0f} ({s.peak_kb / 1024:.0f})"] + [""] * (len(wheres) - 2)
        else:
            cells = []
            for w in wheres[1:]:
                s = by.get(w)
                cells.append(f"{s.median * 1000:.0f} ({s.peak_kb / 1024:.0f})" if s else "")
        runs = max(len(s.seconds) for s in by.values())
        named = name if runs >= rounds else f"{name} ({runs} of {rounds} rounds)"
        print(f"| {named} | " + " | ".join(cells) + " |")
    if COLD in results:
        print(
            f"\n{COLD}: the store's local index deleted before each run (a full rebuild from "
            "every record file); timed in the first rounds only, since it is long."
        )
    print("\nRatios (same run):\n")
    print("| ratio | value | target |")
    print("|---|---|---|")
    for what, value, target in ratios:
        print(f"| {what} | {value:.2f} | {target} |")


def _machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = ".".join(map(str, sys.version_info[:3]))
    return f"{model or 'unknown CPU'}, {cpus} cores, Python {py}"


if __name__ == "__main__":
    main()
