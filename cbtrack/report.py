"""Figures for a period: pure aggregation of callbacks into plain dicts (JSON-ready).

The period is [start, end). A callback counts as created, closed or attempted in it by
its `created_at`, `closure.at` or attempt `at`. "Open" and "overdue" are measured at the
end of the period, or now if the period ends later (`as_of`).

Definitions (hours are decimal hours from `created_at`):
- first attempt: the earliest recorded attempt of any method; a callback counts in the
  first-attempt figures when its first attempt falls in the period;
- on time: that first attempt was at or before the callback's `due_at`;
- time to close, attempts to close: over callbacks closed in the period; attempts are the
  outbound ones (the practice's tries, as `attempts.max` counts them);
- median: the middle value (mean of the two middle ones); p90: nearest rank;
- repeat patients: patients with two or more callbacks created in the period, one patient
  being the records that share a phone number (last 10 digits) or an MRN.
- triage_corrections: urgency changes in the period that corrected intake triage: staff
  raised a callback to clinical or emergency above what triage gave (`missed`), or a
  clinician lowered one that triage raised (`false_alarms`).
- handoffs: callbacks with a `routed` event in the period (`routed`), and those routed more
  than once in it (`rerouted`: a sign of a broken handoff); `to` counts routes per role.
- waits: per dependency kind, the dependencies that started in the period (`count`), the
  median hours from start to resolution of those resolved in it (`median_hours`), and the
  ones still open (`open`) or past their expected time (`late`) when measured.
- trend: per day of the period (practice time zone), callbacks created and closed that day
  and open at its end (or at `as_of` for the current day).
- by_detail: per category, per required detail field, over callbacks created in the
  period: how many were empty or "unknown"; the five most common values only with
  `include_phi`, since detail values are free text.

De-identified unless `include_phi`: figures carry IDs, categories, owners and counts,
never a patient's name, phone, date of birth, MRN or free text from the record.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from cbtrack import timing
from cbtrack.model import (
    Callback,
    CloseReason,
    DependencyKind,
    EventType,
    Source,
    Urgency,
    phone_digits,
)
from cbtrack.policy import Policy

Block = dict[str, Any]

HISTOGRAM = (
    ("under 1h", 1.0),
    ("1-4h", 4.0),
    ("4-8h", 8.0),
    ("8-24h", 24.0),
    ("1-2 days", 48.0),
    ("2 days+", math.inf),
)


# --- small statistics ------------------------------------------------------------------


def hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def p90(values: list[float]) -> float | None:
    """Nearest-rank 90th percentile: the smallest value with 90% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 2)


def mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


# --- one period's view of the records ----------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What one callback contributes to a period's figures, worked out once."""

    cb: Callback
    created: bool
    closed: bool
    open: bool
    overdue: bool
    attempts: int
    first_in_period: bool
    first_on_time: bool
    first_reached: bool
    hours_to_first: float | None
    hours_to_close: float | None
    tries: int

    @property
    def matters(self) -> bool:
        return self.created or self.closed or self.open or self.attempts > 0


class Period:
    """The callbacks that matter to [start, end), with their facts; `open` and `overdue`
    are measured at `as_of`, the end of the period or now, whichever is earlier."""

    def __init__(
        self,
        records: Iterable[Callback],
        start: datetime,
        end: datetime,
        now: datetime,
        policy: Policy,
    ) -> None:
        self.start, self.end, self.policy = start, end, policy
        self.as_of = min(end, now)
        # "Now" includes what happened at this very moment; a period's end does not.
        self.as_of_included = now < end
        facts = (self.facts(cb) for cb in records)
        self.facts_list = [f for f in facts if f.matters]

    def by_as_of(self, moment: datetime) -> bool:
        """Whether `moment` had happened when open and overdue are measured."""
        return moment <= self.as_of if self.as_of_included else moment < self.as_of

    def inside(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def facts(self, cb: Callback) -> Facts:
        closure = cb.closure.at if cb.closure else None
        is_open = self.by_as_of(cb.created_at) and not (closure and self.by_as_of(closure))
        first = min(cb.attempts, key=lambda a: a.at) if cb.attempts else None
        return Facts(
            cb=cb,
            created=self.inside(cb.created_at),
            closed=self.inside(closure),
            open=is_open,
            overdue=is_open and timing.overdue_from(self.policy, cb) < self.as_of,
            attempts=sum(1 for a in cb.attempts if self.inside(a.at)),
            first_in_period=first is not None and self.inside(first.at),
            first_on_time=first is not None and first.at <= timing.first_call_due(self.policy, cb),
            first_reached=first is not None and first.result.value == "reached",
            hours_to_first=hours(first.at, cb.created_at) if first else None,
            hours_to_close=hours(closure, cb.created_at) if closure else None,
            tries=len(cb.attempts),  # a call the patient made counts too
        )

    def block(self, facts: list[Facts]) -> Block:
        """The figures of one group of callbacks (a category, urgency, owner, source)."""
        firsts = [f for f in facts if f.first_in_period]
        closed = [f for f in facts if f.closed]
        to_first = [f.hours_to_first for f in firsts if f.hours_to_first is not None]
        to_close = [f.hours_to_close for f in closed if f.hours_to_close is not None]
        on_time = sum(1 for f in firsts if f.first_on_time)
        return {
            "created": sum(1 for f in facts if f.created),
            "closed": len(closed),
            "open": sum(1 for f in facts if f.open),
            "overdue": sum(1 for f in facts if f.overdue),
            "attempts": sum(f.attempts for f in facts),
            "first_attempts": len(firsts),
            "first_attempt_reached": sum(1 for f in firsts if f.first_reached),
            "first_attempt_on_time": on_time,
            "first_attempt_late": len(firsts) - on_time,
            "median_hours_to_first_attempt": median(to_first),
            "p90_hours_to_first_attempt": p90(to_first),
            "median_hours_to_close": median(to_close),
            "p90_hours_to_close": p90(to_close),
            "mean_attempts_to_close": mean([float(f.tries) for f in closed]),
        }

    def groups(self, key: Callable[[Callback], str], order: Iterable[str] = ()) -> dict[str, Block]:
        """Blocks per key value: `order` first (when present), then the rest by volume."""
        by: dict[str, list[Facts]] = {}
        for f in self.facts_list:
            by.setdefault(key(f.cb), []).append(f)
        known = [k for k in order if k in by]
        rest = sorted((k for k in by if k not in known), key=lambda k: (-len(by[k]), k))
        return {k: self.block(by[k]) for k in [*known, *rest]}


# --- repeat patients ---------------------------------------------------------------------


def patient_keys(cb: Callback) -> list[str]:
    digits = phone_digits(cb.patient.phone)
    keys = [f"phone:{digits[-10:]}"]
    if cb.patient.mrn:
        keys.append(f"mrn:{cb.patient.mrn.lower()}")
    return keys


def repeat_groups(records: list[Callback]) -> list[list[Callback]]:
    """Groups of two or more callbacks from one patient (shared phone or MRN)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, cb in enumerate(records):
        for key in patient_keys(cb):
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    groups: dict[int, list[Callback]] = {}
    for i, cb in enumerate(records):
        groups.setdefault(find(i), []).append(cb)
    return [g for g in groups.values() if len(g) >= 2]


# --- insights ------------------------------------------------------------------------------


def label(policy: Policy, category: str) -> str:
    cat = policy.categories.get(category)
    return cat.label if cat else category


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


URGENT = ("clinical", "emergency")


def insights(
    policy: Policy,
    report: dict[str, Any],
    repeats: int,
    repeat_categories: Counter[str],
    urgent: Counter[str] | None = None,
) -> list[str]:
    """Sentences that turn the biggest repeat categories and patterns into upstream fixes;
    `repeats` patients needed two or more callbacks, whose categories are counted in
    `repeat_categories`; `urgent` counts, by category, the new callbacks that were clinical
    or emergency (a category made mostly of those is no question for a FAQ)."""
    urgent = urgent or Counter()
    out: list[str] = []
    total = report["totals"]["created"]
    # ties keep the policy's order of categories (by_category is in that order)
    ranked = sorted(
        ((name, b["created"]) for name, b in report["by_category"].items() if b["created"]),
        key=lambda kv: -kv[1],
    )
    for i, (name, n) in enumerate(ranked[:3]):
        share = round(100 * n / total)
        tied = [label(policy, c) for c, m in ranked if m == n and c != name]
        if i == 0 and n >= 2:
            head = f"{label(policy, name)} is the biggest repeat category: {n} of {total} new "
            head += f"callbacks ({share}%)"
            head += f", tied with {_and(tied)}." if tied else "."
        elif i > 0 and n >= 3 and share >= 20:
            head = f"{label(policy, name)} is next with {n} new callbacks ({share}%)."
        else:
            continue
        cat = policy.categories.get(name)
        if 2 * urgent[name] > n:  # mostly clinical or emergency: care, not a FAQ question
            fix = (
                f"{urgent[name]} of them were clinical or emergency: these need the clinical "
                "team's time, not a FAQ entry."
            )
        elif cat and cat.preventable:
            fix = cat.preventable
        else:
            fix = "If it cannot be prevented, improve its callback template and ownership rule."
        out.append(f"{head} {fix}")
    if repeats:
        cats = repeat_categories
        most = max(cats.values())
        order = list(policy.categories)
        common = sorted(
            (c for c, m in cats.items() if m == most),
            key=lambda c: order.index(c) if c in order else len(order),
        )
        about = _and([label(policy, c) for c in common])
        n = repeats
        out.append(
            f"{n} patient{'s' if n != 1 else ''} needed two or more callbacks, most often about "
            f"{about}{' (tied)' if len(common) > 1 else ''}; check that the first answer "
            "settles the question."
        )
    first = report["first_attempts"]
    if first["count"] >= 3 and first["reach_rate"] is not None and first["reach_rate"] < 0.5:
        out.append(
            f"Only {round(100 * first['reach_rate'])}% of first attempts reached the patient; "
            "ask for a preferred contact window when the request comes in, and tell patients "
            "which number will call them."
        )
    for name, b in report["by_category"].items():
        tries = b["mean_attempts_to_close"]
        if b["closed"] >= 2 and tries is not None and tries >= 2:
            out.append(
                f"{label(policy, name)} callbacks took {tries:g} attempts each on average to "
                "close; ask for the patient's best time and method on the first contact."
            )
    sla = report["sla"]
    if sla["first_attempt_late"] >= 2 and sla["first_attempt_late"] > sla["first_attempt_on_time"]:
        out.append(
            f"{sla['first_attempt_late']} of {first['count']} first attempts came after the due "
            "time; look at staffing at peak hours, or at the due rules in the policy."
        )
    return out


# --- the report ------------------------------------------------------------------------------


def build(
    policy: Policy,
    records: Iterable[Callback],
    start: datetime,
    end: datetime,
    now: datetime,
    include_phi: bool = False,
) -> dict[str, Any]:
    """Every figure for [start, end) as plain, JSON-ready values."""
    tz = policy.tz
    period = Period(records, start, end, now, policy)
    facts = period.facts_list
    overall = period.block(facts)
    created = [f.cb for f in facts if f.created]
    repeats = repeat_groups(created)
    by_category = {
        name: {"label": label(policy, name), **b}
        for name, b in period.groups(lambda cb: cb.category, policy.categories).items()
    }
    # the top category: most created; a tie goes to the category listed first in the policy
    volume = sorted(
        ((-b["created"], i, name) for i, (name, b) in enumerate(by_category.items())),
    )
    volume = [v for v in volume if v[0] < 0]
    open_at_end = [f.cb for f in facts if f.open]
    oldest = min(open_at_end, key=lambda cb: (cb.created_at, cb.id), default=None)
    report: dict[str, Any] = {
        "practice": policy.practice,
        "generated_at": now.astimezone(tz).isoformat(),
        "phi_included": include_phi,
        "period": {
            "start": start.astimezone(tz).isoformat(),
            "end": end.astimezone(tz).isoformat(),
            "as_of": period.as_of.astimezone(tz).isoformat(),
        },
        "totals": {k: overall[k] for k in ("created", "closed", "open", "overdue", "attempts")},
        "overall": {
            k: v
            for k, v in overall.items()
            if k not in ("created", "closed", "open", "overdue", "attempts")
        },
        "first_attempts": {
            "count": overall["first_attempts"],
            "reached": overall["first_attempt_reached"],
            "reach_rate": rate(overall["first_attempt_reached"], overall["first_attempts"]),
        },
        "sla": {
            "first_attempt_on_time": overall["first_attempt_on_time"],
            "first_attempt_late": overall["first_attempt_late"],
            "on_time_rate": rate(overall["first_attempt_on_time"], overall["first_attempts"]),
            "overdue_without_attempt": sum(
                1
                for cb in open_at_end
                if timing.overdue_from(policy, cb) < period.as_of
                and not any(period.by_as_of(a.at) for a in cb.attempts)
            ),
        },
        "by_category": by_category,
        "by_urgency": period.groups(lambda cb: cb.urgency.value, [u.value for u in Urgency]),
        "by_owner": period.groups(lambda cb: cb.owner),
        "by_source": period.groups(lambda cb: cb.source.value, [s.value for s in Source]),
        "closure_reasons": closure_reasons(period),
        "repeat_patients": len(repeats),
        "top_category": volume[0][2] if volume else None,
        "oldest_open": _oldest(policy, oldest, period.as_of, include_phi),
        "distribution": {"hours_to_first_attempt": histogram(period)},
        "insights": [],
    }
    report["triage_corrections"] = triage_corrections(period)
    report["alerts"] = alert_figures(
        [
            sent
            for f in facts
            for e in f.cb.events
            if period.inside(e.at) and (sent := alert_sent(e)) is not None
        ]
    )
    report["handoffs"] = handoffs(period)
    report["waits"] = waits(period)
    report["trend"] = trend(policy, period)
    report["by_detail"] = by_detail(policy, period, include_phi)
    urgent = Counter(f.cb.category for f in facts if f.created and f.cb.urgency.value in URGENT)
    report["insights"] = insights(
        policy, report, len(repeats), Counter(cb.category for g in repeats for cb in g), urgent
    )
    if include_phi:
        report["patients"] = phi_section(policy, open_at_end, repeats)
    return report


def alert_sent(event: Any) -> tuple[str, float] | None:
    """An `alerted` event's rule, and how many minutes after the moment it alerted on
    (its `since`: an emergency filed, a callback gone overdue) it was sent."""
    if event.type != EventType.alerted:
        return None
    said = event.set or {}
    try:
        since = datetime.fromisoformat(said.get("since", ""))
    except ValueError:
        since = event.at
    return said.get("alert", "?"), (event.at - since).total_seconds() / 60


def alert_figures(sent: list[tuple[str, float]]) -> dict[str, Any]:
    """How many alerts were sent, by rule, and how long after the event they were about."""
    lags = sorted(minutes for _, minutes in sent)
    return {
        "sent": len(sent),
        "by_rule": dict(sorted(Counter(rule for rule, _ in sent).items())),
        "median_minutes_after_event": _rounded(median(lags)),
        "max_minutes_after_event": _rounded(lags[-1] if lags else None),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def closure_reasons(period: Period) -> dict[str, int]:
    counts = Counter(
        f.cb.closure.reason.value for f in period.facts_list if f.closed and f.cb.closure
    )
    return {r.value: counts.get(r.value, 0) for r in CloseReason}


def histogram(period: Period) -> list[dict[str, Any]]:
    values = [
        f.hours_to_first
        for f in period.facts_list
        if f.first_in_period and f.hours_to_first is not None
    ]
    out: list[dict[str, Any]] = []
    low = -math.inf
    for name, high in HISTOGRAM:
        out.append({"label": name, "count": sum(1 for v in values if low <= v < high)})
        low = high
    return out


def _oldest(
    policy: Policy, cb: Callback | None, as_of: datetime, include_phi: bool
) -> dict[str, Any] | None:
    if cb is None:
        return None
    tz = policy.tz
    out: dict[str, Any] = {
        "id": cb.id,
        "category": cb.category,
        "urgency": cb.urgency.value,
        "owner": cb.owner,
        "status_now": cb.status.value,
        "created_at": cb.created_at.astimezone(tz).isoformat(),
        "due_at": cb.due_at.astimezone(tz).isoformat(),
        "age_hours": round(hours(as_of, cb.created_at), 2),
    }
    if include_phi:
        out["patient"] = cb.patient.name
        out["reason"] = cb.reason
    return out


def _person(cb: Callback) -> dict[str, Any]:
    p = cb.patient
    return {
        "name": p.name,
        "phone": p.phone,
        "dob": p.dob.isoformat() if isinstance(p.dob, date) else None,
        "mrn": p.mrn,
    }


def phi_section(
    policy: Policy, open_at_end: list[Callback], repeats: list[list[Callback]]
) -> dict[str, Any]:
    """Only with --include-phi: who is still open at the end, and who needed repeat calls."""
    ranked = sorted(open_at_end, key=lambda cb: (-policy.rank(cb.urgency), cb.due_at, cb.id))
    return {
        "open_at_end": [
            {
                "id": cb.id,
                **_person(cb),
                "category": cb.category,
                "reason": cb.reason,
                "owner": cb.owner,
                "due_at": cb.due_at.astimezone(policy.tz).isoformat(),
            }
            for cb in ranked
        ],
        "repeat_patients": [
            {
                **_person(min(g, key=lambda cb: cb.created_at)),
                "callbacks": sorted(cb.id for cb in g),
            }
            for g in sorted(repeats, key=lambda g: (-len(g), min(cb.id for cb in g)))
        ],
    }


# --- handoffs, waits, trend, details ---------------------------------------------------------


def triage_corrections(period: Period) -> dict[str, int]:
    """Urgency changes in the period that corrected triage: raised to clinical or emergency
    above what it gave (`missed`), or lowered by a clinician from what it raised
    (`false_alarms`)."""
    missed = alarms = 0
    for f in period.facts_list:
        for e in f.cb.events:
            if e.type == EventType.urgency_changed and period.inside(e.at):
                missed += bool(e.triage_missed)
                alarms += bool(e.triage_false_alarm) and not e.triage_missed
    return {"missed": missed, "false_alarms": alarms}


def handoffs(period: Period) -> dict[str, Any]:
    routed = rerouted = 0
    to: Counter[str] = Counter()
    for f in period.facts_list:
        routes = [e for e in f.cb.events if e.type == EventType.routed and period.inside(e.at)]
        if routes:
            routed += 1
            rerouted += len(routes) > 1
        to.update((e.set or {}).get("owner", "") for e in routes)
    return {"routed": routed, "rerouted": rerouted, "to": dict(sorted(to.items()))}


def waits(period: Period) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind in DependencyKind:
        deps = [d for f in period.facts_list for d in f.cb.depends_on if d.kind == kind]
        started = [d for d in deps if period.inside(d.since)]
        spans = [
            hours(d.resolved_at, d.since)
            for d in deps
            if d.resolved_at is not None and period.inside(d.resolved_at)
        ]
        still = [d for d in deps if period.by_as_of(d.since) and not _resolved_by(period, d)]
        late = [d for d in still if d.until is not None and d.until < period.as_of]
        out[kind.value] = {
            "count": len(started),
            "resolved": len(spans),
            "median_hours": median(spans),
            "open": len(still),
            "late": len(late),
        }
    return out


def _resolved_by(period: Period, dep: Any) -> bool:
    return dep.resolved_at is not None and period.by_as_of(dep.resolved_at)


def trend(policy: Policy, period: Period) -> list[dict[str, Any]]:
    """Created, closed and open at the end of each day of the period."""
    tz = policy.tz
    created = sorted(f.cb.created_at for f in period.facts_list)
    closed = sorted(f.cb.closure.at for f in period.facts_list if f.cb.closure)
    out: list[dict[str, Any]] = []
    day = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    while day <= last:
        lo = max(datetime.combine(day, time(0), tzinfo=tz), period.start)
        hi = min(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz), period.end)
        if lo >= period.as_of and not (period.as_of_included and lo == period.as_of):
            break  # days that have not begun yet
        at = min(hi, period.as_of)
        inclusive = at == period.as_of and period.as_of_included
        count = bisect_right if inclusive else bisect_left
        out.append(
            {
                "date": day.isoformat(),
                "created": bisect_left(created, hi) - bisect_left(created, lo),
                "closed": bisect_left(closed, hi) - bisect_left(closed, lo),
                "open_at_end": count(created, at) - count(closed, at),
            }
        )
        day += timedelta(days=1)
    return out


UNKNOWN_VALUES = {"", "unknown", "n/a", "na", "none", "?", "not sure", "tbd", "-"}
TOP_VALUES = 5


def by_detail(policy: Policy, period: Period, include_phi: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cat in policy.categories.items():
        made = [f.cb for f in period.facts_list if f.created and f.cb.category == name]
        if not made or not cat.required_details:
            continue
        fields: dict[str, Any] = {}
        for key in cat.required_details:
            values = [" ".join(cb.details.get(key, "").split()) for cb in made]
            unknown = [v for v in values if v.casefold() in UNKNOWN_VALUES]
            block: dict[str, Any] = {
                "callbacks": len(values),
                "empty_or_unknown": len(unknown),
            }
            if include_phi:
                counts = Counter(v for v in values if v.casefold() not in UNKNOWN_VALUES)
                block["top_values"] = [
                    {"value": v, "count": n}
                    for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
                ]
            fields[key] = block
        out[name] = fields
    return out
