"""What the report's figures mean, and the small pieces they share (statistics, labels,
insights, alert figures); `reportrows` computes every figure, once, from rows.

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
- trend: every day of the period (practice time zone), callbacks created and closed that
  day and open at its end (or at `as_of` for the current day; None for a day not begun).
- by_detail: per category, per required detail field, over callbacks created in the
  period: how many were empty or "unknown"; the five most common values only with
  `include_phi`, since detail values are free text.

De-identified unless `include_phi`: figures carry IDs, categories, owners and counts,
never a patient's name, phone, date of birth, MRN or free text from the record.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from cbtrack.model import (
    EventType,
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


def label(policy: Policy, category: str) -> str:
    cat = policy.categories.get(category)
    return cat.label if cat else category


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


URGENT = ("clinical", "emergency")
# by_detail: values that count as not known, and how many common values a PHI report lists
UNKNOWN_VALUES = {"", "unknown", "n/a", "na", "none", "?", "not sure", "tbd", "-"}
TOP_VALUES = 5


def _volume_insights(policy: Policy, report: dict[str, Any], urgent: Counter[str]) -> list[str]:
    """The biggest categories by new callbacks, each with its upstream fix."""
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
    return out


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
    out = _volume_insights(policy, report, urgent or Counter())
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
