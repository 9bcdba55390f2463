"""The attempt policy: call hours, contact window, spacing, maximum, voicemail consent,
forcing past a limit, next attempt time, attempts_exhausted."""

from __future__ import annotations

import json

from tests.conftest import ADD_GENERAL, Cli, attempt_args

NOTE = "No answer on mobile; will retry in the afternoon"
VM = "Left voicemail asking patient to call scheduling line; next attempt tomorrow morning"


def attempt(cli: Cli, cid: str, result: str = "no_answer", note: str = NOTE, **kw: str):
    now = kw.pop("now", None)
    extra = [x for k, v in kw.items() for x in (f"--{k.replace('_', '-')}", v)]
    return cli(
        "attempt", cid, "--method", "phone", "--result", result, "--note", note, *extra, now=now
    )


def test_outside_call_hours_is_refused_unless_forced(cli: Cli) -> None:
    cid = cli.add()
    late = "2026-11-27T21:30:00-05:00"
    err = cli.refused(*attempt_args(cid, "phone", "no_answer", NOTE), now=late)
    assert "call hours" in err and "--force" in err
    cli.refused(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        "--force",
        now=late,
    )  # --force needs --why
    cli.ok(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        "--force",
        "--why",
        "Patient asked for a late call via portal",
        now=late,
    )
    att = cli.record(cid)["attempts"][0]
    assert "Patient asked for a late call" in att["forced"] and "call hours" in att["forced"]


def test_contact_window_is_respected(cli: Cli) -> None:
    cid = cli.add("--window", "12:00-14:00")
    err = cli.refused("attempt", cid, "--method", "phone", "--result", "no_answer", "--note", NOTE)
    assert "contact window" in err
    cli.ok(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        now="2026-11-27T12:30:00-05:00",
    )
    nxt = cli.record(cid)["next_attempt_at"]
    # 4h spacing lands at 16:30, outside the window; the next window on a business day: Monday
    assert nxt == "2026-11-30T12:00:00-05:00"


def test_bad_window_is_refused(cli: Cli) -> None:
    cli.refused(
        *ADD_GENERAL,
        "--window",
        "morning",
    )


def test_minimum_spacing(cli: Cli) -> None:
    cid = cli.add()
    assert attempt(cli, cid).exit_code == 0
    err = cli.refused(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        now="2026-11-27T12:00:00-05:00",
    )
    assert "4h" in err
    assert attempt(cli, cid, now="2026-11-27T14:00:00-05:00").exit_code == 0


def test_inbound_contact_is_never_limited(cli: Cli) -> None:
    cid = cli.add()
    assert attempt(cli, cid).exit_code == 0
    cli.ok(
        *attempt_args(cid, "inbound", "reached", "Patient called back; picked Dec 3 at 9:00"),
        now="2026-11-27T21:00:00-05:00",
    )
    assert cli.record(cid)["status"] == "in_progress"


def test_maximum_attempts_then_exhausted(cli: Cli) -> None:
    cid = cli.add()
    times = ["2026-11-27T10:00:00-05:00", "2026-11-27T14:00:00-05:00", "2026-11-30T09:00:00-05:00"]
    for when in times:
        assert attempt(cli, cid, now=when).exit_code == 0
    data = cli.record(cid)
    assert "next_attempt_at" not in data
    err = cli.refused(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        now="2026-11-30T15:00:00-05:00",
    )
    assert "3 attempts" in err
    cli.ok(
        "close",
        cid,
        "--reason",
        "attempts_exhausted",
        "--summary",
        "Three attempts by phone over two days, no answer; letter mailed",
        now="2026-11-30T15:00:00-05:00",
    )


def test_forced_attempts_count_toward_the_process(cli: Cli) -> None:
    cid = cli.add()
    for i in range(3):
        cli.ok(
            *attempt_args(cid, "phone", "no_answer", NOTE),
            "--force",
            "--why",
            "Urgent scheduling before the surgery date",
            now=f"2026-11-27T1{i}:00:00-05:00",
        )
    cli.ok("close", cid, "--reason", "attempts_exhausted", "--summary", "Unreachable by phone",
           now="2026-11-27T12:30:00-05:00")  # fmt: skip


def test_voicemail_consent_none_refuses_voicemail(cli: Cli) -> None:
    cid = cli.add("--voicemail", "none")
    err = cli.refused(
        "attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note", VM
    )
    assert "voicemail" in err
    assert attempt(cli, cid).exit_code == 0


def test_minimal_consent_allows_only_the_minimal_script(cli: Cli) -> None:
    cid = cli.add()
    err = cli.refused(
        *attempt_args(cid, "phone", "left_voicemail", VM),
        "--script",
        "voicemail_detailed",
    )
    assert "voicemail_minimal" in err
    cli.ok("attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note", VM)
    assert cli.record(cid)["attempts"][0]["script"] == "voicemail_minimal"


def test_detailed_consent_records_detailed_script(cli: Cli) -> None:
    cid = cli.add("--voicemail", "detailed")
    cli.ok("attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note", VM)
    assert cli.record(cid)["attempts"][0]["script"] == "voicemail_detailed"


def test_message_flags_must_agree_with_result(cli: Cli) -> None:
    cid = cli.add()
    cli.refused(
        *attempt_args(cid, "phone", "left_voicemail", VM),
        "--no-message-left",
    )
    cli.refused(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        "--message-left",
    )
    cli.refused("attempt", cid, "--method", "text", "--result", "left_voicemail", "--note", VM)
    cli.ok(
        *attempt_args(
            cid, "text", "message_sent", "Texted secure scheduling link; will check portal tomorrow"
        ),
    )
    data = cli.record(cid)
    assert data["status"] == "waiting_patient" and data["attempts"][0]["message_left"] is True


def test_why_without_force_is_refused(cli: Cli) -> None:
    cid = cli.add()
    cli.refused(
        *attempt_args(cid, "phone", "no_answer", NOTE),
        "--why",
        "because",
    )


def test_response_and_next_are_recorded(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(
        *attempt_args(
            cid,
            "phone",
            "reached",
            "Reached patient; needs insurance card; secure upload link sent",
        ),
        "--response",
        "Will upload the card tonight",
        "--next",
        "Check upload tomorrow",
    )
    data = cli.record(cid)
    att = data["attempts"][0]
    assert att["patient_response"] == "Will upload the card tonight"
    assert att["next_action"] == "Check upload tomorrow"
    assert data["next_action"] == "Check upload tomorrow"
    assert "next_attempt_at" not in data  # reached: no further attempt planned


def test_attempt_on_blocked_callback_warns(cli: Cli) -> None:
    cid = cli.add(category="referral_status", reason="Referral to cardiology")
    cli.ok("block", cid, "--on", "referral_documents", "--note", "Packet not received yet")
    result = cli.ok(
        *attempt_args(
            cid, "phone", "reached", "Reached patient; told referral packet still pending"
        ),
    )
    assert "may not be ready" in result.stderr
    assert cli.record(cid)["status"] == "waiting_internal"


def test_next_attempt_time_can_be_set(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", NOTE), "--next-at", "tomorrow 9:00")
    assert cli.record(cid)["next_attempt_at"] == "2026-11-28T09:00:00-05:00"
    called_in = attempt_args(cid, "inbound", "reached", "Patient called in; wants a call Monday")
    err = cli.refused(*called_in, "--next-at", "2026-11-01")
    assert "--next-at" in err


def test_contact_window_limits_calls_not_messages(cli: Cli) -> None:
    cid = cli.add("--window", "15:00-19:00")
    cli.ok("attempt", cid, "--method", "text", "--result", "message_sent",
           "--note", "Texted secure scheduling link; will check replies at 3pm")  # fmt: skip


def test_next_attempt_is_suggested_on_a_business_day(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "no_answer", NOTE),
           now="2026-11-27T17:00:00-05:00")  # fmt: skip
    assert cli.record(cid)["next_attempt_at"] == "2026-11-30T08:00:00-05:00"


def test_a_corrected_number_may_be_tried_at_once(cli: Cli) -> None:
    cid = cli.add()
    cli.ok(*attempt_args(cid, "phone", "wrong_number", "A stranger answered; not the patient"))
    err = cli.refused(*attempt_args(cid, "phone", "no_answer", "Rang out, no machine picked up"))
    assert "less than 4h" in err  # the same number still waits for the spacing
    cli.ok("edit", cid, "--phone", "5550100777", "--why", "the patient's daughter gave it")
    cli.ok(*attempt_args(cid, "phone", "no_answer", "Rang out, no machine picked up"))
    data = json.loads(cli.ok("show", cid, "--json").stdout)
    assert [a.get("forced") for a in data["attempts"]] == [None, None]


def test_a_call_that_reached_the_patient_needs_no_force(cli: Cli) -> None:
    cid = cli.add("--window", "15:00-19:00")  # 10:00 now: outside the window
    cli.ok(*attempt_args(cid, "phone", "reached", "Reached the patient; booked Tuesday 9:00"))
    cli.ok(*attempt_args(cid, "phone", "reached", "Patient asked one more question; answered"))
    data = json.loads(cli.ok("show", cid, "--json").stdout)
    assert all(a.get("forced") is None for a in data["attempts"])
    err = cli.refused(*attempt_args(cid, "phone", "no_answer", "Rang out, no machine picked up"))
    assert "contact window" in err  # a call that did not reach them is still held to it
