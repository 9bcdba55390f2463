"""Sending the alerts that are due: plan (`cbtrack.alerts`, pure), send (`cbtrack.notify`),
then record each sent alert as an `alerted` event through the one guarded path for
changes (`service.change_many`: lock, load, apply, save, one commit by the acting user).

The store lock is not held while sending (a slow mail server must not stop the desk);
the alerts lock (`Store.alerts_lock`) keeps two runs on one desk from sending the same
alert. Desks that share the store through git see each other's `alerted` events after a
sync, so an alert recorded anywhere is not sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cbtrack import alerts, identity, notify, service
from cbtrack.errors import CbtrackError, LockTimeout
from cbtrack.model import Callback
from cbtrack.policy import Policy
from cbtrack.store import Store

#: Seconds a run waits for another run on this desk before leaving the work to it.
CRON_WAIT = 120.0
ADD_WAIT = 10.0

Sender = Callable[[Policy, alerts.Due, datetime], None]


@dataclass
class Outcome:
    """What a run found due, sent, could not send, and could not record."""

    due: list[alerts.Due] = field(default_factory=list)
    sent: list[alerts.Due] = field(default_factory=list)
    failed: list[tuple[alerts.Due, str]] = field(default_factory=list)
    unrecorded: list[tuple[str, str]] = field(default_factory=list)  # (callback ID, why)
    problems: list[str] = field(default_factory=list)  # records that could not be read
    busy: bool = False  # another run held the alerts lock

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unrecorded or self.busy)


def body(policy: Policy, due: alerts.Due, now: datetime) -> str:
    """The payload as one line of JSON."""
    return json.dumps(alerts.payload(policy, due, now), ensure_ascii=False)


def send(policy: Policy, due: alerts.Due, now: datetime) -> None:
    """Send one alert by its channel; raises notify.AlertFailed."""
    text = body(policy, due, now)
    if due.channel == "command" and due.rule.command:
        notify.run_command(due.rule.command, (text + "\n").encode(), due.rule.timeout)
    elif due.channel == "mail" and due.rule.mail is not None:
        line = alerts.sentence(policy, due, now)
        mail_body = f"{line}\n\n{text}\n"
        notify.send_mail(due.rule.mail, alerts.subject(due), mail_body, due.rule.timeout, now)


def run(
    store: Store,
    user: str | None,
    now: datetime,
    ids: list[str] | None = None,
    dry_run: bool = False,
    wait: float = CRON_WAIT,
    sender: Sender = send,
) -> Outcome:
    """Send every due alert (of the callbacks `ids`, else of every open one) once and
    record it. With `dry_run`, only say what is due: nothing is sent or written."""
    policy = service.committed_policy(store)
    if not policy.alerts:
        return Outcome()
    if dry_run:
        out = Outcome()
        out.due = alerts.due_alerts(policy, _records(store, ids, out.problems), now)
        return out
    identity.actor(store.root, policy, user)  # refused before anything is sent
    with store.alerts_lock(wait) as got:
        if not got:
            return Outcome(busy=True)
        out = Outcome()
        out.due = alerts.due_alerts(policy, _records(store, ids, out.problems), now)
        for due in out.due:
            try:
                sender(policy, due, now)
            except notify.AlertFailed as exc:
                out.failed.append((due, str(exc)))
            else:
                out.sent.append(due)
        if out.sent:
            _record(store, user, now, out)
    return out


def _records(store: Store, ids: list[str] | None, problems: list[str]) -> list[Callback]:
    if ids is None:  # read-only views from the read cache: no model per open record
        return store.open_views(problems)
    return [store.load(i) for i in ids]


def _record(store: Store, user: str | None, now: datetime, out: Outcome) -> None:
    """One commit for every alert sent; when a record cannot be changed (a hand edit, a
    clock behind its history), the others are still recorded, one commit each."""
    by_id: dict[str, list[alerts.Due]] = {}
    for due in out.sent:
        by_id.setdefault(due.cb.id, []).append(due)

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        at = now.astimezone(policy.tz)
        for due in by_id[cb.id]:
            alerts.record(cb, due, at, actor)

    try:
        service.change_many(store, user, now, list(by_id), "alert", apply)
        return
    except LockTimeout as exc:
        out.unrecorded += [(cid, exc.message) for cid in by_id]
        return
    except CbtrackError as exc:
        if len(by_id) == 1:
            out.unrecorded.append((next(iter(by_id)), exc.message))
            return
    for cid in by_id:
        try:
            service.change_many(store, user, now, [cid], "alert", apply)
        except CbtrackError as exc:
            out.unrecorded.append((cid, exc.message))


def as_json(policy: Policy, out: Outcome, now: datetime, dry_run: bool) -> dict[str, object]:
    """`alerts --json`: what was due (with the payloads, for a dry run), sent and failed."""

    def item(due: alerts.Due) -> dict[str, object]:
        data: dict[str, object] = {
            "id": due.cb.id,
            "rule": due.rule.key,
            "channel": due.channel,
            "to": due.told,
            "due_since": due.at.isoformat(),
        }
        if dry_run:
            data["payload"] = alerts.payload(policy, due, now)
        return data

    return {
        "due": [item(d) for d in out.due],
        "sent": [item(d) for d in out.sent],
        "failed": [{**item(d), "why": why} for d, why in out.failed],
        "unrecorded": [{"id": cid, "why": why} for cid, why in out.unrecorded],
        "busy": out.busy,
    }
