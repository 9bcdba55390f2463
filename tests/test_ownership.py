"""assign, route, block, unblock, note: ownership and dependencies, all append-only."""

from __future__ import annotations

from tests.conftest import Cli, attempt_args


def test_assign_and_route(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("assign", cid, "mkhan", "--note", "Mo handles new patients")
    assert cli.record(cid)["owner"] == "mkhan"  # no roster: any simple name is a user
    cli.refused("assign", cid, "mkhan")  # already
    cli.ok("route", cid, "--to", "clinical", "--note", "Patient asks about symptoms")
    data = cli.record(cid)
    assert data["owner"] == "clinical"
    assert [e["type"] for e in data["events"]][-2:] == ["assigned", "routed"]
    assert data["events"][-1]["was"] == {"owner": "mkhan", "next_action": "Offer times"}
    assert data["next_action"] == "Nurse review and call"  # the clinical next action
    cli.refused("route", cid, "--to", "nobody", "--note", "x")
    cli.refused("route", cid, "--to", "billing", code=2)  # --note is required


def test_block_and_unblock(cli: Cli) -> None:
    cid = cli.add(category="referral_status", reason="Referral to dermatology")
    cli.ok("block", cid, "--on", "referral_documents", "--note", "Waiting on referral packet")
    cli.ok("block", cid, "--on", "insurance_eligibility", "--note", "Plan not verified")
    data = cli.record(cid)
    assert data["status"] == "waiting_internal" and len(data["depends_on"]) == 2
    q = cli.ok("queue").stdout
    assert "WAIT referral" in q
    cli.ok("unblock", cid, "--on", "referral_documents", "--note", "Packet arrived by fax")
    data = cli.record(cid)
    assert data["status"] == "waiting_internal"
    assert data["depends_on"][0]["resolved_at"] == "2026-11-27T10:00:00-05:00"
    cli.ok("unblock", cid)
    assert cli.record(cid)["status"] == "new"
    cli.refused("unblock", cid)
    cli.refused("block", cid, "--on", "weather", "--note", "x", code=2)


def test_unblock_returns_to_status_from_attempts(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(
        *attempt_args(
            cid, "phone", "left_voicemail", "Left voicemail asking patient to call scheduling line"
        ),
    )
    cli.ok("block", cid, "--on", "provider_review", "--note", "Dr. Lee to approve double slot")
    cli.ok("unblock", cid)
    assert cli.record(cid)["status"] == "waiting_patient"


def test_note_event(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("note", cid, "Patient prefers afternoons next week")
    assert cli.record(cid)["events"][-1]["type"] == "note"


def test_histories_only_grow(cli: Cli) -> None:
    cid = cli.add()
    seen_attempts: list[dict] = []
    seen_events: list[dict] = []
    steps = [
        (*attempt_args(cid, "phone", "no_answer", "No answer at home number; retry later"),),
        ("assign", cid, "front_desk"),
        ("block", cid, "--on", "patient_form", "--note", "Needs intake form"),
        ("unblock", cid),
        ("close", cid, "--reason", "resolved", "--summary", "Patient booked online"),
        ("reopen", cid, "--why", "Online booking failed"),
    ]
    for i, step in enumerate(steps):
        cli.ok(*step, now=f"2026-11-27T1{i + 1}:00:00-05:00")
        data = cli.record(cid)
        assert data["attempts"][: len(seen_attempts)] == seen_attempts
        assert data["events"][: len(seen_events)] == seen_events
        seen_attempts, seen_events = data["attempts"], data["events"]
    ids = [e["id"] for e in seen_events] + [a["id"] for a in seen_attempts]
    assert len(ids) == len(set(ids))
