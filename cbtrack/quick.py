"""The queue from the local index alone, when every entry is fresh.

Staff look at the queue all day and scripts read it piped; at 10,000 open callbacks the full
path (validate the policy, load the models, check each record) costs more than the ranking
itself. Here the queue is made from what cbtrack/localindex.py keeps: the row and the queue
line (`queuefmt.Line`) of every open record, and a digest of the policy
(`store.policy_digest`), all written for this exact policy file, cbtrack version and
record model. Nothing here imports pydantic, YAML or the models, and no record's data is
read.

The same rules as the full path hold: every open record file is listed and stat'ed, and its
entry used only when `freshness.fresh` says so (the one rule); the selection and order are
`queuepick.pick`, the lines `queuefmt.queue_lines`. At the first thing that is not exactly
as indexed (a changed, new or unreadable file, a missing digest or line, a policy with
uncommitted edits, an option the digest cannot check, a `CBTRACK_NOW` that is not a plain
ISO time), `queue_screen` returns False and the command takes the full path, which reads
strictly, reports problems as always, and refreshes the index. The output is the full
path's (tests/test_views.py compares them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cbtrack import freshness, localindex
from cbtrack.enums import Urgency
from cbtrack.errors import StoreError
from cbtrack.ids import is_record_name
from cbtrack.indexrow import ROW_FIELDS, Row, kept_line
from cbtrack.storefolder import POLICY_FILE, locate

OPEN_DIR = ("callbacks", "open")
POLICY_STAMP = ".cbtrack/policy-committed"  # as `service.policy_uncommitted` writes it
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DigestPolicy:
    """What the quick paths ask of the policy (`store.policy_digest`): its time zone, the
    urgencies' ranks, the staff's roles and the category names."""

    def __init__(self, digest: dict[str, Any]) -> None:
        self.timezone: str = digest["timezone"]
        self.tz = ZoneInfo(self.timezone)
        self.ranks: dict[str, int] = dict(digest["ranks"])
        self.staff: dict[str, list[str]] = dict(digest["staff"])
        self.categories: set[str] = set(digest["categories"])
        self.owners: set[str] = set(digest["owners"])
        self.any_owner: bool = bool(digest["any_owner"])

    def roles_of(self, user: str) -> list[str]:
        return list(self.staff.get(user, []))


def find_root(explicit: str | None) -> Path | None:
    """The store folder as `Store.find` picks it (`storefolder.locate`), or None (the full
    path explains why)."""
    try:
        root, _named = locate(explicit)
    except StoreError:
        return None
    return None if root is None else root.resolve()


def policy_quiet(root: Path) -> bool:
    """True when the full path would not warn about uncommitted policy edits, known
    without git: no repository, or the policy file as it was last found committed."""
    if not (root / ".git").exists():
        return True
    try:
        info = (root / POLICY_FILE).stat()
        seen = (root / POLICY_STAMP).read_text(encoding="utf-8")
    except OSError:
        return False
    return seen == f"{info.st_mtime_ns} {info.st_size} {info.st_ino}"


def now_in(tz: ZoneInfo) -> datetime | None:
    """`$CBTRACK_NOW` if it is a plain ISO time with an offset, else the clock; None for
    anything else (the full path parses it)."""
    raw = os.environ.get("CBTRACK_NOW", "").strip()
    if not raw:
        return datetime.now(tz).replace(microsecond=0)
    if not _ISO.fullmatch(raw):
        return None
    try:
        moment = datetime.fromisoformat(raw).replace(microsecond=0)
    except ValueError:
        return None
    return moment if moment >= _EPOCH and moment.year <= 2099 else None


def fresh_rows(ix: localindex.LocalIndex, folder: Path) -> list[tuple[Row, tuple[Any, ...]]] | None:
    """(row, queue line) of every record in the open folder, in file name order, when the
    index holds a fresh entry (`freshness.fresh`) with a line for every one of them, and
    no other; None otherwise."""
    try:
        names = sorted(n for n in os.listdir(folder) if is_record_name(n))
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    entries = ix.entries("open")
    if len(entries) != len(names):
        return None
    out: list[tuple[Row, tuple[Any, ...]]] = []
    make = Row._make
    fresh = freshness.fresh
    end = ROW_FIELDS + 2
    try:
        for name, entry in zip(names, entries, strict=True):
            if entry[0] != name or entry[-1] is None:
                return None
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                return None
            if not fresh(entry[1], st):
                return None
            out.append((make(entry[2:end]), entry[-1]))
    finally:
        os.close(dfd)
    return out


def open_index(store_dir: str | None) -> tuple[Path, localindex.LocalIndex, DigestPolicy] | None:
    """The store's folder, its index and the policy's digest, when the index can answer
    for this exact policy file and cbtrack version; None otherwise (the full path)."""
    from cbtrack import __version__

    root = find_root(store_dir)
    if root is None or not policy_quiet(root):
        return None
    try:
        policy_bytes = (root / POLICY_FILE).read_bytes()
    except OSError:
        return None
    ix = localindex.LocalIndex(
        root / ".cbtrack", root / OPEN_DIR[0], localindex.key_of(__version__, policy_bytes)
    )
    try:
        return root, ix, DigestPolicy(json.loads(ix.meta("policy") or ""))
    except (KeyError, TypeError, ValueError, LookupError):
        return None


def queue_screen(
    store_dir: str | None,
    user: str | None,
    owner: str | None,
    mine: bool,
    category: str | None,
    urgency: str | None,
    status: str | None,
    overdue: bool,
    limit: int | None,
    whole: bool,
) -> bool:
    """Print the queue as `cli.reading.queue` does (with `whole`, every callback, else the
    first screen), and return True; or print nothing and return False when the index
    cannot vouch for every record."""
    from cbtrack.queuefmt import Line
    from cbtrack.queuepick import Filter, owners, pick

    if mine:
        if not user or (owner and owner != user):
            return False  # the full path says what is wrong
        owner = user
    opened = open_index(store_dir)
    if opened is None:
        return False
    root, ix, policy = opened
    try:
        if category and category not in policy.categories:
            return False
        if owner and not (policy.any_owner or owner in policy.owners):
            return False  # the full path says what is wrong
        if mine and policy.staff and owner not in policy.staff:
            return False  # a name in another case: the full path reads it as the roster's
        ranks = policy.ranks
        if set(ranks) != {u.value for u in Urgency}:
            return False
        now = now_in(policy.tz)
        if now is None:
            return False
        found = fresh_rows(ix, root.joinpath(*OPEN_DIR))
        if found is None or any(r.urgency not in ranks for r, _ in found):
            return False
        kept = owners(owner, policy.roles_of(owner) if mine and owner else ())
        picked = pick(
            found, Filter(kept, category, urgency, status, overdue), ranks, now.timestamp()
        )
        shown = limit if whole or limit is not None else screen_size()
        head = picked.items if shown is None else picked.items[: max(shown, 0)]
        filtered = bool(owner or mine or category or urgency or status or overdue)
        try:
            lines = [Line(*kept_line(blob)) for blob in head]  # type: ignore[misc]
        except TypeError:  # (damaged, or not a line this version wrote)
            return False
        print_queue(lines, now, len(picked.items), picked.overdue, picked.waiting, filtered,
                    hint_for(whole, limit))  # fmt: skip
        return True
    finally:
        ix.close()  # (one process may run many commands: typer's test runner)


def say(text: str) -> None:
    """One block of output, as `typer.echo` prints it (a line, flushed)."""
    global printed
    printed = True
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


printed = False  # whether `say` wrote anything (then nothing may print it again)


def screen_size() -> int:
    """How many callbacks the first screen of the queue shows."""
    from cbtrack.queuefmt import screenful
    from cbtrack.terminal import term_width

    return screenful(shutil.get_terminal_size((100, 24)).lines, term_width())


def hint_for(whole: bool, limit: int | None) -> str:
    """How to see the callbacks a queue left out."""
    return "raise --limit" if whole or limit is not None else "'cbtrack queue --all' lists them all"


def print_queue(
    lines: list[Any],
    now: datetime,
    total: int,
    late: int,
    waiting: int,
    filtered: bool,
    hint: str,
) -> None:
    """The queue's lines at the terminal's width, then the counts; or why there are none."""
    from cbtrack import queuefmt, render
    from cbtrack.terminal import color_ok, term_width

    if not total:
        say("No open callbacks match." if filtered else "No open callbacks. The queue is clear.")
        return
    width = term_width()
    out = queuefmt.queue_lines(lines, now.timestamp(), color_ok(), width)
    counts = render.queue_counts(total, late, waiting, len(lines), hint)
    say("\n".join([*out, *queuefmt.footer_lines(counts, width)]))


def find_screen(store_dir: str | None, text: str) -> bool:
    """Print what `cbtrack find TEXT` prints, as the full path does (`Store.find_callbacks`),
    and return True, when every record file of the store is fresh in the index; or print
    nothing and return False. The candidates come from the index's keys and each is
    confirmed on its indexed data (`patients.Query`), as the full path confirms them."""
    from cbtrack import render
    from cbtrack.patients import Query, newest_first
    from cbtrack.terminal import term_width
    from cbtrack.views import CallbackView

    query = Query.parse(text)
    opened = open_index(store_dir) if query.text else None
    if opened is None:
        return False
    root, ix, policy = opened
    try:
        callbacks = root / OPEN_DIR[0]
        closed = callbacks / "closed"
        folders = [callbacks / "open"]
        if closed.is_dir():
            folders += [m for m in sorted(closed.iterdir()) if m.is_dir() and not m.is_symlink()]
        listed: dict[str, set[str]] = {}
        for folder in folders:
            try:
                names = [n for n in os.listdir(folder) if is_record_name(n)]
            except OSError:
                return False
            if ix.stale(folder, names):
                return False
            listed[folder.relative_to(callbacks).as_posix()] = set(names)
        hits: dict[str, Any] = {}
        for rel, name in ix.candidates(*query.index_keys):
            data = ix.data(rel, name) if name in listed.get(rel, ()) else None
            try:
                view = CallbackView(data) if data is not None else None
            except (KeyError, TypeError, ValueError):
                view = None
            if view is None or f"{view.id}.yaml" != name:
                return False
            if view.id not in hits and query.matches_record(view):  # type: ignore[arg-type]
                hits[view.id] = view
        found = newest_first(list(hits.values()))
        if not found:
            say("No callback matches.")
            return True
        p: Any = policy  # (the digest answers what the lines ask of a policy)
        lines = render.find_lines(p, found, term_width())
        n_open = sum(1 for cb in found if cb.is_open)
        say("\n".join([*lines, f"{len(found)} found, {n_open} open."]))
        return True
    finally:
        ix.close()  # (one process may run many commands: typer's test runner)
