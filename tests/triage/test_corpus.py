"""The triage matcher measured like a classifier on tests/triage/corpus.yaml.

Each case is a callback reason as staff type it, the category the desk would file it
under, and the least urgency a safe system must reach. Cases marked `holdout` were never
used to tune the rules: their figures are printed, and held to a floor so they cannot
slip unnoticed, but the thresholds of the issue apply to the tuning part."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from cbtrack import triage
from cbtrack.model import Urgency
from cbtrack.policy import Policy

CORPUS = Path(__file__).with_name("corpus.yaml")
CREATED = datetime.fromisoformat("2026-11-27T10:00:00-05:00")


def outcome(policy: Policy, case: dict[str, str]) -> Urgency:
    category = case["category"]
    details = {k: "see reason" for k in policy.categories[category].required_details}
    plan = triage.intake(policy, "jlee", category, case["text"], details, None, None, None, CREATED)
    return plan.urgency


def figures(policy: Policy, cases: list[dict[str, str]]) -> dict[str, float]:
    clinical = policy.rank(Urgency.clinical)
    emergency = policy.rank(Urgency.emergency)
    table: Counter[tuple[str, str]] = Counter()
    for case in cases:
        got = policy.rank(outcome(policy, case))
        reached = "emergency" if got >= emergency else "clinical" if got >= clinical else "admin"
        table[(case["expect"], reached)] += 1
    rows = ("emergency", "clinical", "admin")
    print(f"\n{'expected':<10} | " + " | ".join(f"got {r:<9}" for r in rows))
    for want in rows:
        print(f"{want:<10} | " + " | ".join(f"{table[(want, r)]:>13}" for r in rows))

    def share(want: str, hits: tuple[str, ...]) -> float:
        total = sum(table[(want, r)] for r in rows)
        return sum(table[(want, r)] for r in hits) / total if total else 1.0

    urgent = sum(table[(w, r)] for w in ("emergency", "clinical") for r in rows)
    urgent_hits = sum(table[(w, r)] for w in ("emergency", "clinical") for r in rows[:2])
    out = {
        "emergency_recall": share("emergency", ("emergency",)),
        "clinical_or_higher_recall": urgent_hits / urgent,
        "admin_false_alarms": share("admin", ("emergency", "clinical")),
    }
    print(", ".join(f"{k} {v:.1%}" for k, v in out.items()))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, str]]:
    cases: list[dict[str, str]] = yaml.safe_load(CORPUS.read_text())["cases"]
    return cases


def test_corpus_is_large_enough(corpus: list[dict[str, str]]) -> None:
    expects = Counter(c["expect"] for c in corpus)
    assert expects["emergency"] + expects["clinical"] >= 250
    assert expects["admin"] >= 100
    held = [c for c in corpus if c["holdout"]]
    assert len(held) >= 99 and 0.15 <= len(held) / len(corpus) <= 0.22


def test_tuning_part_meets_the_safety_thresholds(corpus: list[dict[str, str]]) -> None:
    tuned = figures(Policy.default(), [c for c in corpus if not c["holdout"]])
    assert tuned["emergency_recall"] == 1.0
    assert tuned["clinical_or_higher_recall"] >= 0.98
    assert tuned["admin_false_alarms"] <= 0.05


def test_held_out_part_is_reported_and_does_not_slip(corpus: list[dict[str, str]]) -> None:
    """Floors at the figures first measured (README, "Triage"): a change that makes the
    unseen part worse fails here, a change that makes it better moves the floor up."""
    held = figures(Policy.default(), [c for c in corpus if c["holdout"]])
    assert held["emergency_recall"] >= 0.86
    assert held["clinical_or_higher_recall"] >= 0.94
    assert held["admin_false_alarms"] <= 0.05
