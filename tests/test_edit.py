"""`cbtrack edit`: correcting a record, the `edited` event, commit messages without
patient data; and the details seen in the same pass: a wrong number, routing to clinical,
a reopened callback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import STAFF, Cli, attempt_args, git, set_policy


def edited_events(rec: dict[str, object]) -> list[dict[str, object]]:
    return [e for e in rec["events"] if e["type"] == "edited"]  # type: ignore[index, union-attr]


def test_edit_changes_fields_and_records_their_names(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    out = cli.ok(
        "edit",
        cid[-5:],
        "--phone",
        "617-555-0141",
        "--mrn",
        "A-778",
        "--window",
        "09:00-12:00",
        "--detail",
        "availability=Tuesday afternoons",
        "--why",
        "Patient corrected the number",
    )
    assert out.stdout.strip() == (
        f"{cid}: edited patient.phone, patient.contact_window, patient.mrn, details.availability"
    )
    rec = cli.record(cid)
    assert rec["patient"]["phone"] == "617-555-0141"
    assert rec["patient"]["mrn"] == "A-778"
    assert rec["details"]["availability"] == "Tuesday afternoons"
    (event,) = edited_events(rec)
    assert event["note"] == "Patient corrected the number"
    assert event["was"]["patient.phone"] == "+15550100123"  # type: ignore[index]
    # The commit says what was done and to which callback, nothing else.
    log = git(store_dir, "log", "-1", "--format=%s%n%b").strip()
    assert log == f"edit {cid}"
    assert "edited" in cli.ok("show", cid).stdout


def test_edit_clears_and_removes(cli: Cli) -> None:
    cid = cli.add("--mrn", "M-1", "--detail", "deadline=none")
    cli.ok("edit", cid, "--mrn", "", "--detail", "deadline=", "--why", "Wrong chart")
    rec = cli.record(cid)
    assert "mrn" not in rec["patient"] and "deadline" not in rec["details"]
    err = cli.refused("edit", cid, "--detail", "visit_type=", "--why", "oops")
    assert "needs visit_type" in err


def test_edit_refusals(cli: Cli) -> None:
    cid = cli.add()
    assert "Nothing to change" in cli.refused("edit", cid, "--why", "x")
    assert "--why" in cli.refused("edit", cid, "--phone", "5550100111", "--why", " ")
    assert "nothing to change" in cli.refused(
        "edit", cid, "--phone", "+15550100123", "--why", "same"
    )
    err = cli.refused("edit", cid, "--phone", "12", "--why", "typo")
    assert "7 to 15 digits" in err and "12" not in err.replace("15", "")
    assert "YYYY-MM-DD" in cli.refused("edit", cid, "--dob", "1/2/80", "--why", "typo")
    cli.refused("edit", cid, "--method", "pigeon", "--why", "x", code=2)
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Done at the desk")
    assert "reopen" in cli.refused("edit", cid, "--phone", "5550100111", "--why", "late fix")


def test_edit_reason_is_triaged(cli: Cli) -> None:
    cid = cli.add(category="general")
    result = cli.ok("edit", cid, "--reason", "New rash on both arms", "--why", "Misheard")
    rec = cli.record(cid)
    assert rec["urgency"] == "clinical" and rec["owner"] == "clinical"
    assert "Triage" in result.stderr
    assert [e["type"] for e in rec["events"]][-2:] == ["edited", "triaged"]


def test_only_clinical_staff_move_a_clinical_due_time_later(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = cli.add(category="clinical_concern")
    err = cli.refused("edit", cid, "--due", "tomorrow 9:00", "--why", "busy")
    assert "clinical role" in err
    cli.ok("edit", cid, "--due", "tomorrow 9:00", "--why", "Patient asked", user="rnpatel")
    cli.ok("edit", cid, "--due", "10:30", "--why", "Sooner is fine")


# --- wrong numbers, routing to clinical, reopening ------------------------------------------


def test_wrong_number_stops_scheduling_until_the_phone_is_fixed(cli: Cli) -> None:
    cid = cli.add()
    result = cli.ok(
        *attempt_args(cid, "phone", "wrong_number", "Number reaches a bakery, not the patient")
    )
    assert "no further attempt is scheduled" in result.stderr
    rec = cli.record(cid)
    assert "next_attempt_at" not in rec
    queue = cli.ok("queue").stdout
    assert "WRONG NUMBER" in queue
    assert "WRONG NUMBER" in cli.ok("show", cid).stdout
    cli.ok("edit", cid, "--phone", "555-010-0124", "--why", "Patient emailed the right number")
    rec = cli.record(cid)
    assert rec["next_attempt_at"] == "2026-11-27T10:00:00-05:00"
    assert "WRONG NUMBER" not in cli.ok("queue").stdout


def test_routing_to_clinical_replaces_the_next_action(cli: Cli) -> None:
    cid = cli.add(category="billing")
    assert cli.record(cid)["next_action"] == "Billing answer, call back"
    cli.ok("route", cid, "--to", "clinical", "--note", "Asks whether to stop a medicine")
    rec = cli.record(cid)
    assert rec["next_action"] == "Nurse review and call"
    assert rec["events"][-1]["set"]["next_action"] == "Nurse review and call"
    cli.ok("route", cid, "--to", "billing", "--note", "Clinical answered; billing part left")
    assert cli.record(cid)["next_action"] == "Billing answer, call back"  # billing's own, again


def test_a_reopened_callback_is_not_closable(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "reached", "Reached patient and booked Tuesday 9:00"))
    assert cid in json.loads(cli.ok("review", "--json").stdout)["closable"]
    cli.ok("close", cid, "--reason", "reached", "--summary", "Booked Tuesday")
    cli.ok("reopen", cid, "--why", "Patient called: the slot does not work")
    assert cid not in json.loads(cli.ok("review", "--json").stdout)["closable"]
    assert "reached" in cli.refused("close", cid, "--reason", "reached", "--summary", "Again")
    cli.ok(
        *attempt_args(cid, "phone", "reached", "Reached patient and moved it to Thursday"),
        now="2026-11-27T15:00:00-05:00",
    )
    review = json.loads(cli.ok("review", "--json", now="2026-11-27T15:00:00-05:00").stdout)
    assert cid in review["closable"]
