"""`cbtrack export --format fhir|csv|json`: callbacks with patient data for other systems.
The FHIR bundle is validated by fhir.resources (R4B) and survives its own round trip."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cbtrack import export
from cbtrack.store import Store
from tests.conftest import STAFF, Cli, attempt_args, git, set_policy, snapshot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "missed-calls.csv"

# The FHIR R4 value sets the resources use (hl7.org/fhir/R4: task-status, task-intent,
# request-priority, event-status, and the v3 ParticipationMode code system).
TASK_STATUS = {
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
    "in-progress", "on-hold", "failed", "completed", "entered-in-error",
}  # fmt: skip
TASK_INTENT = {
    "unknown", "proposal", "plan", "order", "original-order", "reflex-order",
    "filler-order", "instance-order", "option",
}  # fmt: skip
PRIORITY = {"routine", "urgent", "asap", "stat"}
EVENT_STATUS = {
    "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
    "entered-in-error", "unknown",
}  # fmt: skip
PARTICIPATION_MODE = {
    "ELECTRONIC", "PHYSICAL", "REMOTE", "VERBAL", "DICTATE", "FACE", "PHONE", "VIDEOCONF",
    "WRITTEN", "FAXWRIT", "HANDWRIT", "MAILWRIT", "ONLINEWRIT", "EMAILWRIT", "TYPEWRIT",
}  # fmt: skip

NOTE = "Called the patient at home; next try tomorrow morning"


def at(hour: int, minute: int = 0) -> str:
    return f"2026-11-27T{hour:02d}:{minute:02d}:00-05:00"


@pytest.fixture
def day(cli: Cli) -> dict[str, str]:
    """A small day at the desk: new, tried twice, reached and closed, blocked."""
    new = cli.add("--reason", '=HYPERLINK("http://x","book")', now=at(9))
    tried = cli.add(
        "--patient", "Bo Example", "--phone", "+15550100124", "--mrn", "00123", now=at(9, 10)
    )
    cli.ok(*attempt_args(tried, "phone", "no_answer", NOTE))
    cli.ok(*attempt_args(tried, "phone", "left_voicemail", NOTE), now="2026-11-27T14:00:00-05:00")
    done = cli.add(
        "--patient", "Cy Example", "--phone", "5550100125", category="general", now=at(9, 20)
    )
    cli.ok(*attempt_args(done, "phone", "reached", "Reached the patient and answered it all"))
    cli.ok("close", done, "--reason", "reached", "--summary", "Question answered")
    waiting = cli.add("--patient", "Di Example", "--phone", "5550100126", now=at(9, 30))
    cli.ok("block", waiting, "--on", "referral_documents", "--note", "Waiting on the referral")
    return {"new": new, "tried": tried, "done": done, "waiting": waiting}


def bundle(cli: Cli, *args: str) -> dict[str, Any]:
    out = cli.ok("export", "--format", "fhir", *args)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def task_of(data: dict[str, Any], cid: str) -> dict[str, Any]:
    (task,) = [t for t in resources(data, "Task") if t["identifier"][0]["value"] == cid]
    return task


def test_fhir_bundle_survives_its_own_r4b_round_trip(cli: Cli, day: dict[str, str]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    text = cli.ok("export", "--format", "fhir").stdout
    parsed = Bundle.model_validate_json(text)
    assert parsed.type == "collection"
    again = Bundle.model_validate_json(parsed.model_dump_json())
    assert again == parsed
    assert json.loads(again.model_dump_json()) == json.loads(text)


def test_fhir_codes_are_fhir_codes(cli: Cli, day: dict[str, str]) -> None:
    data = bundle(cli)
    tasks = resources(data, "Task")
    comms = resources(data, "Communication")
    assert len(tasks) == 4 and len(comms) == 3
    for task in tasks:
        assert task["status"] in TASK_STATUS
        assert task["intent"] in TASK_INTENT
        assert task["priority"] in PRIORITY
    for comm in comms:
        assert comm["status"] in EVENT_STATUS
        for medium in comm["medium"]:
            coding = medium["coding"][0]
            assert coding["system"] == export.PARTICIPATION_MODE
            assert coding["code"] in PARTICIPATION_MODE
    # every Task status and priority cbtrack can produce is a FHIR code
    assert set(export.TASK_STATUS.values()) | set(export.CLOSED_STATUS.values()) <= TASK_STATUS
    assert set(export.PRIORITY.values()) <= PRIORITY
    assert {code for code, _ in export.MEDIUM.values()} <= PARTICIPATION_MODE


def test_fhir_tasks_carry_the_callback(cli: Cli, store_dir: Path, day: dict[str, str]) -> None:
    data = bundle(cli)
    urls = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    store = Store(store_dir)
    for cid in day.values():
        cb = store.load(cid)
        task = task_of(data, cid)
        assert task["authoredOn"] == cb.created_at.isoformat()
        assert task["restriction"]["period"]["end"] == cb.due_at.isoformat()
        assert task["description"] == cb.reason
        assert task["owner"]["identifier"]["value"] == cb.owner
        patient = urls[task["for"]["reference"]]
        assert patient["resourceType"] == "Patient"
        assert patient["telecom"][0]["value"] == cb.patient.phone
        assert patient["name"][0]["text"] == cb.patient.name
    assert task_of(data, day["new"])["status"] == "ready"
    done = task_of(data, day["done"])
    assert done["status"] == "completed"
    assert done["statusReason"]["coding"][0]["code"] == "reached"
    waiting = task_of(data, day["waiting"])
    assert waiting["status"] == "on-hold"
    assert waiting["businessStatus"]["text"] == "waiting on referral_documents"
    tried = task_of(data, day["tried"])
    assert tried["businessStatus"]["text"] == "waiting on the patient"
    assert tried["priority"] == "urgent"  # time_sensitive scheduling
    mrn = urls[tried["for"]["reference"]]["identifier"][0]
    assert mrn["value"] == "00123"


def test_fhir_communications_follow_the_attempts(cli: Cli, day: dict[str, str]) -> None:
    data = bundle(cli)
    urls = {e["fullUrl"]: e["resource"] for e in data["entry"]}
    tried = next(
        u for u, r in urls.items() if r.get("identifier", [{}])[0].get("value") == day["tried"]
    )
    comms = [c for c in resources(data, "Communication") if c["basedOn"][0]["reference"] == tried]
    assert [c["status"] for c in comms] == ["not-done", "completed"]
    no_answer, voicemail = comms
    assert no_answer["statusReason"]["text"] == "no answer"
    assert "statusReason" not in voicemail
    assert no_answer["sent"] == "2026-11-27T10:00:00-05:00"
    assert voicemail["sent"] == "2026-11-27T14:00:00-05:00"
    assert no_answer["medium"][0]["coding"][0]["code"] == "PHONE"
    assert no_answer["subject"] == urls[tried]["for"]
    assert no_answer["recipient"] == [urls[tried]["for"]]
    assert no_answer["note"][0]["text"] == NOTE


def test_one_patient_entry_per_person(cli: Cli) -> None:
    cli.add()
    cli.add(category="general")
    data = bundle(cli)
    assert len(resources(data, "Patient")) == 1
    refs = {t["for"]["reference"] for t in resources(data, "Task")}
    assert len(refs) == 1


def test_imported_unknown_callers_have_no_made_up_name(cli: Cli) -> None:
    cli.ok("import", "missed-calls", str(SAMPLE))
    data = bundle(cli)
    patients = resources(data, "Patient")
    assert len(patients) == 24  # one number called twice
    nameless = [p for p in patients if "name" not in p]
    assert len(nameless) == 4  # no name, or a caller-ID label
    assert all(t["code"]["coding"][0]["code"] == "missed_call" for t in resources(data, "Task"))


def test_csv_is_one_row_per_callback_and_safe_in_a_spreadsheet(
    cli: Cli, day: dict[str, str]
) -> None:
    text = cli.ok("export", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == list(day.values())
    assert list(rows[0]) == export.CSV_COLUMNS
    new = rows[0]
    assert new["reason"].startswith("'=HYPERLINK(")  # a formula would run: neutralised
    assert new["patient_phone"] == "+15550100123"  # E.164, for the system that reads it
    tried = rows[1]
    assert (tried["attempts"], tried["last_result"], tried["status"]) == (
        "2",
        "left_voicemail",
        "waiting_patient",
    )
    assert tried["patient_mrn"] == "00123"
    assert rows[2]["close_reason"] == "reached" and rows[2]["close_summary"] == "Question answered"
    assert rows[3]["waiting_on"] == "referral_documents"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|x", "'-2+3+cmd|x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        # control characters are shown as escapes, which no spreadsheet or terminal runs
        ("\t=1", "\\t=1"),
        ("\r=1", "\\r=1"),
        ("\0=1", "\\x00=1"),
        ("+1 (555) 010-0123", "'+1 (555) 010-0123"),
        ("-12.5", "'-12.5"),
        ("a=1", "a=1"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_csv_cells_that_look_like_formulas_are_neutralised(cell: str, shown: str) -> None:
    assert export.csv_cell(cell) == shown


def test_json_is_the_records(cli: Cli, store_dir: Path, day: dict[str, str]) -> None:
    data = json.loads(cli.ok("export", "--format", "json").stdout)
    assert [r["id"] for r in data] == list(day.values())
    assert data[2] == json.loads(cli.ok("show", day["done"], "--json").stdout)


def test_the_format_is_named_once(cli: Cli, day: dict[str, str]) -> None:
    as_json = json.loads(cli.ok("export", "--json").stdout)
    assert as_json == json.loads(cli.ok("export", "--format", "json").stdout)
    for args, says in (
        ([], "Say which format"),
        (["--json", "--format", "csv"], "--json is --format json"),
        (["--format", "xml"], "Invalid value"),
    ):
        result = cli("export", *args)
        assert result.exit_code == 2 and says in result.stderr, args


def test_filters_pick_open_closed_and_a_period(cli: Cli, day: dict[str, str]) -> None:
    def ids(*args: str) -> list[str]:
        return [r["id"] for r in json.loads(cli.ok("export", "--format", "json", *args).stdout)]

    assert ids("--closed") == [day["done"]]
    assert ids("--open") == [day["new"], day["tried"], day["waiting"]]
    # only the second attempt happened at or after 13:00
    assert ids("--since", "2026-11-27T13:00") == [day["tried"]]
    assert ids("--until", "2026-11-26") == []
    assert ids("--since", "2026-11-27", "--until", "2026-11-27") == list(day.values())
    assert ids("--closed", "--since", "2026-11-28") == []
    result = cli("export", "--format", "json", "--open", "--closed")
    assert result.exit_code == 2 and "exclude each other" in result.stderr
    assert "period is empty" in cli.refused(
        "export", "--format", "csv", "--since", "2026-11-28", "--until", "2026-11-27"
    )


def test_output_is_owner_only_atomic_and_never_in_the_store(
    cli: Cli, store_dir: Path, day: dict[str, str], tmp_path: Path
) -> None:
    os.umask(0o022)  # a permissive shell: the export must still be owner-only
    target = tmp_path / "out" / "bundle.json"
    target.parent.mkdir()
    before = snapshot(store_dir)
    out = cli.ok("export", "--format", "fhir", "--output", str(target))
    assert out.stdout == "" and out.stderr == ""  # as cron wants it: quiet on success
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["resourceType"] == "Bundle"
    assert snapshot(store_dir) == before
    assert git(store_dir, "status", "--porcelain") == ""
    # an existing file (even a readable one) is replaced by an owner-only one
    target.chmod(0o644)
    cli.ok("export", "--format", "csv", "--output", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith('"id","created_at"')
    assert not [p for p in target.parent.iterdir() if p.name != "bundle.json"]


def test_output_must_be_a_plain_file_outside_the_store(
    cli: Cli, store_dir: Path, day: dict[str, str], tmp_path: Path
) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = {
        str(tmp_path): "is a folder",
        str(link): "is a symbolic link",
        str(fifo): "not a regular file",
        str(tmp_path / "nope" / "x.json"): "does not exist",
        str(store_dir / "export.json"): "outside it",
        str(store_dir / "callbacks" / "x.csv"): "outside it",
    }
    for path, says in cases.items():
        assert says in cli.refused("export", "--format", "json", "--output", path), path
    assert not (tmp_path / "elsewhere.json").exists()


def test_fhir_on_a_broken_install_says_how_to_repair_it(
    cli: Cli, day: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B.bundle", None)
    said = cli.refused("export", "--format", "fhir")
    assert "reinstall cbtrack (pip install --force-reinstall cbtrack)" in said


def test_fhir_export_needs_no_extra() -> None:
    """Every install writes every format the contract names: fhir.resources is a
    dependency, not an extra."""
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    core = text.split("[project.optional-dependencies]")[0]
    assert '"fhir.resources>=8,<9"' in core


def test_fhir_is_loaded_only_by_export() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cbtrack.cli import app\n"
        "CliRunner().invoke(app, ['--help'])\n"
        "assert not [m for m in sys.modules if m.startswith('fhir')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_empty_store_exports_an_empty_bundle(cli: Cli) -> None:
    data = bundle(cli)
    assert data["type"] == "collection" and data.get("entry", []) == []
    assert cli.ok("export", "--format", "csv").stdout.count("\n") == 1


def test_every_reference_in_the_bundle_resolves(cli: Cli, day: dict[str, str]) -> None:
    cli.ok("import", "missed-calls", str(SAMPLE))
    data = bundle(cli)
    urls = [e["fullUrl"] for e in data["entry"]]
    assert len(urls) == len(set(urls))  # no entry twice
    ids = [e["resource"]["id"] for e in data["entry"]]
    assert all(url == f"urn:uuid:{i}" for url, i in zip(urls, ids, strict=True))

    def references(value: Any) -> list[str]:
        if isinstance(value, dict):
            found = [value["reference"]] if "reference" in value else []
            return found + [r for v in value.values() for r in references(v)]
        if isinstance(value, list):
            return [r for v in value for r in references(v)]
        return []

    refs = references([e["resource"] for e in data["entry"]])
    assert len(refs) == 29 + 3 * 3  # Task.for; Communication.basedOn, subject, recipient
    assert set(refs) <= set(urls)


def test_the_export_is_the_same_twice(cli: Cli, day: dict[str, str]) -> None:
    """Stable IDs: the same store exports the same bundle, so exports can be compared."""
    assert (
        cli.ok("export", "--format", "fhir").stdout == cli.ok("export", "--format", "fhir").stdout
    )


@pytest.mark.parametrize(
    ("status", "closure", "task_status", "reason_code", "business"),
    [
        ("new", None, "ready", None, None),
        ("in_progress", None, "in-progress", None, None),
        ("waiting_patient", None, "in-progress", None, "waiting on the patient"),
        ("escalated", None, "in-progress", None, "escalated: overdue"),
        ("closed", "reached", "completed", "reached", None),
        ("closed", "resolved", "completed", "resolved", None),
        ("closed", "routed", "completed", "routed", None),
        ("closed", "attempts_exhausted", "failed", "attempts_exhausted", None),
        ("closed", "duplicate", "cancelled", "duplicate", None),
    ],
)
def test_each_state_maps_to_a_task_status(
    cli: Cli,
    store_dir: Path,
    status: str,
    closure: str | None,
    task_status: str,
    reason_code: str | None,
    business: str | None,
) -> None:
    from cbtrack.model import CloseReason, Closure, Status

    cb = Store(store_dir).load(cli.add())
    cb.status = Status(status)
    if closure:
        at = cb.created_at
        cb.closure = Closure(at=at, by="jlee", reason=CloseReason(closure), summary="Done")
    task = export.task_resource(Store(store_dir).policy, cb, "urn:uuid:t", "urn:uuid:p")
    assert task["status"] == task_status
    assert task.get("statusReason", {}).get("coding", [{}])[0].get("code") == reason_code
    assert task.get("businessStatus", {}).get("text") == business
    if closure:
        assert {"text": "Closed: Done"} in task["note"]
        assert task["executionPeriod"]["end"] == cb.created_at.isoformat()


@pytest.mark.parametrize(
    ("urgency", "priority"),
    [
        ("routine", "routine"),
        ("time_sensitive", "urgent"),
        ("deadline", "urgent"),
        ("same_day", "asap"),
        ("clinical", "asap"),
        ("emergency", "stat"),
    ],
)
def test_each_urgency_maps_to_a_priority(
    cli: Cli, store_dir: Path, urgency: str, priority: str
) -> None:
    from cbtrack.model import Urgency

    cb = Store(store_dir).load(cli.add())
    cb.urgency = Urgency(urgency)
    task = export.task_resource(Store(store_dir).policy, cb, "urn:uuid:t", "urn:uuid:p")
    assert task["priority"] == priority
    assert {"text": f"Urgency: {urgency}"} in task["note"]


def test_staff_are_named_and_an_inbound_call_comes_from_the_patient(
    cli: Cli, store_dir: Path
) -> None:
    set_policy(store_dir, staff=STAFF)
    cid = cli.add("--dob", "1980-02-03", "--language", "es", user="mkhan")
    cli.ok(*attempt_args(cid, "inbound", "reached", "Patient called back and booked a visit"))
    cli.ok(*attempt_args(cid, "email", "message_sent", "Emailed the visit confirmation today"))
    data = bundle(cli)
    (task,) = resources(data, "Task")
    assert task["requester"] == {
        "identifier": {"system": "urn:cbtrack:staff", "value": "mkhan"},
        "display": "Mo Khan",
    }
    assert task["owner"]["identifier"] == {"system": "urn:cbtrack:role", "value": "scheduling"}
    (patient,) = resources(data, "Patient")
    assert patient["birthDate"] == "1980-02-03"
    assert patient["communication"][0]["language"]["text"] == "es"
    inbound, email = resources(data, "Communication")
    assert inbound["sender"] == task["for"] and inbound["received"] == inbound["sent"]
    assert inbound["recipient"][0]["display"] == "Jamie Lee"
    assert email["medium"][0]["coding"][0]["code"] == "EMAILWRIT"
    assert email["recipient"] == [task["for"]] and "received" not in email


def test_deadlines_follow_ups_and_duplicates_travel_along(cli: Cli) -> None:
    first = cli.add(now=at(9))
    follow = cli.add("--related", first, "--deadline", "2026-12-04", now=at(9, 10))
    twin = cli.add(now=at(9, 20))
    cli.ok("close", twin, "--reason", "duplicate", "--of", first, "--summary", "Same request")
    rows = {
        r["id"]: r for r in csv.DictReader(io.StringIO(cli.ok("export", "--format", "csv").stdout))
    }
    assert rows[follow]["related_to"] == first
    assert rows[follow]["deadline_at"].startswith("2026-12-0")
    assert (rows[twin]["close_reason"], rows[twin]["duplicate_of"]) == ("duplicate", first)
    data = bundle(cli)
    notes = [n["text"] for n in task_of(data, follow)["note"]]
    assert f"Follows up callback {first}" in notes
    assert any(n.startswith("Deadline: 2026-12-0") for n in notes)
    twin_task = task_of(data, twin)
    assert twin_task["status"] == "cancelled"
    assert {"text": f"Duplicate of callback {first}"} in twin_task["note"]
