"""Alerts across desks that share the store through git: an alert one desk sent and
recorded is not sent again by another after a sync."""

from __future__ import annotations

from pathlib import Path

from helpers_alerts import EMERGENCY_ADD, alerted_events, hook, received, set_alerts
from helpers_git import Desk, at, office


def _with_rules(tmp_path: Path, rules: list[dict[str, object]]) -> tuple[Desk, Desk]:
    a, b = office(tmp_path)
    set_alerts(a.path, rules, commit=False)
    a.ok("validate", "--commit", now=at("08:10"))
    a.sync(now=at("08:15"))
    b.sync(now=at("08:20"))
    return a, b


def test_an_emergency_alerted_at_one_desk_is_not_sent_by_another(tmp_path: Path) -> None:
    argv, got = hook(tmp_path)
    a, b = _with_rules(tmp_path, [{"when": "emergency", "command": argv}])
    cid = a.ok(*EMERGENCY_ADD, now=at("09:00")).strip()
    assert len(received(got)) == 1
    a.sync(now=at("09:01"))
    b.sync(now=at("09:02"))
    assert b.ok("alerts", now=at("09:05")) == ""
    assert len(received(got)) == 1
    [event] = alerted_events(b.record(cid))
    assert event["by"] == "jlee"


def test_cron_at_two_desks_sends_once(tmp_path: Path) -> None:
    argv, got = hook(tmp_path)
    a, b = _with_rules(tmp_path, [{"when": "no_attempt", "command": argv}])
    cid = a.add(now=at("09:00"))
    a.sync(now=at("09:01"))
    b.sync(now=at("09:02"))
    b.ok("alerts", now=at("09:14"))
    assert received(got) == []  # not yet 15 minutes untried
    b.ok("alerts", now=at("09:15"))
    assert [x["id"] for x in received(got)] == [cid]
    b.sync(now=at("09:16"))
    a.sync(now=at("09:17"))
    a.ok("alerts", now=at("09:20"))
    b.ok("alerts", now=at("09:25"))
    assert len(received(got)) == 1
    [event] = alerted_events(a.record(cid))
    assert event["by"] == "kim" and event["set"]["alert"] == "no_attempt"


def test_desks_that_alert_before_syncing_merge_both_records(tmp_path: Path) -> None:
    """The limit, said plainly: two desks that run alerts between two syncs may both send
    (each is told of the other only by a sync). Both events are kept by the merge, history
    verifies, and neither desk sends that alert again."""
    argv, got = hook(tmp_path)
    a, b = _with_rules(tmp_path, [{"when": "no_attempt", "command": argv}])
    cid = a.add(now=at("09:00"))
    a.sync(now=at("09:01"))
    b.sync(now=at("09:02"))
    a.ok("alerts", now=at("09:20"))
    b.ok("alerts", now=at("09:21"))
    assert len(received(got)) == 2
    a.sync(now=at("09:30"))
    b.sync(now=at("09:31"))
    a.sync(now=at("09:32"))
    assert len(alerted_events(a.record(cid))) == 2
    a.ok("verify", now=at("09:33"))
    a.ok("alerts", now=at("09:40"))
    b.ok("alerts", now=at("09:40"))
    assert len(received(got)) == 2
