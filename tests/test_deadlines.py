"""Deadlines (`--deadline`, `deadline_at`, the policy's `deadline_lead`), dependencies with
an expected date (`block --until`, `dependency_wait`), and the roll-over only where needed.
The clock is Friday 2026-11-27 10:00 unless a test says otherwise."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import STAFF, Cli, attempt_args, set_policy


def review(cli: Cli, now: str | None = None) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads(cli.ok("review", "--json", now=now).stdout)
    return data


# --- deadlines ---------------------------------------------------------------------------


def test_the_articles_procedure_date_gets_a_due_time_before_it(cli: Cli) -> None:
    # As a new user would type it: the deadline written in the scheduling detail.
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "5550100123",
        "--category",
        "scheduling",
        "--reason",
        "Needs pre-op visit",
        "--detail",
        "visit_type=pre-op",
        "--detail",
        "availability=any",
        "--detail",
        "provider_preference=any",
        "--detail",
        "deadline=procedure 2026-12-02 07:00",
    )
    rec = cli.record(result.stdout.strip())
    assert rec["deadline_at"] == "2026-12-02T07:00:00-05:00"
    assert rec["urgency"] == "deadline"
    # One business day before Wed 07:00 is Tue 08:00; the deadline urgency's own rule
    # (one business day from now) is sooner still.
    assert rec["due_at"] == "2026-11-30T10:00:00-05:00"
    assert "Read the deadline Wed 2026-12-02 07:00" in result.stderr


def test_due_leaves_the_lead_before_the_deadline(cli: Cli) -> None:
    cid = cli.add("--deadline", "2026-11-30T12:00")
    rec = cli.record(cid)
    # Mon 12:00 less nine business hours (one business day) is Fri 12:00.
    assert rec["due_at"] == "2026-11-27T12:00:00-05:00"
    assert rec["events"][0]["set"]["deadline_at"] == "2026-11-30T12:00:00-05:00"
    lines = cli.ok("queue").stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith(cid[-5:]))
    assert "DL 11-30 12:00" in " ".join(lines[at : at + 2])  # (two lines a callback)


def test_deadline_raises_urgency_and_never_sets_due_in_the_past(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "5550100123",
        "--category",
        "insurance",
        "--reason",
        "Prior authorization expires soon",
        "--detail",
        "plan=x",
        "--detail",
        "question_type=auth",
        "--detail",
        "verification_needed=yes",
        "--urgency",
        "routine",
        "--deadline",
        "15:00",
    )
    rec = cli.record(result.stdout.strip())
    assert rec["urgency"] == "deadline"
    assert rec["due_at"] == "2026-11-27T10:00:00-05:00"  # now: there is no time to lose
    late = cli.add("--deadline", "2026-11-26", "--due", "2026-12-04")
    assert cli.record(late)["due_at"] == "2026-11-27T10:00:00-05:00"
    clinical = cli.add("--deadline", "2026-12-10", category="clinical_concern")
    assert cli.record(clinical)["urgency"] == "clinical"


def test_a_later_due_is_moved_before_the_deadline_with_a_warning(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "5550100123",
        "--category",
        "general",
        "--reason",
        "Form for surgery",
        "--detail",
        "topic=form",
        "--deadline",
        "2026-12-04",
        "--due",
        "2026-12-04",
    )
    rec = cli.record(result.stdout.strip())
    # A bare deadline date is the start of that business day: Fri 08:00 less 1bd.
    assert rec["deadline_at"] == "2026-12-04T08:00:00-05:00"
    assert rec["due_at"] == "2026-12-03T08:00:00-05:00"
    assert "moved earlier" in result.stderr


def test_deadline_detail_without_a_date_warns(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "5550100123",
        "--category",
        "scheduling",
        "--reason",
        "x",
        "--detail",
        "visit_type=x",
        "--detail",
        "availability=x",
        "--detail",
        "provider_preference=x",
        "--detail",
        "deadline=before the surgery",
    )
    rec = cli.record(result.stdout.strip())
    assert "deadline_at" not in rec
    assert "--deadline WHEN" in result.stderr


def test_edit_deadline_and_policy_lead(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, deadline_lead="2bd")
    cid = cli.add(category="general")
    cli.ok("edit", cid, "--deadline", "2026-12-01T12:00", "--why", "Procedure booked")
    rec = cli.record(cid)
    assert rec["urgency"] == "deadline"
    # Tue 12:00 less two business days is Fri 12:00 (sooner than 1bd from now, Mon 10:00).
    assert rec["due_at"] == "2026-11-27T12:00:00-05:00"
    assert set(rec["events"][-1]["set"]) == {"deadline_at", "urgency", "due_at"}
    assert "deadline Tue 12:00" in cli.ok("show", cid).stdout  # Tue 1 Dec
    set_policy(store_dir, deadline_lead="soon")
    assert "deadline_lead" in cli.refused("queue", code=3)


# --- dependencies ------------------------------------------------------------------------


def test_block_until_pauses_the_clock_then_the_dependency_is_late(
    cli: Cli, store_dir: Path
) -> None:
    cid = cli.add("--urgency", "same_day", category="general")  # due Fri 14:00
    out = cli.ok("block", cid, "--on", "referral_documents", "--note", "Packet from the clinic")
    assert "expected by Tue 10:00" in out.stdout  # dependency_wait: 2bd (Tue 1 Dec)
    rec = cli.record(cid)
    assert rec["depends_on"][0]["until"] == "2026-12-01T10:00:00-05:00"
    cli.ok(*attempt_args(cid, "inbound", "reached", "Patient called; told them we wait on it"))
    friday = "2026-11-27T16:00:00-05:00"
    found = review(cli, friday)
    assert cid in found["waiting_internal"]
    for bucket in ("needs_escalation", "closable", "due_today"):
        assert cid not in found[bucket], bucket
    assert cli("review", "--check", now=friday).exit_code == 0
    assert "Nothing to change" in cli.ok("triage", "--all", now=friday).stdout
    assert json.loads(cli.ok("queue", "--overdue", "--json", now=friday).stdout) == []
    assert "dep in 3d" in cli.ok("queue", now=friday).stdout
    # After the expected date the dependency is late: escalate.
    tuesday = "2026-12-01T11:00:00-05:00"
    assert cid in review(cli, tuesday)["needs_escalation"]
    assert "dep late 1h" in cli.ok("queue", now=tuesday).stdout
    cli.ok("triage", now=tuesday)
    rec = cli.record(cid)
    event = rec["events"][-1]
    assert event["type"] == "escalated" and rec["owner"] == "front_desk_lead"
    assert event["note"] == (
        "Dependency late: referral_documents was expected by Tue 2026-12-01 10:00"
    )


def test_block_until_a_date_and_unblock_restarts_the_clock(cli: Cli) -> None:
    cid = cli.add("--urgency", "same_day", category="general")
    cli.ok("block", cid, "--on", "provider_review", "--note", "Dr to sign", "--until", "2026-12-03")
    assert cli.record(cid)["depends_on"][0]["until"] == "2026-12-03T17:00:00-05:00"
    assert "later than now" in cli.refused(
        "block", cid, "--on", "other", "--note", "x", "--until", "2026-11-20"
    )
    cli.ok("unblock", cid, "--note", "Signed", now="2026-12-01T09:00:00-05:00")
    rec = cli.record(cid)
    assert rec["due_at"] == "2026-12-01T13:00:00-05:00"  # same_day: 4 business hours from now
    assert rec["events"][-1]["was"]["due_at"] == "2026-11-27T14:00:00-05:00"


def test_dependency_wait_from_the_policy(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, dependency_wait="4h")
    cid = cli.add(category="general")
    cli.ok("block", cid, "--on", "insurance_eligibility", "--note", "Payer portal down")
    assert cli.record(cid)["depends_on"][0]["until"] == "2026-11-27T14:00:00-05:00"


# --- the roll-over only where needed --------------------------------------------------------


def test_roll_gives_next_day_owners_only_where_needed(cli: Cli, store_dir: Path) -> None:
    later = cli.add(category="billing")  # routine: due Tue, owned by the billing role
    soon = cli.add("--urgency", "same_day", category="general")  # due today
    temp = cli.add(category="general")
    cli.ok("assign", temp, "temp1")  # no roster yet: any user may own
    set_policy(store_dir, staff=STAFF)
    evening = "2026-11-27T17:30:00-05:00"
    out = json.loads(cli.ok("review", "--roll", "--json", now=evening).stdout)
    owners = {r["id"]: r["owner"] for r in out["rolled"]}
    assert owners == {later: "billing", soon: "front_desk_lead", temp: "front_desk_lead"}
    for cid in (later, soon, temp):
        rec = cli.record(cid)
        assert rec["next_attempt_at"] == "2026-11-30T08:00:00-05:00"
        assert rec["events"][-1]["type"] == "rolled_over"
