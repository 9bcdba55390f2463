"""Triage: phrase rules raise urgency and route, owners and due times, escalation,
and who may lower urgency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ADD_GENERAL, STAFF, Cli, set_policy, snapshot


def add_general(cli: Cli, reason: str, **kw: str) -> str:
    return cli.add(category="general", reason=reason, **kw)


def test_emergency_phrases_route_to_clinical(cli: Cli) -> None:
    for reason in (
        "Mom has chest pain since this morning",
        "Trouble breathing after walk",
        "Fainted at work",
        "Says he has thoughts of suicide",
        "Severe bleeding from cut",
    ):
        data = cli.record(add_general(cli, reason))
        assert data["urgency"] == "emergency", reason
        assert data["owner"] == "clinical", reason
        assert data["due_at"] == data["created_at"]
        assert "triaged" in [e["type"] for e in data["events"]]


def test_clinical_phrases_route_to_clinical(cli: Cli) -> None:
    for reason in (
        "Rash on arm getting bigger",
        "Fever of 101 since Tuesday",
        "Swelling in ankle",
        "Reaction to the new medicine",
        "Back pain is worse",
    ):
        data = cli.record(add_general(cli, reason))
        assert data["urgency"] == "clinical", reason
        assert data["owner"] == "clinical", reason


def test_phrases_in_details_count_too(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "5550100123",
        "--category",
        "scheduling",
        "--reason",
        "Wants an appointment",
        "--detail",
        "visit_type=sick visit, worsening cough",
        "--detail",
        "availability=any",
        "--detail",
        "provider_preference=any",
    )
    data = cli.record(result.stdout.strip())
    assert data["urgency"] == "clinical" and data["owner"] == "clinical"


def test_no_phrase_keeps_category_defaults(cli: Cli) -> None:
    data = cli.record(cli.add(category="billing", reason="Question about a statement"))
    assert data["urgency"] == "routine" and data["owner"] == "billing"
    # routine: two business days; Friday 10:00 -> Tuesday 10:00
    assert data["due_at"] == "2026-12-01T10:00:00-05:00"


def test_words_inside_other_words_do_not_match(cli: Cli) -> None:
    data = cli.record(add_general(cli, "Question about painting the waiting room"))
    assert data["urgency"] == "routine"


def test_front_desk_cannot_choose_lower_than_triage(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "A B",
        "--phone",
        "5550100123",
        "--category",
        "general",
        "--reason",
        "New rash on face",
        "--detail",
        "topic=rash",
        "--urgency",
        "routine",
        "--owner",
        "front_desk",
    )
    data = cli.record(result.stdout.strip())
    assert data["urgency"] == "clinical" and data["owner"] == "clinical"
    assert "Triage" in result.stderr


def test_explicit_due_and_owner_are_kept_when_no_rule(cli: Cli) -> None:
    cid = cli.add(
        "--owner",
        "front_desk",
        "--due",
        "2026-11-27T15:00",
        category="general",
        reason="Directions to office",
    )
    data = cli.record(cid)
    assert data["owner"] == "front_desk"
    assert data["due_at"] == "2026-11-27T15:00:00-05:00"


def test_friendly_due_forms(cli: Cli) -> None:
    assert (
        cli.record(cli.add("--due", "tomorrow 9:00", category="general", reason="Directions"))[
            "due_at"
        ]
        == "2026-11-30T08:00:00-05:00"  # tomorrow is a Saturday: Monday's opening
    )
    assert (
        cli.record(cli.add("--due", "15:30", category="general", reason="Directions"))["due_at"]
        == "2026-11-27T15:30:00-05:00"
    )
    assert (
        cli.record(cli.add("--due", "2026-12-02", category="general", reason="Directions"))[
            "due_at"
        ]
        == "2026-12-02T17:00:00-05:00"
    )
    cli.refused(
        *ADD_GENERAL,
        "--due",
        "someday",
    )


def test_unknown_owner_is_refused(cli: Cli) -> None:
    err = cli.refused(
        *ADD_GENERAL,
        "--owner",
        "bad name!",
    )
    assert "not a role" in err


def test_roster_refuses_unknown_users_but_not_readers(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    set_policy(store_dir, staff=STAFF)
    assert "not a role or staff user" in cli.refused("assign", cid, "janitor")
    cli.refused("assign", cid, "billing", user="stranger")
    cli.ok("assign", cid, "billing", user="mkhan")
    assert cli.ok("queue", user=None).exit_code == 0
    assert cli.ok("show", cid, user="stranger").exit_code == 0


def test_urgency_raise_by_anyone_lower_only_clinical(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = cli.add(category="general", reason="Parking question", user="jlee")
    cli.ok("urgency", cid, "clinical", "--why", "Patient mentioned dizziness", user="jlee")
    data = cli.record(cid)
    assert data["urgency"] == "clinical"
    assert data["events"][-1]["type"] == "urgency_changed"
    assert data["events"][-1]["was"] == {
        "urgency": "routine",
        "due_at": data["events"][-1]["was"]["due_at"],
    }
    err = cli.refused("urgency", cid, "routine", "--why", "Seems fine", user="jlee")
    assert "clinical role" in err
    cli.ok("urgency", cid, "routine", "--why", "Nurse reviewed: not clinical", user="rnpatel")
    assert cli.record(cid)["urgency"] == "routine"


def test_non_clinical_cannot_go_below_triage_floor(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = cli.add(category="referral_status", reason="Where is my referral")
    assert cli.record(cid)["urgency"] == "deadline"
    cli.ok("urgency", cid, "same_day", "--why", "Procedure is Monday", user="jlee")
    err = cli.refused("urgency", cid, "routine", "--why", "Not urgent", user="jlee")
    assert "Triage" in err
    cli.ok("urgency", cid, "deadline", "--why", "Back to the default", user="jlee")


def test_urgency_needs_why_and_a_valid_level(cli: Cli) -> None:
    cid = cli.add()
    cli.refused("urgency", cid, "soonish", "--why", "x", code=2)
    cli.refused("urgency", cid, "deadline", code=2)


def test_triage_escalates_overdue(cli: Cli) -> None:
    cid = cli.add(category="billing", reason="Statement question")
    later = "2026-12-01T09:00:00-05:00"  # due Tuesday 10:00: not yet overdue
    assert cli.ok("triage", now=later).stdout.strip() == "Nothing to change."
    late = "2026-12-01T11:00:00-05:00"
    dry = cli.ok("triage", "--dry-run", now=late, user=None)
    assert "would be escalated: owner front desk lead" in dry.stdout
    assert "Overdue since today 10:00" in dry.stdout  # times as people say them
    assert "2026-12-01" not in dry.stdout
    assert cli.record(cid)["status"] == "new"
    cli.ok("triage", now=late)
    data = cli.record(cid)
    assert data["status"] == "escalated" and data["owner"] == "front_desk_lead"
    assert data["events"][-1]["type"] == "escalated"
    assert cli.ok("triage", now=late).stdout.strip() == "Nothing to change."


def test_triage_dry_run_writes_nothing(cli: Cli, store_dir: Path) -> None:
    cli.add(category="billing", reason="Statement question")
    before = snapshot(store_dir)
    out = cli.ok("triage", "--dry-run", "--json", now="2026-12-05T10:00:00-05:00")
    plans = json.loads(out.stdout)
    assert plans and plans[0]["changes"][0]["event"] == "escalated"
    assert snapshot(store_dir) == before


def test_triage_applies_new_policy_rules_to_open_callbacks(cli: Cli, store_dir: Path) -> None:
    cid = cli.add(category="general", reason="Asks about insulin pump alarm")
    assert cli.record(cid)["urgency"] == "routine"
    path = store_dir / "cbtrack.yaml"
    data = yaml.safe_load(path.read_text())
    data["triage"]["rules"].append(
        {
            "name": "devices",
            "phrases": ["pump alarm"],
            "urgency": "same_day",
            "route_to": "clinical",
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert cli.ok("triage", cid).stdout.count("triaged") == 1
    rec = cli.record(cid)
    assert rec["urgency"] == "same_day" and rec["owner"] == "clinical"


def test_escalation_keeps_clinical_owner(cli: Cli) -> None:
    cid = add_general(cli, "Fever since yesterday")
    cli.ok("triage", now="2026-11-30T12:00:00-05:00")
    data = cli.record(cid)
    assert data["status"] == "escalated" and data["owner"] == "clinical"


def test_due_skips_weekend_and_holidays(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, holidays=["2026-11-30"])
    data = cli.record(cli.add())
    assert data["due_at"] == "2026-12-01T10:00:00-05:00"
    evening = cli.record(cli.add(now="2026-11-27T19:00:00-05:00"))
    # after hours on Friday: one business day is the whole of Tuesday (Monday is a holiday)
    assert evening["due_at"] == "2026-12-01T17:00:00-05:00"


def test_a_clinicians_urgency_stands_against_triage(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = add_general(cli, "Fever last week, now fine, wants a note for work")
    assert cli.record(cid)["urgency"] == "clinical"
    cli.ok("urgency", cid, "routine", "--why", "Nurse: no current symptoms", user="rnpatel")
    assert cli.ok("triage", "--all", user="jlee").stdout.strip() == "Nothing to change."
    assert cli.record(cid)["urgency"] == "routine"
    on_intake = cli.ok(
        "add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
        "--reason", "Rash photo follow-up, already seen", "--detail", "topic=rash",
        "--urgency", "routine", user="rnpatel",
    ).stdout.strip()  # fmt: skip
    data = cli.record(on_intake)
    assert data["urgency"] == "routine" and data["events"][-1]["type"] == "urgency_changed"
    assert cli.ok("triage", "--all").stdout.strip() == "Nothing to change."


def test_extra_details_are_kept_with_a_warning(cli: Cli) -> None:
    result = cli.ok(
        "add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
        "--reason", "Parking", "--detail", "topic=parking", "--detail", "car=blue van",
    )  # fmt: skip
    assert "detail car is not one of the general fields (topic)" in result.stderr
    assert "Warning" in result.stderr
    assert cli.record(result.stdout.strip())["details"]["car"] == "blue van"


def test_due_with_another_offset_is_stored_in_practice_time(cli: Cli) -> None:
    cid = cli.add("--due", "2026-11-30T20:00:00Z", category="general", reason="Directions")
    assert cli.record(cid)["due_at"] == "2026-11-30T15:00:00-05:00"


def test_more_ways_of_saying_an_emergency(cli: Cli) -> None:
    reasons = (
        "Having thoughts of harming myself",
        "Breathing trouble since lunch",
        "Hard time breathing after the new inhaler",
        "Chest hurts when lying down",
    )
    for reason in reasons:
        assert cli.record(add_general(cli, reason))["urgency"] == "emergency", reason


def test_escalation_keeps_clinically_owned_work_with_clinical_staff(cli: Cli) -> None:
    cid = cli.add(
        "--detail", "medication=statin", "--detail", "pharmacy=Main St",
        "--detail", "request_type=refill", category="prescription", reason="Refill request",
    )  # fmt: skip
    assert cli.record(cid)["owner"] == "clinical"
    cli.ok("triage", now="2026-12-03T10:00:00-05:00")
    data = cli.record(cid)
    assert data["status"] == "escalated" and data["owner"] == "clinical"


def test_intake_is_a_pure_decision() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cbtrack.model import Urgency
    from cbtrack.policy import Policy
    from cbtrack.triage import intake

    policy = Policy.model_validate(
        {**Policy.default().model_dump(mode="json"), "staff": STAFF}
    )  # fmt: skip
    created = datetime(2026, 11, 27, 10, tzinfo=ZoneInfo("America/New_York"))
    plan = intake(policy, "jlee", "general", "New rash on arm", {"topic": "skin"},
                  Urgency.routine, "front_desk", None, created)  # fmt: skip
    assert (plan.urgency, plan.owner, plan.triaged, plan.judged) == (
        Urgency.clinical, "clinical", True, False,
    )  # fmt: skip
    assert len(plan.warnings) == 2
    nurse = intake(policy, "rnpatel", "general", "New rash on arm", {"topic": "skin"},
                   Urgency.routine, None, None, created)  # fmt: skip
    assert nurse.judged and nurse.urgency == Urgency.routine and nurse.floor == Urgency.clinical


def test_triage_output_fits_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for _ in range(3):
        cli.add(category="billing", reason="Statement question")
    cli.add(category="general", reason="Fever since yesterday and a rash on both arms")
    out = cli.ok("triage", "--all", "--dry-run", now="2026-12-03T11:00:00-05:00").stdout
    assert out.strip()
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "T1" not in out and "-05:00" not in out  # no ISO times
