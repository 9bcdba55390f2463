"""The report over plain rows: one small tuple per record, a per-month row cache, and a
one-pass aggregation that gives exactly the figures of `cbtrack.report.build`.

`report.build` works on validated models; at 60,000 records parsing and keeping them all
costs seconds and hundreds of megabytes. Here each record becomes a `Row` of plain values
(times as integer microseconds since the epoch in UTC, so that every comparison and every
difference in hours is exactly the one the models give), and the figures are summed row
by row without keeping the rows.

The row cache (`<store>/.cbtrack/cache/report-open.bin` and `report-YYYY-MM.bin`, one per
month folder of closed records) follows the rules of the read cache (`cbtrack/cache.py`):
local only, owner-only, written to a temp file and renamed; a header names the format,
the cbtrack and Python versions and a hash of the policy, the models, this module and the
store's salt, and a digest covers the entries, so a damaged or foreign file is ignored and
rewritten. An entry is used only when its file's inode, size, mtime_ns and ctime_ns are
exactly as recorded and the file is older than the cache file (git's racy rule); any other
file is read strictly (`Store.load_path`), so a bad file gives the error it gives without
the cache, and its new row replaces the entry.

No patient identifier is written to the row cache: the phone number (last ten digits) and
the MRN, which the repeat-patient count compares, are kept as keyed hashes (BLAKE2b with a
random salt in `report-salt`, local and owner-only like the rest). A report with
`--include-phi` needs names, phones and free text, so it does not use the row cache: it
builds its rows from the records as it reads them (`rows_with_phi`).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from cbtrack import cache, timing
from cbtrack.enums import DependencyKind, EventType, Source, Urgency
from cbtrack.progress import Progress
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
    patient_keys,
    rate,
)

if TYPE_CHECKING:
    from cbtrack.model import Callback
    from cbtrack.policy import Policy
    from cbtrack.store import Store

# 2: overdue from; 3: alerts sent; 4: with triage corrections; 5: first call due
FORMAT = "cbtrack-report-rows-5"
SALT_FILE = "report-salt"
OPEN_SHARD = "report-open"
KEY_BYTES = 16  # a keyed hash of one patient key
TMP_PREFIX = cache.TMP_PREFIX

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
        b"".join(_keyed(salt, k) for k in patient_keys(cb)),
        tuple((micros(e.at), *sent) for e in cb.events if (sent := alert_sent(e)) is not None),
        person,
        micros(timing.overdue_from(policy, cb)),  # the one overdue rule (`cbtrack.timing`)
        tuple(
            (micros(e.at), 1 if e.triage_missed else 2)
            for e in cb.events
            if e.type == EventType.urgency_changed and (e.triage_missed or e.triage_false_alarm)
        ),
        micros(timing.first_call_due(policy, cb)),  # the one first-call rule (`cbtrack.timing`)
    )


def _keyed(salt: bytes, key: str) -> bytes:
    return hashlib.blake2b(key.encode(), key=salt, digest_size=KEY_BYTES).digest()


# --- one pass over the rows ---------------------------------------------------------------


class Tally:
    """The sums behind one block of figures (`report.Period.block`)."""

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
    as `report.build` gives them for the same records in the same order."""

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
        (
            rid,
            category,
            urgency,
            owner,
            source,
            _status,
            created,
            _due,
            closed,
            close_reason,
            attempts,
            first,
            first_reached,
            tries,
            routes,
            deps,
            unknown,
            patient,
            alerted,
            phi,
            late_from,
            fixes,
            first_due,
        ) = row
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
            t.open += 1
            t.dues.append(late_from)
            if first is None:
                self.unattempted_dues.append(late_from)
            if late_from < a:
                t.overdue += 1
                seen = first is not None and (first <= a if inclusive else first < a)
                if not seen:
                    self.overdue_without_attempt += 1
            if self.oldest is None or (created, rid) < (self.oldest[6], self.oldest[0]):
                self.oldest = row
            if self.include_phi:
                self.open_rows.append(row)
        self.created_times.append(created)
        if closed is not None:
            self.closed_times.append(closed)
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

    @classmethod
    def spanning(cls, policy: Policy) -> Figures:
        """Figures over all of time, for a folder's summary: every time a record may hold
        (1970 to 2099 in its own zone) is inside, and `as_of` comes after all of them."""
        end = datetime(2101, 1, 1, tzinfo=UTC)
        return cls(policy, _EPOCH, end, end, False)

    def summary(self) -> tuple[Any, ...]:
        """These figures' sums as plain values (for the row cache): what rows add to any
        period that holds all their times, before its `as_of`. Lists are sorted, so that
        merged they sort quickly."""
        for t in self.tallies.values():
            t.to_first.sort()
            t.to_close.sort()
        self.created_times.sort()
        self.closed_times.sort()
        return (
            {
                k: (
                    t.n,
                    t.created,
                    t.closed,
                    t.open,
                    t.overdue,
                    t.attempts,
                    t.firsts,
                    t.reached,
                    t.on_time,
                    t.to_first,
                    t.to_close,
                    t.tries,
                    sorted(t.dues),
                )
                for k, t in self.tallies.items()
            },
            dict(self.reasons),
            self.created_times,
            self.closed_times,
            self.routed,
            self.rerouted,
            dict(self.routed_to),
            self.waits,
            {c: d[:2] for c, d in self.details.items()},
            self.made_keys,
            self.made_categories,
            sorted(self.unattempted_dues),
            self.oldest,
            self.fixes,
            self.alerts_sent,
        )

    def merge(self, summary: Any) -> None:
        """Add a `summary` of rows whose times all fall in this period, before `as_of`
        (every time but a due time, which is compared with `as_of` here)."""
        (tallies, reasons, created, closed, routed, rerouted, to, waits, details) = summary[:9]
        for key, v in tallies.items():
            t = self.tallies.get(key)
            if t is None:
                t = self.tallies[key] = Tally()
            t.n += v[0]
            t.created += v[1]
            t.closed += v[2]
            t.open += v[3]
            # overdue is measured at `as_of`: the open ones due before it (v[4] counted
            # every open one, measured after all times)
            t.overdue += bisect_left(v[12], self.a)
            t.attempts += v[5]
            t.firsts += v[6]
            t.reached += v[7]
            t.on_time += v[8]
            t.to_first += v[9]
            t.to_close += v[10]
            t.tries += v[11]
        self.reasons.update(reasons)
        self.created_times += created
        self.closed_times += closed
        self.routed += routed
        self.rerouted += rerouted
        self.routed_to.update(to)
        for kind, w in waits.items():
            mine = self.waits[kind]
            mine[0] += w[0]
            mine[1] += w[1]
            mine[2] += w[2]
            mine[3] += w[3]
        for category, (n, unknown) in details.items():
            d = self.details.get(category)
            if d is None:
                d = self.details[category] = [0, [0] * len(unknown), [Counter() for _ in unknown]]
            d[0] += n
            d[1] = [a + b for a, b in zip(d[1], unknown, strict=True)]
        self.made_keys += summary[9]
        self.made_categories += summary[10]
        # the open ones without an attempt (any attempt falls before `as_of`)
        self.overdue_without_attempt += bisect_left(summary[11], self.a)
        oldest = summary[12]
        if oldest is not None and (
            self.oldest is None or (oldest[6], oldest[0]) < (self.oldest[6], self.oldest[0])
        ):
            self.oldest = oldest
        self.fixes = [a + b for a, b in zip(self.fixes, summary[13], strict=True)]
        self.alerts_sent += summary[14]

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
            "first_attempts": {
                "count": overall["first_attempts"],
                "reached": overall["first_attempt_reached"],
                "reach_rate": rate(overall["first_attempt_reached"], overall["first_attempts"]),
            },
            "sla": {
                "first_attempt_on_time": overall["first_attempt_on_time"],
                "first_attempt_late": overall["first_attempt_late"],
                "on_time_rate": rate(overall["first_attempt_on_time"], overall["first_attempts"]),
                "overdue_without_attempt": self.overdue_without_attempt,
            },
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
        report["triage_corrections"] = {"missed": self.fixes[0], "false_alarms": self.fixes[1]}
        report["alerts"] = alert_figures(self.alerts_sent)
        report["handoffs"] = {
            "routed": self.routed,
            "rerouted": self.rerouted,
            "to": dict(sorted(self.routed_to.items())),
        }
        report["waits"] = {
            kind: {
                "count": w[0],
                "resolved": len(w[1]),
                "median_hours": median(w[1]),
                "open": w[2],
                "late": w[3],
            }
            for kind, w in self.waits.items()
        }
        report["trend"] = self._trend()
        report["by_detail"] = self._by_detail()
        urgent: Counter[str] = Counter()
        for (category, urgency, _, _), t in self.tallies.items():
            if urgency in URGENT:
                urgent[category] += t.created
        report["insights"] = insights(policy, report, repeat_count, repeat_categories, urgent)
        if self.include_phi:
            report["patients"] = self._phi_section(self._repeats())
        return report

    def _patients(self) -> tuple[list[bytes], list[int]]:
        """The distinct key sets of the callbacks created in the period, and for each the
        patient (a number) it belongs to: key sets that share a key (a phone number or an
        MRN) are one patient, as in `report.repeat_groups`."""
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
                break  # days that have not begun yet
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
    """Every figure for [start, end) from rows, as `report.build` gives it from records."""
    figures = Figures(policy, start, end, now, include_phi)
    add = figures.add
    for row in rows:
        add(row)
    return figures.result()


def from_store(
    store: Store, start: datetime, end: datetime, now: datetime, include_phi: bool = False
) -> dict[str, Any]:
    """The report of a store for [start, end): de-identified through the row cache
    (`collect`); with PHI from the records as read (`rows_with_phi`)."""
    if include_phi:
        return build(store.policy, rows_with_phi(store, start, end), start, end, now, True)
    figures = Figures(store.policy, start, end, now, False)
    collect(store, figures)
    return figures.result()


# --- reading rows from a store ----------------------------------------------------------


def rows_with_phi(store: Store, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    """Rows with the patient details an --include-phi report shows, built from the records
    as `Store.records_for_period` reads them; nothing goes to the row cache."""
    policy = store.policy
    salt = os.urandom(16)
    for cb in store.records_for_period(start, end):
        yield row_of(cb, policy, salt, phi=True)


class RowCache:
    """The row cache files of one store; every failure to read or write them is silent.

    A file holds, for one folder: the record file names and their stat signatures, then
    per file either its row or (for a record closed before the period of the report that
    read it, found by a text scan and not parsed) its closure time; and for a folder whose
    files all have rows, the folder's `Figures.summary` and the span of its times, used for
    any period that holds that whole span before its `as_of`."""

    def __init__(self, store: Store) -> None:
        from cbtrack import __version__, cache

        self.folder = store.local_dir / cache.CACHE_DIR
        self.salt = self._salt()
        digest = hashlib.sha256()
        for part in (
            __version__.encode(),
            sys.version.encode(),
            self.salt,
            _read(store.root / "cbtrack.yaml"),
            _read(Path(__file__).with_name("model.py")),
            _read(Path(__file__)),
        ):
            digest.update(len(part).to_bytes(8, "big") + part)
        self.key = f"{FORMAT}:{__version__}:{digest.hexdigest()[:32]}"

    def _salt(self) -> bytes:
        path = self.folder / SALT_FILE
        if not cache.real_folder(self.folder):
            return os.urandom(32)  # never through a symlink: a salt for this run only
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                salt = os.read(fd, 64)
            finally:
                os.close(fd)
            if len(salt) == 32:
                return salt
        salt = os.urandom(32)
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=TMP_PREFIX)  # owner-only
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(salt)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return salt

    def load(self, name: str) -> Shard:
        """A cache file; empty when there is none, or it is damaged or not ours."""
        if not cache.real_folder(self.folder):
            return Shard()
        try:
            fd = os.open(self.folder / f"{name}.bin", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return Shard()
        try:
            st = os.fstat(fd)
            with os.fdopen(fd, "rb", closefd=False) as f:
                header, digest, head, held = marshal.loads(f.read())
            if header != self.key or hashlib.blake2b(head).digest() != digest[:64]:
                return Shard()
            names, sigs, listing, summary, span, latest = marshal.loads(head)
            if type(names) is not str or type(sigs) is not bytes or type(listing) is not str:
                return Shard()
            shard = Shard(names, sigs, summary, span, held, digest[64:], st.st_mtime_ns, listing)
            shard.latest = latest if type(latest) is int else None
            return shard
        except Exception:  # corrupt, truncated, or not ours: rebuilt on the next write
            return Shard()
        finally:
            os.close(fd)

    def save(self, name: str, shard: Shard) -> None:
        with contextlib.suppress(OSError, ValueError):
            head = marshal.dumps(
                (
                    shard.names_blob,
                    shard.sigs_blob,
                    shard.listing_blob,
                    shard.summary,
                    shard.span,
                    shard.latest,
                )
            )
            held = marshal.dumps(shard.held_list())
            digest = hashlib.blake2b(head).digest() + hashlib.blake2b(held).digest()
            cache.write_file(self.folder, name, marshal.dumps((self.key, digest, head, held)))


Sig = tuple[int, int, int, int]


class Shard:
    """One cache file's content. The file names are kept as one string and their stat
    signatures as one marshalled string (so that an unchanged folder is checked by
    comparing two strings); `held` (rows and closure times) is decoded on first use."""

    def __init__(
        self,
        names_blob: str = "",
        sigs_blob: bytes = b"",
        summary: Any = None,
        span: Any = None,
        held: bytes | list[Any] = b"",
        held_digest: bytes = b"",
        written_ns: int = 0,
        listing_blob: str = "",
    ) -> None:
        self.names_blob, self.sigs_blob = names_blob, sigs_blob
        self.listing_blob = listing_blob  # the folder's listing (os.listdir) when written
        # in a month folder: the latest closure time of its records, when every record has
        # a row or a noted closure time (a period after it needs nothing from the month)
        self.latest: int | None = None
        self.summary, self.span = summary, span
        self._held = held
        self._held_digest = held_digest
        self.written_ns = written_ns

    @classmethod
    def of(
        cls, names: list[str], sigs: list[Sig], summary: Any, span: Any, held: list[Any]
    ) -> Shard:
        shard = cls(_names_blob(names), _sigs_blob(sigs), summary, span, held)
        closures = [h if type(h) is int else h[8] for h in held]
        if held and all(type(c) is int for c in closures):
            shard.latest = max(closures)
        return shard

    @property
    def names(self) -> list[str]:
        return self.names_blob.split("\0") if self.names_blob else []

    def held_list(self) -> list[Any]:
        held = self._held
        count = len(self.names)
        if type(held) is bytes:
            value: Any = None
            with contextlib.suppress(Exception):
                if hashlib.blake2b(held).digest() == self._held_digest:
                    value = marshal.loads(held)
            if type(value) is not list or len(value) != count:
                value = [None] * count  # damaged: every file is read again
            self._held = held = value
        assert type(held) is list
        return held

    def entries(self) -> dict[str, tuple[Sig, Any]]:
        names = self.names
        sigs: Any = None
        with contextlib.suppress(Exception):
            sigs = marshal.loads(self.sigs_blob)
        if type(sigs) is not list or len(sigs) != len(names):
            return {}
        return dict(zip(names, zip(sigs, self.held_list(), strict=True), strict=True))


def _names_blob(names: list[str]) -> str:
    return "\0".join(names)  # a file name never holds a NUL


def _sigs_blob(sigs: list[Sig]) -> bytes:
    return marshal.dumps(sigs, 2)  # version 2: no back-references, so equal lists give equal bytes


_SIG = attrgetter("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")


def _sig(st: os.stat_result) -> Sig:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _span(rows: list[tuple[Any, ...]]) -> tuple[int, int] | None:
    """The earliest and latest of every time in `rows` that a period compares with its
    bounds (all but due times, which `Figures.merge` compares itself)."""
    times: list[int] = []
    for r in rows:
        times.append(r[6])
        if r[8] is not None:
            times.append(r[8])
        times += r[10]
        times += [at for at, _ in r[14]]
        for _, since, until, resolved in r[15]:
            times.append(since)
            if until is not None:
                times.append(until)
            if resolved is not None:
                times.append(resolved)
    return (min(times), max(times)) if times else None


def collect(store: Store, figures: Figures) -> None:
    """Add to `figures` the de-identified rows of the records that can matter to its
    period, in the order and with the handling of `Store.records_for_period`: every open
    record, then the closed ones by month folder and name, leaving out month folders
    after the period (a month of slack for time zones) and records closed before it.

    Unchanged files come from the row cache; the others are read strictly and their rows
    cached. A month of closed records that is unchanged and whose times all fall in the
    period (and before its `as_of`) is added from its cached summary, row by row otherwise.
    Each month is added and dropped before the next one is read."""
    rc = RowCache(store)
    policy = store.policy
    last = f"{figures.end.astimezone(policy.tz) + timedelta(days=31):%Y-%m}"
    opened = store.folder_names(store.open_dir)
    progress = Progress("Building the report cache", len(opened), store.on_progress)
    seen: set[str] = set()  # the open records' file names
    _add_folder(store, rc, figures, store.open_dir, opened, seen, progress)
    # The month folders are listed once the open folder is read, as `records_for_period`
    # does: a record closed meanwhile is then found in its month, and counted once.
    months = [m for m in store.closed_folders() if m.name <= last]
    listings = [store.folder_names(m) for m in months]
    progress.total += sum(len(raw) for raw in listings)
    for month, raw in zip(months, listings, strict=True):
        _add_folder(store, rc, figures, month, raw, seen, progress)
    progress.done()


def _add_folder(
    store: Store,
    rc: RowCache,
    figures: Figures,
    folder: Path,
    raw: list[str],
    seen: set[str],
    progress: Progress,
) -> None:
    """Add one folder's records, listed as `raw`: from its summary, its cached rows, or
    row by row (reading what changed, and caching the result)."""
    is_open = folder == store.open_dir
    name = OPEN_SHARD if is_open else f"report-{folder.name}"
    shard = rc.load(name)
    listing = _names_blob(raw)
    # the folder lists as it did: its record names are the ones cached (no sorting)
    names = shard.names if listing == shard.listing_blob else _record_names(raw)
    if _unchanged(shard, folder, names, set() if is_open else seen):
        span = shard.span
        if (
            shard.summary is not None
            and type(span) is tuple
            and figures.s <= span[0]
            and span[1] < figures.a
        ):
            figures.merge(shard.summary)
            if is_open:
                seen.update(names)
            progress.step(len(names))
            return
        if not is_open and shard.latest is not None and shard.latest < figures.s:
            progress.step(len(names))
            return  # every record in it closed before the period
        if _add_held(figures, shard, is_open, seen):
            progress.step(len(names))
            return
    new = _folder(store, rc, figures, folder, names, shard, is_open, seen, progress)
    if new is None and listing != shard.listing_blob and shard.names_blob:
        new = shard  # unchanged records, but the listing to recognise is new
    if new is not None:
        # (kept only when the cached names are exactly the listing's records)
        new.listing_blob = listing if new.names == _record_names(raw) else ""
        rc.save(name, new)


def _record_names(listing: list[str]) -> list[str]:
    """The record files of a folder listing, sorted (as `Store.open_paths` has them)."""
    return sorted(n for n in listing if n.endswith(".yaml") and not n.startswith("."))


def _unchanged(shard: Shard, folder: Path, names: list[str], seen: set[str]) -> bool:
    """Whether a folder's cache file holds for every file in it, as listed in `names`
    (none of them in `seen`): same names, same stat signatures, none racy."""
    if not shard.names_blob or _names_blob(names) != shard.names_blob or not seen.isdisjoint(names):
        return False
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        stats = list(map(partial(os.stat, dir_fd=dfd, follow_symlinks=False), names))
    except OSError:
        return False
    finally:
        os.close(dfd)
    sigs = list(map(_SIG, stats))
    if _sigs_blob(sigs) != shard.sigs_blob:
        return False
    written = shard.written_ns
    # git's racy rule: a file not older than the cache file may have changed unseen
    return not sigs or (
        max(map(itemgetter(2), sigs)) < written and max(map(itemgetter(3), sigs)) < written
    )


def _add_held(figures: Figures, shard: Shard, is_open: bool, seen: set[str]) -> bool:
    """Add the rows of an unchanged folder straight from its cache file; False (nothing
    added) when a file must be read after all: a damaged entry, or one noted as closed
    before an earlier period that this one reaches."""
    held = shard.held_list()
    since = figures.s
    for h in held:
        if not (
            (type(h) is tuple and len(h) == ROW_LEN)
            or (type(h) is int and not is_open and h < since)
        ):
            return False
    add = figures.add
    if is_open:
        seen.update(shard.names)
        for row in held:
            add(row)
        return True
    for row in held:
        if type(row) is tuple and (row[8] is None or row[8] >= since):
            add(row)
    return True


def _folder(
    store: Store,
    rc: RowCache,
    figures: Figures,
    folder: Path,
    names: list[str],
    shard: Shard,
    is_open: bool,
    seen: set[str],
    progress: Progress,
) -> Shard | None:
    """Add one folder's rows to `figures`, row by row; the folder's new cache content, or
    None when the cached one still holds."""
    from cbtrack.store import MAX_RECORD_BYTES, FileGone, _closed_at, read_text

    policy = store.policy
    since = figures.s
    start = figures.start
    entries = shard.entries()
    written = shard.written_ns
    new_names: list[str] = []
    new_sigs: list[Sig] = []
    new_held: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    changed = False
    add = figures.add
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        dfd = -1
    try:
        for name in names:
            progress.step()
            if not is_open and name in seen:
                # (a record closed since the open folder was read counts once)
                old = entries.get(name)
                if old is not None:
                    new_names.append(name)
                    new_sigs.append(old[0])
                    new_held.append(old[1])
                continue
            try:
                st: os.stat_result | None = (
                    os.stat(name, dir_fd=dfd, follow_symlinks=False) if dfd >= 0 else None
                )
            except OSError:
                st = None
            row: tuple[Any, ...] | None = None
            held: Any = None
            if st is not None:
                old = entries.get(name)
                sig = _sig(st)
                if (
                    old is not None
                    and old[0] == sig
                    and st.st_mtime_ns < written
                    and st.st_ctime_ns < written
                ):
                    held = old[1]
                    if type(held) is tuple and len(held) == ROW_LEN:
                        row = held
                    elif type(held) is int and held < since:
                        new_names.append(name)
                        new_sigs.append(sig)
                        new_held.append(held)
                        continue  # closed before the period (as its text said): not read
                    else:
                        held = None
            if row is None:
                path = folder / name
                cb: Callback | None
                if is_open:
                    cb = store.load_listed(path)
                    if cb is None or store.path_of(cb) != path:
                        continue  # gone, or closed meanwhile (then read in its month)
                else:
                    try:
                        text = read_text(path, MAX_RECORD_BYTES, store.rel(path))
                    except FileGone:  # reopened meanwhile: read where it went
                        moved = store.load_listed(path)
                        if moved is not None and f"{moved.id}.yaml" not in seen:
                            seen.add(f"{moved.id}.yaml")
                            add(row_of(moved, policy, rc.salt))
                        continue
                    when = _closed_at(text)
                    if when is not None and when < start:
                        # closed before the period: it cannot matter, so it is not parsed;
                        # its closure time is noted for the next report
                        if st is not None:
                            new_names.append(name)
                            new_sigs.append(_sig(st))
                            new_held.append(micros(when))
                            changed = True
                        continue
                    cb = store.load_path(path, text)
                row = row_of(cb, policy, rc.salt)
                if st is not None:
                    held = row
                    changed = True
            if held is not None and st is not None:
                new_names.append(name)
                new_sigs.append(_sig(st))
                new_held.append(held)
                rows.append(held)
            if is_open:
                seen.add(name)
            elif row[8] is not None and row[8] < since:
                continue
            add(row)
    finally:
        if dfd >= 0:
            os.close(dfd)
    if not changed and _names_blob(new_names) == shard.names_blob:
        return None
    summary = span = None
    if len(rows) == len(new_names):
        whole = Figures.spanning(policy)
        for r in rows:
            whole.add(r)
        summary, span = whole.summary(), _span(rows)
    return Shard.of(new_names, new_sigs, summary, span, new_held)
