"""The smaller snags of a front-desk morning, each through the CLI: roll-over words,
routing to the front desk, usage errors in one sentence, YAML errors that say what to do,
an email address for --method email, and the init commit in the practice's zone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import STAFF, Cli, attempt_args, git, set_policy

EVENING = "2026-11-27T18:00:00-05:00"


def test_roll_over_of_a_blocked_reached_callback_says_what_it_waits_on(cli: Cli) -> None:
    cid = cli.add(category="billing", reason="Copay question")
    cli.ok(*attempt_args(cid, "phone", "reached", "Reached; checking the copay with the plan"))
    cli.ok("block", cid, "--on", "insurance_eligibility", "--note", "Asked the plan")
    out = " ".join(cli.ok("review", "--roll", "--dry-run", now=EVENING).stdout.split())
    assert "patient reached, waiting on insurance eligibility" in out
    assert "ready to close" not in out
    other = cli.add(category="general", reason="Parking question")
    cli.ok(*attempt_args(other, "phone", "no_answer", "No answer, no machine"))
    out = " ".join(cli.ok("review", "--roll", "--dry-run", now=EVENING).stdout.split())
    assert "front_desk" not in out and "no_answer" not in out  # words, as the queue says them


def test_routing_to_the_front_desk_drops_the_nurses_next_action(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = cli.add(category="general", reason="Rash on both arms")  # triage: clinical
    assert cli.record(cid)["owner"] == "clinical"
    nurse = cli.record(cid)["next_action"]
    cli.ok("urgency", cid, "routine", "--why", "Nurse: not clinical after all", user="rnpatel")
    cli.ok("route", cid, "--to", "front_desk", "--note", "Parking question really", user="rnpatel")
    data = cli.record(cid)
    assert data["owner"] == "front_desk" and data["next_action"] != nurse
    assert "next_action" in data["events"][-1]["set"]
    cli.ok("route", cid, "--to", "billing", "--note", "Copay", "--next", "Explain the copay",
           user="rnpatel")  # fmt: skip
    assert cli.record(cid)["next_action"] == "Explain the copay"


def test_a_usage_error_is_one_sentence_on_one_line(cli: Cli) -> None:
    cid = cli.add()
    result = cli("attempt", cid, "--method", "phone", "--result", "answered", "--note", "x y z")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: Invalid value for '--result': 'answered' is not one of 'reached', "
        "'left_voicemail', 'no_answer', 'busy', 'wrong_number', 'message_sent' "
        "(see 'cbtrack attempt --help')."
    ]
    for args in (["add", "--patient", "A B"], ["queue", "--bogus"], ["frob"]):
        result = cli(*args)
        assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "Value error" not in result.stderr and "Usage:" not in result.stderr


def test_a_yaml_syntax_error_says_what_to_do(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    path.write_text(path.read_text() + "reason: [unclosed\n")
    result = cli("show", cid)
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert f"callbacks/open/{cid}.yaml line" in line
    assert "text editor" in line and f"'git checkout -- callbacks/open/{cid}.yaml'" in line


def test_the_init_commit_is_dated_in_the_practices_zone(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cbtrack.cli import app

    store = tmp_path / "chicago"
    result = CliRunner().invoke(
        app, ["init", str(store), "--timezone", "America/Chicago"],
        env={"CBTRACK_NOW": "2026-12-01T09:00"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert git(store, "log", "-1", "--format=%ad", "--date=iso").strip().endswith("-0600")


def test_email_has_a_field_for_the_address(cli: Cli) -> None:
    err = cli.refused(
        "add", "--patient", "Ada Example", "--phone", "5550100123", "--category", "general",
        "--reason", "Parking", "--detail", "topic=parking", "--method", "email",
    )  # fmt: skip
    assert "--email ADDRESS" in err
    cid = cli.add("--method", "email", "--email", "ada@example.org", category="general",
                  reason="Parking")  # fmt: skip
    assert cli.record(cid)["patient"]["email"] == "ada@example.org"
    assert "email ada@example.org" in cli.ok("show", cid).stdout
    assert "email" in cli.refused("edit", cid, "--email", "not an address", "--why", "typo")
    assert "--email" in cli.refused("edit", cid, "--email", "", "--why", "no longer")
    cli.ok("edit", cid, "--email", "ada@example.net", "--why", "new address")
    assert "patient.email" in cli.record(cid)["events"][-1]["set"]
    bundle = json.loads(cli.ok("export", "--format", "fhir").stdout)
    telecoms = [e["resource"]["telecom"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient"]  # fmt: skip
    assert {"system": "email", "value": "ada@example.net"} in telecoms[0]


def test_validate_lists_every_policy_problem_in_one_round(cli: Cli, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    text = path.read_text().replace("  front_desk: Front desk\n", "  frontdesk: Front desk\n", 1)
    text = text.replace(
        "  rules: []",
        "  rules:\n"
        "    - {name: wasp_sting, patterns: ['wasp ~99 sting'], urgency: clinical,"
        " route_to: clinical}\n"
        "    - {name: bee_sting, patterns: ['bee sting'], urgency: clinical, route_to: nurses}",
        1,
    )
    path.write_text(text)
    result = cli("validate")
    assert result.exit_code == 1
    out = result.stdout + result.stderr
    uses = [c for c in ("intake_form", "missed_call", "general") if f"categories.{c}.owner" in out]
    assert len(uses) == 3  # the renamed role, once for each category that uses it
    assert "triage.rules[2].route_to names nurses" in out
    assert "triage.rules[1] (rule wasp_sting): 'wasp ~99 sting'" in out  # the rule, by name
    assert "write patterns like 'chest ..3 pain', '(blue|grey) lips'" in out  # an example
    assert "5 problem(s) found" in out


def test_find_fits_80_columns_with_name_and_reason(cli: Cli) -> None:
    name, reason = (
        "Maximiliana Bartholomew-Featherstonehaugh",
        "Asks whether the statement is right",
    )
    cli.add("--patient", name, category="billing", reason=reason)
    for columns in ("80", "100", "140"):
        result = cli.runner.invoke(
            __import__("cbtrack.cli", fromlist=["app"]).app,
            ["--store", str(cli.store), "find", "Maximiliana"],
            env={"COLUMNS": columns},
        )
        lines = result.stdout.splitlines()
        assert all(len(line) <= int(columns) for line in lines), lines
        text = "\n".join(lines)
        assert name[:20] in text and reason[:20] in text
