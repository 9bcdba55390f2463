"""Everything that formats output: the queue's lines, a record at a glance, JSON.

Nothing here decides anything; it only lays out what the domain computed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cbtrack import clock
from cbtrack.enums import AttemptResult, DependencyKind, Status, Urgency
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import timing
    from cbtrack.model import Callback
    from cbtrack.policy import Policy
else:  # the queue on a terminal lays out its screen without the models (cbtrack/quick.py)
    timing = lazy_module("cbtrack.timing")

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
    AttemptResult.no_answer: "no answer",
    AttemptResult.busy: "busy",
    AttemptResult.wrong_number: "wrong no.",
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


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def spreadsheet_safe(text: str) -> str:
    """Text for a CSV cell that no spreadsheet takes for a formula: a cell starting (after
    any spaces) with = + - @, a tab, a carriage return or NUL gets a leading single quote,
    as OWASP recommends. Numbers are written by the caller as numbers, never through this.
    A phone number in E.164 (`+` and digits only) stays as it is, for the programs that
    read an export: digits alone cannot run anything."""
    if _E164.fullmatch(text):
        return text
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


# --- display width ---------------------------------------------------------------------
#
# A terminal gives a wide character (Chinese, Japanese, Korean, most emoji) two columns and
# a combining mark none, so widths are counted per character, never by `len`.


def char_width(ch: str) -> int:
    width = _CHAR_WIDTHS.get(ch)
    if width is None:
        import unicodedata

        if unicodedata.combining(ch) or ch in "\u200b\u200d\ufe0f":
            width = 0
        else:
            width = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        _CHAR_WIDTHS[ch] = width
    return width


_CHAR_WIDTHS: dict[str, int] = {}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    others = _NON_ASCII.findall(text)  # ASCII characters are one column each
    return len(text) - len(others) + sum(char_width(ch) for ch in others)


def fit(text: str, width: int) -> str:
    """One printable line of at most `width` columns: whitespace runs become one space,
    controls are escaped (`printable`), and text that is too long is cut with `…`, never
    inside an escape."""
    text = printable(" ".join(text.split()))
    if text.isascii() and "\\" not in text:  # (the common case: one column a character)
        return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for token in _TOKEN.findall(text) if "\\" in text else text:
        w = display_width(token)
        if used + w > width - 1:
            break
        out.append(token)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """`text` in lines of at most `width` columns, words kept whole where they fit; the first
    line starts with `first`, the others with `rest` (default: as many spaces). Controls in
    `text` are escaped (`printable`)."""
    text = printable(text)
    indent = " " * display_width(first) if rest is None else rest
    lines: list[str] = []
    line, used = first, display_width(first)
    room = max(8, width - display_width(indent))
    fresh = True
    for word in text.split():
        w = display_width(word)
        if not fresh and used + 1 + w <= width:
            line, used = f"{line} {word}", used + 1 + w
            continue
        if not fresh:
            lines.append(line)
            line, used = indent, display_width(indent)
        while used + w > width and w > room // 2:  # a word longer than a line: break it
            head = fit(word, width - used + 1)[:-1] or word[:1]
            lines.append(line + head)
            word = word[len(head) :]
            w = display_width(word)
            line, used = indent, display_width(indent)
        line, used = line + word, used + w
        fresh = False
    lines.append(line)
    return [ln.rstrip() for ln in lines]


# --- times as people say them ----------------------------------------------------------


def say_time(moment: datetime, now: datetime, tz: Any) -> str:
    """`today 09:30`, `yesterday 16:00`, `tomorrow 08:00`, `Tue 09:30` within a week,
    `Tue 24 Nov 09:30` further off, `24 Nov 2025 09:30` in another year."""
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    days = (local.date() - today).days
    clock_time = f"{local:%H:%M}"
    if days == 0:
        return f"today {clock_time}"
    if days == -1:
        return f"yesterday {clock_time}"
    if days == 1:
        return f"tomorrow {clock_time}"
    if -6 <= days <= 6:
        return f"{local:%a} {clock_time}"
    if local.year == today.year:
        return f"{local:%a} {local.day} {local:%b} {clock_time}"
    return f"{local.day} {local:%b %Y} {clock_time}"


def words(key: str) -> str:
    """A key as words: `left_voicemail` -> `left voicemail`."""
    return key.replace("_", " ")


def owner_label(policy: Policy, owner: str) -> str:
    """A staff user as their user name (what --owner takes); a role in words."""
    return owner if owner in policy.staff else words(owner)


# --- the queue -------------------------------------------------------------------------


def _cut(text: str, width: int) -> str:
    return fit(text, width)


def _tried(cb: Callback, now: datetime) -> str:
    last = cb.last_attempt
    if last is None:
        return "none yet"
    when = clock.ago(last.at, now).replace(" ago", "").replace("just now", "now")
    return f"{len(cb.attempts)} {RESULT_TAG[last.result]} {when}"


def _next(cb: Callback) -> str:
    deps = cb.open_dependencies
    if deps:
        return "WAIT " + ",".join(DEP_TAG[d.kind] for d in deps)
    if cb.number_is_wrong:
        return "WRONG NUMBER: fix phone"
    return cb.next_action


def expected_of(policy: Policy, cb: Callback) -> datetime | None:
    """When the callback's first open dependency is expected (`timing.first_expected`); a
    read-only view brings it from the index's row, so the queue on a terminal needs no
    models (cbtrack/quick.py)."""
    if not cb.open_dependencies:
        return None
    known: datetime | None = getattr(cb, "expected_at", None)
    return known or timing.first_expected(policy, cb)


def late(policy: Policy, cb: Callback, now: datetime) -> bool:
    """`timing.overdue` for a record or a read-only view: the one rule, `clock.past_due`."""
    return cb.is_open and clock.past_due(cb.due_at, expected_of(policy, cb), now)


def _due(policy: Policy, cb: Callback, now: datetime) -> str:
    """Relative due time; while a dependency holds the clock, when it is expected."""
    expected = expected_of(policy, cb)
    if expected is not None:
        return "dep " + clock.relative(expected, now).replace("overdue", "late")
    return clock.relative(cb.due_at, now)


def _why(policy: Policy, cb: Callback) -> str:
    cat = CATEGORY_TAG.get(cb.category, words(cb.category))
    reason = " ".join(cb.reason.split())
    if cb.deadline_at is None:
        return f"{cat}: {reason}"
    return f"DL {deadline_text(policy, cb.deadline_at)} {cat}: {reason}"


def deadline_text(policy: Policy, deadline: datetime) -> str:
    return deadline.astimezone(policy.tz).strftime("%m-%d %H:%M")


MIN_WIDTH = 80


def queue_counts(
    total: int, overdue: int, waiting: int, shown: int | None = None, hint: str = "raise --limit"
) -> str:
    """`20 open, 3 overdue, ...`; says how many were left out when only `shown` were
    printed, and how to see them (`hint`)."""
    left_out = total - shown if shown is not None else 0
    more = f" ({left_out} not shown: {hint})" if left_out > 0 else ""
    return f"{total} open{more}, {overdue} overdue, {waiting} waiting on internal work"


# --- one record ------------------------------------------------------------------------


def show_text(policy: Policy, cb: Callback, now: datetime, width: int = WIDTH) -> str:
    """The whole record at `width` columns: at a glance first, then the attempts and the
    events, oldest first. Long text is wrapped, never cut."""
    width = max(width, MIN_WIDTH)
    tz = policy.tz

    def t(dt: datetime) -> str:
        return say_time(dt, now, tz)

    level = policy.urgencies.get(cb.urgency)
    urgency = level.label if level and level.label else words(cb.urgency.value)
    status = STATUS_WORDS.get(cb.status.value, words(cb.status.value))
    out = wrap(f"{cb.id}  {cb.urgency.value.upper()} ({urgency}), {status}", width)
    for label, value in _show_fields(policy, cb, now, t):
        out += wrap(value, width, first=f"{label + ':':<12}")
    stamps = [a.at for a in cb.attempts] + [e.at for e in cb.events]
    when_w = max([4, *(display_width(t(at)) for at in stamps)])
    out += ["", *_attempt_lines(cb, t, width, when_w)]
    out += ["", f"Events ({len(cb.events)}):", *events_lines(policy, cb, now, width, when_w)]
    return "\n".join(out)


def _reach(cb: Callback) -> str:
    """Who the patient is and how to reach them, as `show` prints it."""
    p = cb.patient
    phone = f"{p.phone} ext. {p.extension}" if p.extension else p.phone
    reach = [phone, f"prefers {p.preferred_method.value}"]
    if p.contact_window:
        reach.append(f"window {p.contact_window}")
    reach.append(f"voicemail {p.voicemail.value}")
    labelled = (("email", p.email), ("MRN", p.mrn), ("DOB", p.dob), ("language", p.language))
    reach += [f"{label} {value}" for label, value in labelled if value]
    return f"{p.name}; " + ", ".join(reach)


def _show_fields(
    policy: Policy, cb: Callback, now: datetime, t: Callable[[datetime], str]
) -> list[tuple[str, str]]:
    """The record at a glance, as (label, text): who and how to reach them, why, owner,
    due, next, and what it waits on or how it closed."""
    cat = policy.categories.get(cb.category)
    fields: list[tuple[str, str]] = [
        ("Patient", _reach(cb)),
        ("Why", f"{cat.label if cat else words(cb.category)}: {cb.reason}"),
    ]
    if cb.details:
        fields.append(("Details", "; ".join(f"{words(k)}: {v}" for k, v in cb.details.items())))
    role = policy.roles.get(cb.owner)
    staff = policy.staff.get(cb.owner)
    owner = (
        f"{staff.name} ({cb.owner})"
        if staff and staff.name
        else (f"{role}, role {cb.owner}" if role else cb.owner)
    )
    fields += [
        ("Owner", owner),
        (
            "Due",
            f"{t(cb.due_at)} ({clock.relative(cb.due_at, now)})"
            + (f", deadline {t(cb.deadline_at)}" if cb.deadline_at else ""),
        ),
        (
            "Next",
            cb.next_action
            + (f"; next attempt {t(cb.next_attempt_at)}" if cb.next_attempt_at else ""),
        ),
        ("Created", f"{t(cb.created_at)} by {cb.created_by}, from {words(cb.source.value)}"),
    ]
    if cb.number_is_wrong:
        fields.append(("Phone", "WRONG NUMBER (last attempt); correct it with 'cbtrack edit'"))
    if cb.related_to:
        fields.append(("Related", cb.related_to))
    for d in cb.depends_on:
        expected = timing.expected_by(policy, d)
        late = ", LATE" if expected <= now else ""
        state = (
            f"resolved {t(d.resolved_at)}"
            if d.resolved_at
            else f"still open, expected by {t(expected)}{late}"
        )
        fields.append(
            ("Waiting on", f"{words(d.kind.value)} since {t(d.since)}, {state}: {d.note}")
        )
    if cb.closure:
        c = cb.closure
        to = f" to {owner_label(policy, c.to)}" if c.to else ""
        to += f" of {c.duplicate_of}" if c.duplicate_of else ""
        fields.append(("Closed", f"{t(c.at)} by {c.by}: {words(c.reason.value)}{to}. {c.summary}"))
    return fields


def _attempt_lines(
    cb: Callback, t: Callable[[datetime], str], width: int, when_w: int
) -> list[str]:
    """Every attempt, oldest first, with what was said and what comes next."""
    if not cb.attempts:
        return ["Attempts: none yet"]
    out = [f"Attempts ({len(cb.attempts)}):"]
    for a in sorted(cb.attempts, key=lambda a: a.at):
        left = ", message left" if a.message_left else ""
        head = f"{a.by}, {a.method.value}: {words(a.result.value)}{left}"
        out += wrap(head, width, first=f"  {pad(t(a.at), when_w)}  ")
        extra = [a.note]
        if a.patient_response:
            extra.append(f"Patient said: {a.patient_response}")
        if a.next_action:
            extra.append(f"Next: {a.next_action}")
        if a.script:
            extra.append(f"Script: {words(a.script)}")
        if a.forced:
            extra.append(f"Past a policy limit because: {a.forced}")
        indent = " " * (4 + when_w)
        for text in extra:
            out += wrap(text, width, first=indent)
    return out


def events_lines(
    policy: Policy, cb: Callback, now: datetime, width: int = WIDTH, when_w: int = 0
) -> list[str]:
    lines: list[str] = []
    indent = " " * (4 + when_w)
    for e in sorted(cb.events, key=lambda e: e.at):
        when = pad(say_time(e.at, now, policy.tz), when_w)
        lines += wrap(f"{e.by}, {words(e.type.value)}", width, first=f"  {when}  ")

        def said(value: str | None) -> str:
            return _say_value(policy, value, now)

        changes = [
            f"{words(k)}: {said((e.was or {}).get(k))} -> {said(v)}"
            if e.was and k in e.was
            else f"{words(k)}: {said(v)}"
            for k, v in (e.set or {}).items()
        ]
        if changes:
            lines += wrap("; ".join(changes), width, first=indent)
        if e.note:
            lines += wrap(e.note, width, first=indent)
    return lines


def _say_value(policy: Policy, value: str | None, now: datetime) -> str:
    """An event's recorded value as people say it: times as times, keys as words."""
    if not value:
        return "-"
    if len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            return say_time(datetime.fromisoformat(value), now, policy.tz)
        except ValueError:
            return value
    if value in STATUS_WORDS:
        return STATUS_WORDS[value]
    return words(value) if value.replace("_", "").isalnum() and value.islower() else value


STATUS_WORDS = {
    "new": "new",
    "in_progress": "in progress",
    "waiting_patient": "waiting on the patient",
    "waiting_internal": "waiting on internal work",
    "escalated": "escalated",
    "closed": "closed",
}


_ISO_TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)")
_KEY = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def log_lines(entries: list[Any], now: datetime, tz: Any, width: int = WIDTH) -> list[str]:
    """A record's history, one entry per paragraph: when, who, the commit, what happened."""
    width = max(width, MIN_WIDTH)
    when_w = max([4, *(display_width(say_time(e.at, now, tz)) for e in entries)])
    who_w = min(12, max([3, *(display_width(e.by) for e in entries)]))
    lines = []
    for e in entries:
        ref = (e.commit or "")[:7]
        if e.kind == "commit":
            what = e.what + (f" [{', '.join(e.changes)}]" if e.changes else "")
        else:
            what = f"{e.kind} {e.item}: {e.what}" + (f" - {e.note}" if e.note else "")
        what = _ISO_TIME.sub(lambda m: say_time(datetime.fromisoformat(m.group()), now, tz), what)
        what = _KEY.sub(lambda m: words(m.group()), what)
        first = f"{pad(say_time(e.at, now, tz), when_w)}  {pad(fit(e.by, who_w), who_w)}  "
        first += f"{ref:<7}  "
        lines += wrap(what, width, first=first)
    return lines


def roll_lines(policy: Policy, rolls: list[Any], now: datetime, verb: str, width: int) -> list[str]:
    """`review --roll`: what each callback got, wrapped to `width`."""
    lines = []
    for r in rolls:
        owner = owner_label(policy, r.owner)
        if r.owner != r.was_owner:
            owner = f"{owner_label(policy, r.was_owner)} -> {owner}"
        text = (
            f"{verb}: owner {owner}, next touch {say_time(r.next_touch, now, policy.tz)}. {r.why}"
        )
        lines += wrap(text, width, first=f"{r.callback_id} ", rest="  ")
    return lines


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
    """Each callback found (the ID says the day it was created): ID, state, patient, phone,
    why, and where it went (its owner, or how it closed). One line where the terminal is
    wide; below 110 columns the phone and the why go on a second, indented line, so that
    the name and the phone (what staff check to know who is calling) are never cut."""
    width = max(width, MIN_WIDTH)
    lines = []
    for cb in records:
        where = owner_label(policy, cb.owner)
        if cb.closure:
            c = cb.closure
            where = {
                "duplicate": f"dup of {(c.duplicate_of or '')[-5:]}",
                "attempts_exhausted": "exhausted",
                "routed": f"routed {c.to or ''}",
            }.get(c.reason.value, c.reason.value)
        where = fit(where, 16)
        head = f"{cb.id} {STATE_TAG[cb.status]:<11} "
        cat = CATEGORY_TAG.get(cb.category, cb.category[:8])
        why = f"{cat}: {cb.reason}"
        phone = fit(cb.patient.phone, 24)
        if width < 110:
            room = width - len(head) - len(where) - 3
            lines.append(f"{head}{pad(fit(cb.patient.name, room), room)} | {where}")
            lines.append("    " + fit(f"{phone} · {why}", width - 4))
            continue
        who = f"{fit(cb.patient.name, 24)} {pad(phone, 20)}  "
        room = width - len(head) - display_width(who) - len(where) - 3
        lines.append(f"{head}{who}{pad(fit(why, room), room)} | {where}")
    return lines


# --- triage ----------------------------------------------------------------------------


def triage_json(plans: Any) -> str:
    """Each callback's planned (or made) changes as JSON: its ID, and each change's event,
    note and the fields it sets (times in ISO 8601)."""
    return to_json(
        [
            {
                "id": p.callback_id,
                "changes": [
                    {
                        "event": c.type.value,
                        "note": c.note,
                        "set": {
                            k: (v.isoformat() if isinstance(v, datetime) else str(v))
                            for k, v in c.fields.items()
                        },
                    }
                    for c in p.changes
                ],
            }
            for p in plans
        ]
    )


def triage_lines(policy: Policy, plans: Any, now: datetime, dry_run: bool, width: int) -> list[str]:
    """Each callback's planned (or made) changes in words, with times as people say them:
    `cb-... would be escalated: owner front desk lead` and, indented, why."""
    width = max(width, MIN_WIDTH)
    verb = "would be" if dry_run else "was"
    out: list[str] = []
    for plan in plans:
        for change in plan.changes:
            sets = []
            for key, value in change.fields.items():
                if key == "status" and str(value) == change.type.value:
                    continue  # (escalated sets status escalated: said once)
                if isinstance(value, datetime):
                    text = say_time(value, now, policy.tz)
                elif key == "owner":
                    text = owner_label(policy, str(value))
                else:
                    text = words(str(value))
                sets.append(f"{words(key.removesuffix('_at'))} {text}")
            head = f"{plan.callback_id} {verb} {words(change.type.value)}"
            out += wrap(head + (": " + ", ".join(sets) if sets else ""), width, rest="    ")
            out += wrap(_said_times(change.note, now, policy.tz), width, first="    ")
    return out


_NOTE_TIME = re.compile(r"\b[A-Z][a-z]{2} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})\b")


def _said_times(note: str, now: datetime, tz: Any) -> str:
    """A note's `Fri 2026-11-27 08:05` (the practice's time, as notes record it) as people
    say it: `today 08:05`."""

    def say(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(f"{match[1]}T{match[2]}").replace(tzinfo=tz)
        except ValueError:
            return match[0]
        return say_time(moment, now, tz)

    return _NOTE_TIME.sub(say, note)
