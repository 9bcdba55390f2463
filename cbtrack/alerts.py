"""Alerts: which alerts the policy's rules make due, what they say, and the event that
records one as sent (SPEC section 8, "Alerts").

Pure: every function takes `now` and reads no clock, file or network; sending is
`cbtrack.notify`, and `cbtrack.alertrun` puts the two together under the store's rules.

An alert is about one episode of a condition: a callback became an emergency, became
overdue, had a dependency go late, or waited untried. The episode is named by when it
began (`since`), which every desk computes alike from the record, so a sent alert is an
`alerted` event with `set: {alert: <rule>, channel: command|mail, to: <who was told>,
since: <when the episode began>}`; once a desk has recorded it and synced, no desk sends
that alert for that episode again. A new episode (urgency raised to emergency again, a
new due time that passes too) is alerted anew.

Overdue is `timing.overdue` (from `timing.overdue_from`), the one rule the queue, the
review, triage and the report use (dependency pauses included); no other rule of lateness
is written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from cbtrack import clock, report, review, timing
from cbtrack.alertrules import AlertRule
from cbtrack.model import CLINICAL_URGENCIES, Callback, EventType, Urgency
from cbtrack.policy import Policy

#: What each `when` means, as the start of the alert's one sentence.
WHAT = {
    "emergency": "Emergency callback",
    "clinical_overdue": "Clinical callback overdue",
    "overdue": "Callback overdue",
    "dependency_late": "Callback waiting on late work",
    "no_attempt": "Callback not tried yet",
}


@dataclass(frozen=True)
class Due:
    """One alert to send: a rule's channel, for one callback's episode."""

    rule: AlertRule
    channel: str  # "command" or "mail"
    cb: Callback
    since: datetime  # when the episode began
    at: datetime  # when the alert became due: `since` plus the rule's `after`

    @property
    def label(self) -> str:
        """`emergency alert for cb-... by mail`: names it, never the patient."""
        return f"{self.rule.key} alert for {self.cb.id} by {self.channel}"

    @property
    def told(self) -> str:
        """Who is told: the mail's recipients, or the command's program name."""
        if self.channel == "mail" and self.rule.mail is not None:
            return ", ".join(self.rule.mail.to)
        return PurePath((self.rule.command or ["?"])[0]).name


def episode_start(policy: Policy, rule: AlertRule, cb: Callback, now: datetime) -> datetime | None:
    """When the condition `rule.when` began to hold for `cb` (None if it does not)."""
    if not cb.is_open:
        return None
    when = rule.when
    if when == "emergency":
        return emergency_since(cb) if cb.urgency == Urgency.emergency else None
    if when == "clinical_overdue":
        if cb.urgency not in CLINICAL_URGENCIES:
            return None
        return overdue_since(policy, cb, now)
    if when == "overdue":
        return overdue_since(policy, cb, now)
    if when == "dependency_late":
        late = timing.late_dependencies(policy, cb, now)
        return min(timing.expected_by(policy, d) for d in late) if late else None
    if when == "no_attempt":  # the review's bucket: nobody has tried it yet
        if not review.in_bucket(policy, cb, "no_attempt", now):
            return None
        return cb.reopened_at or cb.created_at
    raise ValueError(when)


def overdue_since(policy: Policy, cb: Callback, now: datetime) -> datetime | None:
    """Since when the one overdue rule (`timing.overdue`) has held: `timing.overdue_from`."""
    return timing.overdue_from(policy, cb) if timing.overdue(policy, cb, now) else None


def emergency_since(cb: Callback) -> datetime:
    """When the callback last became an emergency: the latest event that set it so."""
    times = [e.at for e in cb.events if (e.set or {}).get("urgency") == Urgency.emergency.value]
    return max(times) if times else cb.created_at


def due_alerts(policy: Policy, records: list[Callback], now: datetime) -> list[Due]:
    """Every alert the rules make due at `now` that the records do not hold as sent,
    most urgent callback first."""
    out: list[Due] = []
    for cb in records:
        for rule in policy.alerts:
            since = episode_start(policy, rule, cb, now)
            if since is None or since + rule.delay > now:
                continue
            for channel in rule.channels:
                if not was_sent(cb, rule.key, channel, since, since + rule.delay):
                    out.append(Due(rule, channel, cb, since, since + rule.delay))
    out.sort(key=lambda d: (-policy.rank(d.cb.urgency), d.at, d.cb.id))
    return out


def was_sent(cb: Callback, key: str, channel: str, since: datetime, due: datetime) -> bool:
    """Whether the record holds this alert as sent for the episode that began at `since`.
    Only an entry dated when the alert was `due` or later counts: `cbtrack alerts` sends
    nothing earlier, so one dated before is not a sending (a hand-made entry must not
    silence the alert it names)."""
    for e in cb.events:
        said = e.set or {}
        if e.type != EventType.alerted or said.get("alert") != key or e.at < due:
            continue
        if said.get("channel") != channel:
            continue
        try:
            if datetime.fromisoformat(said.get("since", "")) == since:
                return True
        except ValueError:
            continue
    return False


def overdue_minutes(policy: Policy, cb: Callback, now: datetime) -> int | None:
    """How long the callback has been overdue, in whole minutes (None if it is not)."""
    since = overdue_since(policy, cb, now)
    if since is None:
        return None
    return int((now - since).total_seconds() // 60)


def payload(policy: Policy, due: Due, now: datetime) -> dict[str, Any]:
    """What the alert says: JSON on a command's stdin, and in a mail's body. No patient
    name, phone or reason unless the rule has `include_phi: true`."""
    cb = due.cb
    late = overdue_minutes(policy, cb, now)
    data: dict[str, Any] = {
        "alert": due.rule.when,
        "rule": due.rule.key,
        "id": cb.id,
        "urgency": cb.urgency.value,
        "category": cb.category,
        "owner": cb.owner,
        "due_at": cb.due_at.isoformat(),
        "overdue_by": late,
        "practice": policy.practice,
        "text": sentence(policy, due, now),
    }
    if due.rule.include_phi:
        data.update(patient=cb.patient.name, phone=cb.patient.phone, reason=cb.reason)
    return data


def sentence(policy: Policy, due: Due, now: datetime) -> str:
    """One line for people (a chat message, a mail): no patient data."""
    cb = due.cb
    cat = policy.categories.get(cb.category)
    what = cat.label if cat and cat.label else cb.category
    local = cb.due_at.astimezone(policy.tz)
    when = clock.relative(cb.due_at, now)
    return (
        f"{WHAT[due.rule.when]}: {cb.id} ({what}, {cb.urgency.value.replace('_', ' ')}) "
        f"for {cb.owner}, due {local:%a %H:%M} ({when}). {policy.practice}"
    )


def subject(due: Due) -> str:
    return f"cbtrack: {WHAT[due.rule.when]} {due.cb.id}"


def record(cb: Callback, due: Due, at: datetime, by: str) -> None:
    """Append the `alerted` event: which rule, by which channel, to whom, for which episode."""
    cb.log(
        at,
        by,
        EventType.alerted,
        note=f"{WHAT[due.rule.when]}: alert sent by {due.channel} to {due.told}",
        set={
            "alert": due.rule.key,
            "channel": due.channel,
            "to": due.told,
            "since": due.since.isoformat(),
        },
    )


def sent_between(records: Iterable[Callback], start: datetime, end: datetime) -> dict[str, Any]:
    """How many alerts the records hold as sent in [start, end), by rule, and how long
    after the event they were about (the report's figure, `report.alert_figures`)."""
    return report.alert_figures(
        [
            sent
            for cb in records
            for e in cb.events
            if start <= e.at < end and (sent := report.alert_sent(e)) is not None
        ]
    )
