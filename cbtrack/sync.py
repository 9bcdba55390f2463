"""Sharing a queue through git: sync, the merge driver on files, a record's history,
verify, and the pre-commit check. Service functions, usable without the CLI.

Where the local trust anchors live (refs are local: git does not push or clone them):

- `refs/cbtrack/verified`: the last HEAD that `verify` found clean. `verify` walks only
  the commits after it, and reports a HEAD that does not descend from it. As a ref it
  also keeps the old history reachable, so a rewrite can be shown in full.
- `refs/cbtrack/synced/<remote>/<branch>`: the remote head this desk last pushed or
  merged. `sync` refuses a fetched remote head that does not descend from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from cbtrack import doctor, gitlog, triage
from cbtrack.errors import CbtrackError, GitError, Refused, StoreError
from cbtrack.merge import Merged, merge_records
from cbtrack.model import ID_RE, Callback
from cbtrack.policy import Policy
from cbtrack.store import (
    LOCAL_DIR,
    MAX_POLICY_BYTES,
    MAX_RECORD_BYTES,
    POLICY_FILE,
    Store,
    decode_text,
    dump_record,
    load_model,
    parse_model,
    remove_file,
    write_atomic,
)

SHARED_FILES = {POLICY_FILE, ".gitattributes", ".gitignore"}
SYNC_MERGE = "sync-merge"  # in .cbtrack/: the commit a sync is merging, while it does
CHUNK = 400  # parent/commit pairs read per round of git calls in verify


# --- reading versions that are not files in the store ---------------------------------


class _Loose(BaseModel):
    """Any mapping: the store's strict YAML rules, no record rules (old versions)."""

    model_config = ConfigDict(extra="allow")


class Scratch:
    """Parses text that is not a store file (a staged or historical version) with the
    store's own strict loader and limits, in memory."""

    def __init__(self) -> None:
        self.cache: dict[str, dict[str, Any] | None] = {}

    def record(self, data: bytes, rel: str) -> Callback:
        """A version that must be a valid record (raises StoreError naming `rel`)."""
        return parse_model(Callback, decode_text(data, MAX_RECORD_BYTES, rel), rel)

    def policy(self, data: bytes, rel: str) -> Policy:
        return parse_model(Policy, decode_text(data, MAX_POLICY_BYTES, rel), rel)

    def loose(self, key: str, data: bytes | None) -> dict[str, Any] | None:
        """Any version as a mapping, cached by `key` (a blob ID); None when unreadable."""
        if data is None:
            return None
        if key not in self.cache:
            try:
                text = decode_text(data, MAX_RECORD_BYTES, "a version")
                self.cache[key] = parse_model(_Loose, text, "a version").model_dump()
            except StoreError:
                self.cache[key] = None
        return self.cache[key]


def record_id(rel: str) -> str | None:
    """The callback ID a path in the store holds, or None for any other file."""
    parts = rel.split("/")
    if parts[0] != gitlog.RECORDS or not rel.endswith(".yaml") or parts[-1].startswith("."):
        return None
    stem = parts[-1][: -len(".yaml")]
    return stem if ID_RE.match(stem) else None


def record_rels(store: Store, cid: str) -> tuple[str, str]:
    return store.rel(store.open_path(cid)), store.rel(store.closed_path(cid))


def items_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`attempt <id>` / `event <id>` -> the item, from a loosely read version."""
    out: dict[str, dict[str, Any]] = {}
    for key, kind in (("attempts", "attempt"), ("events", "event")):
        items = data.get(key)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    out[f"{kind} {item.get('id', '?')}"] = item
    return out


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
        _clear_own_merge(root)
        notes = doctor.recover(store, now, actor)
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
    """Commit the uncommitted store files that validate; name the rest and leave them."""
    root = store.root
    good: list[str] = []
    left: list[str] = []
    for status, rel in gitlog.pending_files(root):
        if status[0] == "U" or status[1] == "U":
            continue
        path = root / rel
        cid = record_id(rel)
        if cid is None:
            if rel in SHARED_FILES or rel.endswith("/.gitkeep"):
                good.append(rel)
            else:
                left.append(f"{rel} is not a store file, so sync does not share it.")
            continue
        if not path.exists():
            if any((root / r).is_file() for r in record_rels(store, cid) if r != rel):
                good.append(rel)
            else:
                left.append(
                    f"{rel} was deleted, which would drop its attempts; restore it with "
                    f"'git checkout -- {rel}'."
                )
            continue
        try:
            store.load_path(path)
        except CbtrackError as exc:
            left.append(exc.message)
            continue
        good.append(rel)
    if good:
        n = len(good)
        gitlog.commit_paths(
            root, good, f"sync: commit {n} pending change{'s' * (n != 1)}", actor, now
        )
    return good, left


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
        result.committed, result.left_out = _commit_pending(store, actor, now)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        raise Refused("This store has no commits yet; run 'cbtrack init' on it first.")
    if theirs and theirs != head and not gitlog.is_ancestor(root, theirs, head):
        result.incoming += len(gitlog.commits(root, theirs, since=head))
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
        others = sorted(p for p in unmerged if record_id(p) is None)
        if others:
            raise Refused(
                f"{others[0]} was changed differently on this desk and on '{result.remote}'; "
                "decide which version to keep (merge it by hand with 'git merge "
                f"{result.remote}/{result.branch}', commit), then sync again; nothing was merged."
            )
        base = gitlog.merge_base(root, head, theirs)
        touched = [*gitlog.changed_since(root, head), *unmerged]
        ids = sorted({cid for p in touched if (cid := record_id(p)) is not None})
        problems: list[str] = []
        sc = Scratch()
        for cid in ids:
            problems += _settle(store, sc, cid, base, head, theirs, unmerged, result)
        if problems:
            more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
            raise Refused(
                f"Sync stopped and merged nothing: {problems[0]}{more}; merge by hand with "
                f"'git merge {result.remote}/{result.branch}' (the merge driver leaves the "
                "file with every attempt kept), commit, then sync again."
            )
        load_model(Policy, root / POLICY_FILE, POLICY_FILE, MAX_POLICY_BYTES)
        gitlog.run(
            root,
            "commit",
            "-q",
            "--no-verify",
            "-m",
            f"sync: merge {result.remote}/{result.branch}",
            env=gitlog.identity_env(actor, now),
        )
    except BaseException:
        gitlog.run(root, "merge", "--abort", check=False)
        raise
    finally:
        marker.unlink(missing_ok=True)


def _clear_own_merge(root: Path) -> None:
    """A merge that a crashed or killed sync left half done is undone (the next round
    redoes it); a merge someone started by hand is left for them."""
    marker = root / LOCAL_DIR / SYNC_MERGE
    head = root / ".git" / "MERGE_HEAD"
    try:
        ours = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return
    if head.exists() and head.read_text(encoding="utf-8").strip() == ours:
        gitlog.run(root, "merge", "--abort", check=False)
    marker.unlink(missing_ok=True)


def _settle(
    store: Store,
    sc: Scratch,
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
    versions = _versions(store, sc, cid, [c for c in (base, head, theirs) if c])
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
    store: Store, sc: Scratch, cid: str, commits: list[str]
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
            try:
                found.append(sc.record(data, r))
            except StoreError as exc:
                out[c] = (
                    f"the version at commit {gitlog.short(c)} does not validate ({exc.message})"
                )
                break
        else:
            out[c] = max(found, key=lambda cb: len(cb.events) + len(cb.attempts)) if found else None
    return out


# --- verify --------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str  # changed | removed | unreadable | rewritten | remote_rewritten
    message: str
    commit: str | None = None
    callback: str | None = None
    item: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "commit": self.commit,
            "callback": self.callback,
            "item": self.item,
            "message": self.message,
        }


@dataclass
class VerifyReport:
    head: str | None
    since: str | None
    commits: int
    findings: list[Finding]
    recorded: bool

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(store: Store, full: bool = False, accept: bool = False) -> VerifyReport:
    """Walk history for changed or removed attempts and events, and for rewrites."""
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        return VerifyReport(None, None, 0, [], False)
    findings: list[Finding] = []
    verified = gitlog.rev(root, gitlog.VERIFIED_REF)
    since = None
    sc = Scratch()
    if verified and not gitlog.is_ancestor(root, verified, head):
        findings.append(
            Finding(
                "rewritten",
                "HEAD does not descend from the last verified commit "
                f"{gitlog.short(verified)}: this desk's history was rewritten",
                commit=head,
            )
        )
        findings += _compare(store, sc, [(verified, head)], {}, "the rewrite")
        since = gitlog.merge_base(root, verified, head)
    elif verified:
        since = verified
    walked = gitlog.commits(root, head, since=None if full else since)
    info = {c.sha: c for c in walked}
    pairs = [(p, c.sha) for c in walked for p in c.parents]
    for i in range(0, len(pairs), CHUNK):
        findings += _compare(store, sc, pairs[i : i + CHUNK], info, None)
    synced_moved: dict[str, str] = {}
    for name, sha in gitlog.refs_under(root, gitlog.SYNCED_PREFIX).items():
        where = name[len(gitlog.SYNCED_PREFIX) :]
        now_at = gitlog.rev(root, f"refs/remotes/{where}")
        if now_at and not gitlog.is_ancestor(root, sha, now_at):
            synced_moved[name] = now_at
            findings.append(
                Finding(
                    "remote_rewritten",
                    f"{where} no longer holds commit {gitlog.short(sha)} that this desk last "
                    "synced: its history was rewritten (force-pushed)",
                    commit=now_at,
                )
            )
            findings += _compare(store, sc, [(sha, now_at)], {}, f"the rewrite of {where}")
    recorded = not findings or accept
    if recorded:
        gitlog.set_ref(root, gitlog.VERIFIED_REF, head, "cbtrack verify")
        for name, sha in synced_moved.items():
            gitlog.set_ref(root, name, sha, "cbtrack verify --accept")
    return VerifyReport(head, None if full else since, len(walked), _dedupe(findings), recorded)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str | None, str | None, str | None]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.commit, f.callback, f.item)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _compare(
    store: Store,
    sc: Scratch,
    pairs: list[tuple[str, str]],
    info: dict[str, gitlog.CommitInfo],
    label: str | None,
) -> list[Finding]:
    """Every attempt or event a parent holds must be in the commit, unchanged."""
    root = store.root
    changes = gitlog.tree_changes(root, pairs)
    specs: list[str] = []
    plans: list[tuple[str, str, list[str], list[str]]] = []  # commit, cid, old keys, new keys
    for (_parent, commit), diff in zip(pairs, changes, strict=True):
        olds: dict[str, list[str]] = {}
        news: dict[str, list[str]] = {}
        for ch in diff:
            cid = record_id(ch.path)
            if cid is None:
                continue
            if ch.old:
                olds.setdefault(cid, []).append(ch.old)
            if ch.new:
                news.setdefault(cid, []).append(ch.new)
        for cid, old_blobs in olds.items():
            new_keys = news.get(cid) or [f"{commit}:{r}" for r in record_rels(store, cid)]
            specs += old_blobs + new_keys
            plans.append((commit, cid, old_blobs, new_keys))
    blobs = gitlog.read_blobs(root, specs)
    out: list[Finding] = []
    for commit, cid, old_keys, new_keys in plans:
        c = info.get(commit)
        who = f"commit {gitlog.short(commit)}"
        if label:
            who = label
        elif c:
            who += f" by {c.author} on {c.at[:16].replace('T', ' ')}"
        present = [k for k in new_keys if blobs.get(k) is not None]
        new_items: dict[str, dict[str, Any]] = {}
        readable = True
        for key in present:
            data = sc.loose(key, blobs[key])
            if data is None:
                readable = False
            else:
                new_items.update(items_of(data))
        if not readable:
            out.append(Finding("unreadable", f"{who} left {cid} unreadable", commit, cid))
            continue
        for key in old_keys:
            old = sc.loose(key, blobs.get(key))
            if old is None:
                continue
            for item, value in items_of(old).items():
                now_value = new_items.get(item)
                if now_value == value:
                    continue
                kind = "removed" if now_value is None else "changed"
                out.append(Finding(kind, f"{who} {kind} {item} of {cid}", commit, cid, item))
    return out


# --- the pre-commit check ------------------------------------------------------------


def check_staged(store: Store) -> list[str]:
    """Problems with what is staged: records that do not validate, sit in the wrong folder,
    or change, drop or delete attempts and events; a policy that does not validate."""
    root = store.root
    problems: list[str] = []
    changes = gitlog.staged_changes(root)
    by_id: dict[str, list[gitlog.Change]] = {}
    for ch in changes:
        cid = record_id(ch.path)
        if cid is not None:
            by_id.setdefault(cid, []).append(ch)
    specs = [":" + POLICY_FILE]
    for cid in by_id:
        specs += [f"{ref}:{r}" for r in record_rels(store, cid) for ref in ("HEAD", "")]
    blobs = gitlog.read_blobs(root, specs)
    sc = Scratch()
    staged_policy = blobs.get(":" + POLICY_FILE)
    if staged_policy is not None:
        try:
            sc.policy(staged_policy, POLICY_FILE)
        except StoreError as exc:
            problems.append(exc.message)
    for cid in sorted(by_id):
        problems += _check_one(store, sc, cid, blobs)
    return problems


def _check_one(store: Store, sc: Scratch, cid: str, blobs: dict[str, bytes | None]) -> list[str]:
    problems: list[str] = []
    rels = record_rels(store, cid)
    staged: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rels:
        data = blobs.get(f":{r}")
        if data is None:
            continue
        try:
            cb = sc.record(data, r)
        except StoreError as exc:
            problems.append(exc.message)
            continue
        if cb.id != cid:
            problems.append(f"{r}: field id does not match the file name.")
        elif cb.is_open != r.startswith(f"{gitlog.RECORDS}/open/"):
            problems.append(f"{r}: field status does not match the folder.")
        staged[r] = items_of(sc.loose(f":{r}", data) or {})
    if problems:
        return problems
    if not staged:
        return [f"{rels[0]}: deleting a record drops its attempts and events; restore it."]
    have: dict[str, dict[str, Any]] = {}
    for items in staged.values():
        have.update(items)
    for r in rels:
        old = sc.loose(f"HEAD:{r}", blobs.get(f"HEAD:{r}"))
        if old is None:
            continue
        for item, value in items_of(old).items():
            if item not in have:
                problems.append(f"{r}: {item} was removed; attempts and events are append-only.")
            elif have[item] != value:
                problems.append(f"{r}: {item} was changed; attempts and events are append-only.")
    return problems


# --- log -----------------------------------------------------------------------------


@dataclass
class Entry:
    kind: str  # commit | attempt | event
    at: datetime
    by: str
    what: str
    commit: str | None = None
    item: str | None = None
    note: str | None = None
    changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "by": self.by,
            "what": self.what,
            "commit": self.commit,
        }
        if self.kind == "commit":
            out["changes"] = self.changes
        else:
            out["item"] = self.item
            out["note"] = self.note
        return out


def history(store: Store, text: str) -> tuple[str, list[Entry]]:
    """A record's history: each commit that touched it (across the open -> closed move),
    with what it added or changed, merged with the record's attempts and events."""
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    cid = store.resolve_id(text)
    rels = list(record_rels(store, cid))
    found = _touching(root, rels)
    specs = [f"{c}:{r}" for x in found for c in [x.sha, *x.parents[:1]] for r in rels]
    blobs = gitlog.read_blobs(root, specs)
    entries: list[Entry] = []
    added_in: dict[str, str] = {}
    latest: dict[str, Any] | None = None
    sc = Scratch()
    for x in found:
        after = _version(sc, blobs, x.sha, rels)
        before = _version(sc, blobs, x.parents[0], rels) if x.parents else None
        changes = _describe(before, after)
        for key in items_of(after or {}):
            if key not in items_of(before or {}):
                added_in.setdefault(key, x.sha)
        entries.append(
            Entry(
                "commit",
                datetime.fromisoformat(x.at),
                x.author,
                x.subject,
                commit=x.sha,
                changes=changes,
            )
        )
        latest = after if after is not None else latest
    try:
        current: dict[str, Any] | None = store.load(cid).model_dump(mode="json")
    except CbtrackError:
        current = latest
    if current is None:
        if not found:
            raise Refused(f"No callback {cid} in this store or its history.")
        current = {}
    entries += _item_entries(current, added_in)
    entries.sort(key=lambda e: (e.at, e.kind != "commit"))
    return cid, entries


def _touching(root: Path, rels: list[str]) -> list[gitlog.CommitInfo]:
    """Commits that changed either path, oldest first. One `git log` per path: a single
    path lets git use the commit-graph's changed-path filters (which sync keeps written)."""
    if gitlog.rev(root, "HEAD") is None:
        return []
    seen: dict[str, gitlog.CommitInfo] = {}
    for rel in rels:
        for c in gitlog.commits(root, "HEAD", paths=[rel]):
            seen.setdefault(c.sha, c)
    order = {sha: i for i, sha in enumerate(seen)}
    return sorted(seen.values(), key=lambda c: (datetime.fromisoformat(c.at), order[c.sha]))


def _version(
    sc: Scratch,
    blobs: dict[str, bytes | None],
    commit: str,
    rels: list[str],
) -> dict[str, Any] | None:
    versions = [sc.loose(f"{commit}:{r}", blobs.get(f"{commit}:{r}")) for r in rels]
    found = [v for v in versions if v is not None]
    return max(found, key=lambda v: len(items_of(v))) if found else None


def _describe(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """What one commit did to the record, by field and item names (never values)."""
    if after is None:
        return ["record removed"]
    if before is None:
        return ["record created"]
    old, new = items_of(before), items_of(after)
    out = [f"+{k}" for k in new if k not in old]
    out += [f"-{k}" for k in old if k not in new]
    out += [f"~{k}" for k in old if k in new and old[k] != new[k]]
    skip = {"attempts", "events"}
    keys = [k for k in [*before, *after] if k not in skip]
    out += sorted({k for k in keys if before.get(k) != after.get(k)})
    return out


def _item_entries(current: dict[str, Any], added_in: dict[str, str]) -> list[Entry]:
    out: list[Entry] = []
    for a in current.get("attempts") or []:
        out.append(
            Entry(
                "attempt",
                datetime.fromisoformat(str(a["at"])),
                str(a["by"]),
                f"{a['method']} {a['result']}" + (" (forced)" if a.get("forced") else ""),
                commit=added_in.get(f"attempt {a['id']}"),
                item=str(a["id"]),
                note=a.get("note"),
            )
        )
    for e in current.get("events") or []:
        sets = e.get("set") or {}
        what = str(e["type"]) + "".join(f" {k}={v}" for k, v in sets.items())
        out.append(
            Entry(
                "event",
                datetime.fromisoformat(str(e["at"])),
                str(e["by"]),
                what,
                commit=added_in.get(f"event {e['id']}"),
                item=str(e["id"]),
                note=e.get("note"),
            )
        )
    return out
