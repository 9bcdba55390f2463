"""Speed by construction (nothing here is timed): cheap start-up, the read cache behind the
store, and a queue that fits one screen."""

from __future__ import annotations

import io
import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cbtrack import cache, service, timing
from cbtrack.model import ALPHABET
from cbtrack.store import Store
from tests.conftest import NOW, Cli, attempt_args, git


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


# --- the read cache --------------------------------------------------------------------


def _queue_ids(cli: Cli) -> list[str]:
    return [cb["id"] for cb in json.loads(cli.ok("queue", "--json").stdout)]


def _cache_files(store: Path) -> list[Path]:
    return sorted((store / ".cbtrack" / "cache").glob("*.bin"))


def test_reads_fill_an_owner_only_cache_that_git_never_sees(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(), cli.add(category="general", reason="Parking question")]
    cli.ok("close", ids[1], "--reason", "resolved", "--summary", "Answered")
    assert sorted(_queue_ids(cli)) == [ids[0]]
    cli.ok("report", "--since", "2026-11-01", "--format", "json")
    files = _cache_files(store_dir)
    kinds = {f.name.removesuffix(".bin").split("-")[0] for f in files}
    # (report-*: the report's row cache, cbtrack/reportrows.py)
    assert kinds == {"rows", "patients", "open", "closed", "policy", "report"}
    folder = store_dir / ".cbtrack" / "cache"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert git(store_dir, "status", "--porcelain") == ""


def test_the_queue_from_the_cache_matches_the_files(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(), cli.add(category="billing", reason="Copay question")]
    cli.ok(*attempt_args(ids[0], "phone", "no_answer", "No answer, will retry this afternoon"))
    cold = cli.ok("queue", "--json").stdout
    assert _cache_files(store_dir)
    warm = cli.ok("queue", "--json").stdout
    shutil.rmtree(store_dir / ".cbtrack" / "cache")
    assert warm == cold == cli.ok("queue", "--json").stdout


def test_a_hand_edit_is_seen_even_with_the_same_size_and_time(cli: Cli, store_dir: Path) -> None:
    cid = cli.add(reason="New patient visit")
    _queue_ids(cli)  # warm the cache
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    before = path.stat()
    text = path.read_text()
    path.write_text(text.replace("New patient visit", "Old patient visit"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as before
    shown = json.loads(cli.ok("queue", "--json").stdout)
    assert shown[0]["reason"] == "Old patient visit"


def test_a_bad_file_gives_the_same_error_with_a_warm_cache(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    _queue_ids(cli)
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    path.write_text(path.read_text().replace("urgency: time_sensitive", "urgency: whenever"))
    warm = cli("queue")
    shutil.rmtree(store_dir / ".cbtrack" / "cache")
    cold = cli("queue")
    assert warm.exit_code == cold.exit_code == 3
    assert warm.stderr == cold.stderr and f"{cid}.yaml" in warm.stderr


def test_a_checkout_is_seen_through_the_cache(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    assert len(cli.record(cid)["attempts"]) == 1
    _queue_ids(cli)
    git(store_dir, "checkout", "-q", "HEAD~1", "--", f"callbacks/open/{cid}.yaml")
    shown = json.loads(cli.ok("queue", "--json").stdout)
    assert shown[0]["attempts"] == []


def test_a_pull_is_seen_through_the_cache(cli: Cli, store_dir: Path, tmp_path: Path) -> None:
    cid = cli.add()
    clone = tmp_path / "desk2"
    subprocess.run(["git", "clone", "-q", str(store_dir), str(clone)], check=True)
    desk2 = Cli(clone)
    assert [cb["attempts"] for cb in json.loads(desk2.ok("queue", "--json").stdout)] == [[]]
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    git(clone, "pull", "-q", "--ff-only")
    shown = json.loads(desk2.ok("queue", "--json").stdout)
    assert len(shown[0]["attempts"]) == 1


def test_a_corrupt_cache_is_rebuilt(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(), cli.add(category="general", reason="Parking question")]
    expected = cli.ok("queue", "--json").stdout
    files = _cache_files(store_dir)
    files[0].write_bytes(b"\x00garbage")
    for f in files[1:]:
        f.write_bytes(f.read_bytes()[:20])  # truncated
    assert cli.ok("queue", "--json").stdout == expected
    assert cli.ok("show", ids[1]).exit_code == 0
    for f in _cache_files(store_dir):
        header, entries = marshal.loads(f.read_bytes())
        assert header.startswith(cache.FORMAT) and entries


def test_a_cache_for_another_policy_is_not_used(cli: Cli, store_dir: Path) -> None:
    cli.add()
    _queue_ids(cli)
    old = {f.name: marshal.loads(f.read_bytes())[0] for f in _cache_files(store_dir)}
    policy = store_dir / "cbtrack.yaml"
    policy.write_text(policy.read_text() + "\n# edited by hand\n")
    _queue_ids(cli)
    new = {f.name: marshal.loads(f.read_bytes())[0] for f in _cache_files(store_dir)}
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in old)


def test_the_racy_rule(tmp_path: Path) -> None:
    """An entry whose file is not older than the cache file is never used."""
    callbacks = tmp_path / "callbacks"
    record = callbacks / "open" / "cb-20261127-abcde.yaml"
    record.parent.mkdir(parents=True)
    record.write_text("id: cb-20261127-abcde\n")
    st = record.stat()
    rc = cache.RecordCache(tmp_path / "cache", callbacks, "key")
    data = {"owner": "x", "category": "y", "urgency": "routine", "status": "new",
            "due_at": NOW, "created_at": NOW,
            "patient": {"name": "Ada Example", "phone": "+15550100123"}}  # fmt: skip
    assert rc.put(record, st, data) is not None
    where = rc.locate(record)
    shard = rc._shard(where[0])  # type: ignore[index]
    shard.written_ns = st.st_mtime_ns  # written in the same tick as the file
    assert rc.get(record, st, where) is None
    shard.written_ns = max(st.st_mtime_ns, st.st_ctime_ns) + 1
    hit = rc.get(record, st, where)
    assert hit is not None
    data_shard = rc._shard(where[1])  # type: ignore[index]
    data_shard.written_ns = st.st_mtime_ns  # the data file is racy too: not used
    assert hit.data is None
    data_shard.written_ns = max(st.st_mtime_ns, st.st_ctime_ns) + 1
    hit = rc.get(record, st, where)
    assert hit is not None and hit.data == data


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


def test_a_change_updates_its_own_entry_only(cli: Cli, store_dir: Path) -> None:
    ids = [cli.add(reason=f"Visit request {i}") for i in range(6)]
    _queue_ids(cli)

    def entries() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in _cache_files(store_dir):
            if f.name.startswith(("rows-", "open-", "closed-")):
                out.update(marshal.loads(f.read_bytes())[1])
        return out

    def open_data() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in _cache_files(store_dir):
            if f.name.startswith("open-"):
                out.update(marshal.loads(f.read_bytes())[1])
        return out

    def open_rows() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in _cache_files(store_dir):
            if f.name.startswith("rows-"):
                out.update(marshal.loads(f.read_bytes())[1])
        return out

    before, before_data = open_rows(), open_data()
    cid = ids[3]
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer, will retry this afternoon"))
    after, after_data = open_rows(), open_data()
    name = f"{cid}.yaml"
    path = store_dir / "callbacks" / "open" / name
    assert after[name][:4] == after_data[name][:4] == cache.signature(path.stat())
    assert len(marshal.loads(after_data[name][5])["attempts"]) == 1
    assert {k: v for k, v in after.items() if k != name} == {
        k: v for k, v in before.items() if k != name
    }
    assert {k: v for k, v in after_data.items() if k != name} == {
        k: v for k, v in before_data.items() if k != name
    }
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Booked")
    closed = entries()
    assert name in closed and closed[name][:4] == cache.signature(
        (store_dir / "callbacks" / "closed" / "2026-11" / name).stat()
    )
    assert name not in open_rows() and name not in open_data()
