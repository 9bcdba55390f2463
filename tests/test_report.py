"""`cbtrack report`: a scripted week, checked against figures computed by hand.

The week (America/New_York, EST; business hours 08:00-17:00 Mon-Fri; default policy):

    H  general     created Fri Oct 30 16:00 EDT, first attempt Oct 30 16:30 (no answer),
                   reached Mon 08:30, closed Mon 08:45 (reached)      -> 569.75 h to close
    A  scheduling  Mon 09:00, due Tue 09:00; voicemail Mon 11:00 (2 h, on time),
                   reached Mon 15:00, closed Mon 15:30 (reached)      -> 6.5 h, 2 tries
    B  scheduling  Mon 10:00, due Tue 10:00; no answer Tue 10:00 (24 h, on time: at the
                   due time), reached Tue 15:00, closed Wed 09:00     -> 47 h, 2 tries
    C  referral    Mon 13:00, due Tue 13:00; blocked, never attempted -> open, overdue
    D  billing     Tue 09:00, due Thu 09:00; no answer Thu 11:00 (50 h, late), voicemail
                   Thu 16:00, no answer Fri 09:00, closed Fri 10:00   -> 73 h, 3 tries
    E  general     Wed 10:00, due Fri 10:00; portal message Wed 10:30 (0.5 h, on time)
                                                                      -> open, overdue
    F  scheduling  Thu 09:00 (B's phone, other format); reached Thu 09:30 (0.5 h),
                   closed Thu 09:45 (resolved)                        -> 0.75 h, 1 try
    G  general     Fri 09:00 (A's MRN, other phone); closed Fri 09:10 (duplicate), 0 tries
    K  general     Sat 08:00: after the period

Period Mon 2026-11-23 to Fri 2026-11-27 (ends Sat 00:00):
created A-G = 7; closed H A B D F G = 6; open at the end C E = 2, both overdue;
attempts in the period 10 (A2 B2 D3 E1 F1 H1).
First attempts in the period: A 2, B 24, D 50, E 0.5, F 0.5 h -> median 2, p90 50;
on time 4, late 1; reached 1 of 5 (F).
Hours to close: G 0.17, F 0.75, A 6.5, B 47, D 73, H 569.75 -> median (6.5+47)/2 = 26.75,
p90 569.75; attempts per closed callback 10/6 = 1.67.
Repeat patients: B+F (phone) and A+G (MRN) = 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_report import (
    AFTER_WEEK,
    NEVER,
    PHI_STRINGS,
    STAFF,
    WEEK,
    Staff,
    build_week,
    day,
    init_store,
    snapshot,
)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Staff, dict[str, str]]:
    cli = init_store(tmp_path_factory.mktemp("week"))
    return cli, build_week(cli)


def report(cli: Staff, *args: str, now: str = AFTER_WEEK) -> Any:
    return cli.json("report", *args, "--json", now=now)


def test_week_totals_and_speed(week: tuple[Staff, dict[str, str]]) -> None:
    cli, ids = week
    r = report(cli, *WEEK)
    assert r["period"] == {
        "start": "2026-11-23T00:00:00-05:00",
        "end": "2026-11-28T00:00:00-05:00",
        "as_of": "2026-11-28T00:00:00-05:00",
    }
    assert r["totals"] == {"created": 7, "closed": 6, "open": 2, "overdue": 2, "attempts": 10}
    assert r["overall"]["median_hours_to_first_attempt"] == 2.0
    assert r["overall"]["p90_hours_to_first_attempt"] == 50.0
    assert r["overall"]["median_hours_to_close"] == 26.75
    assert r["overall"]["p90_hours_to_close"] == 569.75
    assert r["overall"]["mean_attempts_to_close"] == 1.67
    assert r["first_attempts"] == {"count": 5, "reached": 1, "reach_rate": 0.2}
    assert r["sla"] == {
        "first_attempt_on_time": 4,
        "first_attempt_late": 1,
        "on_time_rate": 0.8,
        "overdue_without_attempt": 1,
    }
    assert r["closure_reasons"] == {
        "reached": 3,
        "resolved": 1,
        "routed": 0,
        "attempts_exhausted": 1,
        "duplicate": 1,
    }
    assert r["repeat_patients"] == 2
    assert r["top_category"] == "scheduling"
    assert r["oldest_open"]["id"] == ids["C"]
    assert r["oldest_open"]["age_hours"] == 107.0  # Mon 13:00 to Sat 00:00
    assert [b["count"] for b in r["distribution"]["hours_to_first_attempt"]] == [2, 1, 0, 0, 1, 1]


def test_week_breakdowns(week: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = week
    r = report(cli, *WEEK)
    cats = r["by_category"]
    assert list(cats) == ["scheduling", "referral_status", "billing", "general"]  # policy order
    sched = cats["scheduling"]
    assert sched["label"] == "Appointment scheduling"
    assert (sched["created"], sched["closed"], sched["open"], sched["overdue"]) == (3, 3, 0, 0)
    assert sched["median_hours_to_first_attempt"] == 2.0  # A 2, B 24, F 0.5
    assert sched["p90_hours_to_first_attempt"] == 24.0
    assert sched["median_hours_to_close"] == 6.5  # A 6.5, B 47, F 0.75
    assert sched["mean_attempts_to_close"] == 1.67  # (2 + 2 + 1) / 3
    general = cats["general"]  # E open; G and H closed
    assert (general["created"], general["closed"], general["open"], general["overdue"]) == (
        2,
        2,
        1,
        1,
    )
    assert general["median_hours_to_close"] == 284.96  # (0.1667 + 569.75) / 2
    assert general["mean_attempts_to_close"] == 1.0  # G 0, H 2
    billing = cats["billing"]
    assert (billing["first_attempt_on_time"], billing["first_attempt_late"]) == (0, 1)
    assert billing["mean_attempts_to_close"] == 3.0
    referral = cats["referral_status"]
    assert referral["median_hours_to_first_attempt"] is None
    assert (referral["open"], referral["overdue"]) == (1, 1)

    assert {k: v["created"] for k, v in r["by_urgency"].items()} == {
        "routine": 3,
        "time_sensitive": 3,
        "deadline": 1,
    }
    assert r["by_urgency"]["routine"]["closed"] == 3  # D, G, H
    assert {k: (v["created"], v["open"]) for k, v in r["by_owner"].items()} == {
        "front_desk": (2, 1),
        "scheduling": (3, 0),
        "billing": (1, 0),
        "referrals": (1, 1),
    }
    assert {k: (v["created"], v["closed"]) for k, v in r["by_source"].items()} == {
        "phone": (4, 5),
        "voicemail": (1, 1),
        "front_desk": (1, 0),
        "portal": (1, 0),
    }


def test_insights_come_from_the_biggest_category_and_patterns(
    week: tuple[Staff, dict[str, str]],
) -> None:
    cli, _ = week
    insights = report(cli, *WEEK)["insights"]
    assert insights[0].startswith(
        "Appointment scheduling is the biggest repeat category: 3 of 7 new callbacks (43%)."
    )
    assert "make booking rules clearer" in insights[0]  # the policy's preventable hint
    assert insights[1].startswith("2 patients needed two or more callbacks")
    assert insights[2].startswith("Only 20% of first attempts reached the patient")
    assert len(insights) == 3


def test_a_date_in_until_includes_the_whole_day_and_open_is_historical(
    week: tuple[Staff, dict[str, str]],
) -> None:
    cli, _ = week
    r = report(cli, "--since", "2026-11-23", "--until", "2026-11-23")
    assert r["period"]["end"] == "2026-11-24T00:00:00-05:00"
    # Monday: A B C created; A and H closed; B (closed Wednesday) and C open at midnight.
    assert r["totals"] == {"created": 3, "closed": 2, "open": 2, "overdue": 0, "attempts": 3}
    assert r["first_attempts"]["count"] == 1  # A; B's first attempt was Tuesday


def test_until_a_time_ends_there(week: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = week
    r = report(cli, "--since", "2026-11-23", "--until", "2026-11-23T12:00")
    assert r["period"]["end"] == "2026-11-23T12:00:00-05:00"
    assert r["totals"] == {"created": 2, "closed": 1, "open": 2, "overdue": 0, "attempts": 2}


def test_a_callback_created_in_an_earlier_month_counts_where_it_closed(
    week: tuple[Staff, dict[str, str]],
) -> None:
    cli, ids = week
    assert (cli.store / "callbacks/closed/2026-10" / f"{ids['H']}.yaml").is_file()
    october = report(cli, "--since", "2026-10-01", "--until", "2026-10-31")
    # H was open at the end of October though it is closed now.
    assert october["totals"] == {"created": 1, "closed": 0, "open": 1, "overdue": 0, "attempts": 1}
    assert october["overall"]["median_hours_to_first_attempt"] == 0.5
    assert october["first_attempts"]["reach_rate"] == 0.0


def test_default_period_is_the_last_seven_days(week: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = week
    r = report(cli)
    assert r["period"]["start"] == "2026-11-22T00:00:00-05:00"
    assert r["period"]["end"] == "2026-11-29T00:00:00-05:00"  # the whole of today
    assert r["totals"]["created"] == 8  # the week's 7, and K on Saturday morning
    assert r["phi_included"] is False


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json", "html"])
def test_no_patient_data_in_any_format(week: tuple[Staff, dict[str, str]], fmt: str) -> None:
    cli, _ = week
    out = cli.ok("report", "--since", "2026-10-01", "--format", fmt, now=AFTER_WEEK).stdout
    assert out.strip()
    for secret in [*PHI_STRINGS, *NEVER]:
        assert secret.lower() not in out.lower(), (fmt, secret)


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json", "html"])
def test_include_phi_adds_patient_details(week: tuple[Staff, dict[str, str]], fmt: str) -> None:
    cli, _ = week
    out = cli.ok("report", *WEEK, "--format", fmt, "--include-phi", now=AFTER_WEEK).stdout
    # C and E are open at the end; A/G and B/F are the repeat patients.
    for shown in (
        "Thaddeus Okonkwo-Brill",
        "Bartholomew Eskildsen",
        "Quillon Farthingale",
        "Perpetua Lindqvist",
        "+1 555 731 0403",
        "MRNQX7781",
        "1961-04-17",
        "Halloran",
        "Marigold",
        "weekday mornings",
    ):
        assert shown in out, (fmt, shown)
    for secret in NEVER:
        assert secret.lower() not in out.lower(), (fmt, secret)


def test_text_and_markdown_lay_out_the_figures(week: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = week
    text = cli.ok("report", *WEEK, now=AFTER_WEEK).stdout
    assert text.startswith("Callback report: Your Practice Name\n")
    assert "Mon 23 Nov to Fri 27 Nov 2026" in text
    assert "de-identified" in text
    assert re.search(r"^hours to close, typical \(median\) +26\.8$", text, re.MULTILINE)
    assert re.search(r"^first calls that reached the patient +20%$", text, re.MULTILINE)
    # the group tables in two parts: counts, then speed, each under 100 columns
    assert re.search(r"^Appointment scheduling( +[0-9.-]+){6}$", text, re.MULTILINE)
    assert re.search(r"^Appointment scheduling( +[0-9.-]+){5}$", text, re.MULTILINE)
    assert "By category: speed" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "1. Appointment scheduling is the biggest repeat category" in text
    # labels and plain headings, never the keys a developer reads
    for key in ("front_desk_lead", "attempts_exhausted", "status_now", "age_hours", "1st h",
                "p90", "tries", "T00:00:00"):  # fmt: skip
        assert key not in text, key
    assert "Attempts exhausted" in text and "Referral coordination" in text
    md = cli.ok("report", *WEEK, "--format", "markdown", now=AFTER_WEEK).stdout
    assert md.startswith("# Callback report: Your Practice Name")
    assert "## By category" in md and "## Insights" in md
    assert "| Appointment scheduling " in md


def test_csv_opens_as_readable_tables(week: tuple[Staff, dict[str, str]], tmp_path: Path) -> None:
    cli, _ = week
    out = cli.ok("report", *WEEK, "--format", "csv", now=AFTER_WEEK).stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["Callback report: Your Practice Name"]
    at = rows.index(["By category"])
    header = rows[at + 1]
    assert header[0] == "category" and "hours to close (typical)" in header
    by_name = {r[0]: r for r in rows[at + 2 : rows.index([], at)]}
    sched = by_name["Appointment scheduling"]
    assert sched[header.index("new")] == "3"
    assert sched[header.index("hours to close (typical)")] == "6.5"
    assert by_name["Referral status"][header.index("hours to close (typical)")] == ""
    assert len(rows) < 130  # not a long format that needs a pivot table
    reasons = rows.index(["Why callbacks were closed"])
    assert ["Attempts exhausted", "1"] in rows[reasons:]
    folder = tmp_path / "tables"
    folder.mkdir()
    cli.ok("report", *WEEK, "--format", "csv", "--output", str(folder), now=AFTER_WEEK)
    names = sorted(p.name for p in folder.iterdir())
    assert "by_category.csv" in names and "totals.csv" in names and "insights.csv" in names
    table = list(csv.reader((folder / "by_category.csv").open()))
    assert table[0] == header and table[1:] == [by_name[r[0]] for r in table[1:]]
    assert all(oct((folder / n).stat().st_mode)[-3:] == "600" for n in names)


def test_ties_are_broken_in_the_policys_order(tmp_path: Path) -> None:
    cli = init_store(tmp_path)
    # general is listed after billing in the policy, and comes first alphabetically too
    for hour, cat in (("09:00", "general"), ("10:00", "billing"), ("11:00", "general"),
                      ("12:00", "billing")):  # fmt: skip
        cli.add(day(23, hour), "Una Testperson", "5557310099", cat, "Asks a thing")
    data = cli.json("report", "--since", "2026-11-23", "--until", "2026-11-23", "--json",
                    now=AFTER_WEEK)  # fmt: skip
    assert data["top_category"] == "billing"  # listed before general in the policy
    text = cli.ok("report", "--since", "2026-11-23", "--until", "2026-11-23",
                  now=AFTER_WEEK).stdout  # fmt: skip
    assert "Billing question (tied with General question)" in text
    assert "about Billing question and General question (tied)" in " ".join(text.split())
    assert "Ties:" in text


def test_json_writes_only_json(week: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = week
    for args in (["--json"], ["--format", "json"]):
        result = cli.ok("report", *WEEK, *args, now=AFTER_WEEK, user=None)
        assert json.loads(result.stdout)["totals"]["created"] == 7
        assert result.stderr == ""


def test_output_file_is_atomic_owner_only_and_quiet(
    week: tuple[Staff, dict[str, str]],
    tmp_path: Path,
) -> None:
    cli, _ = week
    target = tmp_path / "reports" / "week.md"
    target.parent.mkdir()
    result = cli.ok(
        "report", *WEEK, "--format", "markdown", "--output", str(target), now=AFTER_WEEK
    )
    assert result.stdout == "" and result.stderr == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    same = cli.ok("report", *WEEK, "--format", "markdown", now=AFTER_WEEK).stdout
    assert target.read_text() == same
    assert [p.name for p in target.parent.iterdir()] == ["week.md"]  # no temp file left
    # An existing file is replaced whole.
    cli.ok("report", *WEEK, "--format", "csv", "--output", str(target), now=AFTER_WEEK)
    assert target.read_text().startswith("Callback report: ")


def test_refusals_are_one_sentence_with_the_right_code(
    week: tuple[Staff, dict[str, str]],
    tmp_path: Path,
) -> None:
    cli, _ = week
    before = snapshot(cli.store)
    cases = [
        (["--since", "2026-11-27", "--until", "2026-11-23"], 1, "--since must be earlier"),
        (["--since", "last tuesday"], 1, "is not a time"),
        (["--until", "2026-02-30"], 1, "not a valid date"),
        (["--output", str(tmp_path)], 1, "is a folder"),
        (["--format", "csv", "--json"], 2, "give only one"),
    ]
    for args, code, words in cases:
        result = cli("report", *args, now=AFTER_WEEK)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], args
        assert result.stdout == ""
    bad = cli("report", "--format", "pdf", now=AFTER_WEEK)
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr
    assert snapshot(cli.store) == before


def test_missing_store_exits_3(tmp_path: Path) -> None:
    cli = Staff(tmp_path / "nowhere", tmp_path)
    result = cli("report", now=AFTER_WEEK)
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: No cbtrack store at")


def test_only_the_months_that_can_matter_are_read(tmp_path: Path) -> None:
    cli = init_store(tmp_path)
    cid = cli.add(day(23, "09:00"), "Una Testperson", "5557310499", "general", "Asks a thing")
    cli.close(cid, day(23, "10:00"), "resolved", "Answered at the desk")
    # A broken record filed under a month after the period is never opened...
    later = cli.store / "callbacks/closed/2027-03"
    later.mkdir(parents=True)
    (later / "cb-20270301-abcde.yaml").write_text("id: [unclosed\n")
    r = report(cli, "--since", "2026-11-01", "--until", "2026-11-30", now=day(30, "18:00"))
    assert r["totals"]["closed"] == 1
    # ...but one that could have closed within the period is validated, and named.
    earlier = cli.store / "callbacks/closed/2026-09"
    earlier.mkdir(parents=True)
    (earlier / "cb-20260901-abcde.yaml").write_text("id: [unclosed\n")
    result = cli("report", "--since", "2026-11-01", now=day(30, "18:00"))
    assert result.exit_code == 3
    assert "callbacks/closed/2026-09/cb-20260901-abcde.yaml" in result.stderr
    assert "unclosed" not in result.stderr


def test_reading_needs_no_rostered_user(tmp_path: Path) -> None:
    cli = init_store(tmp_path, staff=STAFF)
    result = cli("report", "--json", now=AFTER_WEEK, user=None)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["created"] == 0
    assert json.loads(result.stdout)["top_category"] is None


def test_insights_follow_the_policy_hint(tmp_path: Path) -> None:
    cli = init_store(tmp_path)
    policy = cli.store / "cbtrack.yaml"
    text = policy.read_text()
    old = "Frequent general questions belong in the website FAQ or the phone menu."
    assert old in text
    policy.write_text(text.replace(old, "Put the opening hours on the voicemail greeting."))
    for hour in ("09:00", "10:00"):
        cli.add(day(23, hour), "Una Testperson", f"555731{hour[:2]}99", "general", "Asks a thing")
    insights = report(cli, "--since", "2026-11-23", now=day(23, "12:00"))["insights"]
    assert insights == [
        "General question is the biggest repeat category: 2 of 2 new callbacks (100%). "
        "Put the opening hours on the voicemail greeting."
    ]


def test_help_ends_with_an_example() -> None:
    from typer.testing import CliRunner

    from cbtrack.cli import app

    for command in ("report", "review"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Example: cbtrack" in result.stdout


def test_the_domain_modules_load_no_cli_or_table_code() -> None:
    code = (
        "import sys, cbtrack.report, cbtrack.review\n"
        "bad = [m for m in ('typer', 'tabulate', 'cbtrack.cli') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_counts_what_happened_at_this_very_moment(tmp_path: Path) -> None:
    """A scripted day with a pinned clock: records made at "now" are created and open."""
    from tests.conftest import Cli

    store = tmp_path / "store"
    cli = Cli(store)
    assert cli("init", str(store), store=False).exit_code == 0
    ids = [cli.add(category="general", reason=f"Question {i}") for i in range(4)]
    cli.ok("attempt", ids[0], "--method", "phone", "--result", "reached",
           "--note", "Reached patient; answered the question")  # fmt: skip
    cli.ok("close", ids[0], "--reason", "reached", "--summary", "Answered")
    data = json.loads(cli.ok("report", "--json").stdout)
    assert data["totals"]["created"] == 4 and data["totals"]["closed"] == 1
    assert data["totals"]["open"] == 3
    same_day = json.loads(cli.ok("report", "--since", "2026-11-27", "--until", "2026-11-27",
                                 "--json").stdout)  # fmt: skip
    assert same_day["totals"]["open"] == 3 and same_day["top_category"] == "general"


def test_report_queue_and_review_agree_on_overdue_with_waits(cli: Any) -> None:
    """One rule decides "overdue": a callback paused on a dependency that is not late yet
    is overdue nowhere; once the dependency is late, it is overdue everywhere."""
    waiting = cli.add(now="2026-11-23T09:00:00-05:00")
    cli.ok("block", waiting, "--on", "provider_review", "--note", "Doctor to look",
           "--until", "2026-11-30", now="2026-11-23T10:00:00-05:00")  # fmt: skip
    plain = cli.add(now="2026-11-23T09:05:00-05:00")

    def seen(now: str) -> tuple[set[str], set[str], int]:
        queue = {
            r["id"] for r in json.loads(cli.ok("queue", "--overdue", "--json", now=now).stdout)
        }
        review = set(json.loads(cli.ok("review", "--json", now=now).stdout)["needs_escalation"])
        figures = json.loads(cli.ok("report", "--json", now=now).stdout)
        return queue, review, figures["totals"]["overdue"]

    queue, review, count = seen("2026-11-27T10:00:00-05:00")
    assert queue == review == {plain} and count == 1
    queue, review, count = seen("2026-12-01T10:00:00-05:00")
    assert queue == review == {plain, waiting} and count == 2


def test_queue_review_report_and_find_agree_on_every_callback(cli: Any, store_dir: Any) -> None:
    """A store with waits (paused and late), a deadline, closures of several kinds and a
    reopened callback: the queue (JSON, and text from the index alone), the review, the
    report and `find` name the same open callbacks, the same overdue ones, and the same
    closed ones, at moments before and after the waits run late."""
    from tests.conftest import settle_index

    mon = "2026-11-23T09:00:00-05:00"
    plain = cli.add(now=mon)
    paused = cli.add(now=mon)
    cli.ok("block", paused, "--on", "provider_review", "--note", "Doctor to look",
           "--until", "2026-11-30", now=mon)  # fmt: skip
    late_wait = cli.add(now=mon)
    cli.ok("block", late_wait, "--on", "provider_review", "--note", "Doctor to look", now=mon)
    deadline = cli.add("--deadline", "2026-12-02T12:00", now=mon)
    resolved = cli.add(now=mon)
    cli.ok("close", resolved, "--reason", "resolved", "--summary", "Answered", now=mon)
    dup = cli.add("--related", plain, now=mon)
    cli.ok("close", dup, "--reason", "duplicate", "--of", plain, "--summary", "Same", now=mon)
    reopened = cli.add(now=mon)
    cli.ok("close", reopened, "--reason", "resolved", "--summary", "Answered", now=mon)
    cli.ok("reopen", reopened, "--why", "Patient called again", now=mon)
    everyone = {plain, paused, late_wait, deadline, resolved, dup, reopened}

    for now in ("2026-11-24T10:00:00-05:00", "2026-11-27T10:00:00-05:00",
                "2026-12-03T10:00:00-05:00"):  # fmt: skip
        queue = {r["id"] for r in json.loads(cli.ok("queue", "--json", now=now).stdout)}
        late = {r["id"] for r in json.loads(cli.ok("queue", "--overdue", "--json",
                                                   now=now).stdout)}  # fmt: skip
        settle_index(store_dir)
        text = cli.ok("queue", now=now).stdout
        late_text = cli.ok("queue", "--overdue", now=now).stdout
        review = json.loads(cli.ok("review", "--json", now=now).stdout)
        figures = json.loads(cli.ok("report", "--since", "2026-11-01", "--json", now=now).stdout)
        found = json.loads(cli.ok("find", "5550100123", "--json", now=now).stdout)
        found_text = cli.ok("find", "5550100123", now=now).stdout
        assert queue == {plain, paused, late_wait, deadline, reopened}, now
        assert {cid for cid in everyone if cid[-5:] in text} == queue, now
        assert {cid for cid in everyone if cid[-5:] in late_text} == late, now
        assert set(review["needs_escalation"]) >= late and figures["totals"]["overdue"] == len(
            late
        ), now
        assert figures["totals"]["open"] == len(queue), now
        assert {r["id"] for r in found} == everyone and all(cid in found_text for cid in everyone)
        assert {r["id"] for r in found if r.get("closure") is None} == queue, now
        assert figures["totals"]["closed"] == len(everyone - queue), now  # (not the reopened)
        assert (paused in late) == now.startswith("2026-12-03"), now  # late once the wait is
