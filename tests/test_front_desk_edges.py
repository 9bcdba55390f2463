"""Rough edges a newcomer found at the front desk: numbers on the command line, a store git
cannot write to, where `--output` wrote, a due time in the past, and user names typed in
another case. Each through the CLI, on a store in tmp_path, with the clock pinned."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADD_GENERAL, STAFF, Cli, git, set_policy
from tests.helpers_robust import cbtrack_argv, subprocess_env
from tests.test_identity import Practice

# --- 1. numeric options: syntax exits 2, a broken rule exits 1, in our words ------------


def test_a_limit_that_is_no_number_is_syntax_and_one_below_one_is_refused(cli: Cli) -> None:
    cli.add()
    for text in ("abc", "1.5", "", "ten"):
        err = cli.refused("queue", "--limit", text, code=2)
        assert err == "Error: --limit takes a whole number, for example --limit 10.\n", text
    for text in ("0", "-1"):
        err = cli.refused("queue", "--limit", text, code=1)
        assert err == "Error: --limit must be 1 or more, for example --limit 10.\n", text
    cli.refused("queue", "--json", "--limit=0", code=1)
    assert "Input should" not in cli("queue", "--limit", "x").stderr
    assert len(cli.ok("queue", "--limit", " 1 ", "--json").stdout.strip()) > 2


# --- 2. a store git may not write to: one sentence of ours, nothing half-written ---------


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
@pytest.mark.parametrize("folder", ["objects", "refs"])
def test_a_store_git_may_not_write_to_is_one_sentence_and_nothing_changes(
    cli: Cli, store_dir: Path, folder: str
) -> None:
    cid = cli.add()
    top = store_dir / ".git" / folder
    folders = [top, *(p for p in top.rglob("*") if p.is_dir())]
    for path in folders:
        path.chmod(0o500)
    try:
        for args in (
            ["note", cid, "Rang the mobile, no answer"],
            [*ADD_GENERAL, "--symptoms", "no"],
            ["close", cid, "--reason", "resolved", "--summary", "Answered at the desk"],
        ):
            err = cli.refused(*args)  # exit 1, one line, the store as it was
            assert err.startswith(
                f"Error: git may not write to {store_dir.resolve() / '.git'} (check that this "
                "login may write to that folder and everything in it); the change to "
            ), err
            assert err.endswith(" was undone, nothing changed.\n"), err
            assert "fatal" not in err and "denied" not in err, err
    finally:
        for path in folders:
            path.chmod(0o700)
    assert git(store_dir, "status", "--porcelain") == ""
    cli.ok("note", cid, "Rang the mobile again")  # the store works as soon as git may write
    assert cli.record(cid)["events"][-1]["note"] == "Rang the mobile again"


# --- 3. --output: the file owner-only, and at a terminal one line saying where -----------


def _on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run cbtrack with stderr on a terminal (a pty), as at the desk: exit code, stderr."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=env)  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # (the pty's other end closed)
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.stdout is not None and proc.stdout.read() == b""
    return proc.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


def test_output_files_are_owner_only_and_a_terminal_is_told_where(
    cli: Cli, store_dir: Path, tmp_path: Path
) -> None:
    cli.add()
    report, export, tables = tmp_path / "week.html", tmp_path / "open.csv", tmp_path / "tables"
    tables.mkdir()
    for args in (
        ["report", "--format", "html", "--output", str(report)],
        ["export", "--format", "csv", "--open", "--output", str(export)],
        ["report", "--format", "csv", "--output", str(tables)],
    ):
        out = cli.ok(*args)  # not a terminal (cron, a script): silent, as before
        assert out.stdout == "" and out.stderr == "", args
    for path in (report, export, *tables.iterdir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    env = subprocess_env(tmp_path / "desk", CBTRACK_STORE=str(store_dir))
    said = []
    for args in (
        ["report", "--output", str(report)],
        ["export", "--format", "fhir", "--output", str(export)],
        ["report", "--format", "csv", "--output", str(tables)],
    ):
        code, err = _on_terminal([*cbtrack_argv(), *args], env)
        assert code == 0, err
        said.append(err)
    n_tables = len(list(tables.iterdir()))
    assert said == [
        f"Wrote the report to {report} (readable by you only).\n",
        f"Wrote the export of 1 callback to {export} (readable by you only).\n",
        f"Wrote the report's {n_tables} tables to {tables} (readable by you only).\n",
    ]
    assert stat.S_IMODE(export.stat().st_mode) == 0o600


# --- 4. a due time in the past is kept and said, with an example; a minute late is quiet -


def test_a_due_time_in_the_past_is_kept_overdue_and_said_with_an_example(cli: Cli) -> None:
    """A callback noted late is still owed: it is filed, overdue at once, and the desk is
    told so (with how to correct a typing slip)."""
    example = "correct it with edit --due, for example --due 'tomorrow 9:00' or --due 2026-11-30"
    for due in ("2026-11-20T10:00", "2025-11-27"):
        got = cli.ok(*ADD_GENERAL, "--symptoms", "no", "--due", due)
        assert " is in the past, so the callback is overdue now; " in got.stderr, got.stderr
        assert example in got.stderr
    got = cli.ok(*ADD_GENERAL, "--symptoms", "no", "--due", "09:00")
    cid = got.stdout.strip()
    assert (
        "--due Fri 2026-11-27 09:00 is in the past, so the callback is overdue now; if that "
        "was a typing slip, correct it with edit --due, for example --due 'tomorrow 9:00' or "
        "--due 2026-11-30 (that day's close)." in got.stderr
    )
    assert cli.record(cid)["due_at"] == "2026-11-27T09:00:00-05:00"
    assert cid in cli.ok("queue", "--overdue", "--json").stdout
    # Within the policy's clock_skew (10m): a time typed a minute late passes quietly.
    got = cli.ok(*ADD_GENERAL, "--symptoms", "no", "--due", "09:55")
    assert "in the past" not in got.stderr
    got = cli.ok("edit", cid, "--due", "2026-11-26 15:00", "--why", "Patient asked")
    assert "--due Thu 2026-11-26 15:00 is in the past" in got.stderr
    cli.ok("edit", cid, "--due", "tomorrow 9:00", "--why", "Patient asked")
    assert cli.record(cid)["due_at"] == "2026-11-30T08:00:00-05:00"  # Saturday: Monday's opening


# --- 5. user names match the roster in any case, and are recorded as the roster spells them


def test_a_user_name_in_another_case_acts_as_the_roster_spells_it(
    cli: Cli, store_dir: Path
) -> None:
    set_policy(store_dir, staff=STAFF)  # `lead`, `jlee`, ...
    cid = cli.add(user="JLee")
    cli.ok("note", cid, "Rang the mobile, no answer", user="Lead")
    cli.ok("assign", cid, "lead", "--note", "Lead takes it", user="LEAD")
    rec = cli.record(cid)
    assert rec["created_by"] == "jlee"
    assert [e["by"] for e in rec["events"]][-2:] == ["lead", "lead"]
    assert git(store_dir, "log", "-2", "--format=%an").split() == ["lead", "lead"]
    mine = cli.ok("queue", "--mine", "--json", user="Lead").stdout
    assert cid in mine
    err = cli.refused("note", cid, "x", user="Leed")
    assert "'Leed' is not on the practice's staff list" in err


def test_with_signing_required_the_signer_still_decides(tmp_path: Path) -> None:
    practice = Practice(tmp_path)
    cid = practice.add("rn")
    done = practice.run("RN", "note", cid, "Spoke to the patient", key="rn")
    assert done.exit_code == 0, done.stderr
    refused = practice.run("FD", "note", cid, "I am the nurse", key="rn")
    assert refused.exit_code == 1
    assert "This desk signs with rn's key, so it cannot act as fd" in refused.stderr
    shown = practice.run(None, "show", cid, "--json")
    assert [e["by"] for e in json.loads(shown.stdout)["events"]][-1] == "rn"
    assert practice.findings("--full") == []
