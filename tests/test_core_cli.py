"""Day-one commands through the CLI: init, add, attempt, close, reopen, show, validate."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cbtrack.cli import app
from cbtrack.store import Store
from tests.conftest import ADD_GENERAL, Cli, attempt_args, git, snapshot

VM_NOTE = "Left voicemail asking patient to call scheduling line; next attempt tomorrow morning"


def test_init_makes_a_git_store(store_dir: Path) -> None:
    for part in (
        "cbtrack.yaml",
        "callbacks/open",
        "callbacks/closed",
        ".gitattributes",
        ".gitignore",
        ".git",
    ):
        assert (store_dir / part).exists(), part
    assert "merge=cbtrack" in (store_dir / ".gitattributes").read_text()
    assert ".cbtrack/" in (store_dir / ".gitignore").read_text()
    assert git(store_dir, "status", "--porcelain") == ""
    assert "cbtrack.mergedriver %O %A %B %P" in git(store_dir, "config", "merge.cbtrack.driver")
    policy = Store(store_dir).policy
    assert len(policy.categories) == 13
    assert policy.call_hours == "08:00-20:00"


def test_init_twice_keeps_the_policy(store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    text = path.read_text().replace("Your Practice Name", "Maple Test Clinic")
    path.write_text(text)
    result = CliRunner().invoke(app, ["--as", "jlee", "init", str(store_dir)])
    assert result.exit_code == 0
    assert "Maple Test Clinic" in path.read_text()


def test_add_prints_id_and_writes_one_record_and_commit(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    assert cid.startswith("cb-20261127-") and len(cid) == 17
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["owner"] == "scheduling"
    assert data["urgency"] == "time_sensitive"
    assert data["status"] == "new"
    assert data["patient"]["phone"] == "+15550100123"
    assert data["created_by"] == "jlee"
    assert data["created_at"] == "2026-11-27T10:00:00-05:00"
    # due one business day later: Friday 10:00 -> Monday 10:00
    assert data["due_at"] == "2026-11-30T10:00:00-05:00"
    log = git(store_dir, "log", "-1", "--format=%an|%cn|%s")
    assert log.strip() == f"jlee|jlee|add {cid}"
    assert git(store_dir, "status", "--porcelain") == ""


def test_add_json_prints_the_record(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "Ada Example",
        "--phone",
        "555-010-0199",
        "--category",
        "general",
        "--reason",
        "Parking question",
        "--detail",
        "topic=parking",
        "--json",
    )
    data = json.loads(result.stdout)
    assert data["category"] == "general" and data["events"][0]["type"] == "created"


def test_commit_messages_carry_no_patient_data(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    cli.ok(
        *attempt_args(
            cid, "phone", "no_answer", "No answer at mobile number; will retry this afternoon"
        ),
    )
    messages = git(store_dir, "log", "--format=%B")
    for secret in ("Ada", "Example", "0100123", "New patient visit"):
        assert secret not in messages


def test_files_are_owner_only(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def test_unknown_category_is_refused(cli: Cli) -> None:
    err = cli.refused(
        "add", "--patient", "A B", "--phone", "5550100123", "--category", "nope", "--reason", "x"
    )
    assert "Unknown category" in err


def test_missing_required_details_are_refused(cli: Cli) -> None:
    err = cli.refused(
        "add",
        "--patient",
        "A B",
        "--phone",
        "5550100123",
        "--category",
        "scheduling",
        "--reason",
        "Annual visit",
        "--detail",
        "visit_type=annual",
    )
    assert "availability" in err and "provider_preference" in err


def test_bad_phone_is_refused_without_echoing_it(cli: Cli) -> None:
    err = cli.refused(
        "add",
        "--patient",
        "A B",
        "--phone",
        "12345",
        "--category",
        "general",
        "--reason",
        "x",
        "--detail",
        "topic=x",
    )
    assert "phone" in err and "12345" not in err


def test_bad_detail_syntax_is_refused(cli: Cli) -> None:
    cli.refused(
        "add",
        "--patient",
        "A B",
        "--phone",
        "5550100123",
        "--category",
        "general",
        "--reason",
        "x",
        "--detail",
        "topic",
    )


def test_value_outside_fixed_list_is_a_usage_error(cli: Cli) -> None:
    cli.refused(
        *ADD_GENERAL,
        "--method",
        "pigeon",
        code=2,
    )


def test_missing_option_is_a_usage_error(cli: Cli) -> None:
    cli.refused("add", "--patient", "A B", code=2)


def test_change_needs_a_user(cli: Cli) -> None:
    err = cli.refused(
        *ADD_GENERAL,
        user=None,
    )
    assert "--as" in err


def test_attempt_records_history_and_status(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note", VM_NOTE)
    data = cli.record(cid)
    assert data["status"] == "waiting_patient"
    (att,) = data["attempts"]
    assert att["message_left"] is True and att["script"] == "voicemail_minimal"
    assert att["by"] == "jlee"
    # next attempt: 4h spacing, inside call hours
    assert data["next_attempt_at"] == "2026-11-27T14:00:00-05:00"
    cli.ok(
        *attempt_args(cid, "phone", "no_answer", "Rang twice, no answer; try again tomorrow"),
        now="2026-11-27T15:00:00-05:00",
    )
    data = cli.record(cid)
    assert data["status"] == "in_progress" and len(data["attempts"]) == 2
    assert data["attempts"][0] == att  # earlier attempts unchanged


def test_vague_note_is_refused(cli: Cli) -> None:
    cid = cli.add()
    err = cli.refused(
        "attempt", cid, "--method", "phone", "--result", "no_answer", "--note", "called"
    )
    assert "note" in err


def test_attempt_needs_a_result(cli: Cli) -> None:
    cid = cli.add()
    cli.refused("attempt", cid, "--method", "phone", "--note", VM_NOTE, code=2)


def test_close_rules(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    assert "reached" in cli.refused("close", cid, "--reason", "reached", "--summary", "Done")
    assert "3" in cli.refused("close", cid, "--reason", "attempts_exhausted", "--summary", "x")
    assert "--to" in cli.refused("close", cid, "--reason", "routed", "--summary", "To billing")
    cli.refused("close", cid, "--reason", "routed", "--to", "nowhere", "--summary", "x")
    cli.refused("close", cid, "--reason", "resolved", code=2)  # summary is required
    cli.ok(
        *attempt_args(
            cid, "phone", "reached", "Reached patient; scheduled new patient visit for Dec 3"
        ),
    )
    cli.ok("close", cid, "--reason", "reached", "--summary", "Scheduled for Dec 3 at 9:00")
    assert not (store_dir / "callbacks" / "open" / f"{cid}.yaml").exists()
    closed = store_dir / "callbacks" / "closed" / "2026-11" / f"{cid}.yaml"
    data = yaml.safe_load(closed.read_text())
    assert data["status"] == "closed" and data["closure"]["reason"] == "reached"
    assert data["closure"]["by"] == "jlee"
    assert git(store_dir, "status", "--porcelain") == ""


def test_closed_record_changes_only_by_reopen(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered on the earlier call")
    assert "reopen" in cli.refused(
        *attempt_args(cid, "phone", "no_answer", "No answer on mobile; retry later today"),
    )
    cli.refused("close", cid, "--reason", "resolved", "--summary", "again")
    cli.refused("assign", cid, "billing")
    cli.ok("reopen", cid, "--why", "Not a duplicate after all")
    data = cli.record(cid)
    assert data["status"] == "new" and "closure" not in data
    types = [e["type"] for e in data["events"]]
    assert types == ["created", "closed", "reopened"]
    cli.refused("reopen", cid, "--why", "again")


def test_routed_close_needs_a_role(cli: Cli) -> None:
    cid = cli.add(category="billing", reason="Question about a bill")
    cli.ok("close", cid, "--reason", "routed", "--to", "billing", "--summary", "Sent to billing")
    data = cli.record(cid)
    assert data["closure"]["to"] == "billing" and data["owner"] == "billing"


def test_show_text_has_the_essentials(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note", VM_NOTE)
    out = cli.ok("show", cid).stdout
    for part in ("Ada Example", "scheduling", "Owner:", "Next:", "left voicemail", "Events"):
        assert part in out


def test_unknown_id_is_refused(cli: Cli) -> None:
    err = cli.refused("show", "cb-20261127-zzzzz")
    assert "No callback" in err
    cli.refused("show", "../../etc/passwd")
    cli.refused("show", "cb-20261127-k7m2q/../x")


def test_short_id_suffix_works_for_open_callbacks(cli: Cli) -> None:
    cid = cli.add()
    assert cli.record(cid[-5:])["id"] == cid


def test_store_missing_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--store", str(tmp_path / "none"), "queue"])
    assert result.exit_code == 3
    assert "cbtrack init" in result.stderr


def test_store_found_by_env_and_by_walking_up(cli: Cli, store_dir: Path, monkeypatch) -> None:
    cid = cli.add()
    runner = CliRunner()
    result = runner.invoke(app, ["queue", "--json"], env={"CBTRACK_STORE": str(store_dir)})
    assert result.exit_code == 0 and cid in result.stdout
    monkeypatch.chdir(store_dir / "callbacks" / "open")
    result = runner.invoke(app, ["queue", "--json"])
    assert result.exit_code == 0 and cid in result.stdout


def test_user_from_env(cli: Cli, store_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--store",
            str(store_dir),
            "add",
            "--patient",
            "A B",
            "--phone",
            "5550100123",
            "--category",
            "general",
            "--reason",
            "Parking",
            "--detail",
            "topic=parking",
        ],
        env={"CBTRACK_USER": "mkhan"},
    )
    assert result.exit_code == 0
    assert git(store_dir, "log", "-1", "--format=%an").strip() == "mkhan"


def test_bad_clock_is_refused(cli: Cli) -> None:
    err = cli.refused("queue", now="yesterday-ish")
    assert "CBTRACK_NOW" in err


def test_validate_lists_every_problem(cli: Cli, store_dir: Path) -> None:
    cli.add()
    assert cli.ok("validate").stdout.startswith("The policy and every record are valid")
    bad1 = store_dir / "callbacks" / "open" / "cb-20261127-aaaaa.yaml"
    bad1.write_text("id: cb-20261127-aaaaa\nstatus: [\n")
    bad2 = store_dir / "callbacks" / "open" / "cb-20261127-bbbbb.yaml"
    bad2.write_text("id: cb-20261127-bbbbb\n")
    result = cli("validate")
    assert result.exit_code == 1
    assert "cb-20261127-aaaaa.yaml" in result.stderr and "cb-20261127-bbbbb.yaml" in result.stderr
    data = json.loads(cli("validate", "--json").stdout)
    assert data["ok"] is False and len(data["problems"]) == 2


def test_broken_policy_stops_every_command(cli: Cli, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    path.write_text(path.read_text().replace('call_hours: "08:00-20:00"', "call_hours: soon"))
    result = cli("queue")
    assert result.exit_code == 3
    assert "cbtrack.yaml" in result.stderr and "call_hours" in result.stderr


def test_record_with_wrong_field_names_file_and_field(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    path = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    path.write_text(path.read_text().replace("urgency: time_sensitive", "urgency: whenever"))
    result = cli("show", cid)
    assert result.exit_code == 3
    assert f"{cid}.yaml" in result.stderr and "urgency" in result.stderr
    assert "whenever" not in result.stderr


def test_yaml_traps_survive(cli: Cli) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "No",
        "--phone",
        "+441234567890",
        "--category",
        "general",
        "--reason",
        "Null",
        "--detail",
        "topic=10:45",
        "--mrn",
        "00123",
    )
    cid = result.stdout.strip()
    data = cli.record(cid)
    assert data["patient"]["name"] == "No"
    assert data["patient"]["phone"] == "+441234567890"
    assert data["patient"]["mrn"] == "00123"
    assert data["reason"] == "Null" and data["details"]["topic"] == "10:45"


def test_every_command_has_help_with_an_example() -> None:
    from cbtrack.cli import app as the_app

    runner = CliRunner()
    import typer.main

    group = typer.main.get_command(the_app)
    for name in group.commands:  # type: ignore[attr-defined]
        result = runner.invoke(the_app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.stdout, name


def test_refusal_leaves_store_unchanged_bytewise(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    before = snapshot(store_dir)
    cli.refused("attempt", cid, "--method", "phone", "--result", "no_answer", "--note", "tried")
    assert snapshot(store_dir) == before


def test_init_honours_store_option_and_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["--store", "by-option", "--as", "jlee", "init"]).exit_code == 0
    assert (tmp_path / "by-option" / "cbtrack.yaml").is_file()
    result = runner.invoke(app, ["--as", "jlee", "init"], env={"CBTRACK_STORE": "by-env"})
    assert result.exit_code == 0
    assert (tmp_path / "by-env" / "cbtrack.yaml").is_file()
    assert not (tmp_path / "cbtrack.yaml").exists()


def test_a_bad_detail_key_is_not_repeated(cli: Cli) -> None:
    err = cli.refused(
        *ADD_GENERAL, "--detail", "Jane Roe HIV status=positive",
    )  # fmt: skip
    assert "details" in err and "Jane" not in err and "HIV" not in err


def test_the_tools_commit_leaves_hand_staged_files_alone(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    (store_dir / "notes.txt").write_text("hand notes\n")
    git(store_dir, "add", "notes.txt")
    cli.ok("note", cid, "Patient prefers mornings")
    changed = git(store_dir, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == [f"callbacks/open/{cid}.yaml"]
    assert "notes.txt" in git(store_dir, "diff", "--cached", "--name-only")


def test_short_ids_reach_closed_callbacks_and_never_echo_input(cli: Cli) -> None:
    cid = cli.add()
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered on the earlier call")
    assert cli.record(cid[-5:])["status"] == "closed"
    err = cli.refused("show", "Ada Example")
    assert "Ada" not in err and "callback ID" in err


def test_a_clone_pulls_by_merging(cli: Cli, store_dir: Path) -> None:
    cli.add()
    assert git(store_dir, "config", "pull.rebase").strip() == "false"


def test_bad_window_and_birth_date_say_how_to_write_them(cli: Cli) -> None:
    base = ADD_GENERAL
    assert "HH:MM-HH:MM" in cli.refused(*base, "--window", "9-5")
    assert "YYYY-MM-DD" in cli.refused(*base, "--dob", "1990-13-45")
    assert "YYYY-MM-DD" in cli.refused(*base, "--dob", "March 3")


def test_init_on_a_copied_store_makes_its_files_owner_only(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "maplewood", copy)
    for path in [copy, *copy.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert CliRunner().invoke(app, ["--as", "flead", "init", str(copy)]).exit_code == 0
    for path in [copy / "cbtrack.yaml", *(copy / "callbacks").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert git(copy, "status", "--porcelain") == ""
