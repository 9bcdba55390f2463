"""`cbtrack import missed-calls`: a phone system's CSV export becomes missed_call callbacks,
once per call, in one commit; bad rows are named by line and stop the import."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from cbtrack import importer
from cbtrack.cli import app
from cbtrack.model import Callback
from cbtrack.store import Store
from tests.conftest import STAFF, Cli, attempt_args, git, set_policy, snapshot
from tests.helpers_robust import run_in_process
from tests.test_packaging import run

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "missed-calls.csv"
HEADER = "called_at,phone,name,duration,voicemail\n"


def write(tmp_path: Path, text: str, name: str = "calls.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def records(store: Path) -> list[Callback]:
    return sorted(Store(store).all_records(), key=lambda cb: cb.created_at)


def commits(store: Path) -> int:
    return int(git(store, "rev-list", "--count", "HEAD"))


def test_the_sample_export_imports_as_25_callbacks_in_one_commit_and_again_as_none(
    cli: Cli, store_dir: Path
) -> None:
    before = commits(store_dir)
    out = cli.ok("import", "missed-calls", str(SAMPLE))
    assert "Added 25 missed calls; skipped 0" in out.stdout
    assert commits(store_dir) == before + 1
    found = records(store_dir)
    assert len(found) == 25
    assert {cb.category for cb in found} == {"missed_call"}
    assert git(store_dir, "log", "-1", "--format=%an").strip() == "jlee"
    assert git(store_dir, "status", "--porcelain") == ""

    again = cli.ok("import", "missed-calls", str(SAMPLE), "--json")
    assert json.loads(again.stdout) == {"added": 0, "skipped": 25, "bad": 0}
    assert commits(store_dir) == before + 1
    assert len(records(store_dir)) == 25


def test_a_call_becomes_a_callback_created_at_the_call_time(cli: Cli, store_dir: Path) -> None:
    csv = HEADER + (
        '2026-11-26 08:14:05,(212) 555-0142,Maria Example,0:45,"Hi, I need to reschedule '
        'my visit on Tuesday"\n'
        "11/26/2026 4:05 PM,212-555-0143,WIRELESS CALLER,12,\n"
    )
    cli.ok("import", "missed-calls", write(store_dir.parent, csv))
    first, second = records(store_dir)
    assert first.created_at.isoformat() == "2026-11-26T08:14:05-05:00"
    assert first.id.startswith("cb-20261126-")
    assert first.source.value == "voicemail"
    assert first.reason == "Hi, I need to reschedule my visit on Tuesday"
    assert first.patient.name == "Maria Example"
    assert first.details == {"call_time": "2026-11-26 08:14", "left_message": "yes"}
    assert first.import_key == "missed-call:20261126T131405Z:2125550142"
    assert "0:45" in (first.events[0].note or "")
    assert first.events[0].at == first.created_at
    assert first.owner == "front_desk" and first.urgency.value == "routine"
    # a caller ID label is not a name: the desk sees a clear placeholder and what to ask
    assert second.created_at.isoformat() == "2026-11-26T16:05:00-05:00"
    assert second.source.value == "missed_call"
    assert second.patient.name == importer.UNKNOWN_CALLER
    assert second.reason == "Missed call, no voicemail left"
    assert second.details["left_message"] == "no"
    assert second.next_action.endswith("ask who is calling")
    queue = cli.ok("queue").stdout
    assert "Unknown ca" in queue


def test_triage_reads_the_voicemail_like_a_reason(cli: Cli, store_dir: Path) -> None:
    csv = HEADER + (
        '2026-11-27 08:00,2125550150,Ann Example,,"the rash is getting worse since the new '
        'cream"\n'
        '2026-11-27 08:05,2125550151,Bo Example,,"I have chest pain, please call"\n'
        "2026-11-27 08:10,2125550152,Cy Example,,\n"
    )
    out = cli.ok("import", "missed-calls", write(store_dir.parent, csv))
    rash, chest, plain = records(store_dir)
    assert (rash.urgency.value, rash.owner) == ("clinical", "clinical")
    assert (chest.urgency.value, chest.owner) == ("emergency", "clinical")
    assert chest.due_at == chest.created_at  # the clock started when the patient called
    assert [e.type.value for e in chest.events] == ["created", "triaged"]
    assert plain.urgency.value == "routine"
    # the desk is told at once, by ID (never by name)
    assert f"emergency and owned by clinical: {chest.id}; call back now" in out.stderr
    assert rash.id in out.stderr
    assert "Ann" not in out.stderr + out.stdout


def test_a_long_voicemail_is_cut_in_the_record_but_triaged_whole(cli: Cli, store_dir: Path) -> None:
    words = "I wanted to ask about the schedule for next week and the parking. " * 40
    csv = HEADER + f'2026-11-27 08:00,2125550150,Ann Example,,"{words} Also I have chest pain"\n'
    cli.ok("import", "missed-calls", write(store_dir.parent, csv))
    (cb,) = records(store_dir)
    assert len(cb.reason) <= 2000
    assert cb.reason.endswith("[cut here; the whole message is in the phone system]")
    assert cb.urgency.value == "emergency"


def test_overlapping_exports_add_only_new_calls(cli: Cli, store_dir: Path) -> None:
    monday = HEADER + (
        "2026-11-26 08:00:00,(212) 555-0160,Ann Example,,\n"
        "2026-11-26 09:00:00,(212) 555-0161,Bo Example,,\n"
    )
    cli.ok("import", "missed-calls", write(store_dir.parent, monday, "a.csv"))
    # the next export overlaps: same calls, numbers and times written differently
    tuesday = HEADER + (
        "2026-11-26T13:00:00Z,+1 212 555 0160,Ann Example,,\n"
        "11/26/2026 9:00 AM,12125550161,,,\n"
        "2026-11-26 10:00:00,(212) 555-0162,Cy Example,,\n"
        "2026-11-26 10:00:00,212.555.0162,Cy Example,,\n"  # the same call twice in one file
    )
    out = cli.ok("import", "missed-calls", write(store_dir.parent, tuesday, "b.csv"), "--json")
    assert json.loads(out.stdout) == {"added": 1, "skipped": 3, "bad": 0}
    assert len(records(store_dir)) == 3


def test_a_closed_imported_call_is_still_known(cli: Cli, store_dir: Path) -> None:
    csv = HEADER + "2026-11-26 08:00,2125550170,Ann Example,,\n"
    path = write(store_dir.parent, csv)
    cli.ok("import", "missed-calls", path)
    (cb,) = records(store_dir)
    cli.ok(*attempt_args(cb.id, "phone", "reached", "Reached the patient, question answered"))
    cli.ok("close", cb.id, "--reason", "reached", "--summary", "Answered the question")
    assert Store(store_dir).closed_path(cb.id).exists()
    out = cli.ok("import", "missed-calls", path, "--json")
    assert json.loads(out.stdout)["skipped"] == 1


def test_the_lookup_reads_only_the_days_of_the_calls(cli: Cli, store_dir: Path) -> None:
    """A broken record filed in another month is never opened: the import does not parse
    the store's history to find what it already holds."""
    other = store_dir / "callbacks" / "closed" / "2025-01" / "cb-20250105-aaaaa.yaml"
    other.parent.mkdir(parents=True)
    other.write_text("id: [not, valid\n")
    csv = HEADER + "2026-11-26 08:00,2125550170,Ann Example,,\n"
    path = write(store_dir.parent, csv)
    assert Store(store_dir).import_keys({"20261126"}) == {}
    cli.ok("import", "missed-calls", path)
    assert len(Store(store_dir).import_keys({"20261125", "20261126", "20261127"})) == 1


def test_bad_rows_are_named_by_line_and_nothing_is_written(cli: Cli, store_dir: Path) -> None:
    csv = HEADER + (
        "2026-11-26 08:00,2125550180,Ann Example,,\n"
        "2026-11-26 08:05,anonymous,,,\n"
        "\n"
        "yesterday-ish,2125550181,Bo Example,,\n"
        '2026-11-26 08:15,2125550182,"Cy\nExample",,\n'  # a quoted line break: one row
        "2026-11-26 08:20,2125550183,Di Example,abc,\n"
        "2026-12-25 08:00,2125550184,Ed Example,,\n"
        "08:30,2125550185,Flo Example,,\n"
    )
    path = write(store_dir.parent, csv)
    before = snapshot(store_dir)
    result = cli("import", "missed-calls", path)
    assert result.exit_code == 1
    assert snapshot(store_dir) == before
    err = result.stderr
    assert "line 3: the caller's number needs 7 to 15 digits" in err
    assert "line 5: the call time is not a date and time" in err
    assert "line 8: the duration is not seconds" in err
    assert "line 9: the call time is in the future" in err
    assert "line 10: the call time has no full date" in err
    assert "5 rows are bad (lines 3, 5, 8, 9, 10); nothing was imported" in err
    assert "anonymous" not in err and "Flo" not in err  # rows are never quoted
    assert "Traceback" not in err

    out = cli.ok("import", "missed-calls", path, "--skip-bad", "--json")
    assert json.loads(out.stdout) == {"added": 2, "skipped": 0, "bad": 5}
    assert "Left out: line 3:" in out.stderr
    assert [cb.patient.name for cb in records(store_dir)] == ["Ann Example", "Cy Example"]


def test_map_names_another_exports_columns(cli: Cli, store_dir: Path) -> None:
    csv = (
        "Date;Time;Caller ID;Caller Name;Result;Transcript\n"
        "11/26/2026;8:14 AM;(212) 555-0190;Ann Example;Missed;\n"
        "11/26/2026;2:30 PM;(212) 555-0191;Bo Example;Missed;my fever is back\n"
    )
    path = write(store_dir.parent, "\ufeff" + csv)  # a byte-order mark, as Excel writes
    refused = cli.refused("import", "missed-calls", path)
    assert "no called_at or phone column" in refused and "--map" in refused
    out = cli.ok(
        "import",
        "missed-calls",
        path,
        "--map",
        "Date=called_at",
        "--map",
        "Time=called_at",
        "--map",
        "caller id=phone",
        "--map",
        "Caller Name=name",
        "--map",
        "Transcript=voicemail",
    )
    assert "Added 2" in out.stdout
    first, second = records(store_dir)
    assert first.created_at.isoformat() == "2026-11-26T08:14:00-05:00"
    assert second.created_at.isoformat() == "2026-11-26T14:30:00-05:00"
    assert second.reason == "my fever is back" and second.urgency.value == "clinical"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--map", "Caller"], "--map takes COLUMN=FIELD"),
        (["--map", "Caller=telephone"], "the fields are called_at, phone"),
        (["--map", "Caller ID=phone"], "column(s) the header does not have: Caller ID"),
        (["--map", "a=phone", "--map", "b=phone"], "two columns for phone"),
    ],
)
def test_bad_map_options_are_refused(cli: Cli, store_dir: Path, args: list[str], says: str) -> None:
    path = write(store_dir.parent, HEADER + "2026-11-26 08:00,2125550170,Ann Example,,\n")
    assert says in cli.refused("import", "missed-calls", path, *args)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "The file is empty"),
        ("when,who\n2026-11-26,x\n", "no called_at or phone column"),
    ],
)
def test_unusable_files_are_refused(cli: Cli, store_dir: Path, content: str, says: str) -> None:
    assert says in cli.refused("import", "missed-calls", write(store_dir.parent, content))


def test_a_missing_or_odd_file_is_refused(cli: Cli, store_dir: Path, tmp_path: Path) -> None:
    assert "missing" in cli.refused("import", "missed-calls", str(tmp_path / "nope.csv"))
    assert "not a regular file" in cli.refused("import", "missed-calls", str(tmp_path))
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "2026-11-26 08:00,2125550170,Zo\xe9,,\n").encode("latin-1"))
    assert "not valid UTF-8" in cli.refused("import", "missed-calls", str(latin))


def test_dry_run_writes_nothing_and_says_what_would_happen(cli: Cli, store_dir: Path) -> None:
    before = snapshot(store_dir)
    out = cli.ok("import", "missed-calls", str(SAMPLE), "--dry-run", user=None)
    assert snapshot(store_dir) == before
    assert "Would add 25 missed calls" in out.stdout
    assert "line 2: call at Thu 2026-11-26 07:41 -> routine, front_desk" in out.stdout
    assert "Avery" not in out.stdout  # de-identified
    data = json.loads(cli.ok("import", "missed-calls", str(SAMPLE), "--dry-run", "--json").stdout)
    assert data == {"added": 25, "skipped": 0, "bad": 0, "dry_run": True}


def test_the_importer_must_be_on_the_roster(cli: Cli, store_dir: Path) -> None:
    set_policy(store_dir, staff=STAFF)
    refused = cli.refused("import", "missed-calls", str(SAMPLE), user="stranger")
    assert "not on the practice's staff list" in refused
    assert "Say who you are" in cli.refused("import", "missed-calls", str(SAMPLE), user=None)
    cli.ok("import", "missed-calls", str(SAMPLE), user="mkhan")
    assert git(store_dir, "log", "-1", "--format=%an %ae").startswith("mkhan ")
    assert {cb.created_by for cb in records(store_dir)} == {"mkhan"}


def test_the_commit_message_names_ids_never_callers(cli: Cli, store_dir: Path) -> None:
    cli.ok("import", "missed-calls", str(SAMPLE))
    message = git(store_dir, "log", "-1", "--format=%B")
    assert message.startswith("import 25 missed calls\n")
    ids = {cb.id for cb in records(store_dir)}
    assert set(message.split()[4:]) == ids
    text = SAMPLE.read_text()
    words = " ".join(w for w in message.split() if w not in ids)  # (an ID may hold "555")
    for word in ("Avery", "555", "rash", "WIRELESS"):
        assert word in text and word not in words


def test_repeat_callers_are_pointed_out(cli: Cli, store_dir: Path) -> None:
    cli.add("--phone", "(212) 555-0112")
    out = cli.ok("import", "missed-calls", str(SAMPLE))
    repeats = [cb.id for cb in records(store_dir) if cb.patient.phone.endswith("555-0112")]
    assert len(repeats) == 3  # the desk's own callback and two missed calls
    line = next(w for w in out.stderr.splitlines() if "another open callback" in w)
    assert sum(cid in line for cid in repeats) == 2


def test_progress_goes_to_stderr_only_on_a_terminal(cli: Cli, store_dir: Path) -> None:
    out = cli.ok("import", "missed-calls", str(SAMPLE))
    assert "Saving" not in out.stderr + out.stdout and "Triaging" not in out.stderr


def test_a_policy_without_missed_call_or_needing_more_refuses(cli: Cli, store_dir: Path) -> None:
    data = yaml.safe_load((store_dir / "cbtrack.yaml").read_text())
    data["categories"]["missed_call"]["required_details"] = ["call_time", "caller_need"]
    set_policy(store_dir, categories=data["categories"])
    assert "requires caller_need" in cli.refused("import", "missed-calls", str(SAMPLE))
    del data["categories"]["missed_call"]
    set_policy(store_dir, categories=data["categories"])
    assert "no missed_call category" in cli.refused("import", "missed-calls", str(SAMPLE))


def test_many_rows_are_one_commit(cli: Cli, store_dir: Path) -> None:
    rows = "".join(
        f"2026-11-{20 + i % 7:02d} {8 + i % 10:02d}:{i % 60:02d}:{i % 7:02d},"
        f"212555{i:04d},Person {i},,\n"
        for i in range(300)
    )
    before = commits(store_dir)
    out = cli.ok("import", "missed-calls", write(store_dir.parent, HEADER + rows), "--json")
    assert json.loads(out.stdout)["added"] == 300
    assert commits(store_dir) == before + 1
    assert len(list((store_dir / "callbacks" / "open").glob("*.yaml"))) == 300


def test_installed_cbtrack_imports_as_cron_would(tmp_path: Path) -> None:
    store = tmp_path / "desk"
    assert run(tmp_path, "--as", "jlee", "init", str(store)).returncode == 0
    args = ["--store", str(store), "--as", "jlee", "import", "missed-calls", str(SAMPLE)]
    first = run(tmp_path, *args, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"added": 25, "skipped": 0, "bad": 0}
    second = run(tmp_path, *args)
    assert second.returncode == 0 and "Added 0 missed calls; skipped 25" in second.stdout
    assert "Saving" not in second.stderr
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=store, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_call_keys_ignore_formatting_and_country_codes() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")
    at = importer.parse_call_time("2026-11-26 08:00", tz)
    same = importer.parse_call_time("2026-11-26T13:00:00Z", tz)
    assert importer.call_key(at, "+1 (212) 555-0110") == importer.call_key(same, "212.555.0110")
    assert importer.call_key(at, "2125550110") != importer.call_key(at, "2125550111")
    assert at.tzinfo is not None and at == datetime(2026, 11, 26, 8, 0, tzinfo=tz)
    assert importer.parse_duration("1:02:03") == 3723
    assert importer.parse_duration("45s") == 45
    assert importer.parse_duration("") is None


def test_the_export_can_come_on_stdin(cli: Cli, store_dir: Path) -> None:
    result = cli.runner.invoke(
        app,
        ["--store", str(store_dir), "--as", "jlee", "import", "missed-calls", "-", "--json"],
        input=SAMPLE.read_bytes(),
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"added": 25, "skipped": 0, "bad": 0}


def test_progress_counts_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from cbtrack.cli import interop

    for n in range(1, 51):
        interop._progress("Saving", n, 50)
    err = capsys.readouterr().err
    assert err == "\rSaving 25/50...\rSaving 50/50...\n"


def test_help_ends_with_an_example(cli: Cli) -> None:
    for command in (["import", "missed-calls"], ["export"], ["import"]):
        out = cli.ok(*command, "--help")
        assert "Example: cbtrack" in out.stdout


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(max_size=30), max_size=6), max_size=6))
def test_any_rows_are_calls_or_bad_rows_never_a_crash(rows: list[list[str]]) -> None:
    import csv as csvmod
    import io
    from datetime import datetime
    from zoneinfo import ZoneInfo

    buf = io.StringIO()
    writer = csvmod.writer(buf)
    writer.writerow(["called_at", "phone", "name", "duration", "voicemail"])
    writer.writerows(rows)
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 27, 10, 0, tzinfo=tz)
    parsed = importer.read_calls(buf.getvalue(), {}, tz, now)
    assert len(parsed.calls) + len(parsed.bad) <= len(rows)
    for call in parsed.calls:
        assert call.at.tzinfo is not None and call.at <= now + importer.FUTURE_SLACK
        assert call.key.startswith("missed-call:")


def test_the_sample_is_triaged_on_what_callers_said(cli: Cli, store_dir: Path) -> None:
    out = cli.ok("import", "missed-calls", str(SAMPLE))
    by_level: dict[str, list[str]] = {}
    for cb in records(store_dir):
        by_level.setdefault(cb.urgency.value, []).append(cb.reason)
    assert [r[:16] for r in by_level["emergency"]] == ["This is Emerson,"]
    assert sorted(r[:10] for r in by_level["clinical"]) == ["Hayden her", "Hello, my "]
    assert len(by_level["routine"]) == 22
    assert "1 imported call(s) are emergency" in out.stderr


def test_calls_imported_by_another_desk_meanwhile_are_skipped_under_the_lock(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cbtrack import service

    cli.ok("import", "missed-calls", str(SAMPLE))
    store = Store(store_dir)
    real = Store.import_keys
    calls: list[int] = []

    def late(self: Store, days: set[str]) -> dict[str, list[str]]:
        calls.append(1)
        return {} if len(calls) == 1 else real(self, days)  # first look: not there yet

    monkeypatch.setattr(Store, "import_keys", late)
    now = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    parsed = importer.read_calls(SAMPLE.read_text(), {}, store.policy.tz, now)
    before = commits(store_dir)
    done = service.import_missed_calls(store, "jlee", now, parsed.calls)
    assert (len(done.records), len(done.skipped), len(calls)) == (0, 25, 2)
    assert commits(store_dir) == before


def test_a_failed_import_leaves_nothing_and_can_be_run_again(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbtrack import gitlog
    from cbtrack.errors import GitError

    def broken(*args: object, **kw: object) -> None:
        raise GitError("git commit failed (simulated); nothing was changed.")

    before = snapshot(store_dir)
    with monkeypatch.context() as m:
        m.setattr(gitlog, "commit", broken)
        result = cli("import", "missed-calls", str(SAMPLE))
    assert result.exit_code == 1 and "simulated" in result.stderr
    assert snapshot(store_dir) == before
    assert not (store_dir / ".cbtrack" / "pending").exists()
    out = cli.ok("import", "missed-calls", str(SAMPLE), "--json")
    assert json.loads(out.stdout)["added"] == 25


@pytest.mark.slow
def test_kill_9_during_an_import_loses_nothing_and_the_next_import_completes_it(
    store_dir: Path, tmp_path: Path
) -> None:
    """Killed at any moment, an import leaves every file readable; the next command
    recovers (a journal, a recovery commit), and importing the same file again ends with
    each call exactly once."""
    import os
    import random
    import shutil
    import signal
    import time

    from tests.test_crash import assert_every_file_parses, assert_recovered, base, fork_cli

    rng = random.Random(20261127)
    template = tmp_path / "template"
    shutil.copytree(store_dir, template, symlinks=True)
    out = tmp_path / "out.txt"
    argv = ["import", "missed-calls", str(SAMPLE), "--json"]
    start = time.monotonic()
    os.waitpid(fork_cli([*base(store_dir), *argv], out), 0)
    span = time.monotonic() - start
    for trial in range(8):
        store = tmp_path / f"trial{trial}"
        shutil.copytree(template, store, symlinks=True)
        pid = fork_cli([*base(store), *argv], out)
        time.sleep(rng.uniform(0.1 * span, 0.95 * span))
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if trial % 2 else os.kill)(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert_every_file_parses(store)
        code, stdout, stderr = run_in_process([*base(store), *argv])
        assert code == 0, (trial, stderr)
        assert_recovered(store)
        keys = [cb.import_key for cb in Store(store).all_records()]
        assert len(keys) == len(set(keys)) == 25, (trial, json.loads(stdout))


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("2026-11-26 08:14", "2026-11-26T08:14:00-05:00"),
        ("2026-11-26T08:14:05", "2026-11-26T08:14:05-05:00"),
        ("2026-11-26T13:14:05Z", "2026-11-26T08:14:05-05:00"),
        ("2026-11-26T08:14:05-08:00", "2026-11-26T11:14:05-05:00"),
        ("11/26/2026 8:14 AM", "2026-11-26T08:14:00-05:00"),
        ("11/26/2026 20:14", "2026-11-26T20:14:00-05:00"),
        ("26/11/2026 08:14", "2026-11-26T08:14:00-05:00"),  # day first when it must be
        ("Nov 26 2026 8:14pm", "2026-11-26T20:14:00-05:00"),
        ("2026-07-04 09:00", "2026-07-04T09:00:00-04:00"),  # summer time
    ],
)
def test_call_times_as_phone_systems_print_them(text: str, local: str) -> None:
    from zoneinfo import ZoneInfo

    assert importer.parse_call_time(text, ZoneInfo("America/New_York")).isoformat() == local


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("soon", "not a date and time"),
        ("2026-11-26", "no time of day"),
        ("8:14 AM", "no full date"),
        ("2026-02-30 08:00", "not a date and time"),
        ("9" * 80, "too long"),
    ],
)
def test_call_times_that_are_not_times(text: str, problem: str) -> None:
    from zoneinfo import ZoneInfo

    with pytest.raises(importer._Bad, match=problem):
        importer.parse_call_time(text, ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("Ann Example", "Ann Example"),
        ("  Ann   Example ", "Ann Example"),
        ("WIRELESS CALLER", None),
        ("Anonymous", None),
        ("unknown_caller", None),
        ("212-555-0110", None),
        ("", None),
    ],
)
def test_caller_id_labels_are_not_names(name: str, kept: str | None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")
    text = f'{HEADER}2026-11-26 08:00,2125550110,"{name}",,\n'
    parsed = importer.read_calls(text, {}, tz, datetime(2026, 11, 27, tzinfo=tz))
    assert [c.name for c in parsed.calls] == [kept]


def test_tab_separated_exports_with_headers_in_any_case() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")
    text = "Called At\tPHONE\tVoice-Mail\n2026-11-26 08:00\t2125550110\tcall me back\n"
    parsed = importer.read_calls(text, {}, tz, datetime(2026, 11, 27, tzinfo=tz))
    (call,) = parsed.calls
    assert (call.phone, call.transcript) == ("2125550110", "call me back")


def test_naming_an_unknown_caller_keeps_the_call_known(cli: Cli, store_dir: Path) -> None:
    path = write(store_dir.parent, HEADER + "2026-11-26 08:00,2125550170,,,\n")
    cli.ok("import", "missed-calls", path)
    (cb,) = records(store_dir)
    cli.ok("edit", cb.id, "--patient", "Ann Example", "--phone", "212-555-0171", "--why", "Gave")
    (edited,) = records(store_dir)
    assert edited.patient.name == "Ann Example" and edited.import_key == cb.import_key
    out = cli.ok("import", "missed-calls", path, "--json")
    assert json.loads(out.stdout) == {"added": 0, "skipped": 1, "bad": 0}


def test_the_installed_command_counts_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty

    from tests.test_packaging import _cbtrack, _env

    store = tmp_path / "desk"
    assert run(tmp_path, "--as", "jlee", "init", str(store)).returncode == 0
    master, slave = pty.openpty()
    proc = subprocess.run(
        [*_cbtrack(), "--store", str(store), "--as", "jlee", "import", "missed-calls", str(SAMPLE)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    os.close(slave)
    seen = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(master, 65536):
            seen += chunk
    os.close(master)
    assert proc.returncode == 0
    text = seen.decode()
    assert "\rTriaging 25/25..." in text and "\rSaving 25/25..." in text
    assert b"Saving" not in proc.stdout  # the count is for the person, never the pipe


def test_two_desks_importing_one_export_before_a_sync_are_told(tmp_path: Path) -> None:
    from tests.helpers_git import office

    a, b = office(tmp_path)
    small = write(tmp_path, HEADER + "2026-11-26 08:00,2125550170,Ann Example,,\n")
    a.ok("import", "missed-calls", small)
    b.ok("import", "missed-calls", small)
    a.sync()
    b.sync()
    a.sync()
    (first, second) = sorted(p.stem for p in (a.path / "callbacks" / "open").glob("*.yaml"))
    result = a.run("import", "missed-calls", small, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == 0
    assert f"({first} = {second}); close one of each with --reason duplicate" in result.stderr
