"""The queue's lines (the 3-second view), laid out for the terminal's width.

Where the terminal is wide, one line per callback: ID, urgency, due, patient, why, tried,
owner, next. Where it is not (80 columns, most terminals), two lines per callback: the
first says who and how urgent (ID, urgency, due, patient, tried), the second, indented,
says why and what comes next (why, owner, next). Either way, due and tried are never cut,
and the patient's name and the reason keep at least `READABLE` characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cbtrack.enums import Urgency
from cbtrack.render import (
    BOLD,
    DIM,
    METHOD_TAG,
    MIN_WIDTH,
    RED,
    RESET,
    URGENCY_TAG,
    YELLOW,
    _due,
    _next,
    _tried,
    _why,
    display_width,
    fit,
    late,
    owner_label,
    pad,
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


@dataclass(frozen=True)
class Layout:
    """Column widths, and whether each callback takes two lines."""

    widths: dict[str, int]
    two_lines: bool
    first: tuple[str, ...] = ONE_LINE
    second: tuple[str, ...] = ()


def _queue_cells(policy: Policy, cb: Callback, now: datetime) -> dict[str, str]:
    return {
        "ID": cb.id[-5:],
        "URG": URGENCY_TAG[cb.urgency],
        "DUE": _due(policy, cb, now),
        "PATIENT": f"{' '.join(cb.patient.name.split())}\t"
        f"{METHOD_TAG[cb.patient.preferred_method.value]}",
        "WHY": _why(policy, cb),
        "TRIED": _tried(cb, now),
        "OWNER": owner_label(policy, cb.owner),
        "NEXT": " ".join(_next(cb).split()),
    }


def _memo_cells(
    policy: Policy, cb: Callback, now: datetime, memo: dict[Any, Any] | None
) -> dict[str, str]:
    if memo is None:
        return _queue_cells(policy, cb, now)
    key = ("cells", cb.id)
    found: dict[str, str] | None = memo.get(key)
    if found is None:
        found = memo[key] = _queue_cells(policy, cb, now)
    return found


def _least(cells: list[dict[str, str]], longest: dict[str, int]) -> dict[str, int]:
    """What each flexible column needs to stay readable: `READABLE` characters of the name
    (beside its method) and of the reason (after its category), 12 of the next step."""
    tag = max((display_width(c["PATIENT"].partition("\t")[2]) for c in cells), default=3)
    prefix = max((c["WHY"].find(": ") + 2 for c in cells), default=0)
    return {
        "PATIENT": min(longest["PATIENT"], READABLE + 1 + tag),
        "WHY": min(longest["WHY"], READABLE + prefix),
        "OWNER": min(longest["OWNER"], 9),
        "NEXT": min(longest["NEXT"], 12),
    }


def queue_layout(
    policy: Policy,
    records: list[Callback],
    now: datetime,
    width: int = 100,
    memo: dict[Any, Any] | None = None,
) -> Layout:
    """The layout of `records` on a `width`-column terminal (never under 80): one line per
    callback when every column stays readable on it, else two. `memo` (shared with
    `queue_lines` over the same records and `now`) keeps each record's cells and lines."""
    width = max(width, MIN_WIDTH)
    cells = [_memo_cells(policy, cb, now, memo) for cb in records]
    longest = {
        name: max([display_width(name), *(display_width(c[name]) for c in cells)])
        for name in ONE_LINE
    }
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
    policy: Policy,
    records: list[Callback],
    now: datetime,
    color: bool,
    width: int = 100,
    layout: Layout | None = None,
    memo: dict[Any, Any] | None = None,
) -> list[str]:
    """The header, then each callback's line (or two), at most `width` columns (80 or
    more): who, why, how urgent, when due, what was tried, who owns it, what comes next.
    With `memo` (see `queue_layout`), each record is laid out once for the same layout."""
    layout = layout or queue_layout(policy, records, now, width, memo)
    lines = queue_header(layout)
    for cb in records:
        key = ("lines", cb.id, color, layout.first)
        found: list[str] | None = memo.get(key) if memo is not None else None
        if found is None:
            cells = _memo_cells(policy, cb, now, memo)
            found = _record_lines(layout, cells, cb, color and late(policy, cb, now), color)
            if memo is not None:
                memo[key] = found
        lines.extend(found)
    return lines


def _record_lines(
    layout: Layout, cells: dict[str, str], cb: Callback, overdue: bool, color: bool
) -> list[str]:
    def row(names: tuple[str, ...]) -> str:
        out = []
        for name in names:
            cell = pad(_fit_cell(cells[name], layout.widths[name]), layout.widths[name])
            out.append(_paint(name, cell, cb, overdue) if color else cell)
        return " ".join(out).rstrip()

    if not layout.two_lines:
        return [row(layout.first)]
    return [row(layout.first), " " * INDENT + row(layout.second)]


def _fit_cell(value: str, width: int) -> str:
    """A queue cell; the patient's `name<TAB>method` keeps the method when the name is cut."""
    name, tab, tag = value.partition("\t")
    if not tab:
        return fit(value, width)
    return f"{fit(name, width - display_width(tag) - 1)} {tag}"


def _paint(column: str, cell: str, cb: Callback, overdue: bool) -> str:
    if column == "URG" and cb.urgency in (Urgency.emergency, Urgency.clinical):
        return f"{BOLD}{RED}{cell}{RESET}"
    if column == "URG" and cb.urgency == Urgency.same_day:
        return f"{YELLOW}{cell}{RESET}"
    if column == "DUE" and overdue:
        return f"{RED}{cell}{RESET}"
    if column == "NEXT" and cb.open_dependencies:
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
