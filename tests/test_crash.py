"""Nothing lost: kill -9 at random moments, an I/O error at every write step, and the
recovery that the next command performs.

The kill trials fork this test process (cbtrack is already imported, so a trial costs a
few milliseconds, not an interpreter start) and run the real CLI code in the child, which
is then killed with SIGKILL after a random delay spread over the command's whole run:
half the time the child alone (its git, if any, finishes as an orphan), half the time its
whole process group (git dies too and leaves its lock files). A few trials kill a real
`python -m cbtrack` process instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_robust import (
    add_args,
    attempt_args,
    cbtrack_argv,
    click_command,
    commit_count,
    file_state,
    git,
    git_clean,
    load_all,
    run_in_process,
    subprocess_env,
    temp_files,
)

from cbtrack import doctor, gitlog, store as store_module
from cbtrack.store import Store

SEED = int(os.environ.get("CBTRACK_CRASH_SEED", "20261127"))
TRIALS = int(os.environ.get("CBTRACK_CRASH_TRIALS", "120"))


def base(store: Path) -> list[str]:
    return ["--store", str(store), "--as", "jlee"]


def close_args(cid: str) -> list[str]:
    return ["close", cid, "--reason", "resolved", "--summary", "Answered the question by phone"]


# --- checks shared by every trial ------------------------------------------------------


def assert_every_file_parses(store: Path, seen: dict[Path, tuple[int, int]] | None = None) -> None:
    """Every record file under callbacks/ loads (copies of one ID in two folders allowed).
    With `seen`, files whose size and mtime are unchanged since they last loaded are not
    parsed again (the kill trials check hundreds of stores' worth of files)."""
    s = Store(store)
    for path in [*s.open_paths(), *s.closed_paths()]:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size)
        if seen is not None and seen.get(path) == key:
            continue
        s.load_path(path)
        if seen is not None:
            seen[path] = key


def assert_recovered(store: Path) -> None:
    """After the next command: nothing stale, nothing uncommitted, one copy per record."""
    s = Store(store)
    assert temp_files(store) == []
    assert s.journal_ids() is None
    assert doctor.git_lock_files(s.root) == []
    assert git_clean(store) == ""
    opened = {p.stem for p in s.open_paths()}
    assert not opened & {p.stem for p in s.closed_paths()}


def present(store: Path, op: str, cid: str, note: str | None) -> bool:
    cb = Store(store).load(cid)
    if op == "attempt":
        return note in [a.note for a in cb.attempts]
    if op == "close":
        return not cb.is_open
    return True


# --- kill -9 -------------------------------------------------------------------------


def fork_cli(argv: list[str], out: Path) -> int:
    """Run the CLI in a forked child (its own process group); stdout goes to `out`, emptied
    first (a child killed before it opens the file must not leave an earlier run's output)."""
    out.write_text("")
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 98
        try:
            os.setpgid(0, 0)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            rv = click_command().main(argv, prog_name="cbtrack", standalone_mode=False)
            code = rv if isinstance(rv, int) else 0
        finally:
            os._exit(code)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    return pid


def timed_run(argv: list[str], out: Path) -> float:
    start = time.monotonic()
    pid = fork_cli(argv, out)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.read_text()
    return time.monotonic() - start


def pick_change(rng: random.Random, store: Path, trial: int) -> tuple[str, str | None, list[str]]:
    """A random add, attempt or close on the store as it is now."""
    opened = [p.stem for p in Store(store).open_paths()]
    roll = rng.random()
    if roll < 0.34 or not opened:
        return "add", None, add_args(f"Trial {trial} Patient", reason=f"Trial {trial} question")
    cid = rng.choice(opened)
    if roll < 0.72:
        note = f"Trial {trial}: no answer, will try again tomorrow"
        return "attempt", cid, attempt_args(cid, note)
    return "close", cid, close_args(cid)


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing(store_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    out = tmp_path / "out.txt"
    b = base(store_dir)
    # How long each kind of change takes here, so the kills spread over the whole run.
    seed_id = ""
    durations: dict[str, list[float]] = {"add": [], "attempt": [], "close": []}
    for _ in range(5):
        durations["add"].append(timed_run([*b, *add_args("Warm Up")], out))
        seed_id = out.read_text().strip()
        durations["attempt"].append(timed_run([*b, *attempt_args(seed_id, "Warm up call")], out))
        durations["close"].append(timed_run([*b, *close_args(seed_id)], out))
    span = {op: 0.6 * statistics.median(times) for op, times in durations.items()}
    seen: dict[Path, tuple[int, int]] = {}

    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS):
        op, cid, args = pick_change(rng, store_dir, trial)
        note = args[args.index("--note") + 1] if op == "attempt" else None
        commits = commit_count(store_dir)
        pid = fork_cli([*b, *args], out)
        time.sleep(rng.uniform(0, span[op]))  # the random moment of the kill
        whole_group = trial % 2 == 1
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)

        # 1. every file parses, and what was reported done is there
        assert_every_file_parses(store_dir, seen)
        reported = out.read_text().strip()
        if reported:
            cid = cid or reported.split()[0]
            assert present(store_dir, op, cid, note), (trial, op, reported)
        s = Store(store_dir)
        journal = s.journal_ids() is not None
        locks = bool(doctor.git_lock_files(s.root))

        # 2. the next command recovers
        code, _, stderr = run_in_process([*b, *add_args("Next Patient")])
        assert code == 0, (trial, stderr)
        assert_recovered(store_dir)
        if reported:
            assert present(store_dir, op, cid, note), (trial, op, reported)
        subjects = git(store_dir, "log", "--format=%s", f"-{commit_count(store_dir) - commits}")
        recovered = "recover " in subjects
        if not killed:
            outcomes["finished before the kill"] += 1
        elif reported:
            outcomes["killed after reporting done"] += 1
        elif recovered:
            outcomes["killed after writing: recovery commit"] += 1
        elif journal:
            outcomes["killed mid-change: nothing to commit"] += 1
        elif commit_count(store_dir) - commits == 2:
            outcomes["killed after its commit, before printing"] += 1
        else:
            outcomes["killed before writing"] += 1
        if locks:
            outcomes["stale git lock cleared"] += 1
        if whole_group:
            outcomes["process group killed"] += 1
    print(f"\nkill -9 trials: {TRIALS}; kill windows {span}; outcomes: {dict(outcomes)}")
    assert sum(v for k, v in outcomes.items() if k.startswith(("killed", "finished"))) == TRIALS
    assert outcomes["killed after writing: recovery commit"] > 0


@pytest.mark.slow
def test_kill_9_of_the_installed_command(store_dir: Path, tmp_path: Path) -> None:
    """The same promise with real `python -m cbtrack` processes (start-up included)."""
    rng = random.Random(SEED + 1)
    env = subprocess_env(tmp_path / "home")
    b = [*cbtrack_argv(), *base(store_dir)]
    start = time.monotonic()
    first = subprocess.run(
        [*b, *add_args("First Patient")], env=env, capture_output=True, text=True, check=True
    )
    whole = time.monotonic() - start
    opened = [first.stdout.strip()]
    for trial in range(6):
        op, cid, args = pick_change(rng, store_dir, 1000 + trial)
        note = args[args.index("--note") + 1] if op == "attempt" else None
        proc = subprocess.Popen([*b, *args], env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.5 * whole, 1.1 * whole))
        proc.kill()
        reported = proc.communicate()[0].strip()
        assert_every_file_parses(store_dir)
        if reported:
            assert present(store_dir, op, cid or reported.split()[0], note)
        code, _, stderr = run_in_process([*base(store_dir), *add_args("Next Patient")])
        assert code == 0, stderr
        assert_recovered(store_dir)
    assert opened


# --- an I/O error at every write step -----------------------------------------------------


class Fault:
    """Wraps a function; the k-th call (and, if persistent, every later one) fails."""

    def __init__(self, real: Callable[..., Any], k: int, persistent: bool) -> None:
        self.real, self.k, self.persistent, self.calls = real, k, persistent, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.k or (self.persistent and self.calls > self.k):
            raise OSError(errno.EIO, "injected I/O error")
        return self.real(*args, **kwargs)


STEPS: dict[str, tuple[Any, str]] = {
    "write": (os, "write"),
    "fsync": (os, "fsync"),
    "rename": (os, "replace"),
    "unlink": (os, "unlink"),
    "commit": (gitlog, "run"),
}


@contextlib.contextmanager
def fault(step: str, k: int, persistent: bool) -> Iterator[Fault]:
    owner, name = STEPS[step]
    real = getattr(owner, name)
    wrapper = Fault(real, k, persistent)
    setattr(owner, name, wrapper)
    try:
        yield wrapper
    finally:
        setattr(owner, name, real)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one open callback that has one attempt."""
    root = tmp_path_factory.mktemp("template") / "store"
    with pytest.MonkeyPatch.context() as mp:  # (made before each test sets its clock)
        mp.setenv("CBTRACK_NOW", "2026-11-27T14:00:00-05:00")
        code, _, err = run_in_process(["--as", "jlee", "init", str(root)])
        assert code == 0, err
        code, out, err = run_in_process([*base(root), *add_args("Template Patient")])
        assert code == 0, err
        cid = out.strip()
        code, _, err = run_in_process([*base(root), *attempt_args(cid, "First call: no answer")])
        assert code == 0, err
    return root, cid


def change_for(op: str, cid: str) -> tuple[list[str], Callable[[Path], bool]]:
    """The command, and how to tell that its change was made."""
    if op == "add":
        return add_args("Injected Patient"), lambda s: len(load_all(s)) == 2
    if op == "attempt":
        note = "Second call: line busy, will try again"
        return attempt_args(cid, note), lambda s: present(s, "attempt", cid, note)
    return close_args(cid), lambda s: present(s, "close", cid, None)


@pytest.mark.parametrize("persistent", [False, True], ids=["once", "from-then-on"])
@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("op", ["add", "attempt", "close"])
def test_an_io_error_at_each_step_leaves_old_or_new_never_a_mix(
    op: str,
    step: str,
    persistent: bool,
    template: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, cid = template
    monkeypatch.setenv("CBTRACK_NOW", "2026-11-27T15:00:00-05:00")
    args, changed = change_for(op, cid)
    failed = 0
    for k in range(1, 40):
        store = tmp_path / f"k{k}"
        shutil.copytree(root, store, symlinks=True)
        old = file_state(store)
        commits = commit_count(store)
        with fault(step, k, persistent) as f:
            code, _, err = run_in_process([*base(store), *args])
        if f.calls < k:  # the command made fewer calls than k: every step was covered
            assert code == 0, err
            break
        assert_every_file_parses(store)
        if code == 0:
            assert changed(store) and commit_count(store) == commits + 1
            assert git_clean(store) == ""
            continue
        failed += 1
        assert len(err.splitlines()) == 1 and err.startswith("Error: "), err
        assert "Traceback" not in err
        if not persistent:
            # one failure: the change is undone at once, on disk, in HEAD and in the index
            assert file_state(store) == old, (k, err)
            assert git_clean(store) == ""
            assert temp_files(store) == []
            assert Store(store).journal_ids() is None
        # the next command (no more faults) recovers, whatever was left
        code2, _, err2 = run_in_process([*base(store), *add_args("Next Patient")])
        assert code2 == 0, err2
        assert_recovered(store)
        added = commit_count(store) - commits
        if changed(store) if op != "add" else len(load_all(store)) == 3:
            # only when the undo failed too, and then the message said so
            assert persistent and "will complete it" in err, err
            assert added == 2  # the recovery commit, then the next command's
        else:
            assert added == 1
    else:
        pytest.fail("the command never got past the injected faults")
    # only a close removes a file (besides the journal, whose removal may fail harmlessly)
    assert failed > 0 or (step == "unlink" and op != "close")


# --- recovery from states a crash leaves ----------------------------------------------


def _die_before_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next change stop like a kill between its write and its commit: files
    written, journal left, no undo."""
    monkeypatch.setattr(Store, "_abort", lambda self: None)

    monkeypatch.setattr(gitlog, "commit", interrupt)


def interrupt(*args: Any, **kwargs: Any) -> None:
    raise KeyboardInterrupt


def test_a_record_written_but_not_committed_is_committed_as_a_recovery(
    cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = cli.add()
    with monkeypatch.context() as m:
        _die_before_commit(m)
        result = cli("attempt", cid, "--method", "phone", "--result", "busy",
                     "--note", "Line busy at noon, try again at two")  # fmt: skip
        assert result.exit_code == 130
    assert Store(store_dir).journal_ids() == [cid]
    assert git_clean(store_dir) != ""
    cli.ok("assign", cid, "billing")
    subjects = git(store_dir, "log", "--format=%s", "-2").splitlines()
    assert subjects[1].startswith(f"recover {cid}")
    assert subjects[0] == f"assign {cid}"
    assert_recovered(store_dir)
    log = (store_dir / ".cbtrack" / "recovery.log").read_text()
    assert "recovery commit" in log and cid in log


def test_an_interrupted_close_leaves_no_copy_in_both_folders(
    cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = cli.add()
    s = Store(store_dir)
    with monkeypatch.context() as m:
        _die_before_commit(m)
        # stop between writing the closed copy and removing the open one
        m.setattr(store_module, "remove_file", interrupt)
        result = cli(*close_args(cid))
        assert result.exit_code == 130
    assert s.open_path(cid).is_file() and s.closed_path(cid).is_file()
    assert not s.load(cid).is_open  # readers already see the newer, closed copy
    cli.add()
    assert not s.open_path(cid).exists()
    assert not s.load(cid).is_open
    assert_recovered(store_dir)


def test_stale_temp_files_and_git_lock_are_removed_by_the_next_command(
    cli: Any, store_dir: Path
) -> None:
    cid = cli.add()
    s = Store(store_dir)
    (s.open_dir / ".cbtrack-tmp-abc123").write_text("half a rec")
    (s.local_dir / ".cbtrack-tmp-zzz").write_text("")
    s.journal_path.write_text(f"{cid}\n")
    (store_dir / ".git" / "index.lock").write_text("")
    cli.ok("assign", cid, "billing")
    assert_recovered(store_dir)
    log = (s.local_dir / "recovery.log").read_text()
    assert "removed the stale git lock .git/index.lock (no git was running)" in log
    assert "removed the stale temp file callbacks/open/.cbtrack-tmp-abc123" in log
    assert "half a rec" not in log


def test_a_git_lock_held_by_a_running_git_is_not_touched(
    cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = cli.add()
    if doctor.git_processes(store_dir.resolve()) is None:
        pytest.skip("no /proc: a git process cannot be seen")
    monkeypatch.setattr(doctor, "SETTLE_SECONDS", 0.3)
    lock = store_dir / ".git" / "index.lock"
    lock.write_text("")
    # a git process working in the store: it waits for input until we close its stdin
    busy = subprocess.Popen(
        ["git", "hash-object", "--stdin"], cwd=store_dir, stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not doctor.git_processes(store_dir.resolve()):
            assert time.monotonic() < deadline, "git never showed up in /proc"
            time.sleep(0.01)
        err = cli.refused("assign", cid, "billing")
        assert "A git command is still running in the store (.git/index.lock exists)" in err
        assert lock.exists()
    finally:
        assert busy.stdin is not None
        busy.stdin.close()
        busy.wait()
    cli.ok("assign", cid, "billing")
    assert not lock.exists()
    assert_recovered(store_dir)


def test_an_unreadable_journal_line_is_ignored(cli: Any, store_dir: Path) -> None:
    cid = cli.add()
    Store(store_dir).journal_path.write_text("../../etc/passwd\ncb-bad\n")
    cli.ok("assign", cid, "billing")
    assert_recovered(store_dir)
