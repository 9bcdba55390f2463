"""The policy file: defaults written by init, short hand-written policies, and errors that
name the key and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbtrack.cli import app
from cbtrack.errors import StoreError
from cbtrack.model import Urgency
from cbtrack.policy import Policy
from cbtrack.store import Store
from tests.conftest import Cli, commit_policy

MINIMAL = """\
practice: Birch Street Test Clinic
callback_number: "+15550100777"
timezone: America/Chicago
call_hours: "09:00-18:00"
staff:
  amy: {name: Amy Frontdesk, roles: [front_desk]}
  nick: {name: Nick Nurse, roles: [nurse, clinical]}
categories:
  scheduling: {owner: front_desk, urgency: routine, required_details: [visit_type]}
  nurse_line: {owner: nurse, urgency: clinical, required_details: []}
attempts: {max: 2, min_spacing: 1h}
"""


def minimal_store(tmp_path: Path) -> Path:
    store = tmp_path / "birch"
    result = CliRunner().invoke(app, ["--as", "amy", "init", str(store)])
    assert result.exit_code == 0
    (store / "cbtrack.yaml").write_text(MINIMAL)
    commit_policy(store)
    return store


def test_defaults_written_by_init_cover_the_seed(store_dir: Path) -> None:
    policy = Store(store_dir).policy
    assert set(policy.categories) == {
        "scheduling", "rescheduling", "cancellation", "referral_status", "insurance",
        "intake_form", "records_request", "billing", "prescription", "clinical_concern",
        "post_visit", "missed_call", "general",
    }  # fmt: skip
    assert policy.categories["scheduling"].required_details == [
        "visit_type", "availability", "provider_preference",
    ]  # fmt: skip
    assert "deadline" in policy.categories["scheduling"].optional_details
    assert policy.categories["referral_status"].required_details == [
        "receipt_status", "missing_documents", "next_expected_update",
    ]  # fmt: skip
    assert policy.categories["insurance"].required_details == [
        "plan", "question_type", "verification_needed",
    ]  # fmt: skip
    for cat in policy.categories.values():
        assert cat.preventable and cat.note_template and cat.label
    ranks = [policy.urgencies[u].rank for u in Urgency]
    assert ranks == sorted(ranks) and len(set(ranks)) == 6
    assert policy.call_hours == "08:00-20:00"
    assert policy.attempts.max >= 1
    assert "clinical" in policy.roles


def test_a_short_hand_written_policy_works(tmp_path: Path) -> None:
    store = minimal_store(tmp_path)
    cli = Cli(store)

    def add(reason: str, *extra: str) -> str:
        result = cli.ok("add", "--patient", "Ada Example", "--phone", "5550100123",
                        "--reason", reason, *extra, user="amy")  # fmt: skip
        return str(result.stdout.strip())

    cid = add("Annual visit", "--category", "scheduling", "--detail", "visit_type=annual")
    data = cli.record(cid)
    assert data["owner"] == "front_desk" and data["urgency"] == "routine"
    assert data["created_at"].endswith("-06:00")  # America/Chicago
    cid2 = add("Question for the nurse", "--category", "nurse_line")
    assert cli.record(cid2)["owner"] == "nurse"
    # the default triage rules apply when the file has none
    cid3 = add("Chest pain on stairs", "--category", "scheduling", "--detail", "visit_type=sick")
    assert cli.record(cid3)["urgency"] == "emergency"
    # roster enforced; the nurse may lower clinical urgency
    cli.refused("assign", cid, "nurse", user="stranger")
    cli.ok("urgency", cid2, "routine", "--why", "Nurse: just a form question", user="nick")
    cli.refused("urgency", cid2, "clinical", "--why", "x", user="stranger")
    # attempts policy from the file: 1h spacing, 2 attempts
    note = "No answer on mobile; will try again later"
    cli.ok("attempt", cid, "--method", "phone", "--result", "no_answer", "--note", note,
           user="amy", now="2026-11-27T10:00:00-06:00")  # fmt: skip
    cli.ok("attempt", cid, "--method", "phone", "--result", "no_answer", "--note", note,
           user="amy", now="2026-11-27T11:00:00-06:00")  # fmt: skip
    cli.ok("close", cid, "--reason", "attempts_exhausted", "--summary", "Two tries",
           user="amy", now="2026-11-27T11:30:00-06:00")  # fmt: skip
    assert json.loads(cli.ok("validate", "--json").stdout)["ok"] is True


def test_roles_as_a_list_and_business_hours_as_text(tmp_path: Path) -> None:
    store = minimal_store(tmp_path)
    text = MINIMAL + "roles: [front_desk, nurse, clinical, front_desk_lead]\n"
    text += 'business_hours: "07:30-16:00"\n'
    (store / "cbtrack.yaml").write_text(text)
    policy = Store(store).policy
    assert policy.business_hours.hours == "07:30-16:00"
    assert set(policy.roles) == {"front_desk", "nurse", "clinical", "front_desk_lead"}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("timezone: Mars/Olympus", "timezone"),
        ('call_hours: "8 to 8"', "call_hours"),
        ("attempts: {max: 0, min_spacing: 1h}", "attempts.max"),
        ("attempts: {max: 3, min_spacing: soon}", "attempts.min_spacing"),
        ('callback_number: "12"', "callback_number"),
        ("surprise: true", "surprise"),
    ],
)
def test_policy_errors_name_the_key(tmp_path: Path, change: str, key: str) -> None:
    store = minimal_store(tmp_path)
    lines = [ln for ln in MINIMAL.splitlines() if not ln.startswith(change.split(":")[0] + ":")]
    (store / "cbtrack.yaml").write_text("\n".join(lines) + "\n" + change + "\n")
    with pytest.raises(StoreError) as err:
        _ = Store(store).policy
    assert "cbtrack.yaml" in err.value.message and key in err.value.message
    result = CliRunner().invoke(app, ["--store", str(store), "queue"])
    assert result.exit_code == 3 and key in result.stderr


def test_category_owner_must_exist_when_roles_are_listed(tmp_path: Path) -> None:
    store = minimal_store(tmp_path)
    (store / "cbtrack.yaml").write_text(MINIMAL + "roles: [front_desk, clinical]\n")
    result = CliRunner().invoke(app, ["--store", str(store), "queue"])
    assert result.exit_code == 3 and "nurse" in result.stderr


def test_default_policy_round_trips() -> None:
    policy = Policy.default()
    again = Policy.model_validate(policy.model_dump(mode="json"))
    assert again == policy


def test_validate_lists_every_policy_problem(tmp_path: Path) -> None:
    store = minimal_store(tmp_path)
    text = MINIMAL.replace("practice:", "practise:").replace('"09:00-18:00"', "soon")
    (store / "cbtrack.yaml").write_text(text)
    result = CliRunner().invoke(app, ["--store", str(store), "validate", "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("practice" in p for p in problems)
    assert any("call_hours" in p for p in problems)
    assert any("practise" in p for p in problems)
    assert all(p.startswith("cbtrack.yaml: ") for p in problems)


@pytest.mark.parametrize("hours", ["22:00-06:00", "08:00-08:00"])
def test_business_hours_must_open_before_they_close(tmp_path: Path, hours: str) -> None:
    store = minimal_store(tmp_path)
    (store / "cbtrack.yaml").write_text(MINIMAL + f'business_hours: "{hours}"\n')
    result = CliRunner().invoke(app, ["--store", str(store), "queue"])
    assert result.exit_code == 3 and "business_hours" in result.stderr
