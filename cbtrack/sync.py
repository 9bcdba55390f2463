"""Sharing a queue through git: sync (fetch, merge, push) and the merge driver on files.
Service functions, usable without the CLI.

What may enter history is decided by the rule book in `cbtrack.history`; sync asks it
three times: the pending files it commits, the merge commit it makes (both through
`gitlog.commit`), and the commits it would push that `verify` has not yet seen
(`refs/cbtrack/verified`, see `cbtrack.audit`). The remote head this desk last pushed or
merged is kept in `refs/cbtrack/synced/<remote>/<branch>`: sync refuses a fetched remote
head that does not descend from it.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from subprocess import CompletedProcess

from cbtrack import (
    audit,
    doctor,
    gitlog,
    gitread,
    history,
    identity,
    progress,
    service,
    storefolder,
    versions,
)
from cbtrack.errors import GitError, Refused, StoreError
from cbtrack.files import remove_file, write_atomic
from cbtrack.merge import Merged, merge_records
from cbtrack.model import Callback
from cbtrack.store import (
    LOCAL_DIR,
    MAX_POLICY_BYTES,
    MAX_RECORD_BYTES,
    POLICY_FILE,
    Store,
    make_owner_only,
)
from cbtrack.yamlio import dump_record, load_model, load_policy

SHARED_FILES = {POLICY_FILE, ".gitattributes", ".gitignore"}
SYNC_MERGE = doctor.SYNC_MERGE


def record_rels(store: Store, cid: str) -> tuple[str, str]:
    return history.record_paths(cid)


# --- the merge driver ----------------------------------------------------------------


def merge_files(base: Path, ours: Path, theirs: Path, rel: str) -> Merged:
    """Git's merge driver: merge three versions of one record, write the result to `ours`.

    With conflicts the best merge still goes to `ours` (every attempt kept) when there is
    one, and the caller exits 1 so git marks the file conflicted."""
    versions: list[Callback | None] = []
    for side, path in (("common", base), ("this desk's", ours), ("the other desk's", theirs)):
        if side == "common" and (not path.is_file() or path.stat().st_size == 0):
            versions.append(None)
            continue
        try:
            versions.append(load_model(Callback, path, rel, MAX_RECORD_BYTES))
        except StoreError as exc:
            if side == "common":
                versions.append(None)
                continue
            return Merged(None, [f"{side} version does not validate ({exc.message}); fix it first"])
    old, mine, other = versions
    assert mine is not None and other is not None
    merged = merge_records(old, mine, other)
    if merged.record is not None:
        write_atomic(ours, dump_record(merged.record))
        folder = "open" if merged.record.is_open else "closed"
        wrong = "closed" if merged.record.is_open else "open"
        if f"{gitlog.RECORDS}/{wrong}/" in rel:
            merged.conflicts.append(
                f"the merged record is {folder} and belongs in callbacks/{folder}/; "
                "move it there ('cbtrack sync' does this itself)"
            )
    return merged


# --- sync ----------------------------------------------------------------------------


@dataclass
class SyncResult:
    remote: str
    branch: str
    left_out: list[str] = field(default_factory=list)
    incoming: int = 0
    merged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pushed: bool = False
    head: str = ""
    retries: int = 0  # pushes that lost a race with another desk and were redone
    prejudged: int = 0  # commits judged before the lock was taken
    lock_holds: list[float] = field(default_factory=list)  # seconds, each time it was held


def sync(store: Store, user: str | None, now: datetime, remote: str = "origin") -> SyncResult:
    """Commit pending valid changes, fetch, merge (records by the merge rules), push."""
    actor = identity.actor(store.root, service.committed_policy(store), user)
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    if not gitlog.has_remote(root, remote):
        raise Refused(
            f"This store has no git remote named '{remote}'; add one with "
            f"'git -C {root} remote add {remote} URL', then sync again."
        )
    report = store.on_progress
    # Outside the lock, what takes long and changes nothing another command reads: modes
    # (only those that are wrong), the fetch, and judging every commit this desk has not
    # judged before; under the lock only what arrived or was made since is judged.
    with progress.step("Making the store owner-only", report):
        make_owner_only(root)
    prejudged = _prejudge(store, remote, actor, now)
    holds: list[float] = []
    with _locked(store, holds):
        notes = doctor.recover(store, now, actor)
        gitlog.ensure_config(root)
        branch = _branch(root)
        if (root / ".git" / "MERGE_HEAD").exists():
            raise Refused(
                "A git merge is in progress in this store; finish it with 'git commit' or "
                "undo it with 'git merge --abort', then sync again."
            )
        result = SyncResult(remote, branch, notes=notes, prejudged=prejudged, lock_holds=holds)
        done = _sync_round(store, actor, now, result, round_no=0)
    if done:
        return _finish(store, result)
    # Another desk pushed first: fetch, merge and push again, with jittered backoff and
    # without holding the store lock while waiting, for up to `patience` seconds.
    deadline = time.monotonic() + sync_patience()
    tries = 1
    while True:
        with progress.step("Another desk pushed first; waiting to try again", report):
            time.sleep(min(5.0, 0.2 * 2**tries) * random.uniform(0.5, 1.5))
        tries += 1
        _prejudge(store, remote, actor, now)
        with _locked(store, result.lock_holds):
            done = _sync_round(store, actor, now, result, round_no=tries - 1)
        if done:
            result.retries = tries - 1
            return _finish(store, result)
        if time.monotonic() >= deadline:
            raise Refused(
                f"Other desks kept pushing to '{remote}' while this desk synced ({tries} "
                "tries); nothing is lost: this desk's changes are committed here, and the "
                "next sync shares them."
            )


def _finish(store: Store, result: SyncResult) -> SyncResult:
    """After the lock: the commit-graph (git locks it itself)."""
    with progress.step("Writing the commit-graph", store.on_progress):
        gitlog.write_commit_graph(store.root)
    return result


@contextlib.contextmanager
def _locked(store: Store, holds: list[float]) -> Iterator[None]:
    """The store lock; how long it was held is added to `holds` (seconds), and with
    `CBTRACK_LOCK_LOG` set, written to stderr."""
    with store.lock():
        start = time.monotonic()
        try:
            yield
        finally:
            held = time.monotonic() - start
            holds.append(held)
            if os.environ.get("CBTRACK_LOCK_LOG"):
                sys.stderr.write(f"sync held the store lock for {held:.2f} s\n")


def _branch(root: Path) -> str:
    branch = gitlog.current_branch(root)
    if branch is None:
        raise Refused("The store is not on a branch (detached HEAD); check out your branch first.")
    return branch


def _prejudge(store: Store, remote: str, actor: str, now: datetime) -> int:
    """Before taking the lock: fetch, and judge the commits sync would take in or push
    that this desk has not judged before (a new desk's first sync: the whole history),
    refusing as the locked round would. Returns how many commits were judged."""
    root = store.root
    branch = _branch(root)
    tracking = f"refs/remotes/{remote}/{branch}"
    anchor = gitlog.rev(root, f"{gitlog.SYNCED_PREFIX}{remote}/{branch}") or gitlog.rev(
        root, tracking
    )
    theirs = _fetch(store, remote, branch, actor)
    _check_anchor(root, anchor, theirs, remote)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        return 0
    done = len(gitlog.judged(root))
    _check_outgoing(store, theirs, now)
    if theirs and theirs != head and not gitlog.is_ancestor(root, theirs, head):
        new = gitread.commits(root, theirs, since=head, exclude=[anchor or ""])
        _check_incoming(store, new, remote, now)
    return max(0, len(gitlog.judged(root)) - done)


def _fetch(store: Store, remote: str, branch: str, actor: str) -> str | None:
    """Fetch every branch of `remote`; the remote's head of `branch` (None: it has none)."""
    root = store.root
    for attempt in range(3):  # (a sync run twice at once on this desk: one ref lock each)
        with progress.step(f"Fetching from '{remote}'", store.on_progress):
            fetched = _network(root, actor, "fetch", "--no-tags", remote,
                               f"+refs/heads/*:refs/remotes/{remote}/*")  # fmt: skip
        if fetched.returncode == 0 or "cannot lock ref" not in fetched.stderr:
            break
        time.sleep(0.2 * (attempt + 1))
    if fetched.returncode != 0:
        text = fetched.stderr
        if "Could not read from remote" in text or "does not appear to be a git" in text:
            url = gitlog.run(root, "remote", "get-url", remote, check=False).stdout.strip()
            raise GitError(
                f"Could not reach '{remote}' ({url or 'no address'}): check that the shared "
                "store is there and this desk may read it, then sync again; nothing changed."
            )
        raise GitError(f"Could not fetch from '{remote}': {_last_line(text)}")
    return gitlog.rev(root, f"refs/remotes/{remote}/{branch}")


def _network(root: Path, actor: str, command: str, *args: str) -> CompletedProcess[str]:
    """A quiet git fetch or push, not holding the store lock (a stalled remote must not
    hold every desk's store), as `actor`; the caller reads its exit and stderr."""
    env = gitlog.identity_env(actor, None)
    return gitlog.run(root, command, "--quiet", *args, env=env, check=False, keep_lock=False)


def _check_anchor(root: Path, anchor: str | None, theirs: str | None, remote: str) -> None:
    if anchor and (theirs is None or not gitlog.is_ancestor(root, anchor, theirs)):
        raise Refused(
            f"The history on '{remote}' was rewritten since this desk last synced (it no longer "
            f"holds commit {gitlog.short(anchor)}), so nothing was merged or pushed; run "
            "'cbtrack verify' and have the lead decide."
        )


def sync_patience() -> float:
    """How long sync keeps retrying a push that lost a race: `CBTRACK_SYNC_PATIENCE`
    seconds, else 30."""
    try:
        return max(0.0, float(os.environ.get("CBTRACK_SYNC_PATIENCE", "30")))
    except ValueError:
        return 30.0


def _pending_left(store: Store, pending: list[tuple[str, str]]) -> list[str]:
    """Name each uncommitted file and what to do with it. Sync commits none of them: a
    change no cbtrack command made (a hand edit) is never committed in the name of whoever
    happens to sync; a person keeps it with git (the hook judges it) or drops it, and the
    lead commits policy edits with 'cbtrack validate --commit'."""
    root = store.root
    records: list[tuple[str, str]] = []
    left: list[str] = []
    for status, rel in pending:
        if "U" in status:
            continue
        if rel == POLICY_FILE:
            left.append(
                f"{rel} has edits not yet committed; the lead checks and commits them with "
                "'cbtrack validate --commit'."
            )
        elif rel.startswith(f"{history.RECORDS}/") or rel in SHARED_FILES:
            records.append((status, rel))
        else:
            left.append(f"{rel} is not a store file, so sync does not share it.")
    breaches = gitlog.check_worktree(root, [rel for _, rel in records])
    for status, rel in records:
        own = [b for b in breaches if b.path == rel]
        why = own[0].detail if own else "changed, but not by a cbtrack command"
        held = storefolder.held_at_head(status)
        left.append(f"{rel}: {why}; {storefolder.keep_or_drop(rel, held)}.")
    return left


def _check_in_the_way(
    root: Path, head: str, theirs: str, remote: str, files: list[tuple[str, str]]
) -> None:
    """Refuse before merging when an uncommitted file (a hand edit sync leaves out; `files`
    as `gitread.pending_files` gives them) is of a callback or file that the incoming
    changes touch: merging would overwrite it."""
    pending = [(st, rel) for st, rel in files if "U" not in st]
    if not pending:
        return
    base = gitlog.merge_base(root, head, theirs) or head
    changed = set(gitread.changed_between(root, base, theirs))
    ids = {cid for p in changed if (cid := history.callback_of(p)) is not None}
    hit = [(st, r) for st, r in pending if r in changed or history.callback_of(r) in ids]
    if hit:
        (status, rel), more = hit[0], f" (and {len(hit) - 1} more)" if len(hit) > 1 else ""
        keep = storefolder.keep_or_drop(rel, storefolder.held_at_head(status))
        raise Refused(
            f"Sync took in nothing: {rel}{more} has changes not committed, and '{remote}' "
            f"changed the same file or callback; {keep}, then sync again."
        )


def _check_outgoing(store: Store, theirs: str | None, now: datetime) -> None:
    """Refuse to share commits that break the rule book (a hand commit that skipped the
    hook with --no-verify): those not on the remote and not yet verified or accepted."""
    root = store.root
    head = gitlog.rev(root, "HEAD")
    if head is None or head == theirs:
        return
    verified = gitlog.rev(root, gitlog.VERIFIED_REF)
    found = audit.unverified_findings(store, head, [theirs or "", verified or ""], now)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise Refused(
            f"Sync stopped before merging or pushing anything: {found[0].message}{more}; "
            "run 'cbtrack verify' and have the lead decide (after review, 'cbtrack verify "
            "--accept' lets sync share it)."
        )


def _check_incoming(
    store: Store, incoming: list[gitread.CommitInfo], remote: str, now: datetime
) -> None:
    """Judge every incoming commit by the rule book before any is taken in: on a breach
    the local store stays as it was, and the message names the commit, file and rule."""
    found = audit.judge_new(store, incoming, now)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise Refused(
            f"Sync took in nothing from '{remote}': {found[0].message}{more}; this desk is "
            "as it was. Have the lead look at it ('cbtrack verify' on the desk that made it)."
        )


def _sync_round(store: Store, actor: str, now: datetime, result: SyncResult, round_no: int) -> bool:
    """Fetch and check the remote, then (first round) commit what is pending, merge and
    push; False when the push lost a race with another desk and should be retried."""
    root = store.root
    remote, branch = result.remote, result.branch
    tracking = f"refs/remotes/{remote}/{branch}"
    anchor_ref = f"{gitlog.SYNCED_PREFIX}{remote}/{branch}"
    anchor = gitlog.rev(root, anchor_ref) or gitlog.rev(root, tracking)
    theirs = _fetch(store, remote, branch, actor)  # little or nothing new since the prejudge
    _check_anchor(root, anchor, theirs, remote)
    pending = gitread.pending_files(root) if round_no == 0 else None
    if pending is not None:
        _check_outgoing(store, theirs, now)
        result.left_out = _pending_left(store, pending)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        raise Refused("This store has no commits yet; run 'cbtrack init' on it first.")
    if theirs and theirs != head and not gitlog.is_ancestor(root, theirs, head):
        incoming = gitread.commits(root, theirs, since=head)
        # (what the lead accepted with 'verify --accept' moved the anchor: not judged again)
        fresh = gitread.commits(root, theirs, since=head, exclude=[anchor or ""])
        _check_incoming(store, fresh, remote, now)
        if pending is None:
            pending = gitread.pending_files(root)
        _check_in_the_way(root, head, theirs, remote, pending)
        result.incoming += len(incoming)
        with progress.step(f"Merging from '{remote}'", store.on_progress):
            if gitlog.is_ancestor(root, head, theirs):
                _git_merge(store, actor, now, theirs, "--ff-only")
            else:
                _merge_commit(store, actor, now, head, theirs, result)
    head = gitlog.rev(root, "HEAD") or head
    if head != theirs:
        with progress.step(f"Pushing to '{remote}'", store.on_progress):
            pushed = _network(root, actor, "push", remote, f"HEAD:refs/heads/{branch}")
        if pushed.returncode != 0:
            text = pushed.stderr
            if "hook declined" in text:  # the server's rule book said no: retrying won't help
                said = [ln.partition("cbtrack:")[2].strip() for ln in text.splitlines()
                        if ln.startswith("remote: cbtrack:")]  # fmt: skip
                raise Refused(
                    f"'{remote}' refused this desk's push: {said[0] if said else _last_line(text)}"
                    "; nothing is lost (the changes are committed on this desk)."
                )
            if "rejected" in text or "fetch first" in text or "non-fast-forward" in text:
                return False
            raise GitError(f"Could not push to '{remote}': {_last_line(text)}")
        result.pushed = True
    gitlog.set_ref(root, anchor_ref, head, "cbtrack sync")
    result.head = head
    return True


def _last_line(text: str) -> str:
    """git's last line that says something (its `hint:` lines only advise)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")] or lines
    return (lines[-1] if lines else "no details from git")[:200]


def _git_merge(store: Store, actor: str, now: datetime, theirs: str, *flags: str) -> bool:
    """Run `git merge`; True when clean, False with conflicts; refusal if it cannot start."""
    proc = gitlog.run(
        store.root,
        "-c",
        f"merge.{gitlog.MERGE_DRIVER}.driver=false",
        # a record is its ID: never pair two files by similarity (a new record with the
        # same wording as one closed meanwhile would take the other's attempts)
        "-c",
        "merge.renames=false",
        "-c",
        "diff.renames=false",
        "merge",
        "--quiet",
        "--no-edit",
        *flags,
        theirs,
        env=gitlog.identity_env(actor, now),
        check=False,
    )
    if proc.returncode == 0:
        return True
    if (store.root / ".git" / "MERGE_HEAD").exists():
        return False
    if "overwritten" in proc.stderr:
        named = [line.strip() for line in proc.stderr.splitlines() if line.startswith("\t")]
        which = f" ({', '.join(named[:3])})" if named else ""
        raise Refused(
            f"Uncommitted files that sync left out{which} are in the way of the incoming "
            "changes; commit or restore them with git, then sync again."
        )
    raise GitError(f"git merge could not start: {_last_line(proc.stderr)}")


def _merge_commit(
    store: Store, actor: str, now: datetime, head: str, theirs: str, result: SyncResult
) -> None:
    """Merge the remote into HEAD, by callback ID: git only records the merge (`-s ours`,
    so it pairs no files by similarity, which would move one callback's attempts into
    another's file); each record the remote changed is then settled here by the merge
    rules, and each other file by a plain three-way choice."""
    root = store.root
    marker = root / LOCAL_DIR / SYNC_MERGE
    write_atomic(marker, theirs + "\n")
    try:
        base = gitlog.merge_base(root, head, theirs)
        if base is None:
            raise Refused(
                f"'{result.remote}' holds a history that shares no commit with this desk's; "
                "nothing was merged: have the lead check which store is the practice's."
            )
        _git_merge(store, actor, now, theirs, "--no-ff", "--no-commit", "-s", "ours")
        theirs_changed = gitread.changed_between(root, base, theirs)
        ours_changed = set(gitread.changed_between(root, base, head))
        problems = _take_files(store, base, theirs, theirs_changed, ours_changed, result)
        ids = sorted({c for p in theirs_changed if (c := history.callback_of(p)) is not None})
        rd = versions.Reader()
        for cid in ids:
            problems += _settle(store, rd, cid, base, head, theirs, result)
        if problems:
            more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
            raise Refused(
                f"Sync stopped and merged nothing: {problems[0]}{more}; decide it (or have the "
                "lead decide), then sync again."
            )
        load_policy(root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)
        message = f"sync: merge {result.remote}/{result.branch}"
        try:
            gitlog.commit(root, [], message, actor, now, merging=True)
        except history.HistoryRefused as exc:
            raise Refused(
                f"Sync stopped and merged nothing: {exc.breaches[0].sentence}; run 'cbtrack "
                "verify' and have the lead decide."
            ) from None
    except BaseException:
        gitlog.run(root, "merge", "--abort", check=False)
        raise
    finally:
        marker.unlink(missing_ok=True)


def _take_files(
    store: Store,
    base: str,
    theirs: str,
    changed: list[str],
    ours_changed: set[str],
    result: SyncResult,
) -> list[str]:
    """Files outside callbacks/ that only the remote changed are taken as it has them; one
    both sides changed differently is for a person to decide."""
    root = store.root
    others = [p for p in changed if history.callback_of(p) is None and not _is_keep(p)]
    if not others:
        return []
    blobs = gitread.read_blobs(root, [f"{c}:{p}" for c in ("HEAD", theirs) for p in others])
    problems: list[str] = []
    take: list[str] = []
    for p in others:
        mine, other = blobs.get(f"HEAD:{p}"), blobs.get(f"{theirs}:{p}")
        if mine == other:
            continue
        if p in ours_changed:
            problems.append(
                f"{p} was changed differently on this desk and on '{result.remote}'; decide "
                f"which version to keep (merge it by hand with 'git merge {result.remote}/"
                f"{result.branch}' and commit)"
            )
            continue
        take.append(p)
    if take and not problems:
        _checkout(store, theirs, take, blobs)
    return problems


def _is_keep(path: str) -> bool:
    return path in history.KEEP_FILES


def _checkout(store: Store, commit: str, paths: list[str], blobs: dict[str, bytes | None]) -> None:
    """Make `paths` what `commit` holds (written, or removed) and stage them."""
    for p in paths:
        data = blobs.get(f"{commit}:{p}")
        target = store.root / p
        if data is None:
            if target.exists() or target.is_symlink():
                remove_file(target)
        else:
            write_atomic(target, data)
    gitlog.stage(store.root, paths)


def _settle(
    store: Store,
    rd: versions.Reader,
    cid: str,
    base: str,
    head: str,
    theirs: str,
    result: SyncResult,
) -> list[str]:
    """Make one record whole after the remote changed it; returns what a person must
    decide. Byte for byte the remote's version when only it changed the record."""
    root = store.root
    rels = list(record_rels(store, cid))
    blobs = gitread.read_blobs(root, [f"{c}:{r}" for c in (base, head, theirs) for r in rels])
    state = {c: tuple(blobs.get(f"{c}:{r}") for r in rels) for c in (base, head, theirs)}
    if state[theirs] == state[head] or state[theirs] == state[base]:
        return []
    if state[head] == state[base]:
        _checkout(store, theirs, rels, blobs)
        return []
    versions = _versions(store, rd, cid, [base, head, theirs])
    old = versions.get(base)
    mine, other = versions.get(head), versions.get(theirs)
    if isinstance(mine, str) or isinstance(other, str):
        return [f"{rels[0]}: {mine if isinstance(mine, str) else other}"]
    if mine is None or other is None:
        keep = mine or other
        if keep is None:
            return []
        merged = Merged(keep)
    else:
        merged = merge_records(old if isinstance(old, Callback) else None, mine, other)
    if merged.conflicts or merged.record is None:
        where = store.rel(store.path_of(merged.record)) if merged.record else rels[0]
        return [f"{where}: {c}" for c in merged.conflicts]
    _place(store, merged.record)
    gitlog.stage(root, rels)
    result.merged.append(cid)
    result.notes += merged.notes
    return []


def _place(store: Store, cb: Callback) -> None:
    """Write a merged record where its status puts it and drop a copy in the other folder.
    Not `Store.save`: its journal would have crash recovery commit a half-made merge;
    git's own merge state (with our marker) is what a crashed sync leaves instead."""
    target = store.path_of(cb)
    write_atomic(target, dump_record(cb))
    other = store.closed_path(cb.id) if cb.is_open else store.open_path(cb.id)
    if other.exists():
        remove_file(other)


def _versions(
    store: Store, rd: versions.Reader, cid: str, commits: list[str]
) -> dict[str, Callback | str | None]:
    """The record as each commit holds it: a model, None if absent, or why it is unreadable."""
    rels = record_rels(store, cid)
    blobs = gitread.read_blobs(store.root, [f"{c}:{r}" for c in commits for r in rels])
    out: dict[str, Callback | str | None] = {}
    for c in commits:
        found: list[Callback] = []
        for r in rels:
            data = blobs.get(f"{c}:{r}")
            if data is None:
                continue
            v = rd.version(r, data)
            if v.model is None:
                out[c] = f"the version at commit {gitlog.short(c)} does not validate ({v.problem})"
                break
            found.append(v.model)
        else:
            out[c] = max(found, key=lambda cb: len(cb.events) + len(cb.attempts)) if found else None
    return out
