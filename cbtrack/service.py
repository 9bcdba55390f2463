"""One function per command: load what is needed, apply the domain, save, commit.

Usable without the CLI. Every change holds the store lock from reading the record to
the git commit, reads only the record it changes, and writes nothing when refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cbtrack import doctor, gitlog, review, triage
from cbtrack.errors import CbtrackError, Refused, StoreError
from cbtrack.model import (
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Closure,
    ContactMethod,
    Dependency,
    DependencyKind,
    EventType,
    Patient,
    Source,
    Status,
    Urgency,
    VoicemailConsent,
    describe_validation,
)
from cbtrack.policy import Policy
from cbtrack.store import (
    POLICY_FILE,
    Store,
    dump_yaml,
    init_layout,
    parse_model,
    write_atomic,
)


@dataclass
class Outcome:
    """What a change did: the record, and warnings to show staff."""

    record: Callback
    warnings: list[str] = field(default_factory=list)


def build(make: Callable[[], Any]) -> Any:
    """Run a model constructor, turning a validation failure into a one-line refusal."""
    try:
        return make()
    except ValidationError as exc:
        raise Refused(f"Invalid input, {describe_validation(exc)}.") from None


def change(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    action: str,
    apply: Callable[[Policy, Callback, str], list[str] | None],
) -> Outcome:
    """The one path for changing a record: lock, load it, apply, save, commit."""
    policy = store.policy
    actor = triage.check_user(policy, user)
    gitlog.require_repo(store.root)
    with store.lock():
        doctor.recover(store, now, actor)
        cb = store.load(callback_id)
        warnings = apply(policy, cb, actor) or []
        paths = store.save(cb)
        gitlog.commit(store.root, paths, f"{action} {cb.id}", actor, now)
    return Outcome(cb, warnings)


class Skip(Exception):
    """Raised by an `apply` in `change_many` to leave that record as it is."""


def change_many(
    store: Store,
    user: str | None,
    now: datetime,
    callback_ids: Iterable[str],
    action: str,
    apply: Callable[[Policy, Callback, str], None],
) -> list[Callback]:
    """One change to many records (a roll-over, a triage run): one lock, one commit.
    Each record is loaded and re-checked under the lock; `apply` may raise `Skip`."""
    policy = store.policy
    actor = triage.check_user(policy, user)
    gitlog.require_repo(store.root)
    changed: list[Callback] = []
    with store.lock():
        doctor.recover(store, now, actor)
        paths: list[Path] = []
        for cid in callback_ids:
            cb = store.load(cid)
            try:
                apply(policy, cb, actor)
            except Skip:
                continue
            paths += store.save(cb)
            changed.append(cb)
        if changed:
            ids = [cb.id for cb in changed]
            title = f"{action} {ids[0]}" if len(ids) == 1 else f"{action} {len(ids)} callbacks"
            body = "" if len(ids) == 1 else "\n\n" + "\n".join(ids)
            gitlog.commit(store.root, paths, title + body, actor, now)
    return changed


# --- init --------------------------------------------------------------------------


@dataclass
class PracticeSetup:
    """What `init` fills into the default policy; None keeps the shipped value."""

    practice: str | None = None
    callback_number: str | None = None
    timezone: str | None = None
    staff: dict[str, StaffEntry] = field(default_factory=dict)

    def given(self) -> bool:
        return bool(self.practice or self.callback_number or self.timezone or self.staff)


@dataclass
class StaffEntry:
    name: str
    roles: list[str]


def policy_text(setup: PracticeSetup | None = None) -> str:
    """The commented default policy with the practice's own values filled in, checked like
    a policy file (a refusal names the key and a right value)."""
    from cbtrack.policy import default_policy_text

    text = default_policy_text()
    if setup is not None:
        for key in ("practice", "callback_number", "timezone"):
            value = getattr(setup, key)
            if value is not None:
                text = _replace_top_key(text, key, dump_yaml({key: value}).rstrip("\n"))
        if setup.staff:
            block = ["staff:"]
            for user, e in setup.staff.items():
                member = dump_yaml({user: {"name": e.name, "roles": e.roles}}, flow=True)
                block.append("  " + member.strip()[1:-1])
            text = _replace_top_key(text, "staff", "\n".join(block))
    try:
        parse_model(Policy, text, POLICY_FILE)
    except StoreError as exc:
        raise Refused(exc.message.replace(f"{POLICY_FILE}: ", "", 1)) from None
    return text


def _replace_top_key(text: str, key: str, block: str) -> str:
    """Replace the one line `key: ...` at the top level of the policy text by `block`."""
    lines = text.split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
    if len(at) != 1:
        raise ValueError(f"the packaged policy has no single top-level {key}")
    lines[at[0] : at[0] + 1] = block.split("\n")
    return "\n".join(lines)


def init_store(
    root: Path, user: str | None, now: datetime, setup: PracticeSetup | None = None
) -> list[Path]:
    """Make `root` a store: the commented default policy with `setup` filled in (an
    existing policy is kept), folders, git, and one commit of all of it."""
    if setup is not None and setup.given() and (root / POLICY_FILE).exists():
        raise Refused(
            f"{root / POLICY_FILE} already exists; edit it instead and run "
            "'cbtrack validate --commit'."
        )
    written = init_layout(root, policy_text(setup))
    gitlog.init_repo(root.resolve())
    gitlog.commit_all(root.resolve(), "init cbtrack store", user or gitlog.TOOL_USER, now)
    return written


# --- add ---------------------------------------------------------------------------


def add(
    store: Store,
    user: str | None,
    now: datetime,
    *,
    patient: str,
    phone: str,
    category: str,
    reason: str,
    method: ContactMethod = ContactMethod.phone,
    voicemail: VoicemailConsent = VoicemailConsent.minimal,
    window: str | None = None,
    details: dict[str, str] | None = None,
    urgency: Urgency | None = None,
    owner: str | None = None,
    due: datetime | None = None,
    source: Source = Source.phone,
    mrn: str | None = None,
    dob: str | None = None,
    language: str | None = None,
    next_action: str | None = None,
    note: str | None = None,
    symptoms: bool | None = None,
) -> Outcome:
    """A new callback; triage reads the reason, the details and `note`, and a 'yes' to the
    symptoms question (`symptoms=True`) makes it at least clinical."""
    policy = store.policy
    actor = triage.check_user(policy, user)
    details = {k: v for k, v in (details or {}).items()}
    triage.check_category(policy, category)
    warnings = triage.check_details(policy, category, details)
    if owner:
        triage.check_owner(policy, owner)
    person: Patient = build(
        lambda: Patient(
            name=patient,
            phone=phone,
            preferred_method=method,
            contact_window=window,
            voicemail=voicemail,
            mrn=mrn,
            dob=dob,
            language=language,
        )
    )
    created = now.astimezone(policy.tz)
    if note is not None and not note.strip():
        raise Refused("--note is empty; write what the patient said or leave --note out.")
    notes = [note] if note else []
    plan = triage.intake(
        policy, actor, category, reason, details, urgency, owner, due, created, notes, symptoms
    )
    warnings += plan.warnings
    gitlog.require_repo(store.root)
    with store.lock():
        doctor.recover(store, now, actor)
        cb: Callback = build(
            lambda: Callback(
                id=store.new_id(created),
                created_at=created,
                created_by=actor,
                source=source,
                patient=person,
                category=category,
                reason=reason,
                details=details,
                urgency=plan.urgency,
                owner=plan.owner,
                due_at=plan.due_at,
                next_action=next_action or plan.next_action,
            )
        )
        cb.log(
            created,
            actor,
            EventType.created,
            set={
                "owner": plan.owner,
                "urgency": plan.urgency.value,
                "due_at": plan.due_at.isoformat(),
            },
        )
        if plan.judged:
            cb.log(
                created,
                actor,
                EventType.urgency_changed,
                note="Set by clinical staff on intake, below what triage suggests",
                was={"urgency": plan.floor.value},
                set={"urgency": plan.urgency.value},
            )
        elif plan.rule and plan.triaged:
            why = (
                "staff answered yes to the symptoms question"
                if plan.answered
                else f"rule {plan.rule.name}"
            )
            cb.log(
                created,
                actor,
                EventType.triaged,
                note=f"Triage by {why}",
                set={"urgency": plan.urgency.value, "owner": plan.owner},
            )
        if note:
            cb.log(created, actor, EventType.note, note=note)
        paths = store.save(cb)
        gitlog.commit(store.root, paths, f"add {cb.id}", actor, now)
    return Outcome(cb, warnings)


# --- attempt -----------------------------------------------------------------------


def attempt(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    method: AttemptMethod,
    result: AttemptResult,
    note: str,
    message_left: bool | None = None,
    response: str | None = None,
    next_action: str | None = None,
    script: str | None = None,
    force: bool = False,
    why: str | None = None,
    next_at: datetime | None = None,
) -> Outcome:
    if why and not force:
        raise Refused("--why explains a --force; add --force or leave --why out.")
    if force and not (why and why.strip()):
        raise Refused("--force needs --why with the reason the limit must be passed.")
    leaves_message = result in (AttemptResult.left_voicemail, AttemptResult.message_sent)
    if message_left is False and leaves_message:
        raise Refused(f"A {result.value} attempt leaves a message; drop --no-message-left.")
    if message_left and result != AttemptResult.reached and not leaves_message:
        raise Refused(
            f"A {result.value} attempt cannot leave a message; use left_voicemail or message_sent."
        )

    def apply(policy: Policy, cb: Callback, actor: str) -> list[str]:
        at = now.astimezone(policy.tz)
        att: Attempt = build(
            lambda: Attempt(
                at=at,
                by=actor,
                method=method,
                result=result,
                message_left=leaves_message if message_left is None else message_left,
                patient_response=response,
                note=note,
                next_action=next_action,
            )
        )
        check = triage.check_attempt(policy, cb, att, at, script)
        att.script = check.script
        if check.limits:
            if not force:
                raise Refused(
                    f"Attempt refused: {'; '.join(check.limits)}; if it must happen now, "
                    "add --force --why 'reason'."
                )
            att.forced = f"{why} (passed: {'; '.join(check.limits)})"
        cb.add_attempt(att)
        if next_action:
            cb.next_action = next_action
        cb.next_attempt_at = triage.next_attempt_time(policy, cb, at)
        if next_at is not None:
            if next_at <= at:
                raise Refused("--next-at must be later than this attempt.")
            cb.next_attempt_at = next_at.astimezone(policy.tz)
        warnings = list(check.warnings)
        if triage.attempts_complete(policy, cb) and not cb.was_reached:
            warnings.append(
                f"The attempt process is complete ({policy.attempts.max} attempts); close it "
                "with --reason attempts_exhausted if the patient is still unreachable."
            )
        return warnings

    return change(store, user, now, callback_id, f"attempt ({result.value})", apply)


# --- close and reopen --------------------------------------------------------------


def close(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    reason: CloseReason,
    summary: str,
    to: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_close(policy, cb, reason, to)
        triage.check_clinical_handover(policy, cb, actor, closing=True)
        at = now.astimezone(policy.tz)
        cb.closure = build(lambda: Closure(at=at, by=actor, reason=reason, summary=summary, to=to))
        was = {"status": cb.status.value}
        now_set = {"status": Status.closed.value, "reason": reason.value}
        if to:
            was["owner"], now_set["owner"] = cb.owner, to
            cb.owner = to
        cb.status = Status.closed
        cb.next_attempt_at = None
        cb.log(at, actor, EventType.closed, note=summary, was=was, set=now_set)

    return change(store, user, now, callback_id, f"close ({reason.value})", apply)


def reopen(store: Store, user: str | None, now: datetime, callback_id: str, *, why: str) -> Outcome:
    if not why.strip():
        raise Refused("Say why the callback is reopened with --why.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        if cb.is_open:
            raise Refused(f"{cb.id} is already open.")
        at = now.astimezone(policy.tz)
        closed_as = cb.closure.reason.value if cb.closure else ""
        cb.closure = None
        cb.status = cb.resting_status()
        due = triage.due_for(policy, cb.urgency, at)
        cb.log(
            at,
            actor,
            EventType.reopened,
            note=why,
            was={"status": "closed", "reason": closed_as, "due_at": cb.due_at.isoformat()},
            set={"status": cb.status.value, "due_at": due.isoformat()},
        )
        cb.due_at = due
        cb.next_attempt_at = None if triage.attempts_complete(policy, cb) else at

    return change(store, user, now, callback_id, "reopen", apply)


# --- urgency, ownership, dependencies ----------------------------------------------


def set_urgency(
    store: Store, user: str | None, now: datetime, callback_id: str, *, level: Urgency, why: str
) -> Outcome:
    if not why.strip():
        raise Refused("Say why the urgency changes with --why.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        if level == cb.urgency:
            raise Refused(f"{cb.id} is already {level.value}.")
        triage.check_urgency_change(policy, cb, level, actor)
        at = now.astimezone(policy.tz)
        fields: dict[str, object] = {"urgency": level}
        due = triage.due_for(policy, level, at)
        # Raising never makes it due later; lowering gives the new level's time from now.
        fields["due_at"] = (
            min(cb.due_at, due) if policy.rank(level) > policy.rank(cb.urgency) else due
        )
        cb.change(at, actor, EventType.urgency_changed, why, **fields)

    return change(store, user, now, callback_id, "urgency", apply)


def assign(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    owner: str,
    note: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        triage.check_owner(policy, owner)
        if cb.owner == owner:
            raise Refused(f"{cb.id} is already owned by {owner}.")
        triage.check_clinical_handover(policy, cb, actor, new_owner=owner)
        cb.change(now.astimezone(policy.tz), actor, EventType.assigned, note, owner=owner)

    return change(store, user, now, callback_id, "assign", apply)


def route(
    store: Store, user: str | None, now: datetime, callback_id: str, *, to: str, note: str
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        triage.check_role(policy, to)
        if cb.owner == to:
            raise Refused(f"{cb.id} is already with {to}.")
        triage.check_clinical_handover(policy, cb, actor, new_owner=to)
        cb.change(now.astimezone(policy.tz), actor, EventType.routed, note, owner=to)

    return change(store, user, now, callback_id, "route", apply)


def block(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    kind: DependencyKind,
    note: str,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        at = now.astimezone(policy.tz)
        dep: Dependency = build(lambda: Dependency(kind=kind, note=note, since=at))
        cb.depends_on = [*cb.depends_on, dep]
        cb.log(
            at,
            actor,
            EventType.blocked,
            note=note,
            was={"status": cb.status.value},
            set={"status": Status.waiting_internal.value, "depends_on": kind.value},
        )
        cb.status = Status.waiting_internal

    return change(store, user, now, callback_id, f"block ({kind.value})", apply)


def unblock(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    kind: DependencyKind | None = None,
    note: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        targets = [d for d in cb.open_dependencies if kind is None or d.kind == kind]
        if not targets:
            what = f" on {kind.value}" if kind else ""
            raise Refused(f"{cb.id} is not waiting{what}; nothing to unblock.")
        at = now.astimezone(policy.tz)
        cb.depends_on = [
            d.model_copy(update={"resolved_at": at}) if d in targets else d for d in cb.depends_on
        ]
        before = cb.status
        after = cb.resting_status() if before == Status.waiting_internal else before
        cb.status = after
        cb.log(
            at,
            actor,
            EventType.unblocked,
            note=note,
            was={"status": before.value},
            set={"status": after.value, "resolved": ", ".join(d.kind.value for d in targets)},
        )

    return change(store, user, now, callback_id, "unblock", apply)


def add_note(
    store: Store, user: str | None, now: datetime, callback_id: str, *, note: str
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        cb.log(now.astimezone(policy.tz), actor, EventType.note, note=note)

    return change(store, user, now, callback_id, "note", apply)


# --- triage ------------------------------------------------------------------------


@dataclass
class TriagePlan:
    callback_id: str
    changes: list[triage.Change]


def plan_triage(
    store: Store, now: datetime, ids: Iterable[str] = (), everything: bool = False
) -> list[TriagePlan]:
    policy = store.policy
    chosen = list(ids)
    records = [store.load(i) for i in chosen] if chosen else store.open_records()
    plans = []
    for cb in triage.rank_queue(policy, [r for r in records if r.is_open]):
        new_only = not chosen and not everything and cb.status != Status.new
        changes = triage.plan_triage(policy, cb, now)
        if new_only:
            changes = [c for c in changes if c.type == EventType.escalated]
        if changes:
            plans.append(TriagePlan(cb.id, changes))
    return plans


def apply_triage(
    store: Store, user: str | None, now: datetime, ids: Iterable[str] = (), everything: bool = False
) -> list[TriagePlan]:
    """Plan, then apply: one lock and one commit; each record is re-planned under the lock."""
    chosen = list(ids)
    named = bool(chosen)
    done: list[TriagePlan] = []

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        changes = triage.plan_triage(policy, cb, now)
        if not named and not everything and cb.status != Status.new:
            changes = [c for c in changes if c.type == EventType.escalated]
        if not changes:
            raise Skip
        for ch in changes:
            triage.apply_change(cb, ch, now.astimezone(policy.tz), actor)
        done.append(TriagePlan(cb.id, changes))

    planned = [p.callback_id for p in plan_triage(store, now, chosen, everything)]
    if planned:
        change_many(store, user, now, planned, "triage", apply)
    else:
        triage.check_user(store.policy, user)
    return done


# --- end-of-day roll-over ----------------------------------------------------------


def roll_over(store: Store, user: str | None, now: datetime) -> list[review.Roll]:
    """Roll every open callback over in one commit by the acting staff member; each record
    is re-planned under the store lock (another desk may have rolled it first)."""
    policy = store.policy
    triage.check_user(policy, user)
    done: list[review.Roll] = []

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        fresh = review.plan_one(policy, cb, now)
        if fresh is None:
            raise Skip
        triage.check_clinical_handover(policy, cb, actor, new_owner=fresh.owner)
        review.apply_roll(cb, fresh, now.astimezone(policy.tz), actor)
        done.append(fresh)

    planned = [p.callback_id for p in review.plan_roll(policy, store.open_records(), now)]
    if planned:
        change_many(store, user, now, planned, "roll-over", apply)
    return done


# --- reading -----------------------------------------------------------------------


@dataclass
class QueueFilter:
    owner: str | None = None
    category: str | None = None
    urgency: Urgency | None = None
    status: Status | None = None
    overdue: bool = False


def queue(store: Store, now: datetime, f: QueueFilter | None = None) -> list[Callback]:
    """The open callbacks, ranked; reads only `callbacks/open/`."""
    f = f or QueueFilter()
    policy = store.policy
    # A user's work is what they own and what their roles own.
    owners = {f.owner, *policy.roles_of(f.owner)} if f.owner else set()
    out = []
    for cb in store.open_records():
        if owners and cb.owner not in owners:
            continue
        if f.category and cb.category != f.category:
            continue
        if f.urgency and cb.urgency != f.urgency:
            continue
        if f.status and cb.status != f.status:
            continue
        if f.overdue and cb.due_at >= now:
            continue
        out.append(cb)
    return triage.rank_queue(policy, out)


def validate(store: Store) -> list[str]:
    """Every problem in the policy and the records, one line each."""
    from cbtrack.errors import CbtrackError

    problems = store.policy_problems()
    if problems:
        return problems
    policy = store.policy
    for path in [*store.open_paths(), *store.closed_paths()]:
        try:
            cb = store.load_path(path)
        except CbtrackError as exc:
            problems.append(exc.message)
            continue
        rel = store.rel(path)
        if cb.category not in policy.categories:
            problems.append(f"{rel}: field category names no category in the policy.")
        elif cb.is_open:
            missing = [
                k for k in policy.categories[cb.category].required_details if k not in cb.details
            ]
            if missing:
                problems.append(f"{rel}: field details lacks {', '.join(missing)}.")
        if not policy.accepts_owner(cb.owner):
            problems.append(f"{rel}: field owner is not a role or staff user in the policy.")
    return problems


# --- the policy in git -------------------------------------------------------------

POLICY_STAMP = "policy-committed"


def _policy_stamp(store: Store) -> str | None:
    try:
        info = (store.root / POLICY_FILE).stat()
    except OSError:
        return None
    return f"{info.st_mtime_ns} {info.st_size} {info.st_ino}"


def policy_uncommitted(store: Store) -> bool:
    """True when cbtrack.yaml has edits that are not committed. Costs one stat when the
    file is as it was last found committed (remembered in `.cbtrack/`), else one git call."""
    if not gitlog.is_repo_root(store.root):
        return False
    stamp = _policy_stamp(store)
    seen = store.local_dir / POLICY_STAMP
    try:
        if stamp is not None and seen.read_text(encoding="utf-8") == stamp:
            return False
    except OSError:
        pass
    try:
        dirty = gitlog.has_changes(store.root, POLICY_FILE)
    except CbtrackError:
        return False  # git trouble is doctor's to report
    if not dirty and stamp is not None:
        with contextlib.suppress(OSError):
            write_atomic(seen, stamp)
    return dirty


def commit_policy(store: Store, user: str | None, now: datetime) -> bool:
    """Commit cbtrack.yaml once it validates (`validate --commit`); False when it holds no
    uncommitted edit. Refused, with nothing committed, while the policy has a problem."""
    gitlog.require_repo(store.root)
    with store.lock():
        problems = store.policy_problems()
        if problems:
            raise Refused(
                "The policy has problems, so it was not committed; fix them (see above) and "
                "run 'cbtrack validate --commit' again."
            )
        actor = triage.check_user(store.policy, user)
        return gitlog.commit_paths(
            store.root, [POLICY_FILE], "policy: edits checked by validate", actor, now
        )
