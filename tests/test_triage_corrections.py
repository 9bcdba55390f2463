"""Corrections teach the practice: staff raising a callback above what intake triage gave
is a miss, a clinician lowering what triage raised is a false alarm; both are marked on the
event, listed by `triage --misses` (locally, with the words triage read) and counted by the
report (without them)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import STAFF, Cli, set_policy


@pytest.fixture(autouse=True)
def roster(cli: Cli) -> None:
    set_policy(cli.store, staff=STAFF)


def _changes(cli: Cli, cid: str) -> list[dict[str, object]]:
    return [e for e in cli.record(cid)["events"] if e["type"] == "urgency_changed"]


def test_raising_above_triage_to_clinical_or_emergency_is_a_miss(cli: Cli) -> None:
    cid = cli.add(category="general", reason="her fingernails look odd")
    cli.ok("urgency", cid, "same_day", "--why", "Promised an answer today")
    cli.ok("urgency", cid, "emergency", "--why", "Caller added that she is confused")
    first, second = _changes(cli, cid)
    assert "triage_missed" not in first  # same_day is not a clinical correction
    assert second["triage_missed"] is True and "triage_false_alarm" not in second


def test_a_later_yes_given_with_edit_is_a_miss_too(cli: Cli) -> None:
    """The patient says more on a later call: `edit --symptoms yes` raises the callback
    above what intake triage gave, and the practice hears of it as of any other raise."""
    cid = cli.add("--symptoms", "no", category="general", reason="question about a bill")
    cli.ok("edit", cid, "--symptoms", "yes", "--why", "Caller now says he is dizzy")
    (raised,) = [e for e in cli.record(cid)["events"] if e["type"] == "triaged"][-1:]
    assert raised["triage_missed"] is True
    listed = json.loads(cli.ok("triage", "--misses", "--json").stdout)
    assert [m["id"] for m in listed] == [cid]
    counts = json.loads(cli.ok("report", "--format", "json").stdout)["triage_corrections"]
    assert counts == {"missed": 1, "false_alarms": 0}
    # words that already made it clinical: a yes to the checklist (emergency) is a miss
    other = cli.add("--symptoms", "no", category="general", reason="rash on her arm")
    assert "already clinical" in cli.refused(
        "edit", other, "--symptoms", "yes", "--why", "Itching more"
    )
    cli.ok("edit", other, "--red-flags", "yes", "--why", "Lips swelling now")
    assert cli.record(other)["events"][-1]["triage_missed"] is True


def test_raising_what_triage_already_gave_is_not_a_miss(cli: Cli) -> None:
    cid = cli.add(category="general", reason="chest pain since this morning")
    assert cli.record(cid)["urgency"] == "emergency"
    cli.ok("urgency", cid, "clinical", "--why", "Reviewed: known angina", user="rnpatel")
    cli.ok("urgency", cid, "emergency", "--why", "Pain is back")
    lowered, raised = _changes(cli, cid)
    assert lowered["triage_false_alarm"] is True
    assert "triage_missed" not in raised  # triage had given emergency


def test_a_clinician_lowering_what_triage_raised_is_a_false_alarm(cli: Cli) -> None:
    cid = cli.add(category="general", reason="rash on her arm, wants a work note")
    assert cli.record(cid)["urgency"] == "clinical"
    cli.ok("urgency", cid, "routine", "--why", "Reviewed: old rash, only the note", user="rnpatel")
    (change,) = _changes(cli, cid)
    assert change["triage_false_alarm"] is True and "triage_missed" not in change


def test_lowering_a_clinical_category_is_not_a_false_alarm(cli: Cli) -> None:
    cid = cli.add(category="clinical_concern", reason="question for the nurse")
    cli.ok("urgency", cid, "routine", "--why", "Reviewed", user="rnpatel")
    (change,) = _changes(cli, cid)
    assert "triage_false_alarm" not in change


def test_a_clinician_setting_below_triage_on_intake_is_a_false_alarm(cli: Cli) -> None:
    reason = "rash on her arm, wants a note"
    cid = cli.add("--urgency", "routine", category="general", reason=reason, user="rnpatel")
    assert cli.record(cid)["urgency"] == "routine"  # triage raised it; the clinician judged
    (change,) = _changes(cli, cid)
    assert change["triage_false_alarm"] is True


def test_triage_misses_lists_them_with_the_words_read(cli: Cli) -> None:
    missed = cli.add(category="general", reason="her fingernails look odd")
    alarm = cli.add(category="general", reason="rash on her arm, wants a work note")
    cli.ok("urgency", missed, "emergency", "--why", "Caller added more")
    cli.ok("urgency", alarm, "routine", "--why", "Reviewed", user="rnpatel")
    text = cli.ok("triage", "--misses", user=None).stdout
    assert f"MISSED  {missed}" in text and f"FALSE ALARM  {alarm}" in text
    assert "read: her fingernails look odd" in text and "rules: none matched" in text
    assert "1 missed, 1 false alarm(s)" in text
    listed = json.loads(cli.ok("triage", "--misses", "--json", user=None).stdout)
    kinds = {c["id"]: c for c in listed}
    assert (kinds[missed]["kind"], kinds[alarm]["kind"]) == ("missed", "false_alarm")
    assert kinds[alarm]["rules"][0].startswith("symptoms: rash")
    later = json.loads(
        cli.ok(
            "triage",
            "--misses",
            "--since",
            "2026-11-28",
            "--json",
            user=None,
            now="2026-11-30T10:00:00-05:00",
        ).stdout
    )
    assert later == []


def test_triage_misses_usage(cli: Cli) -> None:
    cli.refused("triage", "--since", "2026-11-01", code=2)
    cli.refused("triage", "--misses", "--all", code=2)
    cli.refused("triage", "--misses", "--since", "yesterday-ish")
    cli.refused("triage", "--misses", "--since", "2027-01-01")


def test_the_report_counts_corrections_without_the_words(cli: Cli) -> None:
    missed = cli.add(category="general", reason="her fingernails look odd")
    alarm = cli.add(category="general", reason="rash on her arm, wants a work note")
    cli.ok("urgency", missed, "emergency", "--why", "Caller added more")
    cli.ok("urgency", alarm, "routine", "--why", "Reviewed", user="rnpatel")
    report = json.loads(cli.ok("report", "--json", "--since", "2026-11-27", user=None).stdout)
    assert report["triage_corrections"] == {"missed": 1, "false_alarms": 1}
    before = json.loads(cli.ok("report", "--json", "--until", "2026-11-26", user=None).stdout)
    assert before["triage_corrections"] == {"missed": 0, "false_alarms": 0}
    for fmt in ("text", "html", "markdown", "csv"):
        out = cli.ok("report", "--format", fmt, "--since", "2026-11-27", user=None).stdout
        assert "Triage corrections" in out and "fingernails" not in out


def test_the_library_report_counts_a_correction(cli: Cli) -> None:
    from datetime import datetime

    from cbtrack import reportrows
    from cbtrack.store import Store

    missed = cli.add(category="general", reason="her fingernails look odd")
    cli.ok("urgency", missed, "emergency", "--why", "Caller added more")
    store = Store(cli.store)
    start = datetime.fromisoformat("2026-11-27T00:00:00-05:00")
    end = datetime.fromisoformat("2026-11-28T00:00:00-05:00")
    now = datetime.fromisoformat("2026-11-27T12:00:00-05:00")
    rows = reportrows.from_store(store, start, end, now)
    assert rows["triage_corrections"] == {"missed": 1, "false_alarms": 0}
