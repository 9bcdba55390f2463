"""One function per command: load what is needed, apply the domain, save, commit.

Usable without the CLI. Every change holds the store lock from reading the record to
the git commit, reads only the record it changes, and writes nothing when refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cbtrack.clock import past_due, wall_delta
from cbtrack.errors import CbtrackError, Refused, StoreError, WriteFailed
from cbtrack.files import write_atomic
from cbtrack.lazy import lazy_module
from cbtrack.model import (
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
    EventType,
    Patient,
    Source,
    Status,
    Urgency,
    VoicemailConsent,
    describe_validation,
    phone_digits,
)
from cbtrack.policy import CLINICAL_ROLE, Policy
from cbtrack.progress import Progress
from cbtrack.store import MAX_POLICY_BYTES, POLICY_FILE, STORE_FILES, Store, init_layout
from cbtrack.yamlio import decode_text, dump_yaml, parse_model

if TYPE_CHECKING:
    from cbtrack import (
        corrections,
        doctor,
        gitlog,
        history,
        identity,
        importer,
        review,
        timing,
        triage,
    )
else:  # loaded by the commands that use them: reading the queue needs none of them
    corrections = lazy_module("cbtrack.corrections")
    doctor = lazy_module("cbtrack.doctor")
    gitlog = lazy_module("cbtrack.gitlog")
    history = lazy_module("cbtrack.history")
    identity = lazy_module("cbtrack.identity")
    importer = lazy_module("cbtrack.importer")
    review = lazy_module("cbtrack.review")
    timing = lazy_module("cbtrack.timing")
    triage = lazy_module("cbtrack.triage")


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
    gitlog.require_repo(store.root, merging_ok=True)
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user)
    with store.lock():
        doctor.recover(store, now, actor)
        gitlog.require_repo(store.root)  # (a merge started by hand; a sync's waits above)
        cb = store.load(callback_id)
        start_from_head(store, policy, cb, now)
        warnings = apply(policy, cb, actor) or []
        paths = store.save(cb)
        gitlog.commit(store.root, paths, f"{action} {cb.id}", actor, now)
    return Outcome(cb, warnings)


def start_from_head(store: Store, policy: Policy, cb: Callback, now: datetime) -> None:
    """A command changes a record only from the version committed at HEAD (a pending
    change of its own was committed by recovery first), and never with a clock that runs
    behind the record's history by more than the policy's `clock_skew`."""
    edited = gitlog.head_differences(store.root, history.record_paths(cb.id))
    if edited:
        rel, held = edited[0]
        drop = f"with 'git checkout HEAD -- {rel}'" if held else f"by deleting {rel}"
        raise Refused(
            f"{rel} differs from the last commit (edited outside cbtrack), so nothing was "
            "changed; keep the edit by committing it yourself with git (cbtrack verify "
            f"judges it), or drop it {drop}."
        )
    latest = history.too_early(cb, now, wall_delta(policy.clock_skew))
    if latest is not None:
        raise Refused(
            f"The clock says {now.isoformat(timespec='minutes')}, earlier than {cb.id}'s "
            f"latest entry ({latest.isoformat(timespec='minutes')}) by more than the "
            f"policy's clock_skew ({policy.clock_skew}); set this computer's clock (or "
            "CBTRACK_NOW) right and try again."
        )


def committed_policy(store: Store) -> Policy:
    """The policy a change runs by. Who is on the staff and with which roles, signing and
    the alert rules come from cbtrack.yaml as committed at HEAD, never from uncommitted
    edits (those take effect once 'cbtrack validate --commit' has committed them); the
    rest is the file as it is."""
    policy = store.policy
    if not policy_uncommitted(store):
        return policy
    spec = f"HEAD:{POLICY_FILE}"
    data = gitlog.read_blobs(store.root, [spec]).get(spec)
    if data is None:
        return policy  # never committed: a store being set up
    try:
        head = parse_model(Policy, decode_text(data, MAX_POLICY_BYTES, POLICY_FILE), POLICY_FILE)
    except StoreError:
        return policy
    governed = {"staff": head.staff, "signing": head.signing, "alerts": head.alerts}
    if any(getattr(policy, key) != value for key, value in governed.items()):
        policy = policy.model_copy(update=governed)
        store.use_policy(policy)
    return policy


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
    gitlog.require_repo(store.root, merging_ok=True)
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user)
    changed: list[Callback] = []
    with store.lock():
        doctor.recover(store, now, actor)
        gitlog.require_repo(store.root)  # (a merge started by hand; a sync's waits above)
        paths: list[Path] = []
        for cid in callback_ids:
            cb = store.load(cid)
            start_from_head(store, policy, cb, now)
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
    signing: str | None = None  # "off" or "required"

    def given(self) -> bool:
        return bool(
            self.practice or self.callback_number or self.timezone or self.staff or self.signing
        )


@dataclass
class StaffEntry:
    name: str
    roles: list[str]
    key: str | None = None  # the SSH public key line


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
                data: dict[str, object] = {"name": e.name, "roles": e.roles}
                if e.key:
                    data["key"] = e.key
                member = dump_yaml({user: data}, flow=True)
                block.append("  " + member.strip()[1:-1])
            text = _replace_top_key(text, "staff", "\n".join(block))
        if setup.signing is not None:
            if setup.signing == "required" and not any(e.key for e in setup.staff.values()):
                raise Refused(
                    "With --signing required, give the staff's public keys with --key "
                    "USER=FILE (at least one), or start with signing off and add keys later."
                )
            text = _replace_top_key(text, "signing", f'signing: "{setup.signing}"')
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
    text = policy_text(setup)
    try:
        written = init_layout(root, text)
    except OSError as exc:
        raise WriteFailed(
            f"The store at {root} could not be set up ({exc.strerror or 'I/O error'}); "
            f"once that is fixed, run 'cbtrack init {root}' again (it keeps what is there)."
        ) from None
    root = root.resolve()
    gitlog.init_repo(root)
    # Only the store's own files: a folder that already held other files (a `.env`, an
    # export of patients) keeps them untracked, so no sync ever pushes them.
    store = Store(root)
    own = [*STORE_FILES, *(store.rel(p) for p in store.open_paths() + store.closed_paths())]
    gitlog.commit(root, own, "init cbtrack store", user or gitlog.TOOL_USER, now)
    return written


def untracked_files(root: Path) -> list[str]:
    """Files in the store folder that git does not track and no ignore rule covers."""
    return gitlog.untracked(root.resolve())


# --- add ---------------------------------------------------------------------------


def new_record(
    store: Store,
    actor: str,
    created: datetime,
    *,
    source: Source,
    patient: Patient,
    category: str,
    reason: str,
    details: dict[str, str],
    plan: triage.Intake,
    next_action: str | None = None,
    deadline_at: datetime | None = None,
    related_to: str | None = None,
    import_key: str | None = None,
    created_note: str | None = None,
) -> Callback:
    """A new callback as triage planned it, with its `created` (and `triaged`) events; an
    ID is picked from the store, so call it under the lock. `add` and `import` share it."""
    cb: Callback = build(
        lambda: Callback(
            id=store.new_id(created),
            created_at=created,
            created_by=actor,
            source=source,
            import_key=import_key,
            patient=patient,
            category=category,
            reason=reason,
            details=details,
            urgency=plan.urgency,
            owner=plan.owner,
            due_at=plan.due_at,
            deadline_at=deadline_at,
            related_to=related_to,
            next_action=next_action or plan.next_action,
        )
    )
    created_set = {
        "owner": plan.owner,
        "urgency": plan.urgency.value,
        "due_at": plan.due_at.isoformat(),
    }
    if deadline_at:
        created_set["deadline_at"] = deadline_at.isoformat()
    if related_to:
        created_set["related_to"] = related_to
    cb.log(created, actor, EventType.created, note=created_note, set=created_set)
    if plan.judged:
        judged = cb.log(
            created,
            actor,
            EventType.urgency_changed,
            note="Set by clinical staff on intake, below what triage suggests",
            was={"urgency": plan.floor.value},
            set={"urgency": plan.urgency.value},
        )
        verdict = corrections.lowered_alarm(
            committed_policy(store), cb, plan.floor, plan.urgency, actor
        )
        corrections.mark(judged, verdict)
    elif plan.rule and plan.triaged:
        why = f"rule {plan.rule.name}"
        if plan.answered:
            asked = "red-flag checklist" if plan.red_flag else "symptoms question"
            why = f"staff answered yes to the {asked}"
        cb.log(
            created,
            actor,
            EventType.triaged,
            note=f"Triage by {why}",
            set={"urgency": plan.urgency.value, "owner": plan.owner},
        )
    return cb


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
    email: str | None = None,
    next_action: str | None = None,
    note: str | None = None,
    symptoms: bool | None = None,
    deadline: datetime | None = None,
    related: str | None = None,
    red_flags: bool | None = None,
) -> Outcome:
    """A new callback; triage reads the reason, the details and `note`; a 'yes' to the
    symptoms question (`symptoms=True`) makes it at least clinical, and a 'yes' to the
    red-flag checklist (`red_flags=True`) an emergency."""
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user)
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
            email=email,
        )
    )
    check_reachable(person)
    created = now.astimezone(policy.tz)
    if note is not None and not note.strip():
        raise Refused("--note is empty; write what the patient said or leave --note out.")
    notes = [note] if note else []
    plan = triage.intake(
        policy,
        actor,
        category,
        reason,
        details,
        urgency,
        owner,
        due,
        created,
        notes,
        symptoms,
        red_flags,
    )
    warnings += plan.warnings
    deadline_at = apply_deadline(policy, plan, deadline, details, due, created, warnings)
    related_to = store.load(related).id if related else None
    warnings += duplicate_warnings(store, person, related_to)
    gitlog.require_repo(store.root, merging_ok=True)
    with store.lock():
        doctor.recover(store, now, actor)
        gitlog.require_repo(store.root)  # (a merge started by hand; a sync's waits above)
        cb = new_record(
            store,
            actor,
            created,
            source=source,
            patient=person,
            category=category,
            reason=reason,
            details=details,
            plan=plan,
            next_action=next_action,
            deadline_at=deadline_at,
            related_to=related_to,
        )
        if note:
            cb.log(created, actor, EventType.note, note=note)
        paths = store.save(cb)
        gitlog.commit(store.root, paths, f"add {cb.id}", actor, now)
    return Outcome(cb, warnings)


def apply_deadline(
    policy: Policy,
    plan: triage.Intake,
    deadline: datetime | None,
    details: dict[str, str],
    due: datetime | None,
    now: datetime,
    warnings: list[str],
) -> datetime | None:
    """A deadline on intake (`--deadline`, else a date in the `deadline` detail): at least
    `deadline` urgent, and due before it by the policy's lead. Returns `deadline_at`."""
    tz = policy.tz
    if deadline is None and details.get("deadline", "").strip():
        deadline = timing.deadline_in_text(policy, details["deadline"])
        if deadline is None:
            warnings.append(
                "The deadline detail holds no date (YYYY-MM-DD); add --deadline WHEN so the "
                "callback is due before it."
            )
            return None
        warnings.append(
            f"Read the deadline {deadline:%a %Y-%m-%d %H:%M} from the deadline detail; "
            "give --deadline WHEN if that is not right."
        )
    if deadline is None:
        return None
    deadline = deadline.astimezone(tz)
    if deadline <= now:
        warnings.append("The deadline has already passed; the callback is due now.")
    raised = timing.deadline_floor(policy, plan.urgency)
    if raised != plan.urgency:
        plan.urgency = raised
        if due is None:  # a due time staff chose stands, within the deadline's lead
            plan.due_at = min(plan.due_at, triage.due_for(policy, raised, now))
    moved = timing.due_before_deadline(policy, plan.due_at, deadline, now)
    if moved != plan.due_at:
        if due is not None:
            warnings.append(
                f"The due time moved earlier to leave {policy.deadline_lead} before the deadline."
            )
        plan.due_at = moved
    return deadline


def duplicate_warnings(store: Store, person: Patient, related: str | None) -> list[str]:
    """A warning naming each open callback with the same phone digits or MRN (not the one
    this callback says it follows up)."""
    found = [cid for cid in store.open_same_patient(person.phone, person.mrn) if cid != related]
    return [
        f"Open callback {cid} has the same phone number or MRN; if this is the same request, "
        f"close the new one with --reason duplicate --of {cid}, or link a follow-up with "
        f"--related {cid}."
        for cid in found
    ]


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
        if cb.number_is_wrong:
            warnings.append(
                f"The phone number is wrong, so no further attempt is scheduled to it; "
                f"correct it with 'cbtrack edit {cb.id} --phone NUMBER --why ...' or reach "
                "the patient another way."
            )
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
    of: str | None = None,
) -> Outcome:
    """Close for a defined reason; `duplicate` names the original callback with `of`."""
    if reason == CloseReason.duplicate and not of:
        raise Refused("Close as duplicate needs the original; add --of ID.")
    if of and reason != CloseReason.duplicate:
        raise Refused("--of is only for --reason duplicate.")

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_close(policy, cb, reason, to)
        triage.check_clinical_handover(policy, cb, actor, closing=True)
        original = store.load(of).id if of else None
        if original == cb.id:
            raise Refused("A callback cannot be a duplicate of itself; --of names the original.")
        at = now.astimezone(policy.tz)
        cb.closure = build(
            lambda: Closure(
                at=at, by=actor, reason=reason, summary=summary, to=to, duplicate_of=original
            )
        )
        was = {"status": cb.status.value}
        now_set = {"status": Status.closed.value, "reason": reason.value}
        if original:
            now_set["duplicate_of"] = original
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


# --- edit --------------------------------------------------------------------------


@dataclass
class Edits:
    """What `cbtrack edit` changes; None leaves a field as it is. An empty text clears an
    optional patient field (dob, mrn, language, window) or removes an optional detail."""

    patient: str | None = None
    phone: str | None = None
    dob: str | None = None
    mrn: str | None = None
    language: str | None = None
    email: str | None = None
    method: ContactMethod | None = None
    window: str | None = None
    voicemail: VoicemailConsent | None = None
    details: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    due: datetime | None = None
    deadline: datetime | None = None
    next_action: str | None = None
    symptoms: bool | None = None  # a later answer to the symptoms question
    red_flags: bool | None = None  # a later answer to the red-flag checklist

    def patient_fields(self) -> dict[str, object]:
        given = {
            "name": self.patient,
            "phone": self.phone,
            "dob": self.dob,
            "mrn": self.mrn,
            "language": self.language,
            "email": self.email,
            "preferred_method": self.method,
            "contact_window": self.window,
            "voicemail": self.voicemail,
        }
        optional = ("dob", "mrn", "language", "contact_window", "email")
        fields: dict[str, object] = {
            k: (None if k in optional and isinstance(v, str) and not v.strip() else v)
            for k, v in given.items()
            if v is not None
        }
        if self.phone is not None:  # a new number drops the old extension, or brings its own
            fields["extension"] = None
        return fields

    @property
    def empty(self) -> bool:
        return (
            not self.patient_fields()
            and not self.details
            and all(v is None for v in (self.reason, self.due, self.deadline, self.next_action))
            and not self.symptoms
            and not self.red_flags
        )


def edit(
    store: Store, user: str | None, now: datetime, callback_id: str, *, why: str, edits: Edits
) -> Outcome:
    """Correct a record; one `edited` event names the fields changed (old and new values
    stay in the record's history, never in the commit message)."""
    if not why.strip():
        raise Refused("Say why the record is corrected with --why.")
    if edits.empty:
        raise Refused(
            "Nothing to change; give at least one of --patient, --phone, --dob, --mrn, "
            "--language, --method, --window, --voicemail, --detail, --reason, --due, "
            "--deadline, --next, --symptoms yes or --red-flags yes."
        )

    def apply(policy: Policy, cb: Callback, actor: str) -> list[str]:
        triage.check_open(cb)
        at = now.astimezone(policy.tz)
        warnings: list[str] = []
        before = record_fields(cb)
        was_wrong = cb.number_is_wrong
        old_patient = cb.patient.model_dump(mode="json")
        person: Patient = build(
            lambda: Patient.model_validate({**old_patient, **edits.patient_fields()})
        )
        if edits.method is not None or edits.email is not None:
            check_reachable(person)
        cb.patient = person
        if edits.details:
            details = dict(cb.details)
            for key, value in edits.details.items():
                if value.strip():
                    details[key] = value
                else:
                    details.pop(key, None)
            warnings += triage.check_details(policy, cb.category, details)
            cb.details = details
        if edits.reason is not None:
            cb.reason = edits.reason
        if edits.next_action is not None:
            cb.next_action = edits.next_action
        if edits.deadline is not None:
            cb.deadline_at = edits.deadline.astimezone(policy.tz)
            raised = timing.deadline_floor(policy, cb.urgency)
            if raised != cb.urgency:
                cb.urgency = raised
                cb.due_at = min(cb.due_at, triage.due_for(policy, raised, at))
        if edits.due is not None:
            due = edits.due.astimezone(policy.tz)
            clinical = cb.urgency in CLINICAL_URGENCIES
            if due > cb.due_at and clinical and not policy.is_clinical(actor):
                raise Refused(
                    f"Only staff with the {CLINICAL_ROLE} role can move a "
                    f"{cb.urgency.value} callback's due time later."
                )
            cb.due_at = due
        if cb.deadline_at is not None and (edits.due is not None or edits.deadline is not None):
            moved = timing.due_before_deadline(policy, cb.due_at, cb.deadline_at, at)
            if moved != cb.due_at:
                if edits.due is not None:
                    warnings.append(
                        f"The due time moved earlier to leave {policy.deadline_lead} before "
                        "the deadline."
                    )
                cb.due_at = moved
        phone_fixed = "patient.phone" in changed_fields(before, record_fields(cb))
        done = cb.was_reached or triage.attempts_complete(policy, cb)
        if was_wrong and phone_fixed and not done:  # the next try goes to the new number
            cb.next_attempt_at = triage.callable_time(policy, cb, at)
        after = record_fields(cb)
        changed = changed_fields(before, after)
        answers = triage.plan_answers(policy, cb, edits.symptoms, edits.red_flags)
        if not changed and (edits.symptoms or edits.red_flags):
            if answers is None:
                raise Refused(f"{cb.id} is already {cb.urgency.value}; nothing to change.")
            triage.apply_change(cb, answers, at, actor)
            return warnings
        if not changed:
            raise Refused(f"{cb.id} already holds those values; nothing to change.")
        cb.log(
            at,
            actor,
            EventType.edited,
            note=why,
            was={k: before.get(k, "") for k in changed},
            set={k: after.get(k, "") for k in changed},
        )
        # Triage reads the corrected reason and details, and the edit's note.
        for ch in triage.plan_triage(policy, cb, at):
            if ch.type == EventType.triaged:
                triage.apply_change(cb, ch, at, actor)
                warnings.append(f"Triage read the correction: {ch.note}.")
        answers = triage.plan_answers(policy, cb, edits.symptoms, edits.red_flags)
        if answers is not None:
            triage.apply_change(cb, answers, at, actor)
        return warnings

    return change(store, user, now, callback_id, "edit", apply)


def record_fields(cb: Callback) -> dict[str, str]:
    """The fields `edit` may change, flattened to `patient.phone`, `details.KEY`, ...;
    every value as text."""
    out: dict[str, str] = {}
    for key, value in cb.patient.model_dump(mode="json").items():
        out[f"patient.{key}"] = "" if value is None else str(value)
    for key, value in cb.details.items():
        out[f"details.{key}"] = value
    out["reason"] = cb.reason
    out["urgency"] = cb.urgency.value
    out["due_at"] = cb.due_at.isoformat()
    out["deadline_at"] = cb.deadline_at.isoformat() if cb.deadline_at else ""
    out["next_action"] = cb.next_action
    out["next_attempt_at"] = cb.next_attempt_at.isoformat() if cb.next_attempt_at else ""
    return out


def changed_fields(before: dict[str, str], after: dict[str, str]) -> list[str]:
    keys = [*before, *(k for k in after if k not in before)]
    return [k for k in keys if before.get(k, "") != after.get(k, "")]


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
        verdict = corrections.judge(policy, cb, level, actor)
        cb.change(at, actor, EventType.urgency_changed, why, **fields)
        corrections.mark(cb.events[-1], verdict)

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


def check_reachable(person: Patient) -> None:
    """A patient who prefers email has an address to write to."""
    if person.preferred_method == ContactMethod.email and not person.email:
        raise Refused(
            "A patient who prefers email needs an address: add --email ADDRESS, or choose "
            "another --method."
        )


def route(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    to: str,
    note: str,
    next_action: str | None = None,
) -> Outcome:
    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        triage.check_role(policy, to)
        if cb.owner == to:
            raise Refused(f"{cb.id} is already with {to}.")
        triage.check_clinical_handover(policy, cb, actor, new_owner=to)
        fields: dict[str, object] = {"owner": to}
        if next_action is not None:
            fields["next_action"] = next_action
        elif to == CLINICAL_ROLE:
            fields["next_action"] = clinical_next_action(policy)
        else:
            fields["next_action"] = role_next_action(policy, cb, to)
        if fields["next_action"] == cb.next_action:
            del fields["next_action"]
        cb.change(now.astimezone(policy.tz), actor, EventType.routed, note, **fields)

    return change(store, user, now, callback_id, "route", apply)


def clinical_next_action(policy: Policy) -> str:
    """What a callback routed to clinical staff waits for: the clinical category's next
    action, so the administrative one does not linger in the queue."""
    for cat in policy.categories.values():
        if cat.owner == CLINICAL_ROLE and cat.urgency.value == "clinical":
            return cat.next_action
    return "Clinical review and call"


def role_next_action(policy: Policy, cb: Callback, role: str) -> str:
    """What a callback routed to `role` waits for: its own category's next action when
    the role owns that category, else the first category the role owns, else a call."""
    own = policy.categories.get(cb.category)
    if own is not None and own.owner == role:
        return own.next_action
    for cat in policy.categories.values():
        if cat.owner == role:
            return cat.next_action
    return "Call the patient back"


def block(
    store: Store,
    user: str | None,
    now: datetime,
    callback_id: str,
    *,
    kind: DependencyKind,
    note: str,
    until: datetime | None = None,
) -> Outcome:
    """Wait on internal work, expected by `until` (default: the policy's
    `dependency_wait` from now); until then the callback is neither overdue nor escalated."""

    def apply(policy: Policy, cb: Callback, actor: str) -> None:
        triage.check_open(cb)
        at = now.astimezone(policy.tz)
        expected = (
            until.astimezone(policy.tz)
            if until is not None
            else policy.calendar.add_duration(at, policy.dependency_wait)
        )
        if expected <= at:
            raise Refused("--until must be later than now; give the date the work is expected.")
        dep: Dependency = build(lambda: Dependency(kind=kind, note=note, since=at, until=expected))
        cb.depends_on = [*cb.depends_on, dep]
        cb.log(
            at,
            actor,
            EventType.blocked,
            note=note,
            was={"status": cb.status.value},
            set={
                "status": Status.waiting_internal.value,
                "depends_on": kind.value,
                "until": expected.isoformat(),
            },
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
        was = {"status": before.value}
        now_set = {"status": after.value, "resolved": ", ".join(d.kind.value for d in targets)}
        if not cb.open_dependencies and cb.due_at < at:
            # The clock was paused while waiting: the work starts again from now.
            due = timing.due_before_deadline(
                policy, triage.due_for(policy, cb.urgency, at), cb.deadline_at, at
            )
            was["due_at"], now_set["due_at"] = cb.due_at.isoformat(), due.isoformat()
            cb.due_at = due
        cb.log(at, actor, EventType.unblocked, note=note, was=was, set=now_set)

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


def triage_corrections(
    store: Store, since: datetime | None, until: datetime
) -> list[corrections.Correction]:
    """Every marked triage correction (a miss or a false alarm) since `since`, oldest
    first, with the words triage read: patient data, for local output only."""
    start = since or datetime(1970, 1, 1, tzinfo=store.policy.tz)
    found = [
        c
        for cb in store.records_for_period(start, until)
        for c in corrections.corrections(store.policy, cb, since)
    ]
    return sorted(found, key=lambda c: (c.at, c.callback_id))


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
        identity.actor(store.root, committed_policy(store), user)
    return done


# --- end-of-day roll-over ----------------------------------------------------------


def roll_over(store: Store, user: str | None, now: datetime) -> list[review.Roll]:
    """Roll every open callback over in one commit by the acting staff member; each record
    is re-planned under the store lock (another desk may have rolled it first)."""
    policy = committed_policy(store)
    identity.actor(store.root, policy, user)
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


# --- import of missed calls ---------------------------------------------------------

MISSED_CALL = "missed_call"


@dataclass
class PlannedCall:
    """What one missed call becomes: everything but its ID."""

    call: importer.Call
    patient: Patient
    reason: str
    details: dict[str, str]
    source: Source
    plan: triage.Intake
    next_action: str


@dataclass
class Imported:
    """What an import did (or, in a dry run, would do)."""

    added: list[PlannedCall]
    skipped: list[importer.Call]  # already in the store, or earlier in the same file
    records: list[Callback]  # the callbacks written (empty in a dry run)
    warnings: list[str]


def _import_intake(
    policy: Policy, actor: str, reason: str, details: dict[str, str], created: datetime
) -> triage.Intake:
    """Triage as `add` applies it, with nothing chosen by staff: the transcript is read
    like any reason, so every triage rule applies to what the caller said."""
    return triage.intake(policy, actor, MISSED_CALL, reason, details, None, None, None, created)


def plan_call(policy: Policy, actor: str, call: importer.Call) -> PlannedCall:
    """The callback a missed call becomes. A voicemail transcript is the reason, in the
    caller's own words, and triage reads it (the whole of it, even when the stored reason
    must be cut) exactly as it reads a reason typed at the desk."""
    cat = policy.categories[MISSED_CALL]
    details = {"call_time": f"{call.at:%Y-%m-%d %H:%M}"}
    if "left_message" in (*cat.required_details, *cat.optional_details):
        details["left_message"] = "yes" if call.transcript else "no"
    if call.transcript:
        heard = reason = call.transcript
        if len(reason) > importer.MAX_TRANSCRIPT:
            reason = reason[: importer.MAX_TRANSCRIPT].rsplit(" ", 1)[0]
            reason += " [cut here; the whole message is in the phone system]"
    else:
        heard = reason = "Missed call, no voicemail left"
    plan = _import_intake(policy, actor, heard, details, call.at)
    next_action = plan.next_action
    if call.name is None and plan.rule is None:
        next_action = f"{next_action}; ask who is calling"
    patient: Patient = build(
        lambda: Patient(
            name=call.name or importer.UNKNOWN_CALLER, phone=call.phone, extension=call.extension
        )
    )
    source = Source.voicemail if call.transcript else Source.missed_call
    return PlannedCall(call, patient, reason, details, source, plan, next_action)


def import_missed_calls(
    store: Store,
    user: str | None,
    now: datetime,
    calls: list[importer.Call],
    *,
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Imported:
    """Each call not yet in the store becomes a `missed_call` callback created at the call
    time; all of them are saved under one lock and committed once, by the acting user."""
    policy = committed_policy(store)
    actor = identity.actor(store.root, policy, user) if user or not dry_run else "import"
    if MISSED_CALL not in policy.categories:
        raise Refused(
            "The policy has no missed_call category; add one to cbtrack.yaml before "
            "importing missed calls."
        )
    required = policy.categories[MISSED_CALL].required_details
    lacking = [k for k in required if k not in ("call_time", "left_message")]
    if lacking:
        raise Refused(
            f"The policy's missed_call category requires {', '.join(lacking)}, which a "
            "phone system's export does not hold; make it optional to import missed calls."
        )
    # IDs carry the call's local date; a day either side covers a change of time zone.
    days = {f"{c.at + timedelta(days=d):%Y%m%d}" for c in calls for d in (-1, 0, 1)}
    found = store.import_keys(days)
    unseen, skipped = _new_calls(calls, set(found))  # triage only new calls
    planned: list[PlannedCall] = []
    for call in unseen:
        planned.append(plan_call(policy, actor, call))
        if progress:
            progress("Triaging", len(planned), len(unseen))
    warnings = sorted(
        {w for p in planned for w in triage.check_details(policy, MISSED_CALL, p.details)}
    )
    warnings += _twice_warnings(found)
    if dry_run:
        fresh = planned
        urgent = [p for p in fresh if p.plan.urgency in CLINICAL_URGENCIES]
        if urgent:
            lines = ", ".join(str(p.call.line) for p in urgent)
            warnings.append(
                f"{len(urgent)} of these calls would be {_levels(urgent)} (line(s) {lines}): "
                "import them now so a clinician calls back."
            )
        return Imported(fresh, skipped, [], warnings)
    gitlog.require_repo(store.root, merging_ok=True)
    with store.lock():
        doctor.recover(store, now, actor)
        gitlog.require_repo(store.root)  # (a merge started by hand; a sync's waits above)
        known = store.import_keys(days)  # again: another desk may have imported since
        fresh = [p for p in planned if p.call.key not in known]
        skipped += [p.call for p in planned if p.call.key in known]
        paths: list[Path] = []
        records: list[Callback] = []
        stamp = f"{now.astimezone(policy.tz):%Y-%m-%d %H:%M}"
        for n, p in enumerate(fresh, 1):
            cb = new_record(
                store,
                actor,
                p.call.at,
                source=p.source,
                patient=p.patient,
                category=MISSED_CALL,
                reason=p.reason,
                details=p.details,
                plan=p.plan,
                next_action=p.next_action,
                import_key=p.call.key,
                created_note=f"Imported from a missed-call export on {stamp}{_lasted(p.call)}",
            )
            paths += store.save(cb)
            records.append(cb)
            if progress:
                progress("Saving", n, len(fresh))
        if records:
            ids = [cb.id for cb in records]
            title = f"import {len(ids)} missed call{'s' if len(ids) != 1 else ''}"
            gitlog.commit(store.root, paths, title + "\n\n" + "\n".join(ids), actor, now)
    if records:  # after the lock: what the desk should look at first
        warnings += _urgent_warnings(policy, records)
        warnings += _repeat_warnings(store.open_records(), records)
    return Imported(fresh, skipped, records, warnings)


def _twice_warnings(found: dict[str, list[str]]) -> list[str]:
    """Calls held by two callbacks: two desks imported one export before they synced."""
    pairs = [" = ".join(ids) for ids in found.values() if len(ids) > 1]
    if not pairs:
        return []
    shown = "; ".join(pairs[:5]) + ("; ..." if len(pairs) > 5 else "")
    return [
        f"{len(pairs)} call(s) were imported twice, by two desks before they synced "
        f"({shown}); close one of each with --reason duplicate."
    ]


def _lasted(call: importer.Call) -> str:
    if call.duration is None:
        return ""
    return f"; the call lasted {importer.describe_duration(call.duration)}"


def _levels(planned: list[PlannedCall]) -> str:
    return " or ".join(sorted({p.plan.urgency.value for p in planned}))


def _urgent_warnings(policy: Policy, records: list[Callback]) -> list[str]:
    """What the desk must not miss: calls that triage found clinical or emergency."""
    out = []
    for level in (Urgency.emergency, Urgency.clinical):
        ids = [cb.id for cb in records if cb.urgency == level]
        if ids:
            out.append(
                f"{len(ids)} imported call(s) are {level.value} and owned by "
                f"{', '.join(sorted({cb.owner for cb in records if cb.urgency == level}))}: "
                f"{', '.join(ids)}; "
                + ("call back now." if level == Urgency.emergency else "a clinician calls back.")
            )
    return out


def _repeat_warnings(open_records: list[Callback], new: list[Callback]) -> list[str]:
    """New callbacks whose number has another open callback: the desk should see them
    together (the same need, called in twice, is closed as a duplicate)."""
    numbers: dict[str, int] = {}
    for cb in open_records:
        key = phone_digits(cb.patient.phone)[-importer.KEY_DIGITS :]
        numbers[key] = numbers.get(key, 0) + 1
    repeats = [
        cb.id
        for cb in new
        if numbers.get(phone_digits(cb.patient.phone)[-importer.KEY_DIGITS :], 0) > 1
    ]
    if not repeats:
        return []
    return [
        f"{len(repeats)} imported call(s) come from a number with another open callback "
        f"({', '.join(repeats)}); if it is the same need, close the extra one with "
        "--reason duplicate."
    ]


def _new_calls(
    calls: list[importer.Call], known: set[str]
) -> tuple[list[importer.Call], list[importer.Call]]:
    """The calls not in `known`, each once; and the others."""
    fresh: list[importer.Call] = []
    skipped: list[importer.Call] = []
    seen = set(known)
    for call in calls:
        if call.key in seen:
            skipped.append(call)
        else:
            seen.add(call.key)
            fresh.append(call)
    return fresh, skipped


# --- reading -----------------------------------------------------------------------


@dataclass
class QueueFilter:
    owner: str | None = None
    category: str | None = None
    urgency: Urgency | None = None
    status: Status | None = None
    overdue: bool = False


def queue(
    store: Store, now: datetime, f: QueueFilter | None = None, problems: list[str] | None = None
) -> list[Callback]:
    """The open callbacks, ranked; reads only `callbacks/open/`. With `problems`, a record
    that cannot be read is named there and the others are still listed."""
    return queue_page(store, now, f, None, problems).records


@dataclass
class QueuePage:
    """The head of the ranked queue, and counts over all of it."""

    records: list[Callback]
    total: int
    overdue: int
    waiting: int


def queue_page(
    store: Store,
    now: datetime,
    f: QueueFilter | None = None,
    limit: int | None = 20,
    problems: list[str] | None = None,
    views: bool = False,
) -> QueuePage:
    """The first `limit` (all, with None) open callbacks, ranked (`localindex.rank_key`),
    with counts over all that match. Filters and ranks on the index's rows, so only the
    callbacks shown are built: as models, or with `views` as read-only views of the
    index's data (cbtrack/views.py), which are cheaper still."""
    from cbtrack.localindex import rank_key
    from cbtrack.views import CallbackView

    f = f or QueueFilter()
    policy = store.policy
    owners = {f.owner, *policy.roles_of(f.owner)} if f.owner else set()
    ranks = {u.value: policy.rank(u) for u in Urgency}
    when = now.timestamp()
    rows: list[tuple[tuple[int, float, float], Any]] = []
    overdue = waiting = 0
    for c in store.cached_open(problems):
        r = c.row
        if not c.usable or r.urgency not in ranks:  # not what an indexed record holds
            cb = store.model_of(c)
            late = timing.overdue(policy, cb, now)
            r = r._replace(urgency=cb.urgency.value, status=cb.status.value, owner=cb.owner,
                           category=cb.category, due=cb.due_at.timestamp(),
                           created=cb.created_at.timestamp())  # fmt: skip
        else:
            # Overdue: past due; with an open dependency, past when it is expected.
            late = past_due(r.due, r.expected, when)
        if (
            (owners and r.owner not in owners)
            or (f.category and r.category != f.category)
            or (f.urgency and r.urgency != f.urgency)
            or (f.status and r.status != f.status)
        ):
            continue
        if f.overdue and not late:
            continue
        overdue += late
        waiting += r.status == Status.waiting_internal
        rows.append((rank_key(ranks, r.urgency, r.due, r.created), c))
    rows.sort(key=lambda row: row[0])  # stable
    head = rows if limit is None else rows[: max(limit, 0)]
    store.index.prefetch([c for _, c in head])
    shown: list[Any] = []
    for _, c in head:
        view: Any = None
        if views and not isinstance(c.model, Callback) and (data := c.data) is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                view = CallbackView(data)
                if c.row.expected is not None:
                    view.expected_at = datetime.fromtimestamp(c.row.expected, policy.tz)
        shown.append(view if view is not None else store.model_of(c))
    return QueuePage(shown, len(rows), overdue, waiting)


def find(store: Store, text: str) -> tuple[list[Callback], list[str]]:
    """Callbacks, open and closed, matching a phone, name, MRN or ID; newest first."""
    if not text.strip():
        raise Refused("Give a phone number, a name, an MRN or a callback ID to look for.")
    return store.find_callbacks(text)


def validate(store: Store) -> list[str]:
    """Every problem in the policy and the records, one line each."""
    from cbtrack.errors import CbtrackError

    problems = store.policy_problems()
    if problems:
        return problems
    policy = store.policy
    paths = [*store.open_paths(), *store.closed_paths()]
    progress = Progress("Checking records", len(paths), store.on_progress)
    for path in paths:
        progress.step()
        try:
            cb = store.load_path(path)
        except CbtrackError as exc:
            problems.append(exc.message)
            continue
        rel = store.rel(path)
        if history.record_id(rel) is None:
            problems.append(f"{rel}: not in the folder its creation month names.")
        problems += [f"{rel}: {p}." for p in doctor.record_fit(policy, cb)]
    progress.done()
    problems += [
        f"{rel}: not a record in its place; move it out of callbacks/."
        for rel in doctor.stray_files(store)
    ]
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
    if not dirty and stamp is not None and not store.local_dir.is_symlink():
        with contextlib.suppress(OSError):
            write_atomic(seen, stamp)
    return dirty


def commit_policy(store: Store, user: str | None, now: datetime) -> bool:
    """Commit cbtrack.yaml once it validates (`validate --commit`); False when it holds no
    uncommitted edit. Refused, with nothing committed, while the policy has a problem."""
    gitlog.require_repo(store.root, merging_ok=True)
    with store.lock():
        problems = store.policy_problems()
        if problems:
            raise Refused(
                "The policy has problems, so it was not committed; fix them (see above) and "
                "run 'cbtrack validate --commit' again."
            )
        # on the roster it commits, and on the roster as committed (an admin's change)
        triage.check_user(store.policy, user)
        actor = identity.actor(store.root, committed_policy(store), user)
        return gitlog.commit(
            store.root, [POLICY_FILE], "policy: edits checked by validate", actor, now
        )
