"""Text output fits the terminal: queue, show, log and review at $COLUMNS (80 and up, 100
when unknown), measured in display width; long text wraps in show; times as people say
them; labels and words instead of keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbtrack.cli import app
from cbtrack.render import display_width, fit, say_time, wrap
from tests.conftest import Cli, attempt_args

LONG_REASON = (
    "想预约下周的复诊\uff0c并询问检查结果何时可以拿到 and also asks whether the new insurance plan "
    "covers the follow-up visit, the blood work and the imaging the provider ordered last week"
)
NOTE = (
    "Left voicemail asking the patient to call the front desk back about the follow-up "
    "visit and the insurance question; will try again after lunch if there is no call"
)


def busy_store(cli: Cli) -> str:
    cid = cli.add(
        "--owner", "front_desk_lead", "--next", "Confirm coverage with the plan, then call back",
        "--window", "09:00-12:00", "--mrn", "00123",
        reason=LONG_REASON,
    )  # fmt: skip
    cli.ok(
        "add", "--patient", "王小明 Wang Xiaoming-Longername", "--phone", "5550100124",
        "--category", "general", "--reason", "问题", "--detail", "topic=" + "保险" * 30,
    )  # fmt: skip
    cli.add(category="billing", reason="Copay question on the October statement")
    cli.ok(*attempt_args(cid, "phone", "left_voicemail", NOTE))
    cli.ok("block", cid, "--on", "insurance_eligibility", "--note", "Plan portal is down " * 8)
    return cid


def lines_of(cli: Cli, *args: str, columns: str | None, now: str | None = None) -> list[str]:
    env = {"COLUMNS": columns} if columns else {}
    if now:
        env["CBTRACK_NOW"] = now
    argv = ["--store", str(cli.store), "--as", "lead", *args]
    result = cli.runner.invoke(app, argv, env=env)
    assert result.exit_code == 0, result.stderr
    return list(result.stdout.splitlines())


COMMANDS = [
    ["queue"],
    ["review"],
    ["review", "--roll", "--dry-run"],
    ["show", "CID"],
    ["log", "CID"],
]


@pytest.mark.parametrize("columns", ["80", "100", "132"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_no_line_is_wider_than_the_terminal(cli: Cli, columns: str, command: list[str]) -> None:
    cid = busy_store(cli)
    args = [cid if a == "CID" else a for a in command]
    lines = lines_of(cli, *args, columns=columns, now="2026-11-27T17:30:00-05:00")
    assert lines
    widest = max(display_width(line) for line in lines)
    assert widest <= int(columns), [ln for ln in lines if display_width(ln) > int(columns)]


def test_unknown_width_means_100_and_wider_terminals_get_more(cli: Cli) -> None:
    busy_store(cli)
    default = lines_of(cli, "queue", columns=None)
    assert max(display_width(line) for line in default) <= 100
    wide = lines_of(cli, "queue", columns="160")
    assert max(display_width(line) for line in wide) > 100
    narrow = lines_of(cli, "queue", columns="40")  # below 80: laid out for 80
    assert max(display_width(line) for line in narrow) <= 80


def test_show_wraps_long_text_instead_of_cutting_it(cli: Cli) -> None:
    cid = busy_store(cli)
    lines = lines_of(cli, "show", cid, columns="80")
    text = " ".join(" ".join(lines).split())
    assert " ".join(LONG_REASON.split()) in text
    assert " ".join(NOTE.split()) in text
    assert "…" not in "".join(lines)


def test_show_reads_as_words(cli: Cli) -> None:
    cid = busy_store(cli)
    out = "\n".join(lines_of(cli, "show", cid, columns="100"))
    assert "left voicemail" in out and "left_voicemail" not in out
    assert "Front desk lead, role front_desk_lead" in out  # the label, and what to type
    assert "insurance eligibility" in out
    assert "waiting on internal work" in out
    assert "today 10:00" in out  # created, as people say it
    assert "2026-11-27T" not in out  # no ISO timestamps


def test_wide_characters_keep_the_queue_columns_aligned(cli: Cli) -> None:
    busy_store(cli)
    lines = lines_of(cli, "queue", columns="80")
    header = lines[0]
    start = header.index("TRIED")
    for line in lines[2:-1:2]:  # two lines a callback at 80 columns: the first holds TRIED
        # the TRIED column starts at the same display column on every row
        prefix = ""
        for ch in line:
            if display_width(prefix) >= start:
                break
            prefix += ch
        assert display_width(prefix) == start
        assert line[len(prefix) - 1] == " "


def test_queue_limit(cli: Cli) -> None:
    busy_store(cli)
    lines = lines_of(cli, "queue", "--limit", "2", columns="160")
    assert len(lines) == 4  # header, two callbacks, summary (one line each when wide)
    narrow = lines_of(cli, "queue", "--limit", "2", columns="80")
    assert len(narrow) == 7  # two header lines, two lines per callback, summary
    assert lines[-1].startswith("3 open (1 not shown: raise --limit)")
    data = json.loads("\n".join(lines_of(cli, "queue", "--limit", "1", "--json", columns=None)))
    assert len(data) == 1
    cli.refused("queue", "--limit", "0", code=1)  # a number, but below 1: a rule, not syntax


def test_empty_review_says_so_once(cli: Cli) -> None:
    lines = lines_of(cli, "review", columns=None)
    assert lines[1:] == ["Nothing is open: there is nothing to review."]


def test_review_prints_only_buckets_that_hold_something(cli: Cli) -> None:
    cli.add()
    out = "\n".join(lines_of(cli, "review", columns=None))
    assert "Due today" not in out.split("Nothing under:")[0]
    assert "No attempt yet: 1" in out
    assert "Nothing under: Due today" in out


# --- the helpers ------------------------------------------------------------------------


def test_display_width_counts_wide_and_combining_characters() -> None:
    assert display_width("abc") == 3
    assert display_width("王小明") == 6
    assert display_width("e\u0301") == 1
    assert fit("王小明王小明", 7) == "王小明…"
    assert display_width(fit("王小明王小明", 7)) <= 7


@pytest.mark.parametrize("width", [10, 20, 33])
def test_wrap_never_passes_the_width_and_keeps_every_word(width: int) -> None:
    text = "a few words, a verylongwordthatcannotfitanywhere and 王小明王小明王小明王小明"
    lines = wrap(text, width, first="Why: ")
    assert all(display_width(line) <= width for line in lines)
    assert "".join("".join(lines).split()).replace("Why:", "") == "".join(text.split())


def test_times_as_people_say_them() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 27, 10, 0, tzinfo=tz)  # a Friday

    def at(day: int, month: int = 11, year: int = 2026) -> str:
        return say_time(datetime(year, month, day, 9, 30, tzinfo=tz), now, tz)

    assert at(27) == "today 09:30"
    assert at(26) == "yesterday 09:30"
    assert at(28) == "tomorrow 09:30"
    assert at(24) == "Tue 09:30"
    assert at(1, 12) == "Tue 09:30"
    assert at(10) == "Tue 10 Nov 09:30"
    assert at(10, 11, 2025) == "10 Nov 2025 09:30"


def test_log_reads_as_words(cli: Cli, store_dir: Path) -> None:
    cid = busy_store(cli)
    out = "\n".join(lines_of(cli, "log", cid, columns="100"))
    assert "left voicemail" in out and "T10:00:00" not in out


@pytest.mark.parametrize("argv", [["--help"], ["import", "--help"]])
def test_help_summaries_are_whole_at_80_columns(cli: Cli, argv: list[str]) -> None:
    result = cli.runner.invoke(app, argv, env={"COLUMNS": "80"}, prog_name="cbtrack")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands and "…" not in commands
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
