"""The queue's lines (the 3-second view), laid out for the terminal's width.

Where the terminal is wide, one line per callback: ID, urgency, due, patient, why, tried,
owner, next. Where it is not (80 columns, most terminals), two lines per callback: the
first says who and how urgent (ID, urgency, due, patient, tried), the second, indented,
says why and what comes next (why, owner, next). Either way, due and tried are never cut,
and the patient's name and the reason keep at least `READABLE` characters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from cbtrack import clock
from cbtrack.clock import past_due
from cbtrack.render import (
    BOLD,
    DIM,
    METHOD_TAG,
    MIN_WIDTH,
    RED,
    RESET,
    RESULT_TAG,
    URGENCY_TAG,
    YELLOW,
    _next,
    _why,
    display_width,
    expected_of,
    fit,
    owner_label,
    pad,
    printable,
    wrap,
)

if TYPE_CHECKING:
    from cbtrack.model import Callback
    from cbtrack.policy import Policy

READABLE = 20  # characters of the patient's name and of the reason, at the least
INDENT = 6  # the second line of a callback starts under the urgency
# The width from which a screen of the queue is taken to hold one line per callback.
WIDE = 130

ONE_LINE = ("ID", "URG", "DUE", "PATIENT", "WHY", "TRIED", "OWNER", "NEXT")
FIRST = ("ID", "URG", "DUE", "PATIENT", "TRIED", "OWNER")
SECOND = ("WHY", "NEXT")
# the widest each flexible column grows to on one line, and how reluctantly it gives up a
# column (higher keeps it longer)
WIDEST = {"PATIENT": 30, "WHY": 60, "OWNER": 16, "NEXT": 40}
WEIGHT = {"PATIENT": 1.0, "WHY": 1.6, "OWNER": 1.3, "NEXT": 1.2}


class Layout(NamedTuple):
    """Column widths, and whether each callback takes two lines."""

    widths: dict[str, int]
    two_lines: bool
    first: tuple[str, ...] = ONE_LINE
    second: tuple[str, ...] = ()


class Line(NamedTuple):
    """What one callback's queue line shows that does not change with the clock: worked
    out once from its record (`line_of`) and kept in the local index beside its row, so
    that the whole queue is laid out without reading any record's data."""

    id: str  # the ID's last five characters
    urgency: str
    patient: str  # `name<TAB>method tag`, printable
    why: str
    owner: str
    next: str
    waiting: bool  # an open dependency: the next step is dimmed
    tries: int
    last_result: str  # the last attempt's tag, "" without one
    last_at: float | None  # and when it was made (POSIX time)
    due: float
    expected: float | None  # with an open dependency, when it is expected (POSIX time)


def line_of(policy: Policy, cb: Callback) -> Line:
    """The clock-free part of a callback's queue line, from a model or a read-only view."""
    last = cb.last_attempt
    expected = expected_of(policy, cb)
    return Line(
        cb.id[-5:],
        cb.urgency.value,
        printable(" ".join(cb.patient.name.split()))
        + f"\t{METHOD_TAG[cb.patient.preferred_method.value]}",
        printable(_why(policy, cb)),
        printable(owner_label(policy, cb.owner)),
        printable(" ".join(_next(cb).split())),
        bool(cb.open_dependencies),
        len(cb.attempts),
        "" if last is None else RESULT_TAG[last.result],
        None if last is None else last.at.timestamp(),
        cb.due_at.timestamp(),
        None if expected is None else expected.timestamp(),
    )


def cells_of(line: Line, now: float) -> tuple[str, ...]:
    """The eight cells of `line` at `now` (POSIX time), in `ONE_LINE`'s order."""
    if line.expected is not None:
        due = "dep " + clock.relative_s(line.expected - now).replace("overdue", "late")
    else:
        due = clock.relative_s(line.due - now)
    if line.last_at is None:
        tried = "none yet"
    else:
        when = clock.ago_s(now - line.last_at).replace(" ago", "").replace("just now", "now")
        tried = f"{line.tries} {line.last_result} {when}"
    return (line.id, _URGENCY[line.urgency], due, line.patient, line.why, tried, line.owner,
            line.next)  # fmt: skip


_URGENCY = {u.value: tag for u, tag in URGENCY_TAG.items()}


def _cells(lines: list[Line], now: float, memo: dict[Any, Any] | None) -> list[tuple[str, ...]]:
    if memo is None:
        return [cells_of(line, now) for line in lines]
    out = []
    for line in lines:
        found = memo.get(line)
        if found is None:
            found = memo[line] = cells_of(line, now)
        out.append(found)
    return out


COLUMN = {name: at for at, name in enumerate(ONE_LINE)}
PATIENT, WHY = COLUMN["PATIENT"], COLUMN["WHY"]


def _least(cells: list[tuple[str, ...]], longest: dict[str, int]) -> dict[str, int]:
    """What each flexible column needs to stay readable: `READABLE` characters of the name
    (beside its method) and of the reason (after its category), not counting the "…" a
    cut text ends with; 12 of the next step."""
    tag = max((display_width(c[PATIENT].partition("\t")[2]) for c in cells), default=3)
    prefix = max((c[WHY].find(": ") + 2 for c in cells), default=0)
    return {
        "PATIENT": min(longest["PATIENT"], READABLE + 2 + tag),
        "WHY": min(longest["WHY"], READABLE + 1 + prefix),
        "OWNER": min(longest["OWNER"], 9),
        "NEXT": min(longest["NEXT"], 12),
    }


def queue_layout(
    lines: list[Line], now: float, width: int = 100, memo: dict[Any, Any] | None = None
) -> Layout:
    """The layout of `lines` at `now` (POSIX time) on a `width`-column terminal (never
    under 80): one line per callback when every column stays readable on it, else two.
    `memo` (shared with `queue_lines` over the same `now`) keeps each line's cells."""
    return _layout(_cells(lines, now, memo), width)


def _layout(cells: list[tuple[str, ...]], width: int) -> Layout:
    width = max(width, MIN_WIDTH)
    longest = {}
    for at, name in enumerate(ONE_LINE):
        column = [c[at] for c in cells]
        if "".join(column).isascii():
            longest[name] = max(len(name), *map(len, column)) if column else len(name)
        else:
            longest[name] = max([display_width(name), *map(display_width, column)])
    fixed = {"ID": 5, "URG": 5, "DUE": max(11, longest["DUE"]), "TRIED": longest["TRIED"]}
    least = _least(cells, longest)
    if sum(fixed.values()) + sum(least.values()) + len(ONE_LINE) - 1 <= width:
        return Layout(_one_line(fixed, least, longest, width), False)
    return _two_lines(fixed, least, longest, width)


def _one_line(
    fixed: dict[str, int], least: dict[str, int], longest: dict[str, int], width: int
) -> dict[str, int]:
    widths = dict(fixed)
    for name, most in WIDEST.items():
        widths[name] = max(least[name], min(most, longest[name]))
    while sum(widths.values()) + len(ONE_LINE) - 1 > width:
        give = max(
            (n for n in WEIGHT if widths[n] > least[n]),
            key=lambda n: (widths[n] - least[n]) / WEIGHT[n],
            default=None,
        )
        if give is None:
            break
        widths[give] -= 1
    return widths


def _two_lines(
    fixed: dict[str, int], least: dict[str, int], longest: dict[str, int], width: int
) -> Layout:
    """Who on the first line (with the owner, where the name keeps its room), why and
    what next on the second, under it."""
    widths = dict(fixed)
    widths["OWNER"] = min(longest["OWNER"], WIDEST["OWNER"])
    first: tuple[str, ...] = FIRST
    second: tuple[str, ...] = SECOND
    rest = width - sum(widths.values()) - len(first) + 1
    if rest < least["PATIENT"]:
        first, second = FIRST[:-1], ("WHY", "OWNER", "NEXT")
        rest += widths["OWNER"] + 1
    widths["PATIENT"] = max(least["PATIENT"], min(rest, longest["PATIENT"]))
    room = width - INDENT - sum(widths[n] + 1 for n in second if n not in ("WHY", "NEXT")) - 1
    nxt = min(longest["NEXT"], max(room // 3, room - longest["WHY"]))
    widths["NEXT"] = max(nxt, 1)
    widths["WHY"] = room - widths["NEXT"]
    return Layout(widths, True, first, second)


def queue_header(layout: Layout) -> list[str]:
    """The column names: one line, or two for the two-line layout."""
    w = layout.widths
    first = " ".join(pad(name, w[name]) for name in layout.first).rstrip()
    if not layout.two_lines:
        return [first]
    return [first, " " * INDENT + " ".join(pad(name, w[name]) for name in layout.second).rstrip()]


def queue_lines(
    lines: list[Line],
    now: float,
    color: bool,
    width: int = 100,
    layout: Layout | None = None,
    memo: dict[Any, Any] | None = None,
) -> list[str]:
    """The header, then each callback's line (or two), at most `width` columns (80 or
    more): who, why, how urgent, when due, what was tried, who owns it, what comes next.
    With `memo` (see `queue_layout`), each callback is laid out once for the same layout."""
    all_cells = _cells(lines, now, memo)
    layout = layout or _layout(all_cells, width)
    out = queue_header(layout)
    plan = [(COLUMN[n], layout.widths[n], n) for n in layout.first]
    second = [(COLUMN[n], layout.widths[n], n) for n in layout.second]
    indent = " " * INDENT
    if not color and memo is None:  # (piped: every callback, column by column)
        firsts = _plain_rows(plan, all_cells)
        if not layout.two_lines:
            return out + firsts
        for first, rest in zip(firsts, _plain_rows(second, all_cells), strict=True):
            out.append(first)
            out.append(indent + rest)
        return out
    for line, cells in zip(lines, all_cells, strict=True):
        key = ("lines", line, color, layout.first)
        found: list[str] | None = memo.get(key) if memo is not None else None
        if found is None:
            late = color and past_due(line.due, line.expected, now)
            found = [_row(plan, cells, line, late, color)]
            if layout.two_lines:
                found.append(indent + _row(second, cells, line, late, color))
            if memo is not None:
                memo[key] = found
        out.extend(found)
    return out


def _row(
    plan: list[tuple[int, int, str]], cells: tuple[str, ...], line: Line, late: bool, color: bool
) -> str:
    out = []
    for at, width, name in plan:
        text = cells[at]
        cell = _patient(text, width) if at == PATIENT else pad(_cut(text, width), width)
        out.append(_paint(name, cell, line, late) if color else cell)
    return " ".join(out).rstrip()


def _plain_rows(plan: list[tuple[int, int, str]], cells: list[tuple[str, ...]]) -> list[str]:
    """`_row` without colour for every callback at once, a column at a time (the same
    cells, quicker for a queue of thousands)."""
    columns = []
    for at, width, _ in plan:
        texts = [c[at] for c in cells]
        joined = "".join(texts)
        if at != PATIENT and joined.isascii() and "\\" not in joined:
            cut = max(width - 1, 0)  # (`_cut` and `pad` for plain text, inline: the hot path)
            columns.append([t.ljust(width) if len(t) <= width else t[:cut] + "…" for t in texts])
        elif at == PATIENT:
            columns.append([_patient(t, width) for t in texts])
        else:
            columns.append([pad(_cut(t, width), width) for t in texts])
    return [" ".join(parts).rstrip() for parts in zip(*columns, strict=True)]


def _patient(text: str, width: int) -> str:
    """The patient's `name<TAB>method` cell: the method stays when the name is cut."""
    person, _, tag = text.partition("\t")
    return pad(f"{_cut(person, width - display_width(tag) - 1)} {tag}", width)


def _cut(text: str, width: int) -> str:
    """`render.fit` for a cell, quicker for the usual plain text (a `Line`'s text is
    printable and single-spaced already)."""
    if text.isascii() and "\\" not in text:
        return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
    return fit(text, width)


def _paint(column: str, cell: str, line: Line, late: bool) -> str:
    if column == "URG" and line.urgency in ("emergency", "clinical"):
        return f"{BOLD}{RED}{cell}{RESET}"
    if column == "URG" and line.urgency == "same_day":
        return f"{YELLOW}{cell}{RESET}"
    if column == "DUE" and late:
        return f"{RED}{cell}{RESET}"
    if column == "NEXT" and line.waiting:
        return f"{DIM}{cell}{RESET}"
    return cell


def footer_lines(text: str, width: int) -> list[str]:
    """The counts under the queue, wrapped to the terminal."""
    return wrap(text, max(width, MIN_WIDTH))


def screenful(rows: int, width: int) -> int:
    """How many callbacks one screen of `rows` lines shows at `width` columns."""
    if width >= WIDE:
        return max(rows - 3, 5)
    return max((rows - 4) // 2, 5)
