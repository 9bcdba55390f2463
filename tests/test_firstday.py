"""The first day: the packaged default policy, init with its options and prompts, the
placeholder and uncommitted-policy warnings, validate --commit, and policy errors in
plain words."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cbtrack.cli import app, setup as cli_setup
from cbtrack.model import Urgency
from cbtrack.policy import DEFAULT_POLICY, Policy, default_policy_text
from cbtrack.store import Store
from cbtrack.yamlio import parse_yaml
from tests.conftest import Cli, git, snapshot

SEED_CATEGORIES = {
    "scheduling", "rescheduling", "cancellation", "referral_status", "insurance",
    "intake_form", "records_request", "billing", "prescription", "clinical_concern",
    "post_visit", "missed_call", "general",
}  # fmt: skip

RUNNER = CliRunner()


def run(*args: str, input: str | None = None) -> object:
    return RUNNER.invoke(app, list(args), input=input)


# --- the packaged default policy -------------------------------------------------------


def test_the_packaged_policy_loads_and_is_what_the_code_expects() -> None:
    text = default_policy_text()
    data = parse_yaml(text)  # the store's strict loader: no anchors, tags or duplicates
    policy = Policy.model_validate(data)
    assert policy == Policy.default()
    assert data == DEFAULT_POLICY  # the module constant is the file's data
    # complete: every key of the model is written in the file, none left to code defaults
    assert set(data) == set(Policy.model_fields)
    assert set(data["business_hours"]) == {"days", "hours"}
    assert set(data["attempts"]) == {"max", "min_spacing", "voicemail"}
    assert set(policy.categories) == SEED_CATEGORIES
    assert set(policy.urgencies) == set(Urgency)
    ranks = [policy.urgencies[u].rank for u in Urgency]
    assert ranks == sorted(ranks)
    for name, cat in data["categories"].items():
        assert set(cat) == set(type(policy.categories[name]).model_fields), name
        assert cat["label"] and cat["preventable"] and cat["opening"]
    assert set(data["scripts"]) == set(type(policy.scripts).model_fields)
    # the built-in safety rules ship separately; the practice's own list starts empty
    assert data["triage"]["rules"] == []
    assert (policy.timezone, policy.call_hours) == ("America/New_York", "08:00-20:00")
    assert policy.staff == {}


def test_every_key_of_the_packaged_policy_has_a_comment_above_it() -> None:
    """Each key is explained by the comment line just above it. The categories share one
    shape: the first shows every key with its comment, each later one has a comment on
    the category itself."""
    lines = default_policy_text().splitlines()
    section, categories_seen = "", 0
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([a-z_]+):", line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        if indent == 0:
            section = key
        if section == "categories" and indent == 2:
            categories_seen += 1
        if section == "categories" and indent == 4 and categories_seen > 1:
            continue
        assert lines[i - 1].lstrip().startswith("#"), f"line {i + 1}: {key} has no comment"
    assert categories_seen == len(SEED_CATEGORIES)


def test_init_writes_the_packaged_file_itself(tmp_path: Path) -> None:
    assert run("--as", "jlee", "init", str(tmp_path / "s")).exit_code == 0  # type: ignore[attr-defined]
    assert (tmp_path / "s" / "cbtrack.yaml").read_text() == default_policy_text()


def test_a_short_policy_is_completed_from_the_packaged_file(tmp_path: Path) -> None:
    store = tmp_path / "s"
    run("--as", "jlee", "init", str(store))
    (store / "cbtrack.yaml").write_text(
        'practice: Oak Test Clinic\ncallback_number: "5550100999"\n'
    )
    policy = Store(store).policy
    assert policy.categories == Policy.default().categories
    assert policy.scripts == Policy.default().scripts


# --- init ----------------------------------------------------------------------------


def test_init_with_options_gives_a_committed_valid_named_practice(tmp_path: Path) -> None:
    store = tmp_path / "oak"
    result = run(
        "--as", "jlee", "init", str(store), "--practice", "Oak: Street Test Clinic",
        "--callback-number", "+1 555 010 0999", "--timezone", "America/Chicago",
        "--staff", "jlee=Jamie Lee:front_desk,front_desk_lead", "--staff", "rn=Riya Patel:clinical",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "Oak: Street Test Clinic" in result.stdout  # type: ignore[attr-defined]
    assert "America/Chicago" in result.stdout  # type: ignore[attr-defined]
    assert result.stderr == ""  # type: ignore[attr-defined]  # no placeholder left
    assert git(store, "status", "--porcelain", "--untracked-files=all") == ""
    assert len(git(store, "log", "--oneline").splitlines()) == 1
    policy = Store(store).policy
    assert policy.practice == "Oak: Street Test Clinic"
    assert policy.callback_number == "+1 555 010 0999"
    assert policy.timezone == "America/Chicago"
    assert policy.staff["jlee"].roles == ["front_desk", "front_desk_lead"]
    assert policy.staff["rn"].name == "Riya Patel"
    text = (store / "cbtrack.yaml").read_text()
    assert "  jlee: {name: Jamie Lee, roles: [front_desk, front_desk_lead]}" in text
    assert text.count("\n# ") == default_policy_text().count("\n# ")  # comments kept
    cli = Cli(store)
    valid = cli("validate")
    assert valid.exit_code == 0 and valid.stderr == ""
    cli.refused("add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
                "--reason", "x", "--detail", "topic=x", user="stranger")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--timezone", "Mars/Olympus"], "timezone is not a time zone name"),
        (["--callback-number", "12"], "callback_number needs 7 to 15 digits"),
        (["--staff", "amy=Amy:nurse"], "staff.amy.roles names nurse, which is not a role"),
        (["--staff", "amy smith=Amy:front_desk"], "staff has a key that is not a name"),
        (["--staff", "amy"], "--staff takes USER=NAME:ROLE"),
        (["--practice", " "], "practice must be text"),
    ],
)
def test_init_refuses_bad_values_and_writes_nothing(
    tmp_path: Path, args: list[str], words: str
) -> None:
    result = run("--as", "jlee", "init", str(tmp_path / "s"), *args)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert words in result.stderr  # type: ignore[attr-defined]
    assert result.stderr.count("\n") == 1  # type: ignore[attr-defined]
    assert not (tmp_path / "s").exists()


def test_init_options_on_an_existing_policy_are_refused(store_dir: Path) -> None:
    before = snapshot(store_dir)
    result = run("--as", "jlee", "init", str(store_dir), "--practice", "Other")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "validate --commit" in result.stderr  # type: ignore[attr-defined]
    assert snapshot(store_dir) == before


def test_init_asks_at_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_setup, "interactive", lambda: True)
    answers = "Elm Test Clinic\n12\n5550100888\nMars/Base\n\nbad entry\nmo=Mo Khan:scheduling\n\n"
    result = run("--as", "mo", "init", str(tmp_path / "elm"), input=answers)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "--staff takes USER=NAME:ROLE" in result.stderr  # type: ignore[attr-defined]
    assert "7 to 15 digits" in result.stderr  # type: ignore[attr-defined]  # asked again
    assert "not a time zone name" in result.stderr  # type: ignore[attr-defined]
    policy = Store(tmp_path / "elm").policy
    assert policy.practice == "Elm Test Clinic"
    assert policy.callback_number == "5550100888"
    assert policy.timezone == "America/New_York"  # Enter keeps the default, which was shown
    assert "[America/New_York]" in result.stdout  # type: ignore[attr-defined]
    assert list(policy.staff) == ["mo"]


def test_init_only_asks_for_what_the_options_leave_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_setup, "interactive", lambda: True)
    result = run("init", str(tmp_path / "s"), "--practice", "Ash Test Clinic",
                 "--timezone", "Europe/London", "--staff", "a=A B:front_desk",
                 input="5550100777\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "Practice name" not in result.stdout  # type: ignore[attr-defined]
    assert Store(tmp_path / "s").policy.callback_number == "5550100777"


def test_init_never_asks_without_a_terminal(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_cbtrack(), "--as", "jlee", "init", str(tmp_path / "s")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env={"PATH": str(Path(__file__).parents[1] / ".venv" / "bin") + ":/usr/bin:/bin",
             "HOME": str(tmp_path), "CBTRACK_NOW": "2026-11-27T10:00:00-05:00"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "?" not in proc.stdout and "Practice name" not in proc.stdout
    assert "America/New_York" in proc.stdout  # the default time zone is named
    assert "practice is still the placeholder" in proc.stderr


# --- placeholders, uncommitted edits, validate --commit --------------------------------


def test_validate_warns_while_the_placeholders_remain(cli: Cli) -> None:
    result = cli("validate")
    assert result.exit_code == 0
    assert "practice is still the placeholder" in result.stderr
    assert "callback_number is still the placeholder" in result.stderr
    as_json = cli("validate", "--json")
    assert json.loads(as_json.stdout)["ok"] is True and "placeholder" in as_json.stderr


def test_script_warns_while_the_placeholders_would_be_read_to_patients(cli: Cli) -> None:
    cid = cli.add()
    result = cli.ok("script", cid)
    assert "practice is still the placeholder" in result.stderr


def test_an_uncommitted_policy_is_named_on_stderr_and_committed_by_validate(
    cli: Cli, store_dir: Path
) -> None:
    path = store_dir / "cbtrack.yaml"
    text = path.read_text().replace("Your Practice Name", "Elm Test Clinic")
    path.write_text(text.replace('"+15555550100"', '"+15550100444"'))
    queue = cli("queue")
    assert queue.exit_code == 0 and "not committed" in queue.stderr
    assert "validate --commit" in queue.stderr
    assert "not committed" in cli("queue", "--json").stderr
    assert "not committed" in cli("validate").stderr
    heads = git(store_dir, "rev-parse", "HEAD")
    result = cli.ok("validate", "--commit")
    assert "Committed" in result.stdout and result.stderr == ""
    assert git(store_dir, "rev-parse", "HEAD") != heads
    assert git(store_dir, "status", "--porcelain") == ""
    assert (
        git(store_dir, "log", "-1", "--format=%an %s") == "jlee policy: edits checked by validate\n"
    )
    assert cli("queue").stderr == ""
    again = cli.ok("validate", "--commit")
    assert "no uncommitted edits" in again.stdout


def test_validate_commit_refuses_a_broken_policy(cli: Cli, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    path.write_text(path.read_text().replace('call_hours: "08:00-20:00"', "call_hours: 8am-8pm"))
    heads = git(store_dir, "rev-parse", "HEAD")
    result = cli("validate", "--commit")
    assert result.exit_code == 1
    assert "call_hours is not a time range" in result.stderr
    assert "not committed" in result.stderr
    assert git(store_dir, "rev-parse", "HEAD") == heads


def test_validate_commit_needs_a_rostered_user(cli: Cli, store_dir: Path) -> None:
    path = store_dir / "cbtrack.yaml"
    path.write_text(
        path.read_text().replace("staff: {}", "staff:\n  amy: {name: Amy, roles: [front_desk]}")
    )
    assert cli("validate", "--commit", user="stranger").exit_code == 1
    assert "cbtrack.yaml" in git(store_dir, "status", "--porcelain")
    cli.ok("validate", "--commit", user="amy")


# --- policy errors in plain words ------------------------------------------------------

SHORT = 'practice: Oak Test Clinic\ncallback_number: "+15550100777"\n'


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("call_hours: 8am-8pm", 'call_hours is not a time range from opening to closing, in '
         '24-hour HH:MM; for example call_hours: "08:00-20:00"'),
        ("staff: [jlee, amy]", "staff must be a mapping of keys to values, not a single value or "
         "a list; for example staff: {jlee: {name: Jamie Lee, roles: [front_desk]}}"),
        ("attempts: {max: 0}", "attempts.max must be at least 1; for example max: 3"),
        ("attempts: {max: lots}", "attempts.max must be a whole number; for example max: 3"),
        ("attempts: {min_spacing: soon}", "attempts.min_spacing is not a duration"),
        ("practise: x", "practise is not a key cbtrack knows here (did you mean practice?)"),
        ("holidays: [christmas]", "holidays[1] must be a date written YYYY-MM-DD"),
        ("urgencies: {urgent: {rank: 1, due: 1h}}", "urgencies has a key that is not an urgency"),
        ("categories: {general: {owner: front_desk, urgency: soon}}",
         "categories.general.urgency must be one of routine, time_sensitive, deadline"),
        ("roles: [front_desk]", "categories.scheduling.owner names scheduling, which is not"),
        ('scripts: {voicemail_minimal: "Hi {patient_first}"}',
         "scripts.voicemail_minimal may not use {patient_first}"),
        ("business_hours: {days: [monday]}", "business_hours.days must list the open days"),
    ],
)  # fmt: skip
def test_policy_errors_are_plain_words(store_dir: Path, line: str, says: str) -> None:
    (store_dir / "cbtrack.yaml").write_text(SHORT + line + "\n")
    result = run("--store", str(store_dir), "queue")
    assert result.exit_code == 3  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.startswith("Error: cbtrack.yaml: ") and says in err, err
    for jargon in ("pattern", "should", "Input", "dictionary", "^", "[0-5]", "pydantic"):
        assert jargon not in err, (jargon, err)
    problems = json.loads(run("--store", str(store_dir), "validate", "--json").stdout)  # type: ignore[attr-defined]
    assert any(says in p for p in problems["problems"])


def test_yaml_parses_every_example_in_the_error_table() -> None:
    from cbtrack.policyproblems import EXAMPLES

    for key, example in EXAMPLES.items():
        assert isinstance(yaml.safe_load(example), dict | list), key


# --- global options after the command, shell completion --------------------------------


def test_store_and_as_are_accepted_after_the_command(cli: Cli, store_dir: Path) -> None:
    add = ["add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
           "--reason", "--as", "--detail", "topic=x"]  # fmt: skip
    result = RUNNER.invoke(app, [*add, "--store", str(store_dir), "--as", "mkhan"])
    assert result.exit_code == 0, result.stderr
    cid = result.stdout.strip()
    data = cli.record(cid)
    assert data["created_by"] == "mkhan" and data["reason"] == "--as"
    shown = RUNNER.invoke(app, ["show", cid[-5:], "--json", "--store", str(store_dir)])
    assert json.loads(shown.stdout)["id"] == cid
    # after the command wins over before it
    late = RUNNER.invoke(app, ["--as", "jlee", "note", cid, "Checked", "--as", "mkhan",
                               "--store", str(store_dir)])  # fmt: skip
    assert late.exit_code == 0, late.stderr
    assert cli.record(cid)["events"][-1]["by"] == "mkhan"
    assert "--as USER" in RUNNER.invoke(app, ["queue", "--help"]).stdout


def _cbtrack() -> str:
    return str(Path(__file__).parents[1] / ".venv" / "bin" / "cbtrack")


def test_shell_completion(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    shown = subprocess.run([_cbtrack(), "--show-completion", "bash"], capture_output=True,
                           text=True, env=env, timeout=60)  # fmt: skip
    assert shown.returncode == 0 and "_cbtrack_completion" in shown.stdout
    complete = {**env, "_CBTRACK_COMPLETE": "complete_bash", "COMP_WORDS": "cbtrack que",
                "COMP_CWORD": "1"}  # fmt: skip
    words = subprocess.run([_cbtrack()], capture_output=True, text=True, env=complete, timeout=60)
    assert words.stdout.split() == ["queue"]
    complete.update(COMP_WORDS="cbtrack queue --urgency ", COMP_CWORD="3")
    words = subprocess.run([_cbtrack()], capture_output=True, text=True, env=complete, timeout=60)
    assert "same_day" in words.stdout.split()


# --- small things that cost trust ------------------------------------------------------


def test_an_unknown_short_id_is_named(cli: Cli) -> None:
    err = cli.refused("show", "zzzzz")
    assert "No callback ends in zzzzz" in err


def test_an_unknown_detail_is_named_with_a_suggestion(cli: Cli) -> None:
    result = cli.ok(
        "add", "--patient", "A B", "--phone", "5550100123", "--category", "scheduling",
        "--reason", "Visit", "--detail", "visit_type=new", "--detail", "availability=am",
        "--detail", "provider_preference=any", "--detail", "deadlin=Friday",
    )  # fmt: skip
    assert "detail deadlin is not one of the scheduling fields" in result.stderr
    assert "Did you mean deadline?" in result.stderr


@pytest.mark.parametrize(
    ("now", "due", "expected"),
    [
        # Thursday + 3 days is a Sunday: the practice is closed, so Monday's opening
        ("2026-11-26T10:00:00-05:00", "in 3d", "2026-11-30T08:00:00-05:00"),
        ("2026-11-26T10:00:00-05:00", "next monday", "2026-11-30T17:00:00-05:00"),
        ("2026-11-26T10:00:00-05:00", "tue 9:30", "2026-12-01T09:30:00-05:00"),
        ("2026-11-27T10:00:00-05:00", "friday", "2026-12-04T17:00:00-05:00"),
    ],
)
def test_friendly_due_times(cli: Cli, now: str, due: str, expected: str) -> None:
    result = cli(
        "add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
        "--reason", "x", "--detail", "topic=x", "--due", due, now=now,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert cli.record(result.stdout.strip())["due_at"] == expected
    if due == "in 3d":
        assert "falls on Sun 29 Nov, when the practice is closed" in result.stderr


def test_report_json_with_another_format_is_a_usage_error(cli: Cli) -> None:
    for fmt in ("text", "html", "csv"):
        err = cli.refused("report", "--json", "--format", fmt, code=2)
        assert "give only one of them" in err
    assert cli("report", "--json", "--format", "json").exit_code == 0


def test_categories_lists_what_add_needs(cli: Cli) -> None:
    out = cli.ok("categories").stdout
    assert "scheduling" in out and "visit_type=..." in out
    data = json.loads(cli.ok("categories", "--json").stdout)
    assert data["billing"]["required_details"] == ["statement_date", "question_type"]
    assert "cbtrack categories" in cli.ok("add", "--help").stdout
