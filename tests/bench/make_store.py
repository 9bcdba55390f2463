"""Make a realistic cbtrack store for benchmarks: a git repository with everything committed.

    python tests/bench/make_store.py DIR --open 10000 --closed 50000 [--seed 1]

Records are built with the library's models (so every one validates) and written straight to
their files; one `git add -A` and one commit finish the job, so 60,000 records take well under a
minute. The mix follows a practice's real traffic: every category of the policy (weighted),
urgencies from the category with some raised, 0 to 4 attempts with mixed results, events
(created, triaged, assigned, blocked and unblocked, escalated, closed), dependencies on
referrals, eligibility or provider review, and closures spread over the months before `--now`
at about 15,000 callbacks a year. Patients are fictional and some call more than once.
The same seed gives the same store.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cbtrack import service
from cbtrack.model import (
    ALPHABET,
    CLINICAL_URGENCIES,
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Closure,
    ContactMethod,
    Dependency,
    DependencyKind,
    Event,
    EventType,
    Patient,
    Source,
    Status,
    Urgency,
    VoicemailConsent,
)
from cbtrack.policy import Policy
from cbtrack.store import Store
from cbtrack.yamlio import dump_yaml, record_data

DEFAULT_NOW = "2026-11-27T10:00:00-05:00"
CHUNK = 5000
PER_YEAR = 15_000  # a small practice's callbacks a year: sets how far back closures go
USERS = ["jlee", "mgarcia", "tnguyen", "rpatel", "akim"]
FIRST = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan", "Kai", "Logan"]
LAST = ["Testperson", "Sample", "Example", "Placeholder", "Demo", "Fiction", "Mock", "Dummy"]
RESULTS = [
    (AttemptResult.no_answer, 30),
    (AttemptResult.left_voicemail, 30),
    (AttemptResult.reached, 30),
    (AttemptResult.busy, 5),
    (AttemptResult.message_sent, 4),
    (AttemptResult.wrong_number, 1),
]
REASONS = {
    CloseReason.reached: 60,
    CloseReason.resolved: 20,
    CloseReason.routed: 8,
    CloseReason.attempts_exhausted: 8,
    CloseReason.duplicate: 4,
}
CATEGORY_WEIGHT = {
    "scheduling": 25,
    "rescheduling": 12,
    "cancellation": 6,
    "referral_status": 10,
    "insurance": 8,
    "intake_form": 4,
    "records_request": 5,
    "billing": 8,
    "prescription": 10,
    "clinical_concern": 5,
    "post_visit": 3,
    "missed_call": 3,
    "general": 1,
}


class Maker:
    def __init__(self, policy: Policy, seed: int, now: datetime, patient_seed: int) -> None:
        self.policy = policy
        self.rng = random.Random(patient_seed)
        self.now = now
        self.tz = policy.tz
        self.categories = list(policy.categories)
        self.weights = [CATEGORY_WEIGHT.get(c, 3) for c in self.categories]
        self.used_ids: set[str] = set()
        self.patients = [self._patient(i) for i in range(max(50, PER_YEAR // 3))]
        self.rng = random.Random(seed)  # the same patients in every worker, then its own draws
        self.results = [r for r, _ in RESULTS]
        self.result_w = [w for _, w in RESULTS]

    def _patient(self, i: int) -> Patient:
        r = self.rng
        return Patient(
            name=f"{r.choice(FIRST)} {r.choice(LAST)} {i}",
            phone=f"+1555{r.randrange(10**7):07d}",
            preferred_method=r.choices(list(ContactMethod), [70, 20, 8, 2])[0],
            contact_window=r.choice([None, None, "09:00-12:00", "13:00-17:00"]),
            voicemail=r.choices(list(VoicemailConsent), [70, 20, 10])[0],
            dob=None
            if r.random() < 0.3
            else f"19{r.randrange(30, 99)}-0{r.randrange(1, 9)}-1{r.randrange(0, 9)}",
            mrn=None if r.random() < 0.4 else f"MRN{r.randrange(10**6):06d}",
        )

    def new_id(self, created: datetime) -> str:
        while True:
            suffix = "".join(self.rng.choice(ALPHABET) for _ in range(5))
            cid = f"cb-{created:%Y%m%d}-{suffix}"
            if cid not in self.used_ids:
                self.used_ids.add(cid)
                return cid

    def item_id(self) -> str:
        return "".join(self.rng.choice(ALPHABET) for _ in range(6))

    def business_time(self, start: datetime, end: datetime) -> datetime:
        """A random moment in [start, end) moved into 08:00-17:00 on a weekday."""
        span = max(int((end - start).total_seconds()), 60)
        t = (start + timedelta(seconds=self.rng.randrange(span))).astimezone(self.tz)
        while t.weekday() >= 5:
            t += timedelta(days=1)
        if not 8 <= t.hour < 17:
            t = t.replace(hour=self.rng.randrange(8, 17))
        return t.replace(microsecond=0)

    def record(self, created: datetime, closed: bool) -> Callback:
        r = self.rng
        cat_name = r.choices(self.categories, self.weights)[0]
        cat = self.policy.categories[cat_name]
        urgency = Urgency(cat.urgency)
        if urgency not in CLINICAL_URGENCIES and r.random() < 0.08:
            urgency = r.choice([Urgency.same_day, Urgency.deadline, Urgency.time_sensitive])
        if closed and r.random() < 0.01:
            urgency = Urgency.emergency
        by = r.choice(USERS)
        owner = cat.owner
        details = {k: f"bench {k.replace('_', ' ')}" for k in cat.required_details}
        for k in cat.optional_details:
            if r.random() < 0.3:
                details[k] = f"bench {k.replace('_', ' ')}"
        due = created + timedelta(hours=r.choice([1, 4, 24, 48, 72]))
        events = [
            Event(id=self.item_id(), at=created, by=by, type=EventType.created),
        ]
        if r.random() < 0.4:
            events.append(
                Event(
                    id=self.item_id(),
                    at=created + timedelta(minutes=1),
                    by=by,
                    type=EventType.triaged,
                    note="policy defaults applied",
                )
            )
        last = min(self.now, created + timedelta(days=r.choice([1, 2, 3, 5, 10, 20])))
        depends: list[Dependency] = []
        if cat_name in ("referral_status", "insurance", "prescription") and r.random() < 0.4:
            since = created + timedelta(minutes=30)
            resolved = None
            if closed or r.random() < 0.5:
                resolved = since + (last - since) / 2
            kind = {
                "referral_status": DependencyKind.referral_documents,
                "insurance": DependencyKind.insurance_eligibility,
            }.get(cat_name, DependencyKind.provider_review)
            depends.append(
                Dependency(
                    id=self.item_id(),
                    kind=kind,
                    note="waiting on paperwork",
                    since=since,
                    resolved_at=resolved,
                )
            )
            events.append(
                Event(id=self.item_id(), at=since, by=by, type=EventType.blocked, note="waiting")
            )
            if resolved is not None:
                events.append(
                    Event(id=self.item_id(), at=resolved, by=by, type=EventType.unblocked)
                )
        attempts: list[Attempt] = []
        n_attempts = r.choices([0, 1, 2, 3, 4], [10 if closed else 35, 45, 25, 12, 5])[0]
        t = created + timedelta(minutes=r.randrange(10, 240))
        for _ in range(n_attempts):
            if t >= self.now:
                break
            result = r.choices(self.results, self.result_w)[0]
            method = r.choices(list(AttemptMethod), [80, 8, 4, 2, 5, 1])[0]
            attempts.append(
                Attempt(
                    id=self.item_id(),
                    at=t,
                    by=r.choice(USERS),
                    method=method,
                    result=result,
                    message_left=result == AttemptResult.left_voicemail,
                    note="Called patient about the request",
                )
            )
            t += timedelta(hours=r.choice([3, 20, 26, 50]))
        if r.random() < 0.15:
            events.append(
                Event(
                    id=self.item_id(),
                    at=created + timedelta(hours=2),
                    by=by,
                    type=EventType.assigned,
                    was={"owner": owner},
                    set={"owner": "front_desk_lead"},
                )
            )
            owner = "front_desk_lead" if self.policy.accepts_owner("front_desk_lead") else owner
        cb = Callback(
            id=self.new_id(created),
            created_at=created,
            created_by=by,
            source=r.choices(list(Source), [60, 20, 8, 6, 4, 1, 1])[0],
            patient=r.choice(self.patients),
            category=cat_name,
            reason=f"Bench {cat.label.lower()} request",
            details=details,
            urgency=urgency,
            owner=owner,
            due_at=due,
            next_action=cat.next_action or "Call back",
            depends_on=depends,
            attempts=attempts,
            events=events,
        )
        if closed:
            at = max([created + timedelta(hours=1), *(a.at for a in attempts)])
            at += timedelta(minutes=r.randrange(5, 600))
            reason = r.choices(list(REASONS), list(REASONS.values()))[0]
            cb.status = Status.closed
            cb.closure = Closure(
                at=at,
                by=r.choice(USERS),
                reason=reason,
                summary="Handled",
                to="clinical" if reason == CloseReason.routed else None,
            )
            cb.events = [*cb.events, Event(id=self.item_id(), at=at, by=by, type=EventType.closed)]
        elif cb.open_dependencies:
            cb.status = Status.waiting_internal
        elif attempts:
            cb.status = cb.status_after_attempt(attempts[-1].result)
            if r.random() < 0.05:
                cb.status = Status.escalated
        return cb


def make_store(root: Path, open_: int, closed: int, seed: int = 1, now: str = DEFAULT_NOW) -> Path:
    """Build the store in `root` (which must not hold one yet) and commit it."""
    if (root / "cbtrack.yaml").exists():
        raise SystemExit(f"{root} already holds a store; pick an empty folder.")
    t0 = time.perf_counter()
    env_now = datetime.fromisoformat(now)
    service.init_store(root, "bench", env_now)
    store = Store(root)
    tz = store.policy.tz
    now_tz = env_now.astimezone(tz)
    months = max(1, -(-closed * 12 // PER_YEAR))
    first = now_tz - timedelta(days=months * 30.44)
    last = now_tz - timedelta(days=21)
    # Closed records are spread evenly from `first` to three weeks ago, open ones over the
    # last three weeks. Chunks run in worker processes (each with its own seed).
    chunks: list[tuple[str, str, int, int, int, int]] = []
    for kind, count in (("closed", closed), ("open", open_)):
        for start in range(0, count, CHUNK):
            chunks.append((str(root), kind, count, start, min(count, start + CHUNK), seed))
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done in pool.map(
            _chunk, chunks, [first] * len(chunks), [last] * len(chunks), [now_tz] * len(chunks)
        ):
            _progress(f"{done:,} records written")
    _progress(f"records written in {time.perf_counter() - t0:.1f}s; committing")
    if open_ + closed:
        commit_all(root, env_now)
    return root


def commit_all(root: Path, when: datetime) -> None:
    """Commit every record file in one `git fast-import` stream (one pack file, rather than
    60,000 loose objects from `git add`), then bring the index in line with `git reset`."""
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1")
    git = ["git", "-C", str(root)]
    branch = subprocess.run(
        [*git, "symbolic-ref", "HEAD"], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()
    stamp = f"{int(when.timestamp())} +0000"
    message = b"Benchmark data\n"
    proc = subprocess.Popen([*git, "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    out = proc.stdin
    out.write(f"commit {branch}\n".encode())
    out.write(f"author bench <bench@example.invalid> {stamp}\n".encode())
    out.write(f"committer bench <bench@example.invalid> {stamp}\n".encode())
    out.write(b"data %d\n%s" % (len(message), message))
    out.write(f"from {branch}^0\n".encode())
    callbacks = root / "callbacks"
    for folder, _, files in sorted(os.walk(callbacks)):
        for name in sorted(files):
            if not name.endswith(".yaml"):
                continue
            path = Path(folder) / name
            body = path.read_bytes()
            rel = path.relative_to(root).as_posix()
            out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(body), body))
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run([*git, "reset", "-q"], check=True, env=env)


def _chunk(
    job: tuple[str, str, int, int, int, int], first: datetime, last: datetime, now: datetime
) -> int:
    root, kind, count, start, end, seed = job
    store = Store(Path(root))
    maker = Maker(store.policy, seed * 1_000_003 + start + (kind == "open"), now, seed)
    dirs: set[Path] = set()
    for i in range(start, end):
        if kind == "closed":
            lo = first + (last - first) * i / max(count, 1)
            created = maker.business_time(lo, lo + timedelta(hours=12))
        else:
            created = maker.business_time(last, now - timedelta(hours=1))
        _write(store, maker, created, kind == "closed", dirs)
    return end - start


def _write(store: Store, maker: Maker, created: datetime, closed: bool, dirs: set[Path]) -> None:
    cb = maker.record(created, closed)
    while True:
        path = store.path_of(cb)
        if path.parent not in dirs:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            dirs.add(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker drew the same ID: draw again
            cb.id = maker.new_id(created)
            continue
        break
    data: Any = record_data(cb)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(dump_yaml(data))


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        print(f"  make_store: {text}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--open", type=int, default=1000, dest="open_")
    ap.add_argument("--closed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--now", default=DEFAULT_NOW, help="the store's present (ISO 8601)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    make_store(args.dir, args.open_, args.closed, args.seed, args.now)
    total = args.open_ + args.closed
    print(f"{args.dir}: {total:,} records in {time.perf_counter() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
