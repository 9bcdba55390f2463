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
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from cbtrack.enums import DependencyKind, EventType, Source, Urgency
from cbtrack.progress import Progress
from cbtrack.report import (
    HISTOGRAM,
    TOP_VALUES,
    UNKNOWN_VALUES,
    Block,
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

FORMAT = "cbtrack-report-rows-1"
SALT_FILE = "report-salt"
OPEN_SHARD = "report-open"
TMP_PREFIX = ".tmp-"

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
    tries: int  # outbound attempts
    routes: tuple[tuple[int, str], ...]  # routed events: time, owner set ("" if none)
    deps: tuple[tuple[str, int, int | None, int | None], ...]  # kind, since, until, resolved
    unknown: tuple[bool, ...]  # per required detail of its category: empty or "unknown"
    patient: tuple[bytes, ...]  # keyed hashes of the patient's phone and MRN keys
    phi: tuple[Any, ...] | None  # only with --include-phi, never cached: see `row_of`


ROW_LEN = len(Row._fields)


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
        len(cb.outbound_attempts),
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
        tuple(_keyed(salt, k) for k in patient_keys(cb)),
        person,
    )


def _keyed(salt: bytes, key: str) -> bytes:
    return hashlib.blake2b(key.encode(), key=salt, digest_size=16).digest()


# --- one pass over the rows ---------------------------------------------------------------


class Tally:
    """The sums behind one block of figures (`report.Period.block`)."""

    __slots__ = (
        "attempts",
        "closed",
        "created",
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
        self.oldest: tuple[Any, ...] | None = None
        self.open_rows: list[tuple[Any, ...]] = []  # with include_phi only
        self.routed = self.rerouted = 0
        self.routed_to: Counter[str] = Counter()
        # per kind: started, hours to resolve, open, late
        self.waits: dict[str, list[Any]] = {k.value: [0, [], 0, 0] for k in DependencyKind}
        self.details: dict[str, list[Any]] = {}  # category: [callbacks, unknown counts, values]
        self.made: list[tuple[Any, ...]] = []  # created in the period: patient keys etc.

    def add(self, row: tuple[Any, ...]) -> None:
        (
            rid,
            category,
            urgency,
            owner,
            source,
            _status,
            created,
            due,
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
            phi,
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
            self.made.append((patient, category, rid, created, phi))
            self._detail(category, unknown, phi)
        if first is not None and s <= first < e:
            t.firsts += 1
            t.reached += first_reached
            t.on_time += first <= due
            t.to_first.append(_hours(first, created))
        if closed_in:
            t.closed += 1
            t.to_close.append(_hours(closed, created))
            t.tries.append(float(tries))
            self.reasons[close_reason] += 1
        if is_open:
            t.open += 1
            if due < a:
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
        repeats = self._repeats()
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
            "repeat_patients": len(repeats),
            "top_category": volume[0][2] if volume else None,
            "oldest_open": self._oldest(),
            "distribution": {"hours_to_first_attempt": _histogram(overall_t.to_first)},
            "insights": [],
        }
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
        report["insights"] = insights(policy, report, [[m[1] for m in g] for g in repeats])
        if self.include_phi:
            report["patients"] = self._phi_section(repeats)
        return report

    def _repeats(self) -> list[list[tuple[Any, ...]]]:
        """As `report.repeat_groups`, over the hashed keys."""
        made = self.made
        parent = list(range(len(made)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        seen: dict[bytes, int] = {}
        for i, m in enumerate(made):
            for key in m[0]:
                if key in seen:
                    parent[find(i)] = find(seen[key])
                else:
                    seen[key] = i
        groups: dict[int, list[tuple[Any, ...]]] = {}
        for i, m in enumerate(made):
            groups.setdefault(find(i), []).append(m)
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
            out["patient"] = row[18][0]
            out["reason"] = row[18][4]
        return out

    def _trend(self) -> list[dict[str, Any]]:
        tz = self.policy.tz
        created = sorted(self.created_times)
        closed = sorted(self.closed_times)
        out: list[dict[str, Any]] = []
        day = self.start.astimezone(tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        s, e, a = self.s, self.e, self.a
        while day <= last:
            lo = max(micros(datetime.combine(day, time(0), tzinfo=tz)), s)
            hi = min(micros(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)), e)
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
            day += timedelta(days=1)
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

    def _phi_section(self, repeats: list[list[tuple[Any, ...]]]) -> dict[str, Any]:
        policy, tz = self.policy, self.policy.tz

        def person(phi: tuple[Any, ...]) -> dict[str, Any]:
            return {"name": phi[0], "phone": phi[1], "dob": phi[2], "mrn": phi[3]}

        ranked = sorted(self.open_rows, key=lambda r: (-policy.rank(Urgency(r[2])), r[7], r[0]))
        return {
            "open_at_end": [
                {
                    "id": r[0],
                    **person(r[18]),
                    "category": r[1],
                    "reason": r[18][4],
                    "owner": r[3],
                    "due_at": moment(r[7]).astimezone(tz).isoformat(),
                }
                for r in ranked
            ],
            "repeat_patients": [
                {
                    **person(min(g, key=lambda m: m[3])[4]),
                    "callbacks": sorted(m[2] for m in g),
                }
                for g in sorted(repeats, key=lambda g: (-len(g), min(m[2] for m in g)))
            ],
        }


def _close_reasons() -> list[str]:
    from cbtrack.enums import CloseReason

    return [r.value for r in CloseReason]


def _histogram(values: list[float]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    low = -float("inf")
    for name, high in HISTOGRAM:
        out.append({"label": name, "count": sum(1 for v in values if low <= v < high)})
        low = high
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


# --- reading rows from a store ----------------------------------------------------------


def rows_with_phi(store: Store, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    """Rows with the patient details an --include-phi report shows, built from the records
    as `Store.records_for_period` reads them; nothing goes to the row cache."""
    policy = store.policy
    salt = os.urandom(16)
    for cb in store.records_for_period(start, end):
        yield row_of(cb, policy, salt, phi=True)


class RowCache:
    """The row cache files of one store; every failure to read or write them is silent."""

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

    def load(self, name: str) -> tuple[dict[str, Any], int]:
        """A cache file's entries and its mtime_ns (for the racy rule); empty when there is
        none, or it is damaged or was written for something else."""
        try:
            fd = os.open(self.folder / f"{name}.bin", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return {}, 0
        try:
            st = os.fstat(fd)
            with os.fdopen(fd, "rb", closefd=False) as f:
                header, digest, payload = marshal.loads(f.read())
            if header != self.key or hashlib.blake2b(payload).digest() != digest:
                return {}, 0
            entries = marshal.loads(payload)
        except Exception:  # corrupt, truncated, or not ours: rebuilt on the next write
            return {}, 0
        finally:
            os.close(fd)
        return (entries, st.st_mtime_ns) if type(entries) is dict else ({}, 0)

    def save(self, name: str, entries: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            payload = marshal.dumps(entries)
            blob = marshal.dumps((self.key, hashlib.blake2b(payload).digest(), payload))
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=TMP_PREFIX)  # owner-only
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, self.folder / f"{name}.bin")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def _sig(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def cached_rows(store: Store, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    """The de-identified rows of the records that can matter to [start, end), in the order
    and with the handling of `Store.records_for_period`: every open record, then the closed
    ones by month folder and name, leaving out month folders after the period (a month of
    slack for time zones) and records closed before `start`. Unchanged files come from the
    row cache; the others are read strictly and their rows cached. Each month's rows are
    given and dropped before the next month is read."""
    from cbtrack.store import MAX_RECORD_BYTES, FileGone, _closed_at, read_text

    rc = RowCache(store)
    policy = store.policy
    since = micros(start)
    last = f"{end.astimezone(policy.tz) + timedelta(days=31):%Y-%m}"
    plan: list[tuple[Path, str, list[str]]] = [
        (store.open_dir, OPEN_SHARD, store.record_names(store.open_dir))
    ]
    for month in store.closed_folders():
        if month.name <= last:
            plan.append((month, f"report-{month.name}", store.record_names(month)))
    progress = Progress(
        "Building the report cache", sum(len(p[2]) for p in plan), store.on_progress
    )
    seen: set[str] = set()
    is_open = True
    for folder, shard, names in plan:
        entries, written = rc.load(shard)
        fresh: dict[str, Any] = {}
        changed = False
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            dfd = -1
        try:
            for name in names:
                stem = name.removesuffix(".yaml")
                if not is_open and stem in seen:
                    # (a record closed since the open folder was read counts once)
                    if name in entries:
                        fresh[name] = entries[name]
                    continue
                try:
                    st: os.stat_result | None = (
                        os.stat(name, dir_fd=dfd, follow_symlinks=False) if dfd >= 0 else None
                    )
                except OSError:
                    st = None
                row: tuple[Any, ...] | None = None
                entry = entries.get(name) if st is not None else None
                if (
                    st is not None
                    and type(entry) is tuple
                    and len(entry) == 5
                    and entry[0] == st.st_ino
                    and entry[1] == st.st_size
                    and entry[2] == st.st_mtime_ns
                    and entry[3] == st.st_ctime_ns
                    and st.st_mtime_ns < written
                    and st.st_ctime_ns < written
                ):
                    held = entry[4]
                    if type(held) is tuple and len(held) == ROW_LEN:
                        row = held
                        fresh[name] = entry
                    elif type(held) is int and held < since:
                        fresh[name] = entry
                        progress.step()
                        continue  # closed before the period (as its text said): not read
                progress.step()
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
                            if moved is not None and moved.id not in seen:
                                seen.add(moved.id)
                                yield row_of(moved, policy, rc.salt)
                            continue
                        when = _closed_at(text)
                        if when is not None and when < start:
                            # closed before the period: it cannot matter, so it is not
                            # parsed; its closure time is noted for the next report
                            if st is not None:
                                fresh[name] = (*_sig(st), micros(when))
                                changed = True
                            continue
                        cb = store.load_path(path, text)
                    row = row_of(cb, policy, rc.salt)
                    if st is not None:
                        fresh[name] = (*_sig(st), row)
                        changed = True
                if is_open:
                    seen.add(row[0])
                elif row[8] is not None and row[8] < since:
                    continue
                yield row
        finally:
            if dfd >= 0:
                os.close(dfd)
        if changed or len(fresh) != len(entries):
            rc.save(shard, fresh)
        is_open = False
    progress.done()
