"""Read commands while other desks change the store.

A `close` or `reopen` moves a record between `callbacks/open/` and `callbacks/closed/`
(new place written first, old removed after). A read command that listed the folder a
moment before finds the record where it went, or leaves it out; it never fails with
"file is missing". One unreadable record never hides the others: `queue` and `review`
list what they can read, name each bad file on stderr and exit 3.

The races are made deterministic: the test wraps the store's own listing or reading so
that another desk's change lands exactly between the two.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW

from cbtrack import review, service
from cbtrack.model import CloseReason
from cbtrack.store import Store

WHEN = datetime.fromisoformat(NOW)


def close_now(root: Path, cid: str) -> None:
    """Another desk closes `cid` (its own Store, its own lock)."""
    service.close(Store(root), "mkhan", WHEN, cid, reason=CloseReason.resolved, summary="Done")


def reopen_now(root: Path, cid: str) -> None:
    service.reopen(Store(root), "mkhan", WHEN, cid, why="Patient called again")


def before_reading(
    monkeypatch: pytest.MonkeyPatch, path: Path, act: Callable[[], None]
) -> list[int]:
    """Run `act` once, just before the store reads `path` (after it was listed)."""
    real = Store.load_path
    done: list[int] = []

    def load_path(self: Store, p: Path, text: str | None = None) -> Any:
        if p == path and not done:
            done.append(1)
            act()
        return real(self, p, text)

    monkeypatch.setattr(Store, "load_path", load_path)
    return done


def after_listing(monkeypatch: pytest.MonkeyPatch, name: str, act: Callable[[], None]) -> list[int]:
    """Run `act` once, right after the store lists a folder (`open_paths`, `closed_paths`,
    `folder_names`)."""
    real = getattr(Store, name)
    done: list[int] = []

    def listing(self: Store, *args: Any) -> list[Any]:
        found: list[Any] = real(self, *args)
        if not done:
            done.append(1)
            act()
        return found

    monkeypatch.setattr(Store, name, listing)
    return done


@pytest.fixture
def two(cli: Any) -> tuple[Any, str, str]:
    made = cli, cli.add(), cli.add(category="general")
    # The races below happen as a file is read; with a warm index it would not be.
    (cli.store / ".cbtrack" / "index.sqlite").unlink(missing_ok=True)
    return made


def test_queue_leaves_out_a_record_closed_while_it_reads(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, b = two
    store = Store(cli.store)
    done = before_reading(monkeypatch, store.open_path(a), lambda: close_now(cli.store, a))
    result = cli("queue", "--json")
    assert done and result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [r["id"] for r in json.loads(result.stdout)] == [b]


def test_queue_text_and_review_survive_the_same_race(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, b = two
    path = Store(cli.store).open_path(a)
    before_reading(monkeypatch, path, lambda: close_now(cli.store, a))
    out = cli.ok("queue").stdout
    assert b[-5:] in out and a[-5:] not in out
    reopen_now(cli.store, a)
    (cli.store / ".cbtrack" / "index.sqlite").unlink()  # (the reopen noted `a`: read it again)
    before_reading(monkeypatch, path, lambda: close_now(cli.store, a))
    data = json.loads(cli.ok("review", "--json").stdout)
    assert a not in data["no_attempt"] and b in data["no_attempt"]


def test_show_finds_a_record_where_it_went(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, _ = two
    before_reading(monkeypatch, Store(cli.store).open_path(a), lambda: close_now(cli.store, a))
    record = cli.record(a)
    assert record["status"] == "closed"


def test_report_counts_a_record_closed_meanwhile_once(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, _ = two
    # A report takes a shared lock, so no change can happen while it reads; these tests
    # play a store whose lock cannot be shared (a read-only copy), where it reads as is.
    monkeypatch.setattr(Store, "read_lock", _no_lock)
    # (the report lists folders with `folder_names`; the open folder first)
    done = after_listing(monkeypatch, "folder_names", lambda: close_now(cli.store, a))
    result = cli("report", "--json")
    assert done and result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["totals"]
    assert (totals["created"], totals["closed"], totals["open"]) == (2, 1, 1)


def test_report_counts_a_record_reopened_meanwhile_once(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, _ = two
    monkeypatch.setattr(Store, "read_lock", _no_lock)  # (as above)
    close_now(cli.store, a)
    # the open folder is read first (without a); then a is reopened; then the closed
    # folder's listing still names it
    closed_path = Store(cli.store).closed_path(a)
    real = Store.folder_names

    def stale(self: Store, folder: Path) -> list[str]:
        if folder == closed_path.parent:
            return [closed_path.name]  # listed before the reopen moved it
        found = real(self, folder)
        if folder == self.open_dir:
            reopen_now(cli.store, a)  # the open folder was listed without it
        return found

    monkeypatch.setattr(Store, "folder_names", stale)
    result = cli("report", "--json")
    monkeypatch.setattr(Store, "folder_names", real)
    assert result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["totals"]
    assert (totals["created"], totals["closed"], totals["open"]) == (2, 0, 2)


def test_roll_over_skips_a_record_closed_after_planning(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, b = two
    real = review.plan_roll

    def plan_then_close(*args: Any) -> Any:
        plans = real(*args)
        close_now(cli.store, a)
        return plans

    monkeypatch.setattr(review, "plan_roll", plan_then_close)
    out = json.loads(cli.ok("review", "--roll", "--json", user="lead").stdout)
    assert [r["id"] for r in out["rolled"]] == [b]
    assert cli.record(a)["status"] == "closed"
    assert not any(e["type"] == "rolled_over" for e in cli.record(a)["events"])


# --- one bad record never hides the others ------------------------------------------------


BAD = "cb-20261127-zzzzz"


@pytest.fixture
def one_bad(two: tuple[Any, str, str]) -> tuple[Any, str, str, str]:
    cli, a, b = two
    rel = f"callbacks/open/{BAD}.yaml"
    (cli.store / rel).write_text("id: [unclosed\n")
    return cli, a, b, rel


def test_queue_lists_every_readable_record_and_names_the_bad_one(
    one_bad: tuple[Any, str, str, str],
) -> None:
    cli, a, b, rel = one_bad
    result = cli("queue")
    assert result.exit_code == 3
    assert a[-5:] in result.stdout and b[-5:] in result.stdout
    assert "2 open" in result.stdout
    assert result.stderr.startswith(f"Error: {rel} line ")
    assert len(result.stderr.splitlines()) == 1
    as_json = cli("queue", "--json")
    assert as_json.exit_code == 3
    assert sorted(r["id"] for r in json.loads(as_json.stdout)) == sorted([a, b])
    assert as_json.stderr == result.stderr


def test_queue_names_every_bad_file(one_bad: tuple[Any, str, str, str]) -> None:
    cli, _, _, rel = one_bad
    other = "callbacks/open/cb-20261127-yyyyy.yaml"
    (cli.store / other).write_text("- not a mapping\n")
    result = cli("queue")
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Error: {other}") and lines[1].startswith(f"Error: {rel}")


def test_review_lists_every_readable_record_and_names_the_bad_one(
    one_bad: tuple[Any, str, str, str],
) -> None:
    cli, a, b, rel = one_bad
    result = cli("review", "--json")
    assert result.exit_code == 3
    assert sorted(json.loads(result.stdout)["no_attempt"]) == sorted([a, b])
    assert result.stderr.startswith(f"Error: {rel}")
    text = cli("review")
    assert text.exit_code == 3 and a[-5:] in text.stdout
    check = cli("review", "--check")
    assert check.exit_code == 3 and check.stderr.startswith(f"Error: {rel}")


def test_a_short_id_finds_a_record_reopened_between_the_two_looks(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`show k7m2q` looks in open/, then in closed/: a reopen in between moves the record
    out of the second place after the first was searched."""
    cli, a, _ = two
    close_now(cli.store, a)
    real = Path.glob
    done: list[int] = []

    def glob(self: Path, pattern: str) -> Any:
        if pattern.startswith("*/") and not done:
            done.append(1)
            reopen_now(cli.store, a)
        return real(self, pattern)

    monkeypatch.setattr(Path, "glob", glob)
    result = cli("show", a[-5:], "--json")
    assert done and result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] != "closed"


def test_find_counts_a_record_closed_or_reopened_meanwhile_once(
    two: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, a, b = two
    # closed after the open folder was read: found open, then again in closed/ -> once
    done = after_listing(monkeypatch, "open_paths", lambda: close_now(cli.store, a))
    result = cli("find", "Ada Example", "--json")
    assert done and result.exit_code == 0, result.stderr
    assert sorted(r["id"] for r in json.loads(result.stdout)) == sorted([a, b])
    monkeypatch.undo()
    # reopened after the index pointed at closed/: read where it went, no warning
    closed_path = Store(cli.store).closed_path(a)
    before_reading(monkeypatch, closed_path, lambda: reopen_now(cli.store, a))
    result = cli("find", "Ada Example", "--json")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    found = {r["id"]: r["status"] for r in json.loads(result.stdout)}
    assert set(found) == {a, b} and found[a] != "closed"


@contextlib.contextmanager
def _no_lock(self: Store, timeout: float | None = None) -> Iterator[None]:
    yield
