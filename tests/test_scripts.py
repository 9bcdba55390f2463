"""Approved scripts: filled with practice name and number, consent-aware voicemail that
never carries the patient's name, the reason or clinical detail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli, set_policy


def practice(store_dir: Path) -> None:
    set_policy(store_dir, practice="Maple Test Clinic", callback_number="+15550100999")


def test_script_json_keys_and_filling(cli: Cli, store_dir: Path) -> None:
    practice(store_dir)
    cid = cli.add()
    data = json.loads(cli.ok("script", cid, "--json").stdout)
    assert {"opening", "voicemail", "outcomes", "handoff"} <= set(data)
    assert "Maple Test Clinic" in data["opening"] and "date of birth" in data["opening"]
    assert "+15550100999" in data["voicemail"]
    for outcome in (
        "reached_scheduled",
        "reached_missing_info",
        "left_voicemail",
        "unable_to_reach",
        "routed_clinical",
        "waiting_referral",
        "waiting_insurance",
    ):
        assert outcome in data["outcomes"]
    assert "clinical team" in data["handoff"]


def test_minimal_voicemail_has_no_private_detail(cli: Cli, store_dir: Path) -> None:
    practice(store_dir)
    cid = cli.add(category="general", reason="Rash spreading on both arms")
    vm = json.loads(cli.ok("script", cid, "--json").stdout)["voicemail"]
    for private in ("Ada", "Example", "rash", "Rash", "arms", "clinical", "general"):
        assert private not in vm
    assert "Maple Test Clinic" in vm and "+15550100999" in vm


def test_detailed_voicemail_still_hides_clinical_topics(cli: Cli, store_dir: Path) -> None:
    practice(store_dir)
    admin = cli.add("--voicemail", "detailed", category="billing", reason="Copay question")
    vm = json.loads(cli.ok("script", admin, "--json").stdout)["voicemail"]
    assert "billing" in vm.lower() and "Ada" not in vm
    clinical = cli.add("--voicemail", "detailed", category="general", reason="Fever and cough")
    vm = json.loads(cli.ok("script", clinical, "--json").stdout)["voicemail"]
    assert "fever" not in vm.lower() and "general" not in vm.lower()


def test_first_name_only_when_policy_allows(cli: Cli, store_dir: Path) -> None:
    set_policy(
        store_dir, attempts={"max": 3, "min_spacing": "4h", "voicemail": {"patient_name": "first"}}
    )
    cid = cli.add("--voicemail", "detailed", category="billing", reason="Copay question")
    vm = json.loads(cli.ok("script", cid, "--json").stdout)["voicemail"]
    assert "Ada" in vm and "Example" not in vm


def test_no_voicemail_consent(cli: Cli) -> None:
    cid = cli.add("--voicemail", "none")
    vm = json.loads(cli.ok("script", cid, "--json").stdout)["voicemail"]
    assert vm.startswith("Do not leave a voicemail")


def test_emergency_handoff(cli: Cli) -> None:
    cid = cli.add(category="general", reason="Severe bleeding after fall")
    data = json.loads(cli.ok("script", cid, "--json").stdout)
    assert "911" in data["handoff"]
    assert "call you back" not in data["handoff"]  # staff are on the line with the patient
    text = cli.ok("script", cid).stdout
    assert "Handoff (emergency)" in text and "Avoid saying" in text


def test_script_wraps_to_the_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    cid = cli.add(category="general", reason="Rash on both arms after a new medicine")
    out = cli.ok("script", cid).stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "nurse will call you back" in " ".join(out.split())  # wrapped, never cut
    assert "…" not in out


def test_policy_cannot_put_patient_detail_in_minimal_script(cli: Cli, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    data = yaml.safe_load(path.read_text())
    data["scripts"]["voicemail_minimal"] = "Hi {patient_first}, call {callback_number}."
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cli("queue")
    assert result.exit_code == 3
    assert "voicemail_minimal" in result.stderr and "patient_first" in result.stderr
