"""Corrections that teach the practice: when staff raise a callback to clinical or
emergency above what intake triage gave, triage missed it; when a clinician lowers one that
triage raised, triage gave a false alarm. Both are marked on the `urgency_changed` event,
so `cbtrack triage --misses` can list them with the words triage read (for the practice's
clinician, who may add a rule) and the report can count them. Pure: no files, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cbtrack.matcher import Match
from cbtrack.model import (
    CLINICAL_URGENCIES,
    FALSE_ALARM,
    MISSED,
    Callback,
    Event,
    EventType,
    Urgency,
)
from cbtrack.policy import Policy
from cbtrack.triage import higher, record_texts, triage_floor

_LEVELS = {u.value for u in Urgency}


def triage_given(policy: Policy, cb: Callback) -> Urgency:
    """What triage gave this callback: the category's urgency raised by the rules on its
    words, and any urgency a `triaged` event set (the rules at intake or later, and the
    answers to the symptoms question and the red-flag checklist)."""
    level, _ = triage_floor(policy, cb)
    for e in cb.events:
        set_to = (e.set or {}).get("urgency") if e.type == EventType.triaged else None
        if set_to in _LEVELS:
            level = higher(policy, level, Urgency(set_to))
    return level


def category_level(policy: Policy, cb: Callback) -> Urgency:
    cat = policy.categories.get(cb.category)
    return cat.urgency if cat else Urgency.routine


def judge(policy: Policy, cb: Callback, new: Urgency, actor: str) -> str | None:
    """Whether changing `cb`'s urgency to `new` corrects triage, judged before the change:
    MISSED, FALSE_ALARM or None."""
    old, given = cb.urgency, triage_given(policy, cb)
    rank = policy.rank
    if rank(new) > rank(old):
        return MISSED if new in CLINICAL_URGENCIES and rank(new) > rank(given) else None
    return lowered_alarm(policy, cb, given, new, actor)


def lowered_alarm(
    policy: Policy, cb: Callback, given: Urgency, new: Urgency, actor: str
) -> str | None:
    """FALSE_ALARM when a clinician sets below a clinical or emergency level that triage
    raised the callback to (above its category's own urgency)."""
    rank = policy.rank
    raised = given in CLINICAL_URGENCIES and rank(given) > rank(category_level(policy, cb))
    if raised and rank(new) < rank(given) and policy.is_clinical(actor):
        return FALSE_ALARM
    return None


def mark(event: Event, verdict: str | None) -> None:
    if verdict == MISSED:
        event.triage_missed = True
    elif verdict == FALSE_ALARM:
        event.triage_false_alarm = True


@dataclass
class Correction:
    """One marked correction, with what triage read (patient data: local output only)."""

    callback_id: str
    category: str
    kind: str  # MISSED or FALSE_ALARM
    at: datetime
    by: str
    was: str
    now: str
    why: str
    texts: list[str]  # the reason, the detail values and the notes triage read
    rules: list[str]  # what the rules find in those words now: "rule: words"


def corrections(policy: Policy, cb: Callback, since: datetime | None = None) -> list[Correction]:
    out: list[Correction] = []
    for e in cb.events:
        kind = e.correction()
        if kind is None or (since is not None and e.at < since):
            continue
        texts = [t for t in record_texts(cb) if t and t.strip()]
        found = policy.matcher.match(texts)
        out.append(
            Correction(
                callback_id=cb.id,
                category=cb.category,
                kind=kind,
                at=e.at,
                by=e.by,
                was=(e.was or {}).get("urgency", ""),
                now=(e.set or {}).get("urgency", ""),
                why=e.note or "",
                texts=texts,
                rules=[f"{m.rule}{_how(m)}: {m.evidence}" for m in found],
            )
        )
    return out


def _how(m: Match) -> str:
    """How a match counted, when not in full: denied (clinical at most), or set aside."""
    if m.denied:
        return " (denied: clinical at most)"
    return " (negated or context)" if m.negated else ""


def counts(events: Iterable[Event], inside: Iterable[bool]) -> dict[str, int]:
    """`{missed, false_alarms}` over events, counting those `inside` the period."""
    missed = alarms = 0
    for e, ok in zip(events, inside, strict=True):
        kind = e.correction() if ok else None
        missed += kind == MISSED
        alarms += kind == FALSE_ALARM
    return {"missed": missed, "false_alarms": alarms}
