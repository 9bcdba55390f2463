"""Report keys for the front desk's questions: handoffs, waits on internal work, the
daily trend and details by category, in every format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cli, attempt_args


def at(d: int, hm: str) -> str:
    return f"2026-11-{d:02d}T{hm}:00-05:00"


@pytest.fixture
def week(cli: Cli) -> Cli:
    a = cli.add(category="general", now=at(23, "09:00"))
    cli.ok("route", a, "--to", "billing", "--note", "Billing question", now=at(23, "10:00"))
    cli.ok("route", a, "--to", "clinical", "--note", "Asks about a medicine", now=at(24, "09:00"))
    b = cli.add(category="general", now=at(24, "09:00"))
    cli.ok("block", b, "--on", "referral_documents", "--note", "Packet", now=at(24, "10:00"))
    cli.ok("unblock", b, "--note", "Arrived", now=at(25, "10:00"))
    cli.ok("close", b, "--reason", "resolved", "--summary", "Told the patient", now=at(25, "11:00"))
    cli.ok(
        "add",
        "--patient",
        "Cy Example",
        "--phone",
        "5550100777",
        "--category",
        "scheduling",
        "--reason",
        "Annual visit",
        "--detail",
        "visit_type=annual",
        "--detail",
        "availability=unknown",
        "--detail",
        "provider_preference=Dr Quill",
        now=at(25, "09:00"),
    )
    return cli


def report(cli: Cli, *extra: str) -> Any:
    args = ["report", "--since", "2026-11-23", "--until", "2026-11-27", *extra]
    return cli.ok(*args, now=at(28, "09:00"), user=None).stdout


def test_json_keys(week: Cli) -> None:
    data = json.loads(report(week, "--json"))
    assert data["handoffs"] == {"routed": 1, "rerouted": 1, "to": {"billing": 1, "clinical": 1}}
    ref = data["waits"]["referral_documents"]
    assert ref == {"count": 1, "resolved": 1, "median_hours": 24.0, "open": 0, "late": 0}
    assert data["waits"]["patient_form"]["count"] == 0
    assert data["trend"] == [
        {"date": "2026-11-23", "created": 1, "closed": 0, "open_at_end": 1},
        {"date": "2026-11-24", "created": 1, "closed": 0, "open_at_end": 2},
        {"date": "2026-11-25", "created": 1, "closed": 1, "open_at_end": 2},
        {"date": "2026-11-26", "created": 0, "closed": 0, "open_at_end": 2},
        {"date": "2026-11-27", "created": 0, "closed": 0, "open_at_end": 2},
    ]
    sched = data["by_detail"]["scheduling"]
    assert sched["availability"] == {"callbacks": 1, "empty_or_unknown": 1}
    assert "Dr Quill" not in json.dumps(data)
    phi = json.loads(report(week, "--json", "--include-phi"))
    top = phi["by_detail"]["scheduling"]["provider_preference"]["top_values"]
    assert top == [{"value": "Dr Quill", "count": 1}]


def test_trend_has_every_day_of_the_period_and_none_open_after_now(week: Cli) -> None:
    out = week.ok(
        "report",
        "--since",
        "2026-11-26",
        "--until",
        "2026-11-30",
        "--json",
        now=at(27, "12:00"),
        user=None,
    ).stdout
    trend = json.loads(out)["trend"]
    assert [d["date"] for d in trend] == [f"2026-11-{n}" for n in (26, 27, 28, 29, 30)]
    assert all(d["open_at_end"] is not None for d in trend[:2])
    assert trend[2:] == [
        {"date": f"2026-11-{n}", "created": 0, "closed": 0, "open_at_end": None}
        for n in (28, 29, 30)
    ]


def test_every_format_carries_the_new_figures(week: Cli) -> None:
    text = report(week)
    for title in ("Handoffs", "Waits on internal work", "Daily trend", "Details by category"):
        assert title in text
    assert "routed more than once" in text
    md = report(week, "--format", "markdown")
    assert "## Daily trend" in md and "| 2026-11-25 |" in md
    csv = report(week, "--format", "csv")  # the same tables, readable in a spreadsheet
    assert "\nDaily trend\ndate,new,closed,open at the end of the day\n" in csv
    assert "2026-11-25,1,1," in csv
    assert "routed more than once,1" in csv
    assert "Referral documents,1,1,24.0," in csv
    assert "Appointment scheduling,availability,1,1," in csv
    html = report(week, "--format", "html")
    assert "<figcaption>Daily trend</figcaption>" in html
    assert html.count("<polyline") == 3
    for fmt in ("text", "markdown", "csv", "html"):
        assert "Dr Quill" not in report(week, "--format", fmt)
        assert "Dr Quill" in report(week, "--format", fmt, "--include-phi")


def test_an_emergency_or_clinical_first_call_is_late_only_after_its_target(cli: Cli) -> None:
    # 10:00 Friday; an emergency's first call is on time within 15m, a clinical one's in 1h
    emergency = [cli.add(category="general", reason="Severe bleeding after a fall") for _ in "ab"]
    clinical = [cli.add(category="general", reason="Rash spreading on both arms") for _ in "ab"]
    note = "Reached the patient; gave the guidance and booked a visit"
    for cid, at in zip([*emergency, *clinical], ["10:10", "10:20", "10:50", "11:10"], strict=True):
        cli.ok(*attempt_args(cid, "phone", "reached", note), now=f"2026-11-27T{at}:00-05:00")
    out = cli.ok("report", "--since", "2026-11-27", "--json", now="2026-11-27T12:00:00-05:00")
    data = json.loads(out.stdout)
    assert data["sla"]["first_attempt_on_time"] == 2 and data["sla"]["first_attempt_late"] == 2
    emerg = data["by_urgency"]["emergency"]
    assert emerg["first_attempt_on_time"] == 1 and emerg["first_attempt_late"] == 1
    clin = data["by_urgency"]["clinical"]
    assert clin["first_attempt_on_time"] == 1 and clin["first_attempt_late"] == 1


def test_a_category_made_of_emergencies_is_no_faq_question(cli: Cli) -> None:
    for reason in ("Severe bleeding after a fall", "Chest pain right now", "Parking question"):
        cli.add(category="general", reason=reason)
    out = cli.ok("report", "--since", "2026-11-27", "--json", now="2026-11-27T12:00:00-05:00")
    (first, *_) = json.loads(out.stdout)["insights"]
    assert first.startswith("General question is the biggest repeat category: 3 of 3")
    assert "2 of them were clinical or emergency" in first and "FAQ entry" in first
    assert "belong in the website FAQ" not in first
    cli.add(category="billing", reason="Copay question")
    cli.add(category="billing", reason="Statement question")
    cli.add(category="billing", reason="Payment plan")
    cli.add(category="billing", reason="Receipt")
    out = cli.ok("report", "--since", "2026-11-27", "--json", now="2026-11-27T12:00:00-05:00")
    billing = json.loads(out.stdout)["insights"][0]
    assert billing.startswith("Billing question is the biggest") and "clinical" not in billing


def test_a_patient_who_called_in_counts_as_one_call(cli: Cli) -> None:
    cid = cli.add(category="billing", reason="Copay question")
    cli.ok("attempt", cid, "--method", "inbound", "--result", "reached",
           "--note", "Patient called back; copay explained")  # fmt: skip
    cli.ok("close", cid, "--reason", "reached", "--summary", "Copay explained")
    out = cli.ok("report", "--since", "2026-11-27", "--json", now="2026-11-27T12:00:00-05:00")
    data = json.loads(out.stdout)
    assert data["by_category"]["billing"]["mean_attempts_to_close"] == 1.0
    text = cli.ok("report", "--since", "2026-11-27", now="2026-11-27T12:00:00-05:00").stdout
    assert "calls per closed callback                  1.0" in text
