"""Alerts through a command: the policy's rules, the payload, an emergency add that alerts
at once, `cbtrack alerts` for cron (once only, the failure path, the time limit)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from helpers_alerts import (
    EMERGENCY_ADD,
    PATIENT,
    PHONE,
    REASON,
    alerted_events,
    hook,
    received,
    set_alerts,
)

from cbtrack import alerts
from cbtrack.store import Store
from tests.conftest import NOW, Cli, git, snapshot

LATER = "2026-11-27T11:20:00-05:00"


def test_policy_checks_alert_rules(cli: Cli, store_dir: Path) -> None:
    set_alerts(store_dir, [{"when": "soon", "command": ["x"]}], commit=False)
    out = cli("validate")
    assert out.exit_code == 3 or out.exit_code == 1
    assert "alerts[1].when must be one of emergency" in out.stderr
    set_alerts(store_dir, [{"when": "overdue"}], commit=False)
    assert "needs a command or a mail" in cli("validate").stderr
    set_alerts(
        store_dir,
        [{"when": "overdue", "mail": {"to": ["n@x.org"], "from": "c@x.org", "smtp": "mail"}}],
        commit=False,
    )
    assert "alerts[1].mail.smtp is not a mail server written HOST:PORT" in cli("validate").stderr
    two = [{"when": "emergency", "command": ["a"]}, {"when": "emergency", "command": ["b"]}]
    set_alerts(store_dir, two, commit=False)
    assert "give each a name of its own" in cli("validate").stderr
    login = {"to": ["n@x.org"], "from": "c@x.org", "smtp": "mail:25", "starttls": False,
             "user": "cb", "password_env": "PW"}  # fmt: skip
    set_alerts(store_dir, [{"when": "overdue", "mail": login}], commit=False)
    assert "never sent in clear" in cli("validate").stderr


def test_validate_warns_when_include_phi_is_on(cli: Cli, store_dir: Path) -> None:
    argv, _ = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv, "include_phi": True}])
    out = cli.ok("validate")
    assert "include_phi: true" in out.stderr and "patient's name, phone and reason" in out.stderr


def test_emergency_add_alerts_at_once_without_patient_data(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    out = cli.ok(*EMERGENCY_ADD)
    cid = out.stdout.strip()
    assert "Alert sent: emergency alert for " + cid in out.stderr
    [alert] = received(got)
    assert set(alert) >= {"alert", "id", "urgency", "category", "owner", "due_at", "overdue_by",
                          "practice"}  # fmt: skip
    assert alert["alert"] == "emergency" and alert["id"] == cid
    assert alert["urgency"] == "emergency" and alert["owner"] == "clinical"
    raw = got.read_text()
    for secret in (PATIENT, PHONE, PHONE[2:], REASON, "chest"):
        assert secret.lower() not in raw.lower()
    [event] = alerted_events(cli.record(cid))
    assert event["by"] == "jlee" and event["at"] == NOW
    assert event["set"]["alert"] == "emergency" and event["set"]["channel"] == "command"
    assert event["set"]["to"] == "hook.py"
    # the commit is by the acting user, and history holds up
    assert git(store_dir, "log", "-1", "--format=%an %s").strip() == f"jlee alert {cid}"
    cli.ok("verify")
    # already sent: cron finds nothing to do, quietly
    quiet = cli.ok("alerts")
    assert quiet.stdout == "" and quiet.stderr == ""
    assert len(received(got)) == 1


def test_include_phi_adds_name_phone_and_reason(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv, "include_phi": True}])
    cli.ok(*EMERGENCY_ADD)
    [alert] = received(got)
    assert (alert["patient"], alert["phone"], alert["reason"]) == (PATIENT, PHONE, REASON)


def test_urgency_raised_to_emergency_alerts_at_once(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    cid = cli.add()
    assert received(got) == []
    cli.ok("urgency", cid, "emergency", "--why", "Patient called back worse")
    [alert] = received(got)
    assert alert["id"] == cid and alert["urgency"] == "emergency"


def test_a_failed_alert_never_loses_the_callback_and_is_retried(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent, exit_code=3)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    out = cli.ok(*EMERGENCY_ADD)
    cid = out.stdout.strip()
    lines = [line for line in out.stderr.splitlines() if "alert" in line.lower()]
    [said] = [line for line in lines if "was not sent" in line]
    assert said == (
        f"Warning: the emergency alert for {cid} by command was not sent: the alert command "
        "hook.py failed (exit status 3); 'cbtrack alerts' tries again on its next run."
    )
    assert cli.record(cid)["urgency"] == "emergency"  # the callback is there
    assert alerted_events(cli.record(cid)) == []
    # cron: still failing, exit 1 naming it, nothing recorded
    failed = cli("alerts")
    assert failed.exit_code == 1
    assert f"the emergency alert for {cid} by command was not sent" in failed.stderr
    assert alerted_events(cli.record(cid)) == []
    # fixed: the next run sends it, records it, and says nothing
    set_alerts(store_dir, [{"when": "emergency", "command": hook(store_dir.parent)[0]}])
    fixed = cli.ok("alerts", now=LATER)
    assert fixed.stdout == "" and fixed.stderr == ""
    assert len(received(got)) == 3  # tried at add, tried by cron, sent
    [event] = alerted_events(cli.record(cid))
    assert event["at"] == LATER and event["set"]["since"] == NOW


def test_a_missing_command_fails_in_one_sentence(cli: Cli, store_dir: Path) -> None:
    set_alerts(store_dir, [{"when": "emergency", "command": [str(store_dir / "no-such")]}])
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    out = cli("alerts")
    assert out.exit_code == 1
    assert out.stderr.strip() == (
        f"Error: the emergency alert for {cid} by command was not sent: the alert command "
        "no-such was not found; the next run tries again."
    )


def test_a_hung_command_is_stopped_at_its_time_limit(cli: Cli, store_dir: Path) -> None:
    slow = ["/bin/sh", "-c", "sleep 60; sleep 60"]  # a child of its own that hangs too
    set_alerts(store_dir, [{"when": "emergency", "command": slow, "timeout": 1}])
    started = time.monotonic()
    out = cli.ok(*EMERGENCY_ADD)
    assert time.monotonic() - started < 10
    assert "stopped after its time limit of 1s" in out.stderr
    # the store was never held: a change right after works at once
    cli.add()


def test_overdue_alerts_after_their_delay_once(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "overdue", "command": argv}])
    cid = cli.add("--due", "2026-11-27T11:00:00-05:00")
    cli.ok("alerts", now="2026-11-27T11:14:00-05:00")
    assert received(got) == []  # overdue, but not yet for 15 minutes
    cli.ok("alerts", now="2026-11-27T11:15:00-05:00")
    [alert] = received(got)
    assert alert["alert"] == "overdue" and alert["overdue_by"] == 15
    cli.ok("alerts", now="2026-11-27T12:00:00-05:00")
    assert len(received(got)) == 1
    # a new due time that passes too is a new episode: alerted again
    cli.ok("edit", cid, "--due", "2026-11-27T13:00:00-05:00", "--why", "Patient asked", now=LATER)
    cli.ok("alerts", now="2026-11-27T13:30:00-05:00")
    assert [a["overdue_by"] for a in received(got)] == [15, 30]


def test_a_dependency_pauses_overdue_and_its_lateness_alerts(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    rules = [
        {"when": "overdue", "command": argv},
        {"when": "dependency_late", "after": "0", "command": argv},
    ]
    set_alerts(store_dir, rules)
    cid = cli.add("--due", "2026-11-27T11:00:00-05:00")
    cli.ok("block", cid, "--on", "provider_review", "--note", "Waiting on Dr. review",
           "--until", "2026-11-27T13:00:00-05:00", now="2026-11-27T10:30:00-05:00")  # fmt: skip
    cli.ok("alerts", now="2026-11-27T13:00:00-05:00")
    assert received(got) == []  # past due, but paused by the dependency (due by 13:00)
    cli.ok("alerts", now="2026-11-27T13:01:00-05:00")
    assert [a["alert"] for a in received(got)] == ["dependency_late"]
    cli.ok("alerts", now="2026-11-27T13:15:00-05:00")
    assert [a["alert"] for a in received(got)] == ["dependency_late", "overdue"]


def test_clinical_overdue_and_no_attempt(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(
        store_dir,
        [
            {"when": "clinical_overdue", "after": "5m", "command": argv},
            {"when": "no_attempt", "after": "1h", "command": argv},
        ],
    )
    routine = cli.add("--due", "2026-11-27T10:30:00-05:00")
    clinical = cli.add("--symptoms", "yes", category="clinical_concern", reason="Rash on the arm")
    tried = cli.add()
    cli.ok("attempt", tried, "--method", "phone", "--result", "no_answer", "--note",
           "Rang the mobile, no answer", now="2026-11-27T10:10:00-05:00")  # fmt: skip
    due_at = Store(store_dir).load(clinical).due_at
    cli.ok("alerts", now="2026-11-27T11:00:00-05:00")
    first = {(a["alert"], a["id"]) for a in received(got)}
    assert first == {("no_attempt", routine), ("no_attempt", clinical)}
    cli.ok("alerts", now=(due_at + timedelta(minutes=4)).isoformat())
    assert len(received(got)) == 2
    cli.ok("alerts", now=(due_at + timedelta(minutes=5)).isoformat())
    later = [(a["alert"], a["id"]) for a in received(got)][2:]
    assert later == [("clinical_overdue", clinical)]  # the routine one is not clinical


def test_dry_run_and_json(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent, exit_code=1)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    got.unlink()
    before = snapshot(store_dir)
    dry = cli.ok("alerts", "--dry-run", user=None)
    assert dry.stdout.strip() == f"would send the emergency alert for {cid} by command to hook.py"
    data = json.loads(cli.ok("alerts", "--dry-run", "--json", user=None).stdout)
    [item] = data["due"]
    assert item["id"] == cid and item["payload"]["alert"] == "emergency"
    assert PATIENT not in json.dumps(data)
    assert snapshot(store_dir) == before and not got.exists()
    out = cli("alerts", "--json")
    assert out.exit_code == 1
    data = json.loads(out.stdout)
    assert data["sent"] == [] and data["failed"][0]["id"] == cid


def test_alerts_need_a_staff_user_only_to_send(cli: Cli, store_dir: Path) -> None:
    import yaml

    from tests.conftest import STAFF

    argv, got = hook(store_dir.parent)
    path = store_dir / "cbtrack.yaml"
    data = yaml.safe_load(path.read_text())
    data["staff"] = STAFF
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    cli.ok(*EMERGENCY_ADD)
    assert len(received(got)) == 1
    refused = cli("alerts", user="nobody", now=LATER)
    assert refused.exit_code == 1 and "nobody" in refused.stderr


def test_uncommitted_alert_rules_are_not_followed(cli: Cli, store_dir: Path) -> None:
    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}], commit=False)
    cli.ok(*EMERGENCY_ADD)
    assert received(got) == []


def test_a_hand_edited_record_is_named_when_its_alert_cannot_be_recorded(
    cli: Cli, store_dir: Path
) -> None:
    argv, got = hook(store_dir.parent)
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    set_alerts(store_dir, [{"when": "emergency", "command": argv}])
    path = next(store_dir.glob(f"callbacks/open/{cid}.yaml"))
    path.write_text(path.read_text().replace("next_action: ", "next_action: Edited. ", 1))
    out = cli("alerts")
    assert out.exit_code == 1
    assert f"the alerts sent for {cid} could not be recorded" in out.stderr
    assert len(received(got)) == 1


def test_payload_has_only_the_documented_keys(cli: Cli, store_dir: Path) -> None:
    argv, _ = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "emergency", "command": argv}], commit=False)
    cid = cli.ok(*EMERGENCY_ADD).stdout.strip()
    store = Store(store_dir)
    [due] = alerts.due_alerts(store.policy, [store.load(cid)], datetime.fromisoformat(NOW))
    data = alerts.payload(store.policy, due, datetime.fromisoformat(NOW))
    assert sorted(data) == sorted(
        [
            "alert",
            "rule",
            "id",
            "urgency",
            "category",
            "owner",
            "due_at",
            "overdue_by",
            "practice",
            "text",
        ]
    )


def test_cli_lists_the_alerts_command(cli: Cli) -> None:
    out = cli.ok("alerts", "--help", user=None, store=False)
    assert "Example: cbtrack --store ~/callbacks --as lee alerts" in out.stdout


def test_review_and_report_say_how_many_alerts_and_how_soon(cli: Cli, store_dir: Path) -> None:
    argv, _ = hook(store_dir.parent)
    set_alerts(
        store_dir, [{"when": "emergency", "command": argv}, {"when": "overdue", "command": argv}]
    )
    urgent = cli.ok(*EMERGENCY_ADD).stdout.strip()  # alerted at once
    cli.add("--due", "2026-11-27T11:00:00-05:00")
    cli.ok("alerts", now="2026-11-27T11:30:00-05:00")  # both overdue now: 30 and 90 min
    cli.ok("close", urgent, "--reason", "resolved", "--summary", "Seen in the ED, home now",
           now="2026-11-27T12:00:00-05:00")  # fmt: skip
    expected = {
        "sent": 3,
        "by_rule": {"emergency": 1, "overdue": 2},
        "median_minutes_after_event": 30.0,
        "max_minutes_after_event": 90.0,
    }
    evening = "2026-11-27T17:00:00-05:00"
    review = json.loads(cli.ok("review", "--json", now=evening).stdout)
    assert review["alerts"] == expected  # the closed callback's alerts count too
    text = cli.ok("review", now=evening).stdout
    assert "Alerts today: 3 sent (emergency 1, overdue 2), typically 30 min after the event" in text
    report = json.loads(cli.ok("report", "--since", "2026-11-27", "--until", "2026-11-27",
                               "--format", "json", now=evening).stdout)  # fmt: skip
    assert report["alerts"] == expected
    text = cli.ok("report", "--since", "2026-11-27", "--until", "2026-11-27", now=evening).stdout
    assert "alerts sent" in text and "sent for overdue" in text
    day_before = ["report", "--since", "2026-11-26", "--until", "2026-11-26", "--format", "json"]
    assert json.loads(cli.ok(*day_before, now=evening).stdout)["alerts"]["sent"] == 0


def test_an_alerted_entry_dated_before_its_alert_fell_due_does_not_silence_it(
    cli: Cli, store_dir: Path
) -> None:
    """`cbtrack alerts` sends nothing before an alert falls due, so an `alerted` entry
    dated earlier (typed by hand to keep an overdue callback quiet) is not a sending."""
    import subprocess

    import yaml

    argv, got = hook(store_dir.parent)
    set_alerts(store_dir, [{"when": "overdue", "command": argv}])
    sent = cli.add("--due", "2026-11-27T10:30:00-05:00")
    quiet = cli.add("--due", "2026-11-27T11:00:00-05:00")
    cli.ok("alerts", now="2026-11-27T10:45:00-05:00")
    assert [a["id"] for a in received(got)] == [sent]
    [model] = alerted_events(cli.record(sent))
    forged = dict(model, id="f0rged", at="2026-11-27T10:50:00-05:00")
    forged["set"] = dict(model["set"], since="2026-11-27T11:00:00-05:00")
    path = store_dir / "callbacks" / "open" / f"{quiet}.yaml"
    data = yaml.safe_load(path.read_text())
    data["events"].append(forged)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    ident = ["-c", f"user.name={model['by']}", "-c", "user.email=x@example.invalid"]
    subprocess.run(["git", *ident, "commit", "-q", "--no-verify", "-am", "n"], cwd=store_dir,
                   check=True, capture_output=True)  # fmt: skip
    due = json.loads(cli.ok("alerts", "--dry-run", "--json", now=LATER).stdout)["due"]
    assert [d["id"] for d in due] == [quiet]
