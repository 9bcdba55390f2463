"""Import reads day and month one way for the whole file, and never the other way round;
phones carry an extension, kept apart; export writes E.164 for the policy's country."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cbtrack.store import Store
from tests.conftest import Cli, set_policy

HEADER = "called_at,phone,name,duration,voicemail\n"


def refused(cli: Cli, *args: str, code: int = 1) -> str:
    """A refused import: its exit code, each bad row and the refusal on stderr."""
    result = cli(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def write(store: Path, text: str) -> str:
    path = store.parent / "calls.csv"
    path.write_text(HEADER + text, encoding="utf-8")
    return str(path)


def created(store: Path) -> list[str]:
    return sorted(cb.created_at.isoformat()[:16] for cb in Store(store).all_records())


def test_a_us_file_refuses_a_row_that_reads_only_day_first(cli: Cli, store_dir: Path) -> None:
    rows = (
        "11/26/2026 8:14 AM,2125550110,,,\n13/07/2026 9:00 AM,2125550111,,,\n"
        "11/25/2026 8:14 AM,2125550112,,,\n"
    )
    err = refused(cli, "import", "missed-calls", write(store_dir, rows))
    assert "line 3: the call time's date reads only day first" in err
    assert "month first" in err and "1 row is bad (line 3)" in err
    cli.ok("import", "missed-calls", write(store_dir, rows), "--skip-bad")
    assert created(store_dir) == ["2026-11-25T08:14", "2026-11-26T08:14"]  # never 13 July


def test_dates_that_disagree_evenly_are_all_bad_rows(cli: Cli, store_dir: Path) -> None:
    rows = "11/26/2026 8:14 AM,2125550110,,,\n13/07/2026 9:00 AM,2125550111,,,\n"
    err = refused(cli, "import", "missed-calls", write(store_dir, rows))
    assert "2 rows are bad (lines 2, 3)" in err and "disagree" in err


def test_the_files_order_reads_the_ambiguous_rows(cli: Cli, store_dir: Path) -> None:
    rows = "26/11/2026 08:14,2125550110,,,\n05/11/2026 09:00,2125550111,,,\n"
    cli.ok("import", "missed-calls", write(store_dir, rows))
    assert created(store_dir) == ["2026-11-05T09:00", "2026-11-26T08:14"]  # 5 November


def test_ambiguous_dates_with_nothing_to_settle_them_are_bad_rows(
    cli: Cli, store_dir: Path
) -> None:
    rows = "11/05/2026 08:14,2125550110,,,\n2026-11-20 09:00,2125550111,,,\n"
    err = refused(cli, "import", "missed-calls", write(store_dir, rows))
    assert "line 2:" in err and "either way round" in err and "--date-format MDY or DMY" in err
    cli.ok("import", "missed-calls", write(store_dir, rows), "--date-format", "DMY")
    assert created(store_dir) == ["2026-05-11T08:14", "2026-11-20T09:00"]


def test_a_stated_order_wins_and_a_contradicting_row_is_bad(cli: Cli, store_dir: Path) -> None:
    rows = "11/05/2026 08:14,2125550110,,,\n11/26/2026 09:00,2125550111,,,\n"
    err = refused(cli, "import", "missed-calls", write(store_dir, rows), "--date-format", "dmy")
    assert "line 3: the call time's date reads only month first" in err
    cli.ok("import", "missed-calls", write(store_dir, rows), "--date-format", "MDY")
    assert created(store_dir) == ["2026-11-05T08:14", "2026-11-26T09:00"]


def test_a_strftime_date_format(cli: Cli, store_dir: Path) -> None:
    rows = "05.11.2026 08:14,2125550110,,,\n2026-11-05 08:14,2125550111,,,\n"
    fmt = "%d.%m.%Y %H:%M"
    err = refused(cli, "import", "missed-calls", write(store_dir, rows), "--date-format", fmt)
    assert "line 3: the call time does not match --date-format" in err
    cli.ok("import", "missed-calls", write(store_dir, rows), "--date-format", fmt, "--skip-bad")
    assert created(store_dir) == ["2026-11-05T08:14"]


def test_an_unknown_date_format_is_a_usage_error(cli: Cli, store_dir: Path) -> None:
    err = refused(
        cli, "import", "missed-calls", write(store_dir, ""), "--date-format", "MYD", code=2
    )
    assert "--date-format takes MDY" in err


@pytest.mark.parametrize(
    "phone", ["312.555.0208 x123", "312.555.0208 ext. 123", "(312) 555-0208 extension 123"]
)
def test_an_extension_is_kept_apart(cli: Cli, store_dir: Path, phone: str) -> None:
    cli.ok("import", "missed-calls", write(store_dir, f"2026-11-26 08:14,{phone},,,\n"))
    (cb,) = Store(store_dir).all_records()
    assert cb.patient.extension == "123"
    assert "123" not in cb.patient.phone.replace("312", "")
    assert cb.import_key.endswith(":3125550208")


def test_add_and_edit_keep_the_extension_apart(cli: Cli) -> None:
    cid = cli.add("--phone", "312-555-0208 ext. 45")
    data = cli.record(cid)
    assert data["patient"]["phone"] == "312-555-0208" and data["patient"]["extension"] == "45"
    assert "ext. 45" in cli.ok("show", cid).stdout
    cli.ok("edit", cid, "--phone", "312-555-0209", "--why", "new desk line")
    data = cli.record(cid)
    assert data["patient"]["phone"] == "312-555-0209" and "extension" not in data["patient"]
    assert "patient.extension" in data["events"][-1]["set"]
    refused(cli, "add", "--patient", "A B", "--phone", "312-555-0208 x", "--category", "general",
                "--reason", "Parking", "--detail", "topic=parking")  # fmt: skip


def test_export_writes_e164_for_the_policys_country(cli: Cli, store_dir: Path) -> None:
    us = cli.add("--phone", "(312) 555-0208 x123")
    odd = cli.add("--phone", "+15550100123")  # not a valid number: kept as written
    rows = list(csv.DictReader(io.StringIO(cli.ok("export", "--format", "csv").stdout)))
    by_id = {r["id"]: r for r in rows}
    assert by_id[us]["patient_phone"] == "+13125550208"  # E.164, as the reader expects
    assert by_id[us]["patient_phone_extension"] == "123"
    assert by_id[odd]["patient_phone"] == "+15550100123"
    bundle = json.loads(cli.ok("export", "--format", "fhir").stdout)
    phones = {
        e["resource"]["telecom"][0]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }
    assert "+13125550208;ext=123" in phones
    records = {r["id"]: r for r in json.loads(cli.ok("export", "--format", "json").stdout)}
    assert records[us]["patient"]["phone"] == "+13125550208"
    assert records[us]["patient"]["extension"] == "123"
    assert records[odd]["patient"]["phone"] == "+15550100123"
    set_policy(store_dir, country="GB")
    gb = cli.add("--phone", "020 7946 0018")
    rows = list(csv.DictReader(io.StringIO(cli.ok("export", "--format", "csv").stdout)))
    assert {r["id"]: r for r in rows}[gb]["patient_phone"] == "+442079460018"
    set_policy(store_dir, country="Britain")
    assert "country" in cli("queue").stderr


def test_fhir_task_owner_shows_the_roles_label(cli: Cli) -> None:
    cli.add(category="billing", reason="Copay question")
    bundle = json.loads(cli.ok("export", "--format", "fhir").stdout)
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    owner = tasks[0]["owner"]
    assert owner["identifier"]["value"] == "billing"
    assert owner["display"] != "billing" and owner["display"]
