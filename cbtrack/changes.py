"""The shape of every change: hold the lock from reading the record to the git commit,
start from what HEAD says, refuse before writing anything, and commit what was written.
Also the policy's own commits (`commit_policy`). Used by every module of `service`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cbtrack import storefolder
from cbtrack.clock import wall_delta
from cbtrack.errors import CbtrackError, Refused, StoreError
from cbtrack.files import write_atomic
from cbtrack.lazy import lazy_module
from cbtrack.model import (
    Callback,
    ContactMethod,
    Patient,
    describe_validation,
)
from cbtrack.policy import Policy
from cbtrack.store import MAX_POLICY_BYTES, POLICY_FILE, Store
from cbtrack.yamlio import decode_text, parse_policy

if TYPE_CHECKING:
    from cbtrack import doctor, gitlog, gitread, history, identity, triage
else:  # loaded by the commands that use them: reading the queue needs none of them
    doctor = lazy_module("cbtrack.doctor")
    gitlog = lazy_module("cbtrack.gitlog")
    gitread = lazy_module("cbtrack.gitread")
    history = lazy_module("cbtrack.history")
    identity = lazy_module("cbtrack.identity")
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
        raise Refused(
            f"{rel} differs from the last commit (edited outside cbtrack), so nothing was "
            f"changed; {storefolder.keep_or_drop(rel, held)}."
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
    data = gitread.read_blobs(store.root, [spec]).get(spec)
    if data is None:
        return policy  # never committed: a store being set up
    try:
        head = parse_policy(decode_text(data, MAX_POLICY_BYTES, POLICY_FILE), POLICY_FILE)
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


def check_born(person: Patient, today: date) -> None:
    """A date of birth after today is a slip of the keyboard (the year, most often)."""
    if person.dob is not None and person.dob > today:
        raise Refused("--dob is after today; check the year and write it as YYYY-MM-DD.")


def check_reachable(person: Patient) -> None:
    """A patient who prefers email has an address to write to."""
    if person.preferred_method == ContactMethod.email and not person.email:
        raise Refused(
            "A patient who prefers email needs an address: add --email ADDRESS, or choose "
            "another --method."
        )
