"""The report: every figure (defined in `cbtrack.report`), computed once, from rows.

Each record becomes a small tuple of plain values (times as integer microseconds since the
epoch in UTC, so that every comparison and every difference in hours is exact), and the
figures are summed row by row in one pass without keeping the rows. At 60,000 records no
model is built once the local index (`cbtrack/localindex.py`) keeps each record's row
beside its entry; a changed file's row is made again from its strict read.

No patient identifier is kept in a row: the phone number (last ten digits) and the MRN,
which the repeat-patient count compares, are keyed hashes (BLAKE2b with a random salt in
`.cbtrack/report-salt`, local and owner-only). A report with `--include-phi` needs names,
phones and free text, so it builds its rows from the records as it reads them
(`rows_with_phi`) and keeps none.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import marshal
import os
import sys
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from cbtrack import timing
from cbtrack.enums import MISSED, DependencyKind, EventType, Source, Urgency
from cbtrack.files import file_digest, write_atomic
from cbtrack.patients import group_keys
from cbtrack.report import (
    HISTOGRAM,
    TOP_VALUES,
    UNKNOWN_VALUES,
    URGENT,
    Block,
    alert_figures,
    alert_sent,
    insights,
    label,
    mean,
    median,
    p90,
    rate,
)

if TYPE_CHECKING:
    from cbtrack.model import Callback
    from cbtrack.policy import Policy
    from cbtrack.store import Store

# 2: overdue from; 3: alerts sent; 4: with triage corrections; 5: first call due
FORMAT = "cbtrack-report-rows-6"  # 6: patient keys folded as `patients.group_keys`
SALT_FILE = "report-salt"
KEY_BYTES = 16  # a keyed hash of one patient key

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """An aware time as integer microseconds since the epoch (exact, unlike a float)."""
    return (moment - _EPOCH) // _US


def moment(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _hours(later: int, earlier: int) -> float:
    # as `report.hours`: timedelta.total_seconds() is microseconds / 10**6, exactly
    return ((later - earlier) / 1_000_000) / 3600


class Row(NamedTuple):
    """What the report needs of one record. Stored in the cache as a plain tuple."""

    id: str
    category: str
    urgency: str
    owner: str
    source: str
    status: str
    created: int
    due: int
    closed: int | None
    close_reason: str | None
    attempts: tuple[int, ...]  # every attempt's time, in the record's order
    first: int | None  # the earliest attempt (the first of equals)
    first_reached: bool
    tries: int  # attempts, inbound included
    routes: tuple[tuple[int, str], ...]  # routed events: time, owner set ("" if none)
    deps: tuple[tuple[str, int, int | None, int | None], ...]  # kind, since, until, resolved
    unknown: tuple[bool, ...]  # per required detail of its category: empty or "unknown"
    patient: bytes  # keyed hashes of the patient's phone and MRN keys, KEY_BYTES each
    alerts: tuple[tuple[int, str, float], ...]  # alerted events: time, rule, minutes after
    phi: tuple[Any, ...] | None  # only with --include-phi, never cached: see `row_of`
    late_from: int  # when it counts as overdue while open (`timing.overdue_from`)
    fixes: tuple[tuple[int, int], ...]  # triage corrections: time, 1 missed / 2 false alarm
    first_due: int  # by when a first call is on time (`timing.first_call_due`)


ROW_LEN = len(Row._fields)
PHI = Row._fields.index("phi")


def _norm(value: str) -> str:
    return " ".join(value.split())


def row_of(cb: Callback, policy: Policy, salt: bytes, phi: bool = False) -> tuple[Any, ...]:
    """The row of a validated record. With `phi`, also (name, phone, date of birth, MRN,
    reason, required detail values): what the --include-phi sections show."""
    first = min(cb.attempts, key=lambda a: a.at) if cb.attempts else None
    cat = policy.categories.get(cb.category)
    values = [_norm(cb.details.get(k, "")) for k in (cat.required_details if cat else ())]
    closure = cb.closure
    person: tuple[Any, ...] | None = None
    if phi:
        p = cb.patient
        dob = p.dob.isoformat() if isinstance(p.dob, date) else None
        person = (p.name, p.phone, dob, p.mrn, cb.reason, tuple(values))
    return (
        cb.id,
        cb.category,
        cb.urgency.value,
        cb.owner,
        cb.source.value,
        cb.status.value,
        micros(cb.created_at),
        micros(cb.due_at),
        micros(closure.at) if closure else None,
        closure.reason.value if closure else None,
        tuple(micros(a.at) for a in cb.attempts),
        micros(first.at) if first else None,
        first is not None and first.result.value == "reached",
        len(cb.attempts),  # (calls made and taken: a patient who called in counts)
        tuple(
            (micros(e.at), (e.set or {}).get("owner", ""))
            for e in cb.events
            if e.type == EventType.routed
        ),
        tuple(
            (
                d.kind.value,
                micros(d.since),
                micros(d.until) if d.until else None,
                micros(d.resolved_at) if d.resolved_at else None,
            )
            for d in cb.depends_on
        ),
        tuple(v.casefold() in UNKNOWN_VALUES for v in values),
        b"".join(_keyed(salt, k) for k in group_keys(cb.patient.phone, cb.patient.mrn)),
        tuple((micros(e.at), *sent) for e in cb.events if (sent := alert_sent(e)) is not None),
        person,
        micros(timing.overdue_from(policy, cb)),  # the one overdue rule (`cbtrack.timing`)
        tuple(
            (micros(e.at), 1 if c == MISSED else 2)
            for e in cb.events
            if (c := e.correction()) is not None
        ),
        micros(timing.first_call_due(policy, cb)),  # the one first-call rule (`cbtrack.timing`)
    )


def _keyed(salt: bytes, key: str) -> bytes:
    return hashlib.blake2b(key.encode(), key=salt, digest_size=KEY_BYTES).digest()


# --- one pass over the rows ---------------------------------------------------------------


class Tally:
    """The sums behind one block of figures."""

    __slots__ = (
        "attempts",
        "closed",
        "created",
        "dues",
        "firsts",
        "n",
        "on_time",
        "open",
        "overdue",
        "reached",
        "to_close",
        "to_first",
        "tries",
    )

    def __init__(self) -> None:
        self.n = self.created = self.closed = self.open = self.overdue = self.attempts = 0
        self.firsts = self.reached = self.on_time = 0
        self.to_first: list[float] = []
        self.to_close: list[float] = []
        self.tries: list[float] = []
        self.dues: list[int] = []  # of the open ones (for a summary)

    def merge(self, other: Tally) -> None:
        self.n += other.n
        self.created += other.created
        self.closed += other.closed
        self.open += other.open
        self.overdue += other.overdue
        self.attempts += other.attempts
        self.firsts += other.firsts
        self.reached += other.reached
        self.on_time += other.on_time
        self.to_first += other.to_first
        self.to_close += other.to_close
        self.tries += other.tries

    def block(self) -> Block:
        # sorted once here: the median and p90 then sort an already sorted list (linear)
        self.to_first.sort()
        self.to_close.sort()
        return {
            "created": self.created,
            "closed": self.closed,
            "open": self.open,
            "overdue": self.overdue,
            "attempts": self.attempts,
            "first_attempts": self.firsts,
            "first_attempt_reached": self.reached,
            "first_attempt_on_time": self.on_time,
            "first_attempt_late": self.firsts - self.on_time,
            "median_hours_to_first_attempt": median(self.to_first),
            "p90_hours_to_first_attempt": p90(self.to_first),
            "median_hours_to_close": median(self.to_close),
            "p90_hours_to_close": p90(self.to_close),
            "mean_attempts_to_close": mean(self.tries),
        }


class Figures:
    """Adds rows one at a time and gives the report's figures for [start, end), exactly
    for the records in the order they are added."""

    def __init__(
        self, policy: Policy, start: datetime, end: datetime, now: datetime, include_phi: bool
    ) -> None:
        self.policy, self.include_phi = policy, include_phi
        self.start, self.end, self.now = start, end, now
        self.as_of = min(end, now)
        self.as_of_included = now < end
        self.s, self.e, self.a = micros(start), micros(end), micros(self.as_of)
        self.tallies: dict[tuple[str, str, str, str], Tally] = {}
        self.reasons: Counter[str] = Counter()
        self.created_times: list[int] = []
        self.closed_times: list[int] = []
        self.overdue_without_attempt = 0
        self.unattempted_dues: list[int] = []  # of the open ones without an attempt
        self.oldest: tuple[Any, ...] | None = None
        self.open_rows: list[tuple[Any, ...]] = []  # with include_phi only
        self.routed = self.rerouted = 0
        self.routed_to: Counter[str] = Counter()
        self.fixes = [0, 0]  # triage corrections in the period: missed, false alarms
        self.alerts_sent: list[tuple[str, float]] = []  # rule, minutes after the event
        # per kind: started, hours to resolve, open, late
        self.waits: dict[str, list[Any]] = {k.value: [0, [], 0, 0] for k in DependencyKind}
        self.details: dict[str, list[Any]] = {}  # category: [callbacks, unknown counts, values]
        # created in the period: patient keys, category, and with PHI (id, created, phi)
        self.made_keys: list[bytes] = []
        self.made_categories: list[str] = []
        self.made_phi: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        (rid, category, urgency, owner, source, _status, created, _due, closed, close_reason,
         attempts, first, first_reached, tries, routes, deps, unknown, patient, alerted, phi,
         late_from, fixes, first_due) = row  # fmt: skip
        s, e, a = self.s, self.e, self.a
        inclusive = self.as_of_included
        created_in = s <= created < e
        closed_in = closed is not None and s <= closed < e
        if inclusive:
            is_open = created <= a and not (closed is not None and closed <= a)
        else:
            is_open = created < a and not (closed is not None and closed < a)
        tried = 0
        for at in attempts:
            if s <= at < e:
                tried += 1
        if not (created_in or closed_in or is_open or tried):
            return
        key = (category, urgency, owner, source)
        t = self.tallies.get(key)
        if t is None:
            t = self.tallies[key] = Tally()
        t.n += 1
        t.attempts += tried
        if created_in:
            t.created += 1
            self.made_keys.append(patient)
            self.made_categories.append(category)
            if self.include_phi:
                self.made_phi.append((rid, created, phi))
            self._detail(category, unknown, phi)
        if first is not None and s <= first < e:
            t.firsts += 1
            t.reached += first_reached
            t.on_time += first <= first_due
            t.to_first.append(_hours(first, created))
        if closed_in:
            t.closed += 1
            t.to_close.append(_hours(closed, created))
            t.tries.append(tries)  # (an int: fmean sums it exactly, as the float)
            self.reasons[close_reason] += 1
        if is_open:
            self._open(t, row, first, late_from)
        self.created_times.append(created)
        if closed is not None:
            self.closed_times.append(closed)
        self._activity(fixes, alerted, routes, deps)

    def _open(self, t: Tally, row: tuple[Any, ...], first: Any, late_from: int) -> None:
        """A callback open at the end of the period: due, overdue, the oldest."""
        a, rid, created = self.a, row[0], row[6]
        t.open += 1
        t.dues.append(late_from)
        if first is None:
            self.unattempted_dues.append(late_from)
        if late_from < a:
            t.overdue += 1
            seen = first is not None and (first <= a if self.as_of_included else first < a)
            if not seen:
                self.overdue_without_attempt += 1
        if self.oldest is None or (created, rid) < (self.oldest[6], self.oldest[0]):
            self.oldest = row
        if self.include_phi:
            self.open_rows.append(row)

    def _activity(self, fixes: Any, alerted: Any, routes: Any, deps: Any) -> None:
        """What happened to a callback during the period: corrections, alerts, routing and
        waits."""
        s, e, a = self.s, self.e, self.a
        inclusive = self.as_of_included
        for at, kind in fixes:
            if s <= at < e:
                self.fixes[kind - 1] += 1
        for at, rule, minutes in alerted:
            if s <= at < e:
                self.alerts_sent.append((rule, minutes))
        if routes:
            inside = [to for at, to in routes if s <= at < e]
            if inside:
                self.routed += 1
                self.rerouted += len(inside) > 1
                self.routed_to.update(inside)
        for kind, since, until, resolved in deps:
            w = self.waits[kind]
            if s <= since < e:
                w[0] += 1
            if resolved is not None and s <= resolved < e:
                w[1].append(_hours(resolved, since))
            if inclusive:
                still = since <= a and not (resolved is not None and resolved <= a)
            else:
                still = since < a and not (resolved is not None and resolved < a)
            if still:
                w[2] += 1
                if until is not None and until < a:
                    w[3] += 1

    def _detail(self, category: str, unknown: tuple[bool, ...], phi: Any) -> None:
        if not unknown:
            return  # no required details (or a category the policy does not know)
        d = self.details.get(category)
        if d is None:
            d = self.details[category] = [0, [0] * len(unknown), [Counter() for _ in unknown]]
        d[0] += 1
        for i, flag in enumerate(unknown):
            if flag:
                d[1][i] += 1
            elif phi is not None:
                d[2][i][phi[5][i]] += 1

    # the figures -------------------------------------------------------------------------

    def _groups(self, field: int, order: Iterable[str] = ()) -> dict[str, Block]:
        for t in self.tallies.values():
            # sorted once: a group's list is then a few sorted runs, which sort quickly
            t.to_first.sort()
            t.to_close.sort()
        by: dict[str, Tally] = {}
        for key, t in self.tallies.items():
            name = key[field]
            into = by.get(name)
            if into is None:
                into = by[name] = Tally()
            into.merge(t)
        known = [k for k in order if k in by]
        rest = sorted((k for k in by if k not in known), key=lambda k: (-by[k].n, k))
        return {k: by[k].block() for k in [*known, *rest]}

    def result(self) -> dict[str, Any]:
        policy, tz = self.policy, self.policy.tz
        overall_t = Tally()
        for t in self.tallies.values():
            overall_t.merge(t)
        overall = overall_t.block()
        repeat_count, repeat_categories = self._repeat_counts()
        by_category = {
            name: {"label": label(policy, name), **b}
            for name, b in self._groups(0, policy.categories).items()
        }
        volume = sorted(
            ((-b["created"], i, name) for i, (name, b) in enumerate(by_category.items())),
        )
        volume = [v for v in volume if v[0] < 0]
        report: dict[str, Any] = {
            "practice": policy.practice,
            "generated_at": self.now.astimezone(tz).isoformat(),
            "phi_included": self.include_phi,
            "period": {
                "start": self.start.astimezone(tz).isoformat(),
                "end": self.end.astimezone(tz).isoformat(),
                "as_of": self.as_of.astimezone(tz).isoformat(),
            },
            "totals": {k: overall[k] for k in ("created", "closed", "open", "overdue", "attempts")},
            "overall": {
                k: v
                for k, v in overall.items()
                if k not in ("created", "closed", "open", "overdue", "attempts")
            },
            **self._first_attempts(overall),
            "by_category": by_category,
            "by_urgency": self._groups(1, [u.value for u in Urgency]),
            "by_owner": self._groups(2),
            "by_source": self._groups(3, [s.value for s in Source]),
            "closure_reasons": {r: self.reasons.get(r, 0) for r in _close_reasons()},
            "repeat_patients": repeat_count,
            "top_category": volume[0][2] if volume else None,
            "oldest_open": self._oldest(),
            "distribution": {"hours_to_first_attempt": _histogram(overall_t.to_first)},
            "insights": [],
        }
        report.update(self._desk_figures())
        urgent: Counter[str] = Counter()
        for (category, urgency, _, _), t in self.tallies.items():
            if urgency in URGENT:
                urgent[category] += t.created
        report["insights"] = insights(policy, report, repeat_count, repeat_categories, urgent)
        if self.include_phi:
            report["patients"] = self._phi_section(self._repeats())
        return report

    def _first_attempts(self, overall: dict[str, Any]) -> dict[str, Any]:
        """How first attempts went: reached, and on time against the urgency's SLA."""
        count = overall["first_attempts"]
        return {
            "first_attempts": {
                "count": count,
                "reached": overall["first_attempt_reached"],
                "reach_rate": rate(overall["first_attempt_reached"], count),
            },
            "sla": {
                "first_attempt_on_time": overall["first_attempt_on_time"],
                "first_attempt_late": overall["first_attempt_late"],
                "on_time_rate": rate(overall["first_attempt_on_time"], count),
                "overdue_without_attempt": self.overdue_without_attempt,
            },
        }

    def _desk_figures(self) -> dict[str, Any]:
        """Corrections, alerts, handoffs, waits, the trend and the details, by name."""
        return {
            "triage_corrections": {"missed": self.fixes[0], "false_alarms": self.fixes[1]},
            "alerts": alert_figures(self.alerts_sent),
            "handoffs": {
                "routed": self.routed,
                "rerouted": self.rerouted,
                "to": dict(sorted(self.routed_to.items())),
            },
            "waits": {
                kind: {
                    "count": w[0],
                    "resolved": len(w[1]),
                    "median_hours": median(w[1]),
                    "open": w[2],
                    "late": w[3],
                }
                for kind, w in self.waits.items()
            },
            "trend": self._trend(),
            "by_detail": self._by_detail(),
        }

    def _patients(self) -> tuple[list[bytes], list[int]]:
        """The distinct key sets of the callbacks created in the period, and for each the
        patient (a number) it belongs to: key sets that share a key (a phone number or an
        MRN) are one patient."""
        sets = list(dict.fromkeys(self.made_keys))
        parent = list(range(len(sets)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first: dict[bytes, int] = {}
        for i, keys in enumerate(sets):
            for at in range(0, len(keys), KEY_BYTES):
                j = first.setdefault(keys[at : at + KEY_BYTES], i)
                if j != i:
                    parent[find(i)] = find(j)
        return sets, [find(i) for i in range(len(sets))]

    def _repeat_counts(self) -> tuple[int, Counter[str]]:
        """How many patients had two or more callbacks created in the period, and the
        categories of those callbacks (counted per key set, not per callback)."""
        sets, patient = self._patients()
        of = dict(zip(sets, patient, strict=True))
        sizes: Counter[int] = Counter()
        for keys, n in Counter(self.made_keys).items():
            sizes[of[keys]] += n
        cats: Counter[str] = Counter()
        pairs = Counter(zip(self.made_keys, self.made_categories, strict=True))
        for (keys, category), n in pairs.items():
            if sizes[of[keys]] >= 2:
                cats[category] += n
        return sum(1 for n in sizes.values() if n >= 2), cats

    def _repeats(self) -> list[list[int]]:
        """The groups of two or more callbacks created in the period that are one patient's,
        as indexes in their order (for the --include-phi list)."""
        sets, patient = self._patients()
        of = dict(zip(sets, patient, strict=True))
        groups: dict[int, list[int]] = {}
        for i, keys in enumerate(self.made_keys):
            groups.setdefault(of[keys], []).append(i)
        return [g for g in groups.values() if len(g) >= 2]

    def _oldest(self) -> dict[str, Any] | None:
        row = self.oldest
        if row is None:
            return None
        tz = self.policy.tz
        out: dict[str, Any] = {
            "id": row[0],
            "category": row[1],
            "urgency": row[2],
            "owner": row[3],
            "status_now": row[5],
            "created_at": moment(row[6]).astimezone(tz).isoformat(),
            "due_at": moment(row[7]).astimezone(tz).isoformat(),
            "age_hours": round(_hours(self.a, row[6]), 2),
        }
        if self.include_phi:
            out["patient"] = row[PHI][0]
            out["reason"] = row[PHI][4]
        return out

    def _trend(self) -> list[dict[str, Any]]:
        tz = self.policy.tz
        created = sorted(self.created_times)
        closed = sorted(self.closed_times)
        out: list[dict[str, Any]] = []
        day = self.start.astimezone(tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        s, e, a = self.s, self.e, self.a
        one = timedelta(days=1)
        # Days that end before anything happened and before `as_of` are all zeros: a day
        # ends before the UTC midnight after its own (a zone is less than a day off UTC).
        quiet = min(created[0] if created else a, closed[0] if closed else a, a)
        epoch_day = _EPOCH.date().toordinal()
        while day <= last and (day.toordinal() - epoch_day + 2) * 86_400_000_000 < quiet:
            out.append({"date": day.isoformat(), "created": 0, "closed": 0, "open_at_end": 0})
            day += one
        midnight = micros(datetime.combine(day, time(0), tzinfo=tz))
        while day <= last:
            following = day + one
            next_midnight = micros(datetime.combine(following, time(0), tzinfo=tz))
            lo = max(midnight, s)
            hi = min(next_midnight, e)
            if lo >= a and not (self.as_of_included and lo == a):
                # days that have not begun: nothing came in or closed yet, and how many
                # will be open at their end is not known
                out.append({"date": day.isoformat(), "created": 0, "closed": 0,
                            "open_at_end": None})  # fmt: skip
                day, midnight = following, next_midnight
                continue
            at = min(hi, a)
            inclusive = at == a and self.as_of_included
            count = bisect_right if inclusive else bisect_left
            out.append(
                {
                    "date": day.isoformat(),
                    "created": bisect_left(created, hi) - bisect_left(created, lo),
                    "closed": bisect_left(closed, hi) - bisect_left(closed, lo),
                    "open_at_end": count(created, at) - count(closed, at),
                }
            )
            day, midnight = following, next_midnight
        return out

    def _by_detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, cat in self.policy.categories.items():
            d = self.details.get(name)
            if d is None or not cat.required_details:
                continue
            fields: dict[str, Any] = {}
            for i, key in enumerate(cat.required_details):
                block: dict[str, Any] = {"callbacks": d[0], "empty_or_unknown": d[1][i]}
                if self.include_phi:
                    counts: Counter[str] = d[2][i]
                    block["top_values"] = [
                        {"value": v, "count": n}
                        for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[
                            :TOP_VALUES
                        ]
                    ]
                fields[key] = block
            out[name] = fields
        return out

    def _phi_section(self, repeats: list[list[int]]) -> dict[str, Any]:
        policy, tz = self.policy, self.policy.tz

        def person(phi: tuple[Any, ...]) -> dict[str, Any]:
            return {"name": phi[0], "phone": phi[1], "dob": phi[2], "mrn": phi[3]}

        ranked = sorted(self.open_rows, key=lambda r: (-policy.rank(Urgency(r[2])), r[7], r[0]))
        made = self.made_phi
        return {
            "open_at_end": [
                {
                    "id": r[0],
                    **person(r[PHI]),
                    "category": r[1],
                    "reason": r[PHI][4],
                    "owner": r[3],
                    "due_at": moment(r[7]).astimezone(tz).isoformat(),
                }
                for r in ranked
            ],
            "repeat_patients": [
                {
                    **person(made[min(g, key=lambda i: made[i][1])][2]),
                    "callbacks": sorted(made[i][0] for i in g),
                }
                for g in sorted(repeats, key=lambda g: (-len(g), min(made[i][0] for i in g)))
            ],
        }


def _close_reasons() -> list[str]:
    from cbtrack.enums import CloseReason

    return [r.value for r in CloseReason]


def _histogram(values: list[float]) -> list[dict[str, Any]]:
    """Counts per `HISTOGRAM` bucket of `values`."""
    values.sort()  # (already sorted by `Tally.block`: linear)
    out: list[dict[str, Any]] = []
    low = 0  # the index of the first value at or above the bucket's low end
    for name, high in HISTOGRAM:
        top = bisect_left(values, high)
        out.append({"label": name, "count": top - low})
        low = top
    return out


def build(
    policy: Policy,
    rows: Iterable[tuple[Any, ...]],
    start: datetime,
    end: datetime,
    now: datetime,
    include_phi: bool = False,
) -> dict[str, Any]:
    """Every figure for [start, end) from rows."""
    figures = Figures(policy, start, end, now, include_phi)
    add = figures.add
    for row in rows:
        add(row)
    return figures.result()


def from_store(
    store: Store, start: datetime, end: datetime, now: datetime, include_phi: bool = False
) -> dict[str, Any]:
    """The report of a store for [start, end): de-identified rows kept in the store's index
    (`collect`); with PHI from the records as read (`rows_with_phi`)."""
    if include_phi:
        return build(store.policy, rows_with_phi(store, start, end), start, end, now, True)
    figures = Figures(store.policy, start, end, now, False)
    collect(store, figures)
    return figures.result()


# --- reading rows from a store ----------------------------------------------------------


def rows_with_phi(store: Store, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    """Rows with the patient details an --include-phi report shows, built from the records
    as `Store.records_for_period` reads them; nothing is kept in the index."""
    policy = store.policy
    salt = os.urandom(16)
    for cb in store.records_for_period(start, end):
        yield row_of(cb, policy, salt, phi=True)


def collect(store: Store, figures: Figures) -> None:
    """Add to `figures` the de-identified rows of the records that can matter to its
    period, as `Store.records_for_period` selects them: every open record, then the closed
    ones of the month folders up to the period's end, leaving out those closed before it.

    Each record's row is kept in the index beside its entry (`localindex`), made once from
    the record and dropped with the entry when the file changes."""
    from cbtrack import __version__

    ix = store.index
    salt = report_salt(store.local_dir)
    digest = hashlib.sha256(salt)
    source = (file_digest(Path(__file__)) or "").encode()  # (this code: its rows' shape)
    for part in (__version__.encode(), sys.version.encode(), source):
        digest.update(len(part).to_bytes(8, "big") + part)
    key = f"{FORMAT}:{digest.hexdigest()[:32]}"
    if ix.meta("report") != key:
        ix.forget_report_rows()  # (rows made with another salt or another version of this)
        ix.set_meta("report", key)
    policy = store.policy
    since = figures.start.timestamp()
    # A file read by a worker (a cold build) comes with its row, when it can matter
    ix.reporter = partial(kept_row, salt, figures.s)
    add = figures.add
    seen: set[str] = set()
    held: dict[str, bytes | None] = {}
    folder: Path | None = None
    made: list[tuple[str, bytes]] = []

    def settle() -> None:
        if folder is not None:
            name = ix.folder_of(folder)
            if name is not None:
                ix.set_report_rows(name, made)
        made.clear()

    opened = store.cached_open()
    seen.update(c.id for c in opened)
    for c in itertools.chain(opened, store.closed_cached(figures.end, seen)):
        if c.folder != folder:
            settle()
            folder = c.folder
            name = ix.folder_of(folder)
            held = ix.report_rows(name) if name is not None else {}
        if c.usable and c.row.closed is not None and c.row.closed < since:
            continue  # closed before the period: it cannot matter
        blob = held.get(c.name) if c.model is None else None
        row: Any = None
        if blob is not None:
            with contextlib.suppress(Exception):
                row = marshal.loads(blob)
        if type(row) is not tuple or len(row) != ROW_LEN:
            row = row_of(store.model_of(c), policy, salt)
            made.append((c.name, marshal.dumps(row)))
        if _closed_before(row[8], figures.s):
            continue
        add(row)
    settle()
    ix.reporter = None


def kept_row(salt: bytes, since: int, policy: Policy, cb: Callback) -> bytes | None:
    """(In a worker process of a cold build: a `localindex.Reporter`) the row `collect`
    keeps of a record, marshalled; None for one closed before `since` (it cannot matter)."""
    if _closed_before(micros(cb.closure.at) if cb.closure else None, since):
        return None
    return marshal.dumps(row_of(cb, policy, salt))


def _closed_before(closed: int | None, start: int) -> bool:
    """Closed (microseconds) before the period's start: it cannot matter to the figures."""
    return closed is not None and closed < start


def report_salt(folder: Path) -> bytes:
    """The store's local salt for the keyed hashes of patient keys in report rows (made
    once, owner-only; never through a symlink: then a salt for this run only)."""
    path = folder / SALT_FILE
    if folder.is_symlink():
        return os.urandom(32)
    with contextlib.suppress(OSError):
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
            salt = f.read(64)
        if len(salt) == 32:
            return salt
    salt = os.urandom(32)
    with contextlib.suppress(OSError):
        write_atomic(path, salt)  # (owner-only)
    return salt
