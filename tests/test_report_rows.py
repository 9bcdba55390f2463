"""The report's rows kept in the local index give exactly what the files alone give (a copy
of the store without its index), in every format, cold and warm; they are never trusted over
the files: a hand edit, a checkout or a damaged index is seen.

Not timed: the speed is measured by tests/bench/run.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbtrack import localindex, reportfmt, reportrows
from cbtrack.cli import app
from cbtrack.render import to_json
from cbtrack.store import Store
from tests.bench.make_store import make_store
from tests.conftest import git, settle_index
from tests.helpers_report import STAFF, Staff, build_week, day, init_store

NOW = "2026-11-27T10:00:00-05:00"
FORMATS = ("json", "text", "markdown", "csv", "html")
# (since, until): everything; a year; a month; a week that ends before now; a period
# that runs past now (open and overdue are measured now); a day in the past
PERIODS = [
    ("2000-01-01T00:00:00-05:00", "2026-11-28T00:00:00-05:00"),
    ("2025-11-27T00:00:00-05:00", "2026-11-28T00:00:00-05:00"),
    ("2026-10-01T00:00:00-04:00", "2026-11-01T00:00:00-04:00"),
    ("2026-11-16T00:00:00-05:00", "2026-11-23T00:00:00-05:00"),
    ("2026-11-20T00:00:00-05:00", "2026-12-05T12:00:00-05:00"),
    ("2026-03-10T00:00:00-04:00", "2026-03-11T00:00:00-04:00"),
]


def run(store: Path, *args: str, now: str = NOW) -> str:
    result = CliRunner().invoke(
        app,
        ["--store", str(store), "report", *args],
        env={"CBTRACK_NOW": now, "CBTRACK_STORE": None, "CBTRACK_USER": None},
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def reference(store: Path, since: str, until: str, phi: bool, now: str = NOW) -> dict[str, object]:
    """The figures from the files alone: a throwaway copy of the store with no index, so
    every record is read strictly and its row made afresh."""
    with tempfile.TemporaryDirectory() as tmp:
        return from_files(_copy(store, Path(tmp)), since, until, phi, now)


def _copy(store: Path, tmp: Path) -> Path:
    copy = tmp / "store"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns(".cbtrack"), symlinks=True)
    return copy


def from_files(copy: Path, since: str, until: str, phi: bool, now: str) -> dict[str, object]:
    """The figures from a copy of the store, its local folder (and so its index) removed
    first: each call reads every file afresh."""
    shutil.rmtree(copy / ".cbtrack", ignore_errors=True)
    start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
    return reportrows.from_store(
        Store(copy), start, end, datetime.fromisoformat(now), include_phi=phi
    )


def same_as_reference(
    store: Path, now: str = NOW, periods: list[tuple[str, str]] = PERIODS
) -> None:
    """Every figure in JSON for each period; every format for the shortest (a format only
    renders the figures it is given, so one period shows each renders the same, and the
    shortest keeps the long daily trend out of the slow table layouts)."""
    labels = reportfmt.Labels.of(Store(store).policy)
    with tempfile.TemporaryDirectory() as tmp:
        copy = _copy(store, Path(tmp))
        expected_of = {
            (since, until, phi): from_files(copy, since, until, phi, now)
            for since, until in periods
            for phi in (False, True)
        }
    shortest = min(
        periods, key=lambda p: datetime.fromisoformat(p[1]) - datetime.fromisoformat(p[0])
    )
    for since, until in periods:
        for phi in (False, True):
            expected = expected_of[since, until, phi]
            extra = ["--include-phi"] if phi else []
            for fmt in FORMATS if (since, until) == shortest else ("json",):
                got = run(
                    store, "--since", since, "--until", until, "--format", fmt, *extra, now=now
                )
                assert got == reportfmt.render(expected, fmt, labels), (since, until, phi, fmt)
                if fmt == "json":  # the fast trend writer is the json module's text exactly
                    assert got == to_json(expected) + "\n"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A varied store from the benchmark's builder: every category, attempts, events,
    dependencies, closures over many months, patients who call more than once."""
    return make_store(tmp_path_factory.mktemp("rows") / "store", 40, 260, seed=5)


def test_rows_give_the_model_paths_figures_cold_and_warm(bench: Path) -> None:
    _index(bench).unlink(missing_ok=True)
    same_as_reference(bench, periods=PERIODS[:1])  # cold: builds the index and its rows
    assert _report_blobs(bench), "no report rows were kept"
    same_as_reference(bench)  # warm, and over periods that cut months in two
    # later: more of the open ones are overdue
    same_as_reference(bench, now="2026-12-02T12:00:00-05:00", periods=PERIODS[:2])


def test_a_scripted_week_with_handoffs_waits_and_unknown_details(
    week: Week,
) -> None:
    cli, ids = week
    # a repeat patient (A's phone), unknown details, two handoffs, a wait that runs late
    x = cli.add(
        day(24, "10:30"),
        "Ottoline Testperson",
        "+15557310401",
        "general",
        "Asks about the Brightwater fair parking",
        details={"topic": "unknown"},
    )
    cli.ok("route", x, "--to", "clinical", "--note", "Needs the nurse", now=day(24, "11:00"))
    cli.ok(
        "block",
        x,
        "--on",
        "provider_review",
        "--note",
        "Waiting on the doctor's answer",
        "--until",
        "2026-11-25",
        now=day(24, "12:00"),
    )
    cli.ok("route", x, "--to", "front_desk", "--note", "Back to the desk", now=day(25, "09:00"))
    cli.ok("unblock", ids["C"], "--note", "The letter came", now=day(26, "10:00"))
    periods = [
        ("2026-10-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00"),
        ("2026-11-23T00:00:00-05:00", "2026-11-28T00:00:00-05:00"),
        ("2026-11-24T12:00:00-05:00", "2026-11-26T08:00:00-05:00"),
    ]
    same_as_reference(cli.store, now=day(28, "09:00"), periods=periods)
    same_as_reference(cli.store, now=day(25, "12:00"), periods=periods)  # a period past now


def test_a_default_report_is_the_same_too(week: Week) -> None:
    cli, _ = week
    # (the default period: the week up to now)
    since, until = "2026-11-21T00:00:00-05:00", "2026-11-28T00:00:00-05:00"
    expected = reference(cli.store, since, until, False, day(27, "18:00"))
    assert json.loads(run(cli.store, "--json", now=day(27, "18:00"))) == json.loads(
        json.dumps(expected)
    )


# --- the rows kept in the index are never trusted over the files ----------------------------


def _index(store: Path) -> Path:
    return store / ".cbtrack" / localindex.FILE_NAME


def _report_blobs(store: Path) -> list[bytes]:
    with sqlite3.connect(_index(store)) as db:
        return [r[0] for r in db.execute("SELECT report FROM rec WHERE report IS NOT NULL")]


Week = tuple[Staff, dict[str, str]]


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The scripted week, built once for this file through the CLI."""
    root = tmp_path_factory.mktemp("week")
    return root, build_week(init_store(root, staff=STAFF))


@pytest.fixture
def week(tmp_path: Path, week_store: tuple[Path, dict[str, str]]) -> Week:
    """A copy of the scripted week (git and all) for one test to read and change."""
    root, ids = week_store
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    return Staff(copy / "store", copy / "home"), dict(ids)


def _json(cli: Staff) -> dict[str, object]:
    out = run(
        cli.store, "--since", "2026-10-01", "--until", "2026-11-30", "--json", now=day(28, "09:00")
    )
    data: dict[str, object] = json.loads(out)
    return data


def _expected(cli: Staff) -> dict[str, object]:
    ref = reference(
        cli.store, "2026-10-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00", False, day(28, "09:00")
    )
    data: dict[str, object] = json.loads(json.dumps(ref))
    return data


def _record(store: Path, cid: str) -> Path:
    found = list(store.glob(f"callbacks/**/{cid}.yaml"))
    assert len(found) == 1
    return found[0]


def test_the_report_rows_are_local_owner_only_and_de_identified(
    week: Week,
) -> None:
    cli, _ = week
    _json(cli)
    local = cli.store / ".cbtrack"
    assert stat.S_IMODE(_index(cli.store).stat().st_mode) == 0o600
    assert stat.S_IMODE((local / reportrows.SALT_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(local.stat().st_mode) == 0o700
    assert git(cli.store, "status", "--porcelain") == ""
    # no patient identifier is in a report row: names, phones (any form), MRNs, reasons
    blob = b"".join(_report_blobs(cli.store))
    assert len(blob) > 100
    for text in ("Quillon", "Farthingale", "5557310401", "731-0402", "MRNQX7781", "Brightwater"):
        assert text.encode() not in blob
        assert text.lower().encode() not in blob


def test_a_hand_edit_is_seen_even_with_the_same_size_and_time(
    week: Week,
) -> None:
    cli, ids = week
    _json(cli)
    before_edit = _json(cli)  # warm
    # the index read every file well after it was written: git's racy rule alone won't tell
    settle_index(cli.store)
    path = _record(cli.store, ids["A"])
    before = path.stat()
    text = path.read_text()
    assert "category: scheduling" in text
    # same length, same mtime: only the inode's ctime tells
    path.write_text(text.replace("category: scheduling", "category: general   "))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    got = _json(cli)
    assert got == _expected(cli)
    general = before_edit["by_category"]["general"]["created"]  # type: ignore[index]
    assert got["by_category"]["general"]["created"] == general + 1  # type: ignore[index]


def test_a_bad_hand_edit_gives_the_same_error_as_without_the_index(
    week: Week,
) -> None:
    cli, ids = week
    _json(cli)
    path = _record(cli.store, ids["B"])
    path.write_text(path.read_text().replace("urgency: ", "urgency: bogus_"))
    result = CliRunner().invoke(
        app,
        ["--store", str(cli.store), "report", "--since", "2026-10-01", "--json"],
        env={"CBTRACK_NOW": day(28, "09:00")},
    )
    assert result.exit_code == 3
    rel = path.relative_to(cli.store)
    assert f"{rel}: field urgency" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_checkout_is_seen_through_the_index(week: Week) -> None:
    cli, ids = week
    head = git(cli.store, "rev-parse", "HEAD").strip()
    first = _json(cli)
    cli.close(ids["C"], day(27, "17:00"), "resolved", "The referral arrived")
    closed = _json(cli)
    assert closed != first and closed == _expected(cli)
    git(cli.store, "checkout", "-q", head, "--", "callbacks")
    git(cli.store, "clean", "-qfd", "callbacks")
    again = _json(cli)
    assert again == first == _expected(cli)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "rows", "salt", "foreign"])
def test_a_damaged_index_gives_the_same_report(
    week: tuple[Staff, dict[str, str]], damage: str
) -> None:
    cli, _ = week
    expected = _json(cli)
    path = _index(cli.store)
    blob = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not a database" * 300)
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "rows":  # rows that do not decode, or have the wrong shape
        with sqlite3.connect(path) as db:
            db.execute("UPDATE rec SET report = x'00ff'")
    elif damage == "salt":
        (cli.store / ".cbtrack" / reportrows.SALT_FILE).write_bytes(b"short")
    else:  # written for another policy
        policy = cli.store / "cbtrack.yaml"
        policy.write_text(policy.read_text() + "\n# a comment\n")
        expected = _expected(cli)
    assert _json(cli) == expected
    assert _json(cli) == expected  # and the rebuilt index holds
    assert _report_blobs(cli.store)


def test_the_index_serves_a_second_period(week: Week) -> None:
    cli, _ = week
    # a report from mid-November leaves October's record unparsed (closed before it)
    late = run(
        cli.store, "--since", "2026-11-24", "--until", "2026-11-30", "--json", now=day(28, "09:00")
    )
    ref = reference(
        cli.store, "2026-11-24T00:00:00-05:00", "2026-12-01T00:00:00-05:00", False, day(28, "09:00")
    )
    assert json.loads(late) == json.loads(json.dumps(ref))
    assert _json(cli) == _expected(cli)  # then the earlier period reads it


def test_progress_shows_only_on_a_terminal_while_the_index_is_built(bench: Path) -> None:
    from cbtrack.progress import Progress

    shown: list[str] = []
    st = Store(bench)
    st.on_progress = shown.append
    _index(bench).unlink(missing_ok=True)
    old = Progress.DELAY
    Progress.DELAY = 0.0
    try:
        start = datetime.fromisoformat(PERIODS[0][0])
        end = datetime.fromisoformat(PERIODS[0][1])
        figures = reportrows.Figures(st.policy, start, end, datetime.fromisoformat(NOW), False)
        reportrows.collect(st, figures)
    finally:
        Progress.DELAY = old
    assert any(line.startswith("Reading closed records: ") for line in shown)
    assert shown[-1] == ""
    # the CLI (not a terminal here) prints nothing on stderr
    result = CliRunner().invoke(
        app, ["--store", str(bench), "report", "--json"], env={"CBTRACK_NOW": NOW}
    )
    assert result.exit_code == 0 and result.stderr == ""


def test_a_cold_build_in_worker_processes_gives_the_same_figures(
    bench: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    since, until = PERIODS[0]
    monkeypatch.setenv("CBTRACK_WORKERS", "1")
    expected = reference(bench, since, until, False)
    monkeypatch.setenv("CBTRACK_WORKERS", "2")  # (every folder read by two workers)
    _index(bench).unlink(missing_ok=True)
    start, end, now = (datetime.fromisoformat(t) for t in (since, until, NOW))
    assert reportrows.from_store(Store(bench), start, end, now) == expected
    assert _report_blobs(bench), "the workers made no report rows"
    assert reportrows.from_store(Store(bench), start, end, now) == expected  # warm
