"""Everything that formats output: the queue's lines, a record at a glance, JSON.

Nothing here decides anything; it only lays out what the domain computed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from cbtrack import clock, timing
from cbtrack.model import AttemptResult, Callback, DependencyKind, Status, Urgency
from cbtrack.policy import Policy

WIDTH = 100

URGENCY_TAG = {
    Urgency.emergency: "EMERG",
    Urgency.clinical: "CLIN",
    Urgency.same_day: "TODAY",
    Urgency.deadline: "DEADL",
    Urgency.time_sensitive: "SOON",
    Urgency.routine: "rout",
}
RESULT_TAG = {
    AttemptResult.reached: "reached",
    AttemptResult.left_voicemail: "vm",
    AttemptResult.no_answer: "no ans",
    AttemptResult.busy: "busy",
    AttemptResult.wrong_number: "wrong#",
    AttemptResult.message_sent: "sent",
}
DEP_TAG = {
    DependencyKind.referral_documents: "referral",
    DependencyKind.insurance_eligibility: "insurance",
    DependencyKind.provider_review: "provider",
    DependencyKind.patient_form: "form",
    DependencyKind.other: "other",
}
CATEGORY_TAG = {
    "scheduling": "sched",
    "rescheduling": "resched",
    "cancellation": "cancel",
    "referral_status": "referral",
    "insurance": "insur",
    "intake_form": "form",
    "records_request": "records",
    "billing": "billing",
    "prescription": "rx",
    "clinical_concern": "clinical",
    "post_visit": "post-visit",
    "missed_call": "missed",
    "general": "general",
}
METHOD_TAG = {"phone": "ph", "text": "txt", "portal": "prt", "email": "eml"}

RED, YELLOW, BOLD, DIM, RESET = "\033[31m", "\033[33m", "\033[1m", "\033[2m", "\033[0m"


# --- text that is safe on a terminal ---------------------------------------------------
#
# Record text is typed by staff, imported, or edited by hand, so it may hold what a
# terminal acts on: C0 controls (ESC starts a sequence that can clear the screen, set the
# window title or write the clipboard; BEL rings), DEL, C1 controls (U+009B is a one-byte
# CSI), the bidirectional controls that reorder what follows (U+202E), the line and
# paragraph separators, and lone surrogates (bytes of an argument that were not UTF-8).
# Every text output shows them as visible escapes (`\x1b`, `\u202e`); JSON keeps them,
# escaped by JSON itself.

UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# One escape as `printable` writes it, or one character: `clip` never cuts inside one.
_TOKEN = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[tnr])|.", re.DOTALL)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, newlines: bool = False) -> str:
    r"""`text` with every control, bidirectional-control and undecodable character shown as
    an escape (`\x1b`, `\u202e`, `\n`). With `newlines`, line breaks stay line breaks
    (for text we lay out over several lines, like a table cell)."""
    if not UNSAFE.search(text):
        return text
    if newlines:
        return "\n".join(UNSAFE.sub(_escape, line) for line in text.split("\n"))
    return UNSAFE.sub(_escape, text)


def clip(text: str, width: int) -> str:
    """Printable text cut to `width` characters with `…`, never inside an escape."""
    if len(text) <= width:
        return text
    if "\\" not in text:
        return text[: width - 1] + "…"
    out, used = [], 0
    for token in _TOKEN.findall(text):
        if used + len(token) > width - 1:
            break
        out.append(token)
        used += len(token)
    return "".join(out) + "…"


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); `=HYPERLINK(...)` in a name would leak the sheet when opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def spreadsheet_safe(text: str) -> str:
    """Text for a CSV cell that no spreadsheet takes for a formula: a cell starting (after
    any spaces) with = + - @, a tab, a carriage return or NUL gets a leading single quote,
    as OWASP recommends. Numbers are written by the caller as numbers, never through this."""
    return "'" + text if text.lstrip(" ")[:1] in FORMULA_STARTS and text else text


def one_line(text: str, width: int | None = None) -> str:
    """A value for a one-line cell: runs of whitespace (newlines too) become one space,
    the rest is made printable, then cut to `width`."""
    flat = printable(" ".join(text.split()))
    return flat if width is None else clip(flat, width)


def _safe_cell(value: Any) -> Any:
    return printable(value, newlines=True) if isinstance(value, str) else value


def _tabulate(rows: list[list[Any]], headers: list[str], tablefmt: str) -> str:
    """tabulate, imported when a table is drawn (the queue and JSON never need it). Every
    text cell is made printable first: the one door through which record text reaches a
    table."""
    from tabulate import tabulate

    safe_rows = [[_safe_cell(c) for c in row] for row in rows]
    return tabulate(safe_rows, headers=[_safe_cell(h) for h in headers], tablefmt=tablefmt)


def to_json(data: Any) -> str:
    """JSON with text as typed (names in any script stay readable); the characters a
    terminal would act on are written as JSON escapes (`\u001b`, `\u202e`), so the value
    is kept exactly and the output is safe to print."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # json.dumps already escapes C0 controls in strings; outside strings it writes only
    # ASCII, so the rest can be escaped wherever it occurs.
    return _JSON_UNSAFE.sub(_json_escape, text) if _JSON_UNSAFE.search(text) else text


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def records_json(records: list[Callback]) -> str:
    return to_json([cb.model_dump(mode="json", exclude_none=True) for cb in records])


def record_json(cb: Callback) -> str:
    return to_json(cb.model_dump(mode="json", exclude_none=True))


def _cut(text: str, width: int) -> str:
    return one_line(text, width)


def _tried(cb: Callback, now: datetime) -> str:
    last = cb.last_attempt
    if last is None:
        return "no attempt"
    when = clock.ago(last.at, now).replace(" ago", "").replace("just now", "now")
    return f"{len(cb.attempts)} {RESULT_TAG[last.result]} {when}"


def _next(cb: Callback) -> str:
    deps = cb.open_dependencies
    if deps:
        return "WAIT " + ",".join(DEP_TAG[d.kind] for d in deps)
    if cb.number_is_wrong:
        return "WRONG NUMBER: fix phone"
    return cb.next_action


def _due(policy: Policy, cb: Callback, now: datetime) -> str:
    """Relative due time; while a dependency holds the clock, when it is expected."""
    deps = cb.open_dependencies
    if deps:
        expected = min(timing.expected_by(policy, d) for d in deps)
        return "dep " + clock.relative(expected, now).replace("overdue", "late")
    return clock.relative(cb.due_at, now)


def _why(policy: Policy, cb: Callback) -> str:
    cat = CATEGORY_TAG.get(cb.category, cb.category[:8])
    if cb.deadline_at is None:
        return f"{cat}: {cb.reason}"
    return f"DL {deadline_text(policy, cb.deadline_at)} {cat}: {cb.reason}"


def deadline_text(policy: Policy, deadline: datetime) -> str:
    return deadline.astimezone(policy.tz).strftime("%m-%d %H:%M")


# id, urgency, due, patient, why, tried, owner, next: widths that sum to 100 with gaps.
COLUMNS = (
    ("ID", 5),
    ("URG", 5),
    ("DUE", 11),
    ("PATIENT", 15),
    ("WHY", 20),
    ("TRIED", 13),
    ("OWNER", 10),
    ("NEXT", 14),
)


def queue_lines(
    policy: Policy, records: list[Callback], now: datetime, color: bool, width: int = WIDTH
) -> list[str]:
    """One line per callback, at most `width` (>= 100) columns: who, why, how urgent, when
    due, what was tried, who owns it, what comes next. Extra width goes to WHY and NEXT."""
    extra = max(width, WIDTH) - WIDTH
    widths = dict(COLUMNS)
    widths["WHY"] += extra // 2
    widths["NEXT"] += extra - extra // 2
    columns = [(name, widths[name]) for name, _ in COLUMNS]
    rows: list[list[str]] = []
    for cb in records:
        rows.append(
            [
                cb.id[-5:],
                URGENCY_TAG[cb.urgency],
                _due(policy, cb, now),
                f"{_cut(cb.patient.name, widths['PATIENT'] - 4)} "
                f"{METHOD_TAG[cb.patient.preferred_method.value]}",
                _why(policy, cb),
                _tried(cb, now),
                cb.owner,
                _next(cb),
            ]
        )
    lines = [" ".join(name.ljust(w) for name, w in columns).rstrip()]
    for cb, row in zip(records, rows, strict=True):
        cells = []
        for (name, w), value in zip(columns, row, strict=True):
            cell = _cut(value, w).ljust(w)
            if color:
                cell = _paint(name, cell, cb, now)
            cells.append(cell)
        lines.append(" ".join(cells).rstrip())
    return lines


def _paint(column: str, cell: str, cb: Callback, now: datetime) -> str:
    if column == "URG" and cb.urgency in (Urgency.emergency, Urgency.clinical):
        return f"{BOLD}{RED}{cell}{RESET}"
    if column == "URG" and cb.urgency == Urgency.same_day:
        return f"{YELLOW}{cell}{RESET}"
    if column == "DUE" and cb.due_at < now and not cb.open_dependencies:
        return f"{RED}{cell}{RESET}"
    if column == "NEXT" and cb.open_dependencies:
        return f"{DIM}{cell}{RESET}"
    return cell


def queue_summary(records: list[Callback], now: datetime, policy: Policy | None = None) -> str:
    if policy is None:
        overdue = sum(1 for cb in records if cb.due_at < now)
    else:
        overdue = sum(1 for cb in records if timing.overdue(policy, cb, now))
    waiting = sum(1 for cb in records if cb.status == Status.waiting_internal)
    return f"{len(records)} open, {overdue} overdue, {waiting} waiting on internal work"


def show_text(policy: Policy, cb: Callback, now: datetime) -> str:
    """The whole record, at a glance first, then the histories."""
    tz = policy.tz
    p = cb.patient

    def t(dt: datetime | None) -> str:
        return dt.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") if dt else "-"

    cat = policy.categories.get(cb.category)
    head = [
        f"{cb.id}  {cb.urgency.value.upper()}  {cb.status.value}",
        f"Patient:   {p.name}  {p.phone}  prefers {p.preferred_method.value}"
        + (f", window {p.contact_window}" if p.contact_window else "")
        + f", voicemail {p.voicemail.value}"
        + (f", MRN {p.mrn}" if p.mrn else "")
        + (f", DOB {p.dob}" if p.dob else "")
        + (f", language {p.language}" if p.language else ""),
        f"Why:       {cat.label if cat else cb.category}: {cb.reason}",
        f"Owner:     {cb.owner}",
        f"Due:       {t(cb.due_at)} ({clock.relative(cb.due_at, now)})"
        + (f", deadline {t(cb.deadline_at)}" if cb.deadline_at else ""),
        f"Next:      {cb.next_action}"
        + (f" (next attempt {t(cb.next_attempt_at)})" if cb.next_attempt_at else ""),
        f"Created:   {t(cb.created_at)} by {cb.created_by} via {cb.source.value}",
    ]
    if cb.number_is_wrong:
        head.append("Phone:     WRONG NUMBER (last attempt); correct it with 'cbtrack edit'")
    if cb.related_to:
        head.append(f"Related:   {cb.related_to}")
    if cb.details:
        head.append("Details:   " + "; ".join(f"{k}: {v}" for k, v in cb.details.items()))
    if cb.depends_on:
        head.append("Waiting on:")
        for d in cb.depends_on:
            expected = timing.expected_by(policy, d)
            late = " LATE" if expected <= now else ""
            state = (
                f"resolved {t(d.resolved_at)}"
                if d.resolved_at
                else f"OPEN, expected by {t(expected)}{late}"
            )
            head.append(f"  - {d.kind.value} since {t(d.since)} [{state}]: {d.note}")
    if cb.closure:
        c = cb.closure
        head.append(
            f"Closed:    {t(c.at)} by {c.by}: {c.reason.value}"
            + (f" to {c.to}" if c.to else "")
            + (f" of {c.duplicate_of}" if c.duplicate_of else "")
            + f". {c.summary}"
        )
    out = "\n".join(printable(line) for line in head)
    if cb.attempts:
        rows = [
            [
                t(a.at),
                a.by,
                a.method.value,
                a.result.value,
                "yes" if a.message_left else "no",
                a.note
                + (f" | patient: {a.patient_response}" if a.patient_response else "")
                + (f" | next: {a.next_action}" if a.next_action else "")
                + (f" | script: {a.script}" if a.script else "")
                + (f" | FORCED: {a.forced}" if a.forced else ""),
            ]
            for a in sorted(cb.attempts, key=lambda a: a.at)
        ]
        out += f"\n\nAttempts ({len(cb.attempts)}):\n" + _tabulate(
            rows, headers=["when", "by", "method", "result", "msg", "note"], tablefmt="simple"
        )
    else:
        out += "\n\nAttempts: none yet"
    out += "\n\nEvents:\n" + events_table(policy, cb)
    return out


def events_table(policy: Policy, cb: Callback) -> str:
    rows = []
    for e in sorted(cb.events, key=lambda e: e.at):
        change = ", ".join(
            f"{k}: {(e.was or {}).get(k, '') or '-'} -> {v}" if e.was and k in e.was else f"{k}={v}"
            for k, v in (e.set or {}).items()
        )
        rows.append(
            [
                e.at.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M"),
                e.by,
                e.type.value,
                change,
                e.note or "",
            ]
        )
    return _tabulate(rows, headers=["when", "by", "event", "change", "note"], tablefmt="simple")


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return _tabulate(rows, headers=headers, tablefmt="simple")


STATE_TAG = {
    Status.new: "new",
    Status.in_progress: "in progress",
    Status.waiting_patient: "wait pt",
    Status.waiting_internal: "wait intern",
    Status.escalated: "escalated",
    Status.closed: "closed",
}


def find_lines(policy: Policy, records: list[Callback], width: int = WIDTH) -> list[str]:
    """One line per callback found (the ID says the day it was created): ID, state, patient,
    phone, why, and where it went (its owner, or how it closed)."""
    lines = []
    for cb in records:
        where = cb.owner
        if cb.closure:
            c = cb.closure
            where = {
                "duplicate": f"dup of {(c.duplicate_of or '')[-5:]}",
                "attempts_exhausted": "exhausted",
                "routed": f"routed {c.to or ''}",
            }.get(c.reason.value, c.reason.value)
        where = _cut(where, 16)
        head = f"{cb.id} {STATE_TAG[cb.status]:<11} "
        who = f"{_cut(cb.patient.name, 16)} {_cut(cb.patient.phone, 15)}  "
        cat = CATEGORY_TAG.get(cb.category, cb.category[:8])
        room = max(max(width, WIDTH) - len(head) - len(who) - len(where) - 3, 12)
        lines.append(f"{head}{who}{_cut(f'{cat}: {cb.reason}', room).ljust(room)} | {where}")
    return lines
