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

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cbtrack import audit, doctor, gitlog, history, triage
from cbtrack.errors import GitError, Refused, StoreError
from cbtrack.merge import Merged, merge_records
from cbtrack.model import Callback
from cbtrack.policy import Policy
from cbtrack.store import (
    LOCAL_DIR,
    MAX_POLICY_BYTES,
    MAX_RECORD_BYTES,
    POLICY_FILE,
    Store,
    dump_record,
    load_model,
    make_owner_only,
    remove_file,
    write_atomic,
)

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
    committed: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    incoming: int = 0
    merged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pushed: bool = False
    head: str = ""


def sync(store: Store, user: str | None, now: datetime, remote: str = "origin") -> SyncResult:
    """Commit pending valid changes, fetch, merge (records by the merge rules), push."""
    actor = triage.check_user(store.policy, user)
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    if not gitlog.has_remote(root, remote):
        raise Refused(
            f"This store has no git remote named '{remote}'; add one with "
            f"'git -C {root} remote add {remote} URL', then sync again."
        )
    with store.lock():
        notes = doctor.recover(store, now, actor)
        make_owner_only(root)
        gitlog.ensure_config(root)
        branch = gitlog.current_branch(root)
        if branch is None:
            raise Refused(
                "The store is not on a branch (detached HEAD); check out your branch first."
            )
        if (root / ".git" / "MERGE_HEAD").exists():
            raise Refused(
                "A git merge is in progress in this store; finish it with 'git commit' or "
                "undo it with 'git merge --abort', then sync again."
            )
        result = SyncResult(remote, branch, notes=notes)
        for attempt in range(3):
            if _sync_round(store, actor, now, result, round_no=attempt):
                break
        result.head = gitlog.rev(root, "HEAD") or ""
    return result


def _commit_pending(store: Store, actor: str, now: datetime) -> tuple[list[str], list[str]]:
    """Commit the uncommitted store files the rule book accepts; name the rest and leave
    them (a hand edit that rewrites history is never shared)."""
    root = store.root
    candidates: list[str] = []
    left: list[str] = []
    for status, rel in gitlog.pending_files(root):
        if "U" in status:
            continue
        if rel.startswith(f"{history.RECORDS}/") or rel in SHARED_FILES:
            candidates.append(rel)
        else:
            left.append(f"{rel} is not a store file, so sync does not share it.")
    breaches = gitlog.check_worktree(root, candidates, author=actor)
    bad_paths = {b.path for b in breaches}
    bad_ids = {b.callback for b in breaches if b.callback}
    good = [r for r in candidates if r not in bad_paths and history.callback_of(r) not in bad_ids]
    left += [f"{b.sentence}; {b.fix()}." for b in breaches]
    if good:
        n = len(good)
        gitlog.commit(root, good, f"sync: commit {n} pending change{'s' * (n != 1)}", actor, now)
    return good, left


def _check_outgoing(store: Store, theirs: str | None, result: SyncResult) -> None:
    """Refuse to share commits that break the rule book (a hand commit that skipped the
    hook with --no-verify): those not on the remote and not yet verified or accepted."""
    root = store.root
    head = gitlog.rev(root, "HEAD")
    if head is None or head == theirs:
        return
    verified = gitlog.rev(root, gitlog.VERIFIED_REF)
    found = audit.unverified_findings(store, head, [theirs or "", verified or ""])
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise Refused(
            f"Sync stopped before merging or pushing anything: {found[0].message}{more}; "
            "run 'cbtrack verify' and have the lead decide (after review, 'cbtrack verify "
            "--accept' lets sync share it)."
        )


def _check_incoming(store: Store, incoming: list[gitlog.CommitInfo], remote: str) -> None:
    """Judge every incoming commit by the rule book before any is taken in: on a breach
    the local store stays as it was, and the message names the commit, file and rule."""
    found = audit.judge_commits(store.root, history.Reader(), incoming)
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
    fetched = gitlog.run(
        root,
        "fetch",
        "--quiet",
        "--no-tags",
        remote,
        f"+refs/heads/*:refs/remotes/{remote}/*",
        env=gitlog.identity_env(actor, None),
        check=False,
        keep_lock=False,
    )
    if fetched.returncode != 0:
        raise GitError(f"Could not fetch from '{remote}': {_last_line(fetched.stderr)}")
    theirs = gitlog.rev(root, tracking)
    if anchor and (theirs is None or not gitlog.is_ancestor(root, anchor, theirs)):
        raise Refused(
            f"The history on '{remote}' was rewritten since this desk last synced (it no longer "
            f"holds commit {gitlog.short(anchor)}), so nothing was merged or pushed; run "
            "'cbtrack verify' and have the lead decide."
        )
    if round_no == 0:
        _check_outgoing(store, theirs, result)
        result.committed, result.left_out = _commit_pending(store, actor, now)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        raise Refused("This store has no commits yet; run 'cbtrack init' on it first.")
    if theirs and theirs != head and not gitlog.is_ancestor(root, theirs, head):
        incoming = gitlog.commits(root, theirs, since=head)
        # (what the lead accepted with 'verify --accept' moved the anchor: not judged again)
        _check_incoming(store, gitlog.commits(root, theirs, since=head, exclude=[anchor or ""]),
                        remote)  # fmt: skip
        result.incoming += len(incoming)
        if gitlog.is_ancestor(root, head, theirs):
            _git_merge(store, actor, now, theirs, "--ff-only")
        else:
            _merge_commit(store, actor, now, head, theirs, result)
    head = gitlog.rev(root, "HEAD") or head
    if head != theirs:
        pushed = gitlog.run(
            root,
            "push",
            "--quiet",
            remote,
            f"HEAD:refs/heads/{branch}",
            env=gitlog.identity_env(actor, None),
            check=False,
            keep_lock=False,
        )
        if pushed.returncode != 0:
            text = pushed.stderr
            if round_no < 2 and ("rejected" in text or "fetch first" in text):
                return False
            raise GitError(f"Could not push to '{remote}': {_last_line(text)}")
        result.pushed = True
    gitlog.set_ref(root, anchor_ref, head, "cbtrack sync")
    gitlog.write_commit_graph(root)
    return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no details from git")[:200]


def _git_merge(store: Store, actor: str, now: datetime, theirs: str, *flags: str) -> bool:
    """Run `git merge`; True when clean, False with conflicts; refusal if it cannot start."""
    proc = gitlog.run(
        store.root,
        "-c",
        f"merge.{gitlog.MERGE_DRIVER}.driver=false",
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
        raise Refused(
            "Uncommitted files that sync left out are in the way of the incoming changes; "
            "fix or restore them, then sync again."
        )
    raise GitError(f"git merge could not start: {_last_line(proc.stderr)}")


def _merge_commit(
    store: Store, actor: str, now: datetime, head: str, theirs: str, result: SyncResult
) -> None:
    """Merge the remote into HEAD; records by the merge rules, in this process.

    Git's own merge places files (including open -> closed moves); the record merge driver
    is switched off for it because each record both sides changed is then merged here, by
    callback ID across both folders, which also settles moves git cannot see."""
    root = store.root
    marker = root / LOCAL_DIR / SYNC_MERGE
    write_atomic(marker, theirs + "\n")
    try:
        _git_merge(store, actor, now, theirs, "--no-ff", "--no-commit")
        unmerged = set(gitlog.unmerged_paths(root))
        others = sorted(p for p in unmerged if history.record_id(p) is None)
        if others:
            raise Refused(
                f"{others[0]} was changed differently on this desk and on '{result.remote}'; "
                "decide which version to keep (merge it by hand with 'git merge "
                f"{result.remote}/{result.branch}', commit), then sync again; nothing was merged."
            )
        base = gitlog.merge_base(root, head, theirs)
        touched = [*gitlog.changed_since(root, head), *unmerged]
        ids = sorted({cid for p in touched if (cid := history.record_id(p)) is not None})
        problems: list[str] = []
        rd = history.Reader()
        for cid in ids:
            problems += _settle(store, rd, cid, base, head, theirs, unmerged, result)
        if problems:
            more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
            raise Refused(
                f"Sync stopped and merged nothing: {problems[0]}{more}; merge by hand with "
                f"'git merge {result.remote}/{result.branch}' (the merge driver leaves the "
                "file with every attempt kept), commit, then sync again."
            )
        load_model(Policy, root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)
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


def _settle(
    store: Store,
    rd: history.Reader,
    cid: str,
    base: str | None,
    head: str,
    theirs: str,
    unmerged: set[str],
    result: SyncResult,
) -> list[str]:
    """Make one record whole after git's merge; returns what a person must decide."""
    root = store.root
    rels = record_rels(store, cid)
    present = [r for r in rels if (root / r).is_file()]
    if len(present) == 1 and present[0] not in unmerged:
        try:
            store.load_path(root / present[0])
            return []
        except StoreError:
            pass
    versions = _versions(store, rd, cid, [c for c in (base, head, theirs) if c])
    old = versions.get(base) if base else None
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
    gitlog.stage(root, list(rels))
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
    store: Store, rd: history.Reader, cid: str, commits: list[str]
) -> dict[str, Callback | str | None]:
    """The record as each commit holds it: a model, None if absent, or why it is unreadable."""
    rels = record_rels(store, cid)
    blobs = gitlog.read_blobs(store.root, [f"{c}:{r}" for c in commits for r in rels])
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
