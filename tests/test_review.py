"""`cbtrack review`: the six buckets, `--check` for cron, and `--roll` to the next day.

The day (Monday 2026-11-23, America/New_York, roster enforced), reviewed at 17:00:

    R1 scheduling  Mon 08:30, due Tue 08:30, no attempt; patient window 18:00-19:30
    R2 general     Thu 11-19 09:00, due Mon 09:00, no attempt
    R3 scheduling  Fri 11-20 10:00, due Mon 10:00; voicemail Mon 09:00 (waiting_patient)
    R4 referral    Mon 09:00, due Tue 09:00; blocked on referral documents
    R5 general     Mon 09:30, due Wed 09:30; reached Mon 10:00 (closable)
    R6 clinical    Mon 11:00, due Mon 12:00 (1h), owner clinical, no attempt
    R7 scheduling  Mon 12:00, due Tue 12:00, owner mkhan; no answer Mon 13:00

Queue order (urgency, then due): R6 (clinical), R4 (deadline), R3, R1, R7
(time_sensitive, by due), R2, R5 (routine, by due).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_report import STAFF, Staff, day, init_store, snapshot


def build_day(cli: Staff) -> dict[str, str]:
    r: dict[str, str] = {}
    r["R2"] = cli.add(day(19, "09:00"), "Rowena Quist", "5557320402", "general", "Asks a thing")
    r["R3"] = cli.add(
        day(20, "10:00"), "Silas Penhallow", "5557320403", "scheduling", "Wants a visit next week"
    )
    r["R1"] = cli.add(
        day(23, "08:30"),
        "Tamsin Orrell",
        "5557320401",
        "scheduling",
        "Wants an evening visit",
        "--window",
        "18:00-19:30",
    )
    cli.attempt(
        r["R3"],
        day(23, "09:00"),
        "phone",
        "left_voicemail",
        "Left minimal voicemail asking for a call back about times",
    )
    r["R4"] = cli.add(
        day(23, "09:00"), "Ulric Brannagh", "5557320404", "referral_status", "Asks about a referral"
    )
    cli.ok(
        "block",
        r["R4"],
        "--on",
        "referral_documents",
        "--note",
        "Waiting on the referral letter",
        now=day(23, "09:05"),
    )
    r["R5"] = cli.add(
        day(23, "09:30"), "Vesna Holloway", "5557320405", "general", "Asks about the parking lot"
    )
    cli.attempt(
        r["R5"],
        day(23, "10:00"),
        "phone",
        "reached",
        "Reached patient; answered the parking question fully",
    )
    r["R6"] = cli.add(
        day(23, "11:00"),
        "Wystan Caddell",
        "5557320406",
        "clinical_concern",
        "Asks about the lab results letter",
    )
    r["R7"] = cli.add(
        day(23, "12:00"),
        "Xanthe Morrow",
        "5557320407",
        "scheduling",
        "Wants a visit with Dr. Lee",
        "--owner",
        "mkhan",
    )
    cli.attempt(
        r["R7"],
        day(23, "13:00"),
        "phone",
        "no_answer",
        "No answer and no voicemail box; try again tomorrow",
        user="mkhan",
    )
    return r


@pytest.fixture(scope="module")
def monday(tmp_path_factory: pytest.TempPathFactory) -> tuple[Staff, dict[str, str]]:
    cli = init_store(tmp_path_factory.mktemp("monday"), staff=STAFF)
    return cli, build_day(cli)


@pytest.fixture
def fresh_monday(tmp_path: Path) -> tuple[Staff, dict[str, str]]:
    cli = init_store(tmp_path, staff=STAFF)
    return cli, build_day(cli)


EVENING = day(23, "17:00")


def names(ids: dict[str, str], found: list[str]) -> list[str]:
    back = {v: k for k, v in ids.items()}
    return [back[i] for i in found]


def test_review_json_has_the_six_buckets(monday: tuple[Staff, dict[str, str]]) -> None:
    cli, ids = monday
    before = snapshot(cli.store)
    result = cli.ok("review", "--json", now=EVENING, user=None)  # no rostered user needed
    assert result.stderr == ""
    found = json.loads(result.stdout)
    assert list(found) == [
        "due_today",
        "no_attempt",
        "waiting_patient",
        "waiting_internal",
        "needs_escalation",
        "closable",
    ]
    assert {k: names(ids, v) for k, v in found.items()} == {
        "due_today": ["R6", "R3", "R2"],
        "no_attempt": ["R6", "R1", "R2"],  # status new: R4 waits on internal work
        "waiting_patient": ["R3"],
        "waiting_internal": ["R4"],
        "needs_escalation": ["R6", "R3", "R2"],
        "closable": ["R5"],
    }
    assert snapshot(cli.store) == before


def test_in_the_morning_nothing_needs_escalation_yet(
    monday: tuple[Staff, dict[str, str]],
) -> None:
    cli, ids = monday
    found = cli.json("review", "--json", now=day(23, "09:50"))
    assert names(ids, found["needs_escalation"]) == ["R2"]  # due 09:00; R3 is due at 10:00


def test_review_text_lists_each_bucket(monday: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = monday
    out = cli.ok("review", now=EVENING, user=None).stdout
    assert out.startswith("End-of-day review, Mon 23 Nov 17:00 (America/New_York): 7 open")
    for title in (
        "Due today (overdue included): 3",
        "No attempt yet: 3",
        "Waiting on the patient: 1",
        "Waiting on internal work: 1",
        "Needs escalation (past due): 3",
        "Can be closed",
    ):
        assert title in out
    assert "Rowena" in out  # staff see who to call, as in the queue
    assert max(len(line) for line in out.splitlines()) <= 100


def test_check_fails_on_unattempted_due_today_then_goes_quiet(
    fresh_monday: tuple[Staff, dict[str, str]],
) -> None:
    cli, ids = fresh_monday
    failed = cli("review", "--check", now=EVENING, user=None)
    assert failed.exit_code == 1
    assert failed.stdout == ""
    assert failed.stderr == (
        f"Error: 2 callbacks due today or overdue have no attempt yet: {ids['R6']}, {ids['R2']}; "
        "see 'cbtrack review'.\n"
    )
    cli.attempt(
        ids["R6"],
        day(23, "17:05"),
        "phone",
        "no_answer",
        "No answer on mobile; nurse will try again first thing",
        user="rnpatel",
    )
    cli.attempt(
        ids["R2"],
        day(23, "17:05"),
        "phone",
        "no_answer",
        "No answer on home phone; try again tomorrow morning",
    )
    quiet = cli("review", "--check", now=day(23, "17:10"), user=None)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_roll_dry_run_writes_nothing(monday: tuple[Staff, dict[str, str]]) -> None:
    cli, ids = monday
    before = snapshot(cli.store)
    out = cli.json("review", "--roll", "--dry-run", "--json", now=day(23, "17:30"), user="lead")
    assert out["dry_run"] is True
    assert names(ids, [r["id"] for r in out["rolled"]]) == [
        "R6",
        "R4",
        "R3",
        "R1",
        "R7",
        "R2",
        "R5",
    ]
    text = cli.ok("review", "--roll", "--dry-run", now=day(23, "17:30"), user="lead").stdout
    assert f"{ids['R2']} would roll: owner front desk -> front desk lead, next touch" in text
    assert text.rstrip().endswith("7 callback(s) would roll over to Tue 24 Nov.")
    assert snapshot(cli.store) == before


def test_roll_gives_owners_and_next_touch_and_records_why(
    fresh_monday: tuple[Staff, dict[str, str]],
) -> None:
    cli, ids = fresh_monday
    at = day(23, "17:30")
    refused = cli("review", "--roll", now=at, user="temp1")
    assert refused.exit_code == 1 and "not on the practice's staff list" in refused.stderr
    head = _git(cli.store, "rev-parse", "HEAD")
    # Any rostered staff member may roll, not only the lead.
    cli.ok("review", "--roll", now=at, user="jlee")
    expected = {
        "R6": ("clinical", day(24, "08:00")),  # clinical stays clinical
        "R4": ("referrals", day(24, "08:00")),  # waits on internal work: owner chases it
        "R3": ("front_desk_lead", day(24, "08:00")),
        "R1": ("front_desk_lead", day(24, "18:00")),  # the patient's window opens at 18:00
        "R7": ("mkhan", day(24, "08:00")),  # a named staff member keeps it
        "R2": ("front_desk_lead", day(24, "08:00")),
        "R5": ("front_desk", day(24, "08:00")),  # reached, not due tomorrow: keeps its owner
    }
    for name, (owner, touch) in expected.items():
        rec = cli.json("show", ids[name], "--json", now=at)
        assert (rec["owner"], rec["next_attempt_at"]) == (owner, touch), name
        event = rec["events"][-1]
        assert event["type"] == "rolled_over" and event["by"] == "jlee"
        assert event["set"] == {"owner": owner, "next_attempt_at": touch, "day": "2026-11-24"}
        assert event["note"].startswith("End-of-day review: ")
    r3 = cli.json("show", ids["R3"], "--json", now=at)["events"][-1]
    assert r3["was"]["owner"] == "scheduling"
    assert "waiting for the patient after 1 attempt(s), overdue" in r3["note"]
    assert "Silas" not in r3["note"]
    log = _git(cli.store, "log", "--format=%an %s", f"{head}..HEAD").splitlines()
    assert log == ["jlee roll-over 7 callbacks"]  # one change by one person: one commit
    body = _git(cli.store, "log", "-1", "--format=%b").split()
    assert len(body) == 7 and ids["R3"] in body
    # The lead hands R3 back to scheduling; a second run the same evening leaves that,
    # and everything else, alone.
    cli.ok("assign", ids["R3"], "scheduling", now=day(23, "17:40"), user="lead")
    again = cli.ok("review", "--roll", now=day(23, "17:45"), user="lead")
    assert again.stdout.startswith("Nothing to roll over")
    assert len(_git(cli.store, "log", "--format=%s", f"{head}..HEAD").splitlines()) == 2
    assert cli.json("show", ids["R3"], "--json", now=at)["owner"] == "scheduling"
    # The next evening rolls to Wednesday.
    out = cli.json("review", "--roll", "--json", now=day(24, "17:30"), user="lead")
    assert {r["day"] for r in out["rolled"]} == {"2026-11-25"}


def test_roll_on_friday_goes_to_monday(tmp_path: Path) -> None:
    cli = init_store(tmp_path)
    cid = cli.add(day(27, "10:00"), "Yorick Tamsworth", "5557320408", "general", "Asks a thing")
    out = cli.json("review", "--roll", "--json", now=day(27, "17:00"), user="jlee")
    assert out["rolled"] == [
        {
            "id": cid,
            "day": "2026-11-30",
            "owner": "front_desk",
            "was_owner": "front_desk",
            "next_attempt_at": day(30, "08:00"),
            "why": "End-of-day review: no attempt yet; owner front desk "
            "(not due by the end of Mon 2026-11-30).",
        }
    ]


def test_usage_errors_exit_2(monday: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = monday
    before = snapshot(cli.store)
    for args in (["--dry-run"], ["--check", "--roll"], ["--check", "--json"], ["--bogus"]):
        result = cli("review", *args, now=EVENING)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.stderr
    assert snapshot(cli.store) == before


def test_missing_store_exits_3(tmp_path: Path) -> None:
    cli = Staff(tmp_path / "nowhere", tmp_path)
    result = cli("review", "--check", now=EVENING)
    assert result.exit_code == 3 and result.stderr.startswith("Error: No cbtrack store")


# --- as cron runs it -------------------------------------------------------------------


def installed_cbtrack() -> str:
    beside = Path(sys.executable).parent / "cbtrack"
    if beside.exists():
        return str(beside)
    found = shutil.which("cbtrack") or "/work/venv/bin/cbtrack"
    if not Path(found).exists():
        pytest.skip("the cbtrack console script is not installed")
    return found


def test_cron_runs_quietly_without_a_terminal_or_store_in_cwd(tmp_path: Path) -> None:
    cli = init_store(tmp_path)
    cid = cli.add(
        day(23, "09:00"),
        "Zinnia Oakhurst",
        "5557320409",
        "general",
        "Asks a thing",
        "--due",
        "2026-11-23T15:00",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBTRACK_")}
    env.update(CBTRACK_NOW=day(23, "18:00"), HOME=str(cli.home), LANG="C", TERM="dumb")
    exe = installed_cbtrack()

    def cron(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "--store", str(cli.store), *args],
            cwd=elsewhere,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    alert = cron("review", "--check")
    assert alert.returncode == 1 and alert.stdout == ""
    assert alert.stderr.strip().splitlines() == [
        f"Error: 1 callback due today or overdue has no attempt yet: {cid}; see 'cbtrack review'."
    ]
    cli.attempt(
        cid,
        day(23, "17:00"),
        "phone",
        "no_answer",
        "No answer on the home phone; try again tomorrow",
    )
    ok = cron("review", "--check")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    target = tmp_path / "nightly.html"
    nightly = cron("report", "--since", "today", "--format", "html", "--output", str(target))
    assert (nightly.returncode, nightly.stdout, nightly.stderr) == (0, "", "")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "<svg" in target.read_text() and "Zinnia" not in target.read_text()
    missing = cron("report")
    assert missing.returncode == 0  # the store comes from --store, not the working folder
    gone = subprocess.run(
        [exe, "--store", str(tmp_path / "nope"), "report"],
        cwd=elsewhere,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert gone.returncode == 3 and "Traceback" not in gone.stderr


def _git(store: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=store, capture_output=True, text=True, check=True
    ).stdout.strip()
