"""Bad input never crashes: over-long and blank text, bytes that are not UTF-8, and times at
the ends of the calendar each get a one-sentence refusal (exit 1, or 2 for command-line
syntax), nothing written, never an "unexpected failure".
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ADD_GENERAL, NOW, Cli, attempt_args, snapshot
from helpers_robust import cbtrack_argv, subprocess_env
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from cbtrack.cli import app

LONG = "a" * 2001
TOO_LONG = "is longer than 2000 characters; shorten it."
EMPTY = "is empty; write some text."
NOT_UTF8 = "is not valid UTF-8 text; retype it"
BAD_BYTES = "caf\udce9 \udcff\udcfe"  # what Python makes of argv bytes that are not UTF-8


@pytest.fixture
def ids(cli: Any) -> tuple[Any, str, str]:
    """An open callback, and a closed one."""
    open_id = cli.add()
    closed = cli.add(category="general")
    cli.ok("close", closed, "--reason", "resolved", "--summary", "Answered at the desk")
    return cli, open_id, closed


def free_text_commands(cid: str, closed: str, text: str) -> list[list[str]]:
    """Every command that takes free text, with `text` in that place."""
    return [
        ["note", cid, text],
        attempt_args(cid, "phone", "no_answer", text),
        [
            "attempt",
            cid,
            "--method",
            "phone",
            "--result",
            "reached",
            "--note",
            "Spoke to her",
            "--response",
            text,
        ],
        [
            "attempt",
            cid,
            "--method",
            "phone",
            "--result",
            "busy",
            "--note",
            "Line busy",
            "--next",
            text,
        ],
        ["urgency", cid, "same_day", "--why", text],
        ["assign", cid, "billing", "--note", text],
        ["route", cid, "--to", "clinical", "--note", text],
        ["block", cid, "--on", "other", "--note", text],
        ["close", cid, "--reason", "resolved", "--summary", text],
        ["reopen", closed, "--why", text],
        [*ADD_GENERAL[:-4], "--reason", text, "--detail", "topic=x"],
        [*ADD_GENERAL[:2], text, *ADD_GENERAL[3:]],  # the patient's name
        [*ADD_GENERAL, "--next", text],
        [*ADD_GENERAL[:-1], f"topic={text}"],  # a detail's value
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [(LONG, TOO_LONG), ("   ", EMPTY), (BAD_BYTES, NOT_UTF8)],
    ids=["2001 characters", "blank", "not UTF-8"],
)
def test_free_text_that_breaks_a_rule_is_refused_in_one_sentence(
    ids: tuple[Any, str, str], text: str, message: str
) -> None:
    cli, cid, closed = ids
    for args in free_text_commands(cid, closed, text):
        err = cli.refused(*args)  # exit 1, one sentence, nothing written
        if text.strip():
            assert err.startswith("Error: Invalid input, field ") and message in err, err
        else:  # a blank value: the field's own sentence, or the command's
            assert message in err or "Say why" in err or "needs topic" in err, err


def test_an_empty_optional_note_on_assign_is_refused_not_crashed(
    ids: tuple[Any, str, str],
) -> None:
    cli, cid, _ = ids
    err = cli.refused("assign", cid, "billing", "--note", "   ")
    assert EMPTY in err


CLOCKS = ["9999-12-30T10:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00", "1969-12-31",
          "1970-01-01T10:00:00+14:00", "2100-01-01T00:00:00+14:00"]  # fmt: skip


def test_a_clock_at_the_ends_of_the_calendar_is_refused(ids: tuple[Any, str, str]) -> None:
    cli, cid, _ = ids
    for when in CLOCKS:
        for args in (
            ADD_GENERAL,
            attempt_args(cid, "phone", "busy", "Line busy, retry later"),
            ["queue"],
            ["report"],
            ["review", "--roll", "--dry-run"],
        ):
            err = cli.refused(*args, now=when)
            assert err == (
                "Error: CBTRACK_NOW is outside the years 1970 to 2099, the dates cbtrack (and git) "
                "can record; check the year.\n"
            ), (when, args)


def test_times_typed_at_the_ends_of_the_calendar_are_refused(ids: tuple[Any, str, str]) -> None:
    cli, cid, _ = ids
    for due in ["9999-12-31", "0001-01-01", "9999-12-31T23:59+14:00", "+99999d"]:
        for args in (
            [*ADD_GENERAL, "--due", due],
            [*attempt_args(cid, "phone", "busy", "Line busy, retry later"), "--next-at", due],
            ["report", "--since", due],
            ["report", "--until", due],
        ):
            err = cli.refused(*args)
            assert f"'{due}' is outside the years 1970 to 2099" in err, err


def test_far_but_possible_times_work(ids: tuple[Any, str, str]) -> None:
    cli, cid, _ = ids
    far = cli.add("--due", "2099-12-31", category="general")
    cli.ok("urgency", far, "same_day", "--why", "Patient called again")
    cli.ok("queue", now="2099-12-30T10:00:00-05:00")
    cli.ok(*attempt_args(cid, "phone", "busy", "Line busy, retry later"), now="2099-12-30T10:00")
    cli.ok("report", "--since", "1970-01-02", "--until", "2099-12-31")
    # a roll-over on the last business day would set a time in 2100: refused, not crashed
    err = cli.refused("review", "--roll", user="lead", now="2099-12-31T18:00:00-05:00")
    assert "2099" in err


def test_a_record_file_with_a_time_out_of_range_is_named_not_crashed(cli: Any) -> None:
    cid = cli.add()
    path = cli.store / f"callbacks/open/{cid}.yaml"
    text = path.read_text()
    head, _, rest = text.partition("due_at: ")
    path.write_text(head + "due_at: '9999-12-31T23:59:59-12:00'\n" + rest.split("\n", 1)[1])
    result = cli("queue")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: callbacks/open/{cid}.yaml: field due_at: a time must fall in the years 1970 "
        "to 2099.\n"
    )


def test_argv_bytes_that_are_not_utf8_through_the_installed_command(
    cli: Any, tmp_path: Path
) -> None:
    """The real path: the shell passes bytes, Python decodes them with surrogateescape."""
    cid = cli.add()
    before = snapshot(cli.store)
    argv = [*cbtrack_argv(), "--store", str(cli.store), "--as", "jlee", "note", cid]
    proc = subprocess.run(
        [*(a.encode() for a in argv), b"caf\xe9 \xff\xfe"],
        capture_output=True,
        env=subprocess_env(tmp_path / "home"),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.decode() == (
        "Error: Invalid input, field note: is not valid UTF-8 text; retype it (check the "
        "terminal's encoding).\n"
    )
    proc = subprocess.run(
        [*(a.encode() for a in argv[:-2]), b"queue", b"--category", b"\xff\x1b[2J"],
        capture_output=True,
        env=subprocess_env(tmp_path / "home"),
        check=False,
    )
    assert proc.returncode == 1 and b"\x1b" not in proc.stderr and b"\\udcff" in proc.stderr
    assert snapshot(cli.store) == before


# --- Hypothesis over the command line ------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates and controls too
    st.text(max_size=3).map(lambda s: s + "x" * 1998),  # around the 2000-character limit
)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, str, str]:
    root = tmp_path_factory.mktemp("fuzz") / "store"
    result = CliRunner().invoke(app, ["--as", "jlee", "init", str(root)], env={"CBTRACK_NOW": NOW})
    assert result.exit_code == 0
    cli = Cli(root)
    cid = cli.add(now=NOW)
    closed = cli.add(category="general", now=NOW)
    cli.ok("close", closed, "--reason", "resolved", "--summary", "Answered", now=NOW)
    return cli, cid, closed


def no_crash(cli: Cli, args: list[str], now: str = NOW) -> int:
    before = snapshot(cli.store)
    result = cli(*args, now=now)
    out = result.stdout + result.stderr
    assert "unexpected failure" not in out and "Traceback" not in out, (args, out)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, out)
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.stderr)
        assert snapshot(cli.store) == before, args
    return int(result.exit_code)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=ANY_TEXT, which=st.integers(min_value=0, max_value=13))
def test_any_text_anywhere_is_taken_or_refused(
    fuzz_store: tuple[Cli, str, str], text: str, which: int
) -> None:
    cli, cid, closed = fuzz_store
    args = free_text_commands(cid, closed, text)[which]
    if no_crash(cli, args) == 0:  # put the two callbacks back as they were
        if args[0] == "close":
            cli.ok("reopen", cid, "--why", "Fuzzing closed it", now=NOW)
        elif args[0] == "reopen":
            cli.ok("close", closed, "--reason", "resolved", "--summary", "Again", now=NOW)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    when=st.datetimes(),
    offset=st.sampled_from(["", "Z", "+14:00", "-12:00", "-05:00"]),
    which=st.integers(min_value=0, max_value=3),
)
def test_any_clock_or_time_is_taken_or_refused(
    fuzz_store: tuple[Cli, str, str], when: Any, offset: str, which: int
) -> None:
    cli, _, _ = fuzz_store
    stamp = when.replace(microsecond=0).isoformat() + offset
    if which == 0:
        no_crash(cli, ["queue"], now=stamp)
    elif which == 1:
        no_crash(cli, ["review", "--roll", "--dry-run"], now=stamp)
    elif which == 2:
        no_crash(cli, ["report", "--since", stamp])
    else:
        no_crash(cli, [*ADD_GENERAL, "--due", stamp])
