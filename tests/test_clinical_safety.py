"""Clinical safety at intake: real phrasings reach the clinical team, the symptoms
question, the emergency script on `add`, and who may hand clinical work away."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import STAFF, Cli, attempt_args, set_policy
from tests.test_packaging import _cbtrack, _env

BILLING = ["--detail", "statement_date=2026-11-01", "--detail", "question_type=other"]


def add_billing(cli: Cli, reason: str, *extra: str) -> dict[str, object]:
    result = cli.ok(
        "add", "--patient", "Ada Example", "--phone", "5550100123", "--category", "billing",
        "--reason", reason, *BILLING, *extra,
    )  # fmt: skip
    return cli.record(result.stdout.strip())


@pytest.mark.parametrize(
    ("reason", "least"),
    [
        ("wants to die", "emergency"),
        ("tightness in my chest", "emergency"),
        ("my chest is hurting a lot", "emergency"),
        ("cant breathe well", "emergency"),
        ("throat closing after new pill", "emergency"),
        ("numbness on one side of face", "emergency"),
        ("heart attack symptoms?", "clinical"),
        ("temp is 103.5", "clinical"),
        ("sugar reading 450", "clinical"),
        ("took my pills twice this morning", "clinical"),
        ("thinking about ending my life", "emergency"),
        ("he can't catch his breath", "emergency"),
        ("chest feels heavy since lunch", "emergency"),
        ("bp 190/110 this morning", "clinical"),
    ],
)
def test_the_issue_phrasings_reach_the_clinical_team(cli: Cli, reason: str, least: str) -> None:
    data = add_billing(cli, reason)
    assert data["owner"] == "clinical", reason
    if least == "emergency":
        assert data["urgency"] == "emergency", reason
    else:
        assert data["urgency"] in ("clinical", "emergency"), reason


def test_add_reads_a_slip_of_the_keyboard_and_a_denial(cli: Cli) -> None:
    """Through the CLI: a red-flag word typed one letter off files an emergency; a denial
    of self-harm alone reaches the clinical team without the emergency protocol."""
    slipped = add_billing(cli, "husband says she is brething hard and her lipps are blue")
    assert (slipped["urgency"], slipped["owner"]) == ("emergency", "clinical")
    denied = add_billing(cli, "denies suicidal thoughts, asking about the statement")
    assert (denied["urgency"], denied["owner"]) == ("clinical", "clinical")


def test_a_negated_symptom_in_an_admin_request_stays_administrative(cli: Cli) -> None:
    data = add_billing(cli, "Painting company billing question, no pain")
    assert (data["urgency"], data["owner"]) == ("routine", "billing")
    # The negation covers only what it governs: the cough after "but" still counts.
    data = add_billing(cli, "no fever but a cough since Monday")
    assert data["urgency"] == "clinical"


def test_triage_reads_the_note_and_every_detail(cli: Cli) -> None:
    data = add_billing(cli, "Question about a statement", "--note", "mentions chest pressure")
    assert data["urgency"] == "emergency"
    assert any(e["type"] == "note" for e in data["events"])  # type: ignore[union-attr]
    result = cli.ok(
        "add", "--patient", "Ada Example", "--phone", "5550100123", "--category", "billing",
        "--reason", "Statement question", "--detail", "statement_date=2026-11-01",
        "--detail", "question_type=also says she took too many of her pills",
    )  # fmt: skip
    assert cli.record(result.stdout.strip())["urgency"] == "emergency"


def test_symptoms_yes_makes_it_clinical_whatever_the_words(cli: Cli) -> None:
    data = add_billing(cli, "Wants to talk about the visit", "--symptoms", "yes")
    assert (data["urgency"], data["owner"]) == ("clinical", "clinical")
    notes = [e.get("note") for e in data["events"]]  # type: ignore[union-attr]
    assert "Triage by staff answered yes to the symptoms question" in notes
    data = add_billing(cli, "Wants to talk about the visit", "--symptoms", "no")
    assert (data["urgency"], data["owner"]) == ("routine", "billing")
    # yes never lowers what the words already call for
    assert add_billing(cli, "chest pain", "--symptoms", "yes")["urgency"] == "emergency"
    cli.refused(*["add", "--symptoms", "maybe"], code=2)


def test_emergency_prints_the_script_on_stderr_and_keeps_stdout_clean(cli: Cli) -> None:
    base = [
        "add", "--patient", "Ada Example", "--phone", "5550100123", "--category", "general",
        "--reason", "says her face is drooping", "--detail", "topic=call",
    ]  # fmt: skip
    text = cli.ok(*base)
    assert text.stdout.strip().startswith("cb-") and len(text.stdout.strip().split()) == 1
    assert "EMERGENCY" in text.stderr and "911" in text.stderr
    assert max(len(line) for line in text.stderr.splitlines()) <= 80
    as_json = cli.ok(*base, "--json")
    assert json.loads(as_json.stdout)["urgency"] == "emergency"
    assert "EMERGENCY" in as_json.stderr
    routine = cli.ok(*base[:-3], "Parking question", "--detail", "topic=call")
    assert "EMERGENCY" not in routine.stderr


def test_script_puts_the_handoff_first_for_clinical_work(cli: Cli) -> None:
    cid = str(add_billing(cli, "short of breath")["id"])
    text = cli.ok("script", cid).stdout
    assert text.startswith("Handoff (emergency)")
    plain = str(add_billing(cli, "Statement question")["id"])
    assert cli.ok("script", plain).stdout.startswith("Opening")


def test_the_installed_tool_shows_the_emergency_script(tmp_path: Path) -> None:
    env = _env(tmp_path, CBTRACK_USER="jlee")
    store = tmp_path / "s"
    subprocess.run([*_cbtrack(), "init", str(store)], env=env, check=True, capture_output=True)
    run = subprocess.run(
        [*_cbtrack(), "--store", str(store), "add", "--patient", "Ada Example", "--phone",
         "5550100123", "--category", "general", "--reason", "pt says he wants to end it all",
         "--detail", "topic=call"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith("cb-")
    assert "EMERGENCY" in run.stderr


# --- guardrails --------------------------------------------------------------------


@pytest.fixture
def roster(cli: Cli) -> Cli:
    set_policy(cli.store, staff=STAFF)
    return cli


def emergency(cli: Cli) -> str:
    return str(add_billing(cli, "chest pain and sweating")["id"])


def test_front_desk_cannot_hand_clinical_work_away(roster: Cli) -> None:
    cid = emergency(roster)
    for args in (
        ["route", cid, "--to", "scheduling", "--note", "wrong queue"],
        ["assign", cid, "jlee"],
        ["close", cid, "--reason", "resolved", "--summary", "Patient says fine now"],
    ):
        err = roster.refused(*args, user="jlee")
        assert "clinical role" in err
    # Handing it to clinical staff is always allowed.
    roster.ok("assign", cid, "rnpatel", user="jlee")


def test_clinical_staff_may_route_assign_and_close(roster: Cli) -> None:
    cid = emergency(roster)
    roster.ok(
        "route", cid, "--to", "scheduling", "--note", "Clinician says: book it", user="rnpatel"
    )
    cid2 = emergency(roster)
    roster.ok("assign", cid2, "jlee", user="rnpatel")
    cid3 = emergency(roster)
    roster.ok("close", cid3, "--reason", "resolved", "--summary", "Seen in ED", user="rnpatel")


def test_without_a_roster_nobody_is_locked_out(cli: Cli) -> None:
    cid = emergency(cli)
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Went to the ED", user="jlee")


def test_roll_keeps_clinical_work_with_clinical_staff(roster: Cli) -> None:
    cid = emergency(roster)
    result = roster.ok("review", "--roll", user="jlee", now="2026-11-27T17:30:00-05:00")
    assert roster.record(cid)["owner"] == "clinical"
    # nobody has called it: the roll says so, by ID, on stderr (dry run or not)
    assert f"with no call yet was rolled over: {cid}" in result.stderr
    assert "call it now" in result.stderr


def test_a_called_emergency_rolls_over_without_the_warning(roster: Cli) -> None:
    cid = emergency(roster)
    note = "No answer on mobile; trying again shortly"
    roster.ok(*attempt_args(cid, "phone", "no_answer", note), user="rnpatel")
    result = roster.ok(
        "review", "--roll", "--dry-run", user="jlee", now="2026-11-27T17:30:00-05:00"
    )
    assert "no call yet" not in result.stderr


def test_lowering_urgency_recomputes_the_due_time(roster: Cli) -> None:
    cid = emergency(roster)
    roster.ok("urgency", cid, "routine", "--why", "Clinician: old complaint", user="rnpatel")
    data = roster.record(cid)
    # routine is due two business days later: Friday 10:00 -> Tuesday 10:00
    assert data["due_at"] == "2026-12-01T10:00:00-05:00"


def test_clinical_callbacks_are_retried_within_the_hour(cli: Cli) -> None:
    cid = emergency(cli)
    note = "No answer on mobile; trying again shortly"
    cli.ok(*attempt_args(cid, "phone", "no_answer", note))
    data = cli.record(cid)
    assert data["next_attempt_at"] == "2026-11-27T10:15:00-05:00"
    cli.ok(*attempt_args(cid, "phone", "no_answer", note), now="2026-11-27T10:20:00-05:00")
    routine = str(add_billing(cli, "Statement question")["id"])
    cli.ok(*attempt_args(routine, "phone", "no_answer", note))
    cli.refused(*attempt_args(routine, "phone", "no_answer", note), now="2026-11-27T10:30:00-05:00")


def test_escalation_keeps_a_named_owner_and_says_who_was_told(roster: Cli) -> None:
    cid = str(add_billing(roster, "Statement question")["id"])
    roster.ok("assign", cid, "mkhan", user="jlee")
    roster.ok("triage", "--all", user="jlee", now="2026-12-03T10:00:00-05:00")
    data = roster.record(cid)
    assert data["owner"] == "mkhan" and data["status"] == "escalated"
    last = data["events"][-1]  # type: ignore[index]
    assert last["type"] == "escalated" and "front_desk_lead notified" in last["note"]


# --- the practice's own rules ----------------------------------------------------


def test_a_practice_adds_concepts_and_rules(cli: Cli) -> None:
    set_policy(
        cli.store,
        concepts={"our_drugs": ["methotrexate", "mtx"]},
        triage=[
            {
                "name": "methotrexate_question",
                "urgency": "same_day",
                "route_to": "clinical",
                "patterns": ["{our_drugs} ~4 {symptom}", "{our_drugs} ..3 dose*"],
            }
        ],
    )
    assert cli.ok("validate").exit_code == 0
    data = add_billing(cli, "billing for mtx dose change")
    assert (data["urgency"], data["owner"]) == ("same_day", "clinical")


def test_validate_names_a_rule_it_cannot_read(cli: Cli) -> None:
    set_policy(
        cli.store, triage=[{"name": "ours", "urgency": "clinical", "patterns": ["{nope} pain"]}]
    )
    result = cli("validate")
    assert result.exit_code == 1
    assert "ours" in result.stderr + result.stdout and "nope" in result.stderr + result.stdout
    set_policy(cli.store, triage=[{"name": "chest", "urgency": "clinical", "patterns": ["x"]}])
    result = cli("validate")
    assert result.exit_code == 1 and "built-in" in result.stderr + result.stdout


def test_a_refused_add_whose_words_are_an_emergency_still_shows_the_script(cli: Cli) -> None:
    """Staff fix the details while the patient may still be on the line: the emergency
    script and "tell clinical" come first, then the one-sentence refusal; nothing is filed."""
    base = ["add", "--patient", "Hal Fakename", "--phone", "+15550100313", "--symptoms", "no"]
    words = ["--category", "billing", "--reason", "I want to end my life over these bills"]
    result = cli(*base, *words, "--detail", "x=y")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    err = result.stderr
    assert "EMERGENCY: give this to the patient now" in err and "NOT filed" in err
    assert err.rstrip().splitlines()[-1].startswith("Error: A billing callback needs")
    assert not list((cli.store / "callbacks" / "open").glob("cb-*.yaml"))
    # plain words: only the refusal
    plain = ["--category", "billing", "--reason", "Question about the last statement"]
    result = cli(*base, *plain, "--detail", "x=y")
    assert result.exit_code == 1 and "EMERGENCY" not in result.stderr


def test_a_malformed_email_is_explained_in_words_not_a_pattern(cli: Cli) -> None:
    err = cli.refused(
        "add", "--patient", "Ada Example", "--phone", "+15550100123", "--category", "general",
        "--reason", "Parking question", "--detail", "topic=parking", "--symptoms", "no",
        "--email", "notanemail",
    )  # fmt: skip
    assert "field email: is not an email address; write it like name@example.com" in err
    assert "pattern" not in err and "^" not in err


def test_a_date_of_birth_after_today_is_refused_on_add_and_edit(cli: Cli) -> None:
    base = ["add", "--patient", "Ada Example", "--phone", "+15550100123", "--category",
            "general", "--reason", "Parking question", "--detail", "topic=parking",
            "--symptoms", "no"]  # fmt: skip
    err = cli.refused(*base, "--dob", "2030-01-01")
    assert "--dob is after today; check the year" in err and "2030" not in err
    cid = cli.ok(*base, "--dob", "1980-01-01").stdout.strip()
    err = cli.refused("edit", cid, "--dob", "2031-05-05", "--why", "Typo fixed")
    assert "--dob is after today" in err
