"""Speed by construction (nothing here is timed): cheap start-up, a change that touches only
its own record, and a queue that fits one screen (the local index: tests/test_index.py)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cbtrack import service, timing
from cbtrack.ids import ALPHABET
from cbtrack.store import Store
from tests.conftest import NOW, Cli, attempt_args


def test_help_loads_neither_pydantic_nor_the_store() -> None:
    """`cbtrack --help` builds the command tree from plain enums: no models, no YAML."""
    code = (
        "import sys, types\n"
        "from cbtrack.cli import app\n"
        "import typer.main\n"
        "typer.main.get_command(app)\n"
        "heavy = ('pydantic', 'yaml', 'cbtrack.model', 'cbtrack.store', 'cbtrack.service',\n"
        "         'cbtrack.render', 'tabulate', 'dateutil')\n"
        "# a module waiting behind a lazy loader is not a plain ModuleType until first use\n"
        "loaded = [m for m in heavy if type(sys.modules.get(m)) is types.ModuleType]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_import_is_lazy_but_complete() -> None:
    code = (
        "import sys, cbtrack\n"
        "assert 'cbtrack.model' not in sys.modules\n"
        "from cbtrack import Store, Callback, Policy, StoreError, service\n"
        "assert Store.__module__ == 'cbtrack.store' and Callback.__module__ == 'cbtrack.model'\n"
        "assert hasattr(service, 'queue')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_change_never_opens_a_closed_record(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = cli.add(category="general", reason="Parking question")
    cli.ok("close", old, "--reason", "resolved", "--summary", "Answered")
    cli.ok("report", "--since", "2026-11-01", "--format", "json")  # cache the closed month
    closed_dir = str(store_dir / "callbacks" / "closed")
    opened: list[str] = []
    real_os_open, real_io_open = os.open, io.open

    def os_open(path: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(path))
        return real_os_open(path, *a, **k)

    def io_open(path: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(path))
        return real_io_open(path, *a, **k)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Booked")
    # (writing the closed copy opens a temp file and the month folder, never another record)
    others = [p for p in opened if p.startswith(closed_dir) and p.endswith(".yaml")]
    others = [p for p in others if cid not in p]
    assert others == [], others


# --- the queue on a terminal ------------------------------------------------------------


def test_queue_page_is_the_head_of_the_queue(cli: Cli, store_dir: Path) -> None:
    ids = [
        cli.add(category="billing", reason="Copay question", now=f"2026-11-27T0{h}:00:00-05:00")
        for h in range(8, 10)
    ]
    ids += [cli.add(), cli.add(category="general", reason="Rash spreading on both arms")]
    cli.ok(*attempt_args(ids[2], "phone", "left_voicemail", "Left a voicemail, retry later"))
    # past due, but waiting on a dependency that is not late: not overdue
    old = cli.add(category="billing", reason="Old question", now="2026-11-20T09:00:00-05:00")
    cli.ok("block", old, "--on", "provider_review", "--note", "Waiting for the doctor")
    late = cli.add(category="billing", reason="Older question", now="2026-11-20T09:00:00-05:00")
    store = Store(store_dir)
    now = datetime.fromisoformat(NOW)
    policy = store.policy
    assert timing.overdue(policy, store.load(late), now)
    assert not timing.overdue(policy, store.load(old), now)
    for f in (
        service.QueueFilter(),
        service.QueueFilter(category="billing"),
        service.QueueFilter(overdue=True),
    ):
        full = service.queue(store, now, f)
        for limit in (0, 2, 10):
            page = service.queue_page(Store(store_dir), now, f, limit)
            assert [cb.id for cb in page.records] == [cb.id for cb in full[:limit]]
            assert page.total == len(full)
            assert page.overdue == sum(timing.overdue(policy, cb, now) for cb in full)


def _pty_run(argv: list[str], env: dict[str, str]) -> str:
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_queue_on_a_terminal_shows_one_screen(cli: Cli, store_dir: Path) -> None:
    for i in range(12):
        cli.add(category="billing", reason=f"Copay question {i}")
    exe = shutil.which("cbtrack") or str(Path(sys.executable).parent / "cbtrack")
    env = dict(os.environ, LINES="10", COLUMNS="160", NO_COLOR="1")  # wide: a line each
    screen = _pty_run([exe, "--store", str(store_dir), "queue"], env)
    lines = screen.strip().splitlines()
    assert len(lines) == 9  # header, 7 callbacks, the counts
    assert lines[-1].startswith("12 open (5 not shown: 'cbtrack queue --all' lists them all)")
    everything = _pty_run([exe, "--store", str(store_dir), "queue", "--all"], env)
    assert len(everything.strip().splitlines()) == 14
    narrow = dict(env, LINES="24", COLUMNS="80")  # two lines a callback, and the counts wrap
    lines = _pty_run([exe, "--store", str(store_dir), "queue"], narrow).strip().splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert " ".join(lines[-2:]).startswith("12 open (2 not shown: 'cbtrack queue --all'")
    piped = cli.ok("queue").stdout.strip().splitlines()
    assert len(piped) == 14 and "not shown" not in piped[-1]  # (short values: one line fits)


# --- progress ------------------------------------------------------------------------------


def test_progress_reports_only_long_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from cbtrack.progress import Progress

    lines: list[str] = []
    quick = Progress("Reading records", 200, lines.append)
    for _ in range(200):
        quick.step()
    quick.done()
    assert lines == []  # finished within the first second: nothing shown
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "EVERY", 0.0)
    slow = Progress("Reading records", 130, lines.append)
    for _ in range(130):
        slow.step()
    slow.done()
    assert lines == ["Reading records: 64 of 130", "Reading records: 128 of 130", ""]


def test_progress_reaches_the_store_reader(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbtrack.progress import Progress

    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "EVERY", 0.0)
    cid = cli.add()
    src = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    text = src.read_text()
    for i in range(70):  # copies under other IDs: 71 records
        other = "cb-20261127-zz" + "".join(ALPHABET[(i >> (5 * k)) & 31] for k in range(3))
        (src.parent / f"{other}.yaml").write_text(text.replace(cid, other))
    store = Store(store_dir)
    lines: list[str] = []
    store.on_progress = lines.append
    assert len(store.open_records()) == 71
    assert lines == ["Reading records: 64 of 71", ""]
