"""Reading history: `verify` (every commit judged by the rule book in `cbtrack.history`),
the pre-commit hook's check, and a record's history for `cbtrack log`.

Where the local trust anchors live (refs are local: git does not push or clone them):

- `refs/cbtrack/verified`: the last HEAD that `verify` found clean. `verify` walks only
  the commits after it, and reports a HEAD that does not descend from it. As a ref it
  also keeps the old history reachable, so a rewrite can be shown in full.
- `refs/cbtrack/synced/<remote>/<branch>`: the remote head this desk last pushed or
  merged (set by `sync`), checked here for a remote rewritten since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cbtrack import gitlog, gitread, history, mergecheck, progress, treeread, versions, workers
from cbtrack.errors import CbtrackError, GitError, Refused, StoreError
from cbtrack.progress import Progress, Report, step as progress_step
from cbtrack.store import POLICY_FILE, Store

CHUNK = 400  # parent/commit pairs read per round of git calls
PATHS_PER_UNIT = 1000  # a big commit's changed files are judged this many at a time
BLOBS_PER_READ = 6000  # file versions read per `git cat-file` round
PARALLEL_FILES = 4000  # from this many files to judge on, worker processes share the work


# --- verify --------------------------------------------------------------------------


@dataclass
class Finding:
    kind: str  # a history.Breach kind, or rewritten | remote_rewritten
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


def verify(
    store: Store, full: bool = False, accept: bool = False, now: datetime | None = None
) -> VerifyReport:
    """Judge every commit since the last clean verify by the rule book; report rewrites.
    `now`: the checker's clock (no commit may be dated far ahead of it, `AHEAD`)."""
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    head = gitlog.rev(root, "HEAD")
    if head is None:
        return VerifyReport(None, None, 0, [], False)
    findings: list[Finding] = []
    verified = gitlog.rev(root, gitlog.VERIFIED_REF)
    since = None
    rd = versions.Reader()
    if verified and not gitlog.is_ancestor(root, verified, head):
        findings.append(
            Finding(
                "rewritten",
                "HEAD does not descend from the last verified commit "
                f"{gitlog.short(verified)}: this desk's history was rewritten",
                commit=head,
            )
        )
        findings += judge_steps(root, rd, [([verified], head)], {}, "the rewrite")
        since = gitlog.merge_base(root, verified, head)
    elif verified:
        since = verified
    with progress.step("Reading the history", store.on_progress):
        walked = gitread.commits(root, head, since=None if full else since)
    findings += judge_commits(root, rd, walked, report=store.on_progress, now=now)
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
            findings += judge_steps(root, rd, [([sha], now_at)], {}, f"the rewrite of {where}")
    recorded = not findings or accept
    if recorded:
        try:
            gitlog.set_ref(root, gitlog.VERIFIED_REF, head, "cbtrack verify")
            for name, sha in synced_moved.items():
                gitlog.set_ref(root, name, sha, "cbtrack verify --accept")
        except GitError:
            raise StoreError(
                f"History checked ({len(walked)} commit(s), {len(findings)} finding(s)), but "
                f"the store at {root} is read-only, so the result could not be recorded; "
                "run 'cbtrack verify' where the store can be written."
            ) from None
    return VerifyReport(head, None if full else since, len(walked), _dedupe(findings), recorded)


def unverified_findings(
    store: Store, head: str, exclude: Sequence[str], now: datetime | None = None
) -> list[Finding]:
    """The findings in commits reachable from `head` but from none of `exclude` (what
    sync would push: not on the remote, not verified or accepted by the lead)."""
    walked = gitread.commits(store.root, head, exclude=[e for e in exclude if e])
    return judge_new(store, walked, now)


def judge_new(
    store: Store, walked: list[gitread.CommitInfo], now: datetime | None = None
) -> list[Finding]:
    """The findings in the commits of `walked` that this desk has not judged before; those
    found clean are remembered (`gitlog.remember_judged`) and not judged again."""
    done = gitlog.judged(store.root)
    todo = [c for c in walked if c.sha not in done]
    rd = versions.Reader()
    found = _dedupe(judge_commits(store.root, rd, todo, report=store.on_progress, now=now))
    bad = {f.commit for f in found}
    gitlog.remember_judged(store.root, [c.sha for c in todo if c.sha not in bad])
    return found


def judge_commits(
    root: Path,
    rd: versions.Reader,
    walked: list[gitread.CommitInfo],
    first: str | None = "HEAD",
    report: Report | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Every commit of `walked` judged; a root commit other than the first commit of
    `first`'s history (None: not checked) is a breach. `report` is told the progress;
    `now` is the checker's clock: a commit dated more than `AHEAD` after it is a finding
    (its entries may be dated no later than it, `history` rule 8, so none can hold a
    record for long). The clock is never earlier than the machine's: one set back
    (`CBTRACK_NOW` for a test or a replay) must not make honest work look dated ahead."""
    if not walked:
        return []
    if now is not None:
        now = max(now, datetime.now(now.tzinfo))
        out_ahead = [_ahead(c, now) for c in walked if c.when > now + AHEAD]
    else:
        out_ahead = []
    info = {c.sha: c for c in walked}
    out: list[Finding] = []
    first = gitlog.first_root(root, first) if first else None
    steps: list[tuple[list[str], str]] = []
    size = 0
    progress = Progress("Checking history (files)", 0, report)
    with progress_step(f"Checking {len(walked):,} commit(s) of history", report):
        for c in walked:
            if not c.parents and first is not None and c.sha != first:
                out.append(
                    Finding(
                        "root",
                        f"{_who(c.sha, c)}: a second first commit (a history that does not reach "
                        "this store's first commit); only the store's own history may be merged",
                        c.sha,
                    )
                )
                continue
            steps.append((c.parents, c.sha))
            size += max(1, len(c.parents))
            if size >= CHUNK:
                out += judge_steps(root, rd, steps, info, None, progress)
                steps, size = [], 0
        out += judge_steps(root, rd, steps, info, None, progress)
    progress.done()
    return out_ahead + out


#: How far ahead of the checker's clock a commit may be dated: desks whose clocks are a
#: few minutes fast must not stop everyone's sync (entries are held to their commit's
#: date within the policy's clock_skew); a date beyond this would hold a record's entries
#: for hours, so it is someone's clock to set right.
AHEAD = timedelta(hours=1)


def _ahead(c: gitread.CommitInfo, now: datetime) -> Finding:
    return Finding(
        "clock",
        f"{_who(c.sha, c)}: the commit is dated more than an hour ahead of this desk's clock "
        f"({now:%Y-%m-%d %H:%M}); set the clock of the desk that made it right (or this "
        "one's, if it is this desk that is behind)",
        c.sha,
    )


#: (parents, commit, merge base or None, changed paths) of one unit of judging
Unit = tuple[list[str], str, str | None, list[str]]


def judge_steps(
    root: Path,
    rd: versions.Reader,
    steps: list[tuple[list[str], str]],
    info: dict[str, gitread.CommitInfo],
    label: str | None,
    progress: Progress | None = None,
) -> list[Finding]:
    """Judge each (parents, commit) step by the rule book, a few git calls in all. The
    files are read at most `BLOBS_PER_READ` at a time, so that a commit of 50,000 records
    (an import, a migration) is judged in bounded memory, and by blob ID (`treeread`);
    when that many files are to be judged, worker processes share the parsing."""
    if not steps:
        return []
    trees = treeread.Trees(root)
    pairs = [(p, c) for parents, c in steps for p in parents]
    diffs = iter(gitread.tree_changes(root, pairs, under=None))
    units: list[Unit] = []
    out: list[Finding] = []
    for parents, c in steps:
        seen: dict[str, None] = {}
        base = gitlog.merge_base(root, parents[0], parents[1]) if len(parents) == 2 else None
        if parents:
            for i, _ in enumerate(parents):
                changes = next(diffs)
                seen.update((ch.path, None) for ch in changes)
                if i == 0:
                    entries = [(ch.path, ch.mode) for ch in changes if ch.new is not None]
                    out += _findings(history.tree_breaches(entries), c, info, label)
        else:  # a first commit: everything in it is new
            seen.update((p, None) for p in trees.files(c, history.RECORDS))
        # a record's two places stay together (a move is judged as one change)
        judged = [p for p in seen if history.judged(p)]
        paths = sorted(judged, key=lambda p: (history.callback_of(p) or "", p))
        if len(parents) == 2 and base is None:
            units.append((parents, c, None, paths))
            continue
        for i in range(0, max(len(paths), 1), PATHS_PER_UNIT):
            units.append((parents, c, base, paths[i : i + PATHS_PER_UNIT]))
    if label is None:
        out += _signatures(root, rd, steps, info)
    batches = _batches(units)
    files = sum(len(u[3]) for u in units)
    if progress is not None:
        progress.total += files
    n = workers.count(files, PARALLEL_FILES)
    if n >= 2:
        found = _in_workers(root, batches, info, label, n, progress)
        if found is not None:
            return out + found
    for batch in batches:
        out += _judge_units(root, rd, batch, info, label, trees)
        if progress is not None:
            progress.step(sum(len(u[3]) for u in batch))
    return out


def _batches(units: list[Unit]) -> list[list[Unit]]:
    """The units in groups that read at most about `BLOBS_PER_READ` blobs each."""
    batches: list[list[Unit]] = [[]]
    size = 0
    for unit in units:
        batches[-1].append(unit)
        size += len(unit[3]) * (len(unit[0]) + 2)
        if size >= BLOBS_PER_READ:
            batches.append([])
            size = 0
    return batches


def _in_workers(
    root: Path,
    batches: list[list[Unit]],
    info: dict[str, gitread.CommitInfo],
    label: str | None,
    n: int,
    progress: Progress | None,
) -> list[Finding] | None:
    """The batches judged by `n` worker processes, in order; None when they cannot be
    started here (the caller judges them itself)."""
    jobs = [(str(root), b, {u[1]: info[u[1]] for u in b if u[1] in info}, label) for b in batches]
    counted = progress.count if progress is not None else 0

    def each(i: int, _found: list[Finding]) -> None:
        if progress is not None:
            progress.step(sum(len(u[3]) for u in batches[i]))

    found = workers.run(_judge_batch, jobs, n, each)
    if found is None:
        if progress is not None:
            progress.count = counted
        return None
    return [f for batch in found for f in batch]


_TREES: dict[str, treeread.Trees] = {}  # in a worker: the listings it read, per store


Job = tuple[str, list[Unit], dict[str, gitread.CommitInfo], str | None]


def _judge_batch(job: Job) -> list[Finding]:
    """One batch of units, judged in a worker process."""
    root, units, info, label = job
    trees = _TREES.setdefault(root, treeread.Trees(Path(root)))
    return _judge_units(Path(root), versions.Reader(), units, info, label, trees)


def _carried_keys(
    root: Path,
    rd: versions.Reader,
    parents: list[str],
    merge: gitread.CommitInfo,
    blobs: dict[str, bytes | None],
) -> list[tuple[str, str, dict[str, str]]]:
    """What a merge carries in from one side (and the merge itself), to be judged by the
    other side's key list where that side revoked or replaced the author's key since the
    merge base: a key taken away stays away for work on an older branch; one added on the
    carrying side, or revoked there after the work, changes nothing."""
    sides = [rd.rules(blobs.get(f"{p}:{POLICY_FILE}")) for p in parents]
    if len(parents) != 2 or not any(r.signing for r in sides):
        return []  # (no git process for a merge in a store that does not sign)
    base = gitlog.merge_base(root, parents[0], parents[1])
    if base is None:
        return []
    spec = f"{base}:{POLICY_FILE}"
    was = rd.rules(blobs.get(spec) or gitread.read_blobs(root, [spec]).get(spec)).keys
    out = []
    for i, (other, theirs) in enumerate(zip(parents, sides, strict=True)):
        if not theirs.signing:
            continue
        for x in [*gitread.commits(root, parents[1 - i], since=other), merge]:
            if x.author in was and theirs.keys.get(x.author) != was[x.author]:
                out.append((x.sha, x.author, theirs.keys))
    return out


def _signatures(
    root: Path,
    rd: versions.Reader,
    steps: list[tuple[list[str], str]],
    info: dict[str, gitread.CommitInfo],
) -> list[Finding]:
    """Who did it: each commit made under a policy (a parent's; for a merge, either
    parent's) that requires signing is signed, by a key that policy lists, and that key is
    its author's; and a merge carries in no work signed with a key the other side has
    revoked (`_carried_keys`). (A merge of a side from before signing was turned on is
    still a commit on the signing side: it cannot bring back an unsigned history.)"""
    specs = [f"{p}:{POLICY_FILE}" for parents, _ in steps for p in parents]
    blobs = gitread.read_blobs(root, specs)
    todo = []
    carried: dict[str, str] = {}  # commit judged by the other side's keys -> the merge
    for parents, c in steps:
        commit = info.get(c)
        if not parents or commit is None:
            continue
        sides = [rd.rules(blobs.get(f"{p}:{POLICY_FILE}")) for p in parents]
        rules = next((r for r in sides if r.signing), None)
        if rules is not None:
            todo.append((c, commit.author, rules.keys))
        for job in _carried_keys(root, rd, parents, commit, blobs):
            todo.append(job)
            carried.setdefault(job[0], c)
    if not todo:
        return []
    from cbtrack import identity

    out: dict[str, Finding] = {}  # one finding per commit
    for p in identity.check_commits(root, todo):
        why = p.why
        if p.commit in carried:
            why = (
                f"merged in by {carried[p.commit][:10]}, it is signed with a key the other "
                "side revoked since the two branches parted"
            )
        who = _who(p.commit, info.get(p.commit))
        out.setdefault(p.commit, Finding("signature", f"{who}: {why}", p.commit))
    return list(out.values())


def _judge_units(
    root: Path,
    rd: versions.Reader,
    units: list[Unit],
    info: dict[str, gitread.CommitInfo],
    label: str | None,
    trees: treeread.Trees,
) -> list[Finding]:
    specs: list[str] = []
    needs: list[list[str]] = []
    for parents, c, base, paths in units:
        need = history.wanted(paths)
        needs.append(need)
        specs += [f"{x}:{p}" for x in [*parents, c, *([base] if base else [])] for p in need]
    blobs = trees.read(specs)
    out: list[Finding] = []
    for (parents, c, base, paths), need in zip(units, needs, strict=True):
        merge = len(parents) == 2
        if not paths and not (merge and base is None):
            continue
        befores = [{p: blobs.get(f"{x}:{p}") for p in need} for x in parents]
        after = {p: blobs.get(f"{c}:{p}") for p in need}
        commit = info.get(c)
        author = commit.author if commit is not None and label is None else None
        when = None if commit is None else commit.when
        if merge:
            based = {p: blobs.get(f"{base}:{p}") for p in need} if base else None
            breaches = mergecheck.check_merge(paths, based, befores, after, rd, author, when)
        else:
            breaches = history.check(paths, befores, after, rd, author, when)
        out += _findings(breaches, c, info, label)
    return out


def _findings(
    breaches: list[history.Breach],
    c: str,
    info: dict[str, gitread.CommitInfo],
    label: str | None,
) -> list[Finding]:
    who = label or _who(c, info.get(c))
    out = []
    for b in breaches:
        if b.item and b.kind in ("changed", "removed"):
            message = f"{who} {b.kind} {b.item} of {b.callback}"
        else:
            message = f"{who}: {b.sentence}"
        out.append(Finding(b.kind, message, c, b.callback, b.item))
    return out


def _who(sha: str, c: gitread.CommitInfo | None) -> str:
    who = f"commit {gitlog.short(sha)}"
    if c:
        who += f" by {c.author} on {c.at[:16].replace('T', ' ')}"
    return who


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Each finding once (a step can be judged twice), but every field a commit changed
    by hand is its own finding."""
    seen: set[tuple[str, str | None, str | None, str | None, str]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.commit, f.callback, f.item, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# --- the pre-commit check ------------------------------------------------------------


def check_staged(store: Store) -> list[str]:
    """What the pre-commit hook refuses: the staged changes judged by the rule book
    against HEAD (and the other side of a merge), one sentence each."""
    _changed, breaches = gitlog.check_index(store.root)
    return [b.sentence for b in breaches]


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


def record_history(store: Store, text: str) -> tuple[str, list[Entry]]:
    """A record's history: each commit that touched it (across the open -> closed move),
    with what it added or changed, merged with the record's attempts and events."""
    root = store.root
    gitlog.require_repo(root, merging_ok=True)
    cid = store.resolve_id(text)
    rels = list(history.record_paths(cid))
    found = _touching(root, rels)
    specs = [f"{c}:{r}" for x in found for c in [x.sha, *x.parents[:1]] for r in rels]
    blobs = gitread.read_blobs(root, specs)
    entries: list[Entry] = []
    added_in: dict[str, str] = {}
    latest: dict[str, Any] | None = None
    rd = versions.Reader()
    for x in found:
        after = _version(rd, blobs, x.sha, rels)
        before = _version(rd, blobs, x.parents[0], rels) if x.parents else None
        changes = _describe(before, after)
        for key in versions.items_of(after or {}):
            if key not in versions.items_of(before or {}):
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


def _touching(root: Path, rels: list[str]) -> list[gitread.CommitInfo]:
    """Commits that changed either path, oldest first. One `git log` per path: a single
    path lets git use the commit-graph's changed-path filters (which sync keeps written)."""
    if gitlog.rev(root, "HEAD") is None:
        return []
    seen: dict[str, gitread.CommitInfo] = {}
    for rel in rels:
        for c in gitread.commits(root, "HEAD", paths=[rel]):
            seen.setdefault(c.sha, c)
    order = {sha: i for i, sha in enumerate(seen)}
    return sorted(seen.values(), key=lambda c: (datetime.fromisoformat(c.at), order[c.sha]))


def _version(
    rd: versions.Reader,
    blobs: dict[str, bytes | None],
    commit: str,
    rels: list[str],
) -> dict[str, Any] | None:
    found = []
    for r in rels:
        data = blobs.get(f"{commit}:{r}")
        if data is not None and (loose := rd.version(r, data).loose) is not None:
            found.append(loose)
    return max(found, key=lambda v: len(versions.items_of(v))) if found else None


def _describe(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """What one commit did to the record, by field and item names (never values)."""
    if after is None:
        return ["record removed"]
    if before is None:
        return ["record created"]
    old, new = versions.items_of(before), versions.items_of(after)
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
