"""The report laid out as text, Markdown, CSV or one self-contained HTML page.

Input is the plain dict from `cbtrack.reportrows`; nothing here computes a figure.
"""

from __future__ import annotations

import csv
import io
import os
import textwrap
from dataclasses import dataclass
from html import escape
from typing import Any

from cbtrack.render import clip, printable, spreadsheet_safe, to_json

FORMATS = ("text", "markdown", "csv", "json", "html")

GROUP_COLUMNS = (
    ("created", "new"),
    ("closed", "closed"),
    ("open", "open"),
    ("overdue", "overdue"),
    ("first_attempt_on_time", "first call\non time"),
    ("first_attempt_late", "first call\nlate"),
    ("median_hours_to_first_attempt", "hours to\nfirst call\n(typical)"),
    ("p90_hours_to_first_attempt", "hours to\nfirst call\n(9 in 10)"),
    ("median_hours_to_close", "hours to\nclose\n(typical)"),
    ("p90_hours_to_close", "hours to\nclose\n(9 in 10)"),
    ("mean_attempts_to_close", "calls per\nclosed\ncallback"),
)
GROUPS = (
    ("by_category", "By category", "category"),
    ("by_urgency", "By urgency", "urgency"),
    ("by_owner", "By owner", "owner"),
    ("by_source", "By how the request came in", "came in by"),
)
HOURS = {k for k, _ in GROUP_COLUMNS if "hours" in k} | {"mean_attempts_to_close"}


LEGEND = (
    "New: callbacks created in the period. First call on time / late: the first call "
    "made by / after the callback's due time. Typical: the middle value (median); 9 in 10: "
    "nine in ten took at most this long. Calls per closed callback: the calls and "
    "messages, made or taken (a patient who called in counts), on average, before a "
    "callback was closed."
)
TIES = (
    "Ties: categories with the same count are listed, and the top category taken, in the "
    "order of the practice's policy."
)


@dataclass
class Labels:
    """What a practice manager reads instead of the keys: from the practice's policy."""

    category: dict[str, str]
    urgency: dict[str, str]
    owner: dict[str, str]

    @staticmethod
    def of(policy: Any) -> Labels:
        owners = {name: label for name, label in policy.roles.items()}
        owners.update({user: (m.name or user) for user, m in policy.staff.items()})
        return Labels(
            {name: cat.label for name, cat in policy.categories.items()},
            {u.value: (rule.label or u.value) for u, rule in policy.urgencies.items()},
            owners,
        )

    def name(self, kind: str, key: str) -> str:
        table = {"category": self.category, "urgency": self.urgency, "owner": self.owner}
        found = table.get(kind, {}).get(key)
        return found or words(key)


def words(key: str) -> str:
    """`attempts_exhausted` -> `Attempts exhausted`."""
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:]


NO_LABELS = Labels({}, {}, {})
STATUS = {
    "waiting_patient": "Waiting on the patient",
    "waiting_internal": "Waiting on internal work",
}


@dataclass
class Table:
    title: str
    headers: list[str]  # a "\n" breaks a header over two lines in text
    rows: list[list[str]]
    note: str = ""
    wrap_last: int | None = None  # in text, the last column wraps at this width

    @property
    def flat_headers(self) -> list[str]:
        return [h.replace("\n", " ") for h in self.headers]

    def text(self, fmt: str) -> str:
        """The table through tabulate; numbers (and '-') line up on the right."""
        if not self.rows:
            return "(none)"
        headers = self.headers if fmt == "simple" else self.flat_headers
        rows = self.rows if fmt == "simple" else [[_md(c) for c in row] for row in self.rows]
        align = ["left"] + [
            "right" if all(_numeric(row[i]) for row in self.rows) else "left"
            for i in range(1, len(headers))
        ]
        from tabulate import tabulate  # only tables need it (JSON does not)

        if fmt != "simple" or self.wrap_last is None:
            return tabulate(
                rows, headers=headers, tablefmt=fmt, colalign=align, disable_numparse=True
            )
        # free text (a detail's common values) wraps in its column in text
        widest: list[int | None] = [None] * (len(headers) - 1) + [self.wrap_last]
        return tabulate(
            rows,
            headers=headers,
            tablefmt=fmt,
            colalign=align,
            disable_numparse=True,
            maxcolwidths=widest,
        )


def cell(value: Any, hours: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if hours else f"{value:g}"
    return str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{round(100 * value)}%"


def day(text: str) -> str:
    """`2026-11-23T00:00:00-05:00` -> `Mon 23 Nov 2026 00:00`."""
    from datetime import datetime

    moment = datetime.fromisoformat(text)
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


def age(hours: float) -> str:
    """`32.97` -> `1 day 9 hours`."""
    whole = round(hours)
    d, h = divmod(whole, 24)
    parts = ([f"{d} day{'s' if d != 1 else ''}"] if d else []) + (
        [f"{h} hour{'s' if h != 1 else ''}"] if h or not d else []
    )
    return " ".join(parts)


def period_words(start: str, end: str) -> str:
    """`Mon 23 Nov to Fri 27 Nov 2026` for whole days, else both moments in full."""
    from datetime import datetime, timedelta

    a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
    if (a.hour, a.minute, b.hour, b.minute) == (0, 0, 0, 0):
        last = b - timedelta(days=1)
        if last.date() == a.date():
            return f"{a:%a} {a.day} {a:%b %Y}"
        return f"{a:%a} {a.day} {a:%b} to {last:%a} {last.day} {last:%b %Y}"
    return f"{day(start)} to {day(end)}"


def heading(report: dict[str, Any]) -> tuple[str, str]:
    p = report["period"]
    title = f"Callback report: {report['practice']}"
    sub = f"{period_words(p['start'], p['end'])} (open and overdue as of {day(p['as_of'])})"
    if not report["phi_included"]:
        sub += "; de-identified"
    return title, sub


def _top(report: dict[str, Any], labels: Labels) -> str:
    """The top category by label, with any category tied with it."""
    top = report["top_category"]
    if top is None:
        return "-"
    n = report["by_category"][top]["created"]
    tied = [c for c, b in report["by_category"].items() if b["created"] == n and c != top]
    text = labels.name("category", top)
    if tied:
        text += " (tied with " + ", ".join(labels.name("category", c) for c in tied) + ")"
    return text


def _alerts_table(report: dict[str, Any]) -> list[Table]:
    """Alerts sent in the period and how long after the event (only when there were any)."""
    a = report.get("alerts") or {}
    if not a.get("sent"):
        return []
    rows = [
        ["alerts sent", cell(a["sent"])],
        ["minutes from the event to its alert, typical (median)",
         cell(a["median_minutes_after_event"])],
        ["minutes from the event to its alert, longest", cell(a["max_minutes_after_event"])],
    ]  # fmt: skip
    rows += [[f"sent for {rule.replace('_', ' ')}", cell(n)] for rule, n in a["by_rule"].items()]
    return [Table("Alerts", ["figure", "value"], rows)]


def tables(report: dict[str, Any], labels: Labels = NO_LABELS) -> list[Table]:
    """Every figure as a titled table with plain headings, in reading order."""
    return [
        *_headline_tables(report, labels),
        *_alerts_table(report),
        *_group_tables(report, labels),
        Table(
            "Why callbacks were closed",
            ["reason", "closed"],
            [[words(r), cell(n)] for r, n in report["closure_reasons"].items()],
        ),
        Table(
            "Hours to first call",
            ["hours", "callbacks"],
            [
                [b["label"], cell(b["count"])]
                for b in report["distribution"]["hours_to_first_attempt"]
            ],
        ),
        *desk_tables(report, labels),
        *_oldest_table(report, labels),
        *_patient_tables(report, labels),
    ]


def _headline_tables(report: dict[str, Any], labels: Labels) -> list[Table]:
    """Totals, then speed and reach."""
    t, s, f = report["totals"], report["sla"], report["first_attempts"]
    o = report["overall"]
    return [
        Table(
            "Totals",
            ["figure", "value"],
            [
                ["new callbacks in the period", cell(t["created"])],
                ["closed in the period", cell(t["closed"])],
                ["open at the end", cell(t["open"])],
                ["overdue at the end", cell(t["overdue"])],
                ["calls and messages made", cell(t["attempts"])],
                ["patients who needed two or more callbacks", cell(report["repeat_patients"])],
                ["top category", _top(report, labels)],
            ],
        ),
        Table(
            "Speed and reach",
            ["figure", "value"],
            [
                ["hours to first call, typical (median)",
                 cell(o["median_hours_to_first_attempt"], True)],
                ["hours to first call, 9 in 10 within",
                 cell(o["p90_hours_to_first_attempt"], True)],
                ["hours to close, typical (median)", cell(o["median_hours_to_close"], True)],
                ["hours to close, 9 in 10 within", cell(o["p90_hours_to_close"], True)],
                ["calls per closed callback", cell(o["mean_attempts_to_close"], True)],
                ["first calls made", cell(f["count"])],
                ["first calls that reached the patient", percent(f["reach_rate"])],
                ["first calls on time", cell(s["first_attempt_on_time"])],
                ["first calls late", cell(s["first_attempt_late"])],
                ["overdue at the end with no call yet", cell(s["overdue_without_attempt"])],
            ],
        ),
    ]  # fmt: skip


def _group_tables(report: dict[str, Any], labels: Labels) -> list[Table]:
    """The figures by category, urgency, owner and the other groupings."""
    out = []
    for key, title, name in GROUPS:
        kind = name if name in ("category", "urgency", "owner") else ""
        rows = [
            [labels.name(kind, group), *(cell(block[k], k in HOURS) for k, _ in GROUP_COLUMNS)]
            for group, block in report[key].items()
        ]
        note = f"{LEGEND} {TIES}" if key == "by_category" else ""
        out.append(Table(title, [name, *(h for _, h in GROUP_COLUMNS)], rows, note))
    return out


def _oldest_table(report: dict[str, Any], labels: Labels) -> list[Table]:
    old = report["oldest_open"]
    if not old:
        return []
    rows = [
        ["callback", old["id"]],
        ["category", labels.name("category", old["category"])],
        ["urgency", labels.name("urgency", old["urgency"])],
        ["owner", labels.name("owner", old["owner"])],
        ["where it stands", STATUS.get(old["status_now"], words(old["status_now"]))],
        ["created", day(old["created_at"])],
        ["due", day(old["due_at"])],
        ["open for", age(old["age_hours"])],
    ]
    rows += [[k, cell(old[k])] for k in ("patient", "reason") if k in old]
    return [Table("Oldest open callback", ["figure", "value"], rows)]


def _patient_tables(report: dict[str, Any], labels: Labels) -> list[Table]:
    """With `--include-phi` only: who is open at the end, and the repeat patients."""
    phi = report.get("patients")
    if not phi:
        return []
    cols = ["id", "name", "phone", "dob", "mrn", "category", "reason", "owner", "due_at"]
    heads = ["callback", "name", "phone", "birth date", "MRN", "category", "reason",
             "owner", "due"]  # fmt: skip

    def shown(r: dict[str, Any], c: str) -> str:
        if c == "category" or c == "owner":
            return labels.name(c, r[c])
        if c == "due_at":
            return day(r[c])
        return cell(r.get(c))

    rcols = ["name", "phone", "dob", "mrn"]
    return [
        Table(
            "Open at the end (contains patient information)",
            heads,
            [[shown(r, c) for c in cols] for r in phi["open_at_end"]],
        ),
        Table(
            "Repeat patients (contains patient information)",
            ["name", "phone", "birth date", "MRN", "callbacks"],
            [
                [*(cell(r.get(c)) for c in rcols), ", ".join(r["callbacks"])]
                for r in phi["repeat_patients"]
            ],
        ),
    ]


def _corrections_table(report: dict[str, Any]) -> Table:
    """How often staff corrected intake triage: each miss is a phrase a rule could catch."""
    fixes = report.get("triage_corrections") or {"missed": 0, "false_alarms": 0}
    return Table(
        "Triage corrections",
        ["figure", "value"],
        [
            ["raised by staff above triage (missed)", cell(fixes["missed"])],
            ["lowered by a clinician (false alarms)", cell(fixes["false_alarms"])],
        ],
    )


def desk_tables(report: dict[str, Any], labels: Labels = NO_LABELS) -> list[Table]:
    """Handoffs, waits on internal work, the daily trend and details by category."""
    h = report["handoffs"]
    out = [
        Table(
            "Handoffs",
            ["figure", "value"],
            [
                ["callbacks routed", cell(h["routed"])],
                ["routed more than once", cell(h["rerouted"])],
                *[
                    [f"routed to {labels.name('owner', role)}", cell(n)]
                    for role, n in h["to"].items()
                ],
            ],
        ),
        _corrections_table(report),
        Table(
            "Waits on internal work",
            ["waiting on", "started", "resolved", "typical hours", "still open", "late"],
            [
                [words(kind), *(cell(w[k], k == "median_hours")
                                for k in ("count", "resolved", "median_hours", "open", "late"))]
                for kind, w in report["waits"].items()
            ],
        ),
        Table(
            "Daily trend",
            ["date", "new", "closed", "open at the end of the day"],
            [
                [d["date"], cell(d["created"]), cell(d["closed"]), cell(d["open_at_end"])]
                for d in report["trend"]
            ],
        ),
    ]  # fmt: skip
    rows = []
    for category, fields in report["by_detail"].items():
        for name, b in fields.items():
            top = "; ".join(f"{v['value']} ({v['count']})" for v in b.get("top_values", []))
            rows.append(
                [
                    labels.name("category", category),
                    words(name).lower(),
                    cell(b["callbacks"]),
                    cell(b["empty_or_unknown"]),
                    top or "-",
                ]
            )
    out.append(
        Table(
            "Details by category",
            ["category", "detail", "callbacks", "empty or unknown", "most common"],
            rows,
            ""
            if report["phi_included"]
            else "Values are free text: shown only with --include-phi.",
        )
    )
    return out


# --- text and Markdown ----------------------------------------------------------------


# The text report's group tables, in two parts that each fit 100 columns.
TEXT_PARTS = (
    ("", ("new", "closed", "open", "overdue", "on-time\nfirst\ncalls", "late\nfirst\ncalls")),
    (
        ": speed",
        (
            "hours to\n1st call\ntypical",
            "hours to\n1st call\n9 in 10",
            "hours to\nclose\ntypical",
            "hours to\nclose\n9 in 10",
            "calls per\nclosed\ncallback",
        ),
    ),
)
TEXT_HEADS = {
    "Details by category": ["category", "detail", "callbacks", "empty or\nunknown", "most common"]
}


def _for_text(table: Table) -> list[Table]:
    """A table as the text report lays it out: the group tables (a dozen columns) in two
    parts, short headers, so that every line fits 100 columns."""
    if table.headers[1:] != [h for _, h in GROUP_COLUMNS]:
        if table.title not in TEXT_HEADS:
            return [table]
        return [Table(table.title, TEXT_HEADS[table.title], table.rows, table.note, 36)]
    out, start = [], 1
    for suffix, heads in TEXT_PARTS:
        end = start + len(heads)
        rows = [[row[0], *row[start:end]] for row in table.rows]
        out.append(Table(table.title + suffix, [table.headers[0], *heads], rows))
        start = end
    out[-1].note = table.note
    return out


def as_text(report: dict[str, Any], labels: Labels = NO_LABELS) -> str:
    title, sub = heading(report)
    parts = [title, textwrap.fill(sub, 100)]
    for table in (part for whole in tables(report, labels) for part in _for_text(whole)):
        note = "\n" + textwrap.fill(table.note, 100) if table.note else ""
        parts.append(f"{table.title}\n{table.text('simple')}{note}")
    parts.append("Insights\n" + _numbered(report["insights"], 100))
    return "\n\n".join(parts) + "\n"


def as_markdown(report: dict[str, Any], labels: Labels = NO_LABELS) -> str:
    title, sub = heading(report)
    parts = [f"# {_md(title)}", f"_{_md(sub)}_"]
    for table in tables(report, labels):
        note = f"\n\n_{table.note}_" if table.note else ""
        parts.append(f"## {table.title}\n\n{table.text('github')}{note}")
    parts.append("## Insights\n\n" + _numbered([_md(s) for s in report["insights"]]))
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _numbered(lines: list[str], width: int | None = None) -> str:
    if not lines:
        return "No pattern stands out in this period."
    if width is None:
        return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
    return "\n".join(
        textwrap.fill(line, width, initial_indent=f"{i}. ", subsequent_indent="   ")
        for i, line in enumerate(lines, 1)
    )


# --- CSV: the tables, one after another -----------------------------------------------


def csv_cell(value: Any) -> str:
    """A figure stays a number (a negative one too); text is made formula-safe."""
    if value is None:
        return ""
    if isinstance(value, list):
        return spreadsheet_safe("; ".join(str(v) for v in value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return cell(value)
    return spreadsheet_safe(cell(value))


def csv_text(text: str) -> str:
    """A table cell for a spreadsheet: figures stay numbers, `-` (no figure) is left empty,
    and text is made formula-safe."""
    if text == "-":
        return ""
    if _numeric(text):
        return text
    return spreadsheet_safe(text)


def _csv_rows(rows: list[list[str]]) -> list[list[str]]:
    return [[csv_text(c) for c in row] for row in rows]


def csv_tables(report: dict[str, Any], labels: Labels = NO_LABELS) -> list[tuple[str, str]]:
    """Each table as its own CSV text (its header row, then one row per line of the
    table), with a file name for `--output DIR`."""
    out = []
    for table in tables(report, labels):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.flat_headers)
        writer.writerows(_csv_rows(table.rows))
        name = table.title.lower().split(" (")[0].replace(" ", "_") + ".csv"
        out.append((name, buf.getvalue()))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["insight"])
    writer.writerows([[spreadsheet_safe(line)] for line in report["insights"]])
    out.append(("insights.csv", buf.getvalue()))
    return out


def as_csv(report: dict[str, Any], labels: Labels = NO_LABELS) -> str:
    """One file a spreadsheet opens as readable tables: each table's title on its own row,
    its header row, its rows, then a blank row. `--output DIR` writes one file per table."""
    title, sub = heading(report)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([spreadsheet_safe(title)])
    writer.writerow([spreadsheet_safe(sub)])
    for table in [*tables(report, labels), Table("Insights", ["insight"], [])]:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.flat_headers)
        if table.title == "Insights":
            writer.writerows([[spreadsheet_safe(s)] for s in report["insights"]])
        else:
            writer.writerows(_csv_rows(table.rows))
    return buf.getvalue()


# --- HTML: one page, inline CSS and SVG ---------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;margin:0;
background:#f5f6f8}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.sub{color:#5b6472;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}
figure{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}
table{border-collapse:collapse;background:#fff;min-width:50%;font-size:13px}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.wrap{overflow-x:auto}.phi{border-left:4px solid #b3261e;padding-left:8px}
svg{max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:#1d2430}
@media print{body{background:#fff}.card,figure{border-color:#999}}
"""
BAR = "#3b6fb6"


def bar_chart(title: str, items: list[tuple[str, int]]) -> str:
    """Horizontal bars as inline SVG; a sentence instead when there is nothing to draw."""
    if not any(n for _, n in items):
        return f"<figure><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>"
    top = max(n for _, n in items)
    width, row_h = 560, 24
    label_w = min(240, 12 + 7 * max(len(name) for name, _ in items))
    bar_w = width - label_w - 40  # the bars take what the labels leave
    height = row_h * len(items) + 8
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (name, n) in enumerate(items):
        y = 4 + i * row_h
        w = round(bar_w * n / top) if top else 0
        label = escape(clip(name, 34))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{label}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="{row_h - 8}" '
            f'fill="{BAR}" rx="2"></rect>'
            f'<text x="{label_w + w + 6}" y="{y + 15}">{n}</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


TREND_SERIES = (("created", "#3b6fb6"), ("closed", "#2e8b57"), ("open_at_end", "#b3261e"))
TREND_NAMES = {"created": "new", "closed": "closed", "open_at_end": "open at day's end"}


def trend_chart(title: str, days: list[dict[str, Any]]) -> str:
    """Created, closed and open at the end of each day, as three lines in inline SVG."""
    if not days:
        return f"<figure><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>"
    left, top, plot_w, plot_h = 40, 10, 380, 160
    width, height = left + plot_w + 10, top + plot_h + 60
    days = [d for d in days if d["open_at_end"] is not None]  # (days that have not begun)
    if not days:
        return f"<figure><figcaption>{escape(title)}</figcaption><p>No data yet.</p></figure>"
    peak = max(max(d[k] for k, _ in TREND_SERIES) for d in days) or 1
    step = plot_w / max(len(days) - 1, 1)

    def xy(i: int, v: int) -> str:
        return f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}"

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"></line>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for key, color in TREND_SERIES:
        points = " ".join(xy(i, d[key]) for i, d in enumerate(days))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"></polyline>'
        )
        if len(days) == 1:
            parts.append(f'<circle cx="{left}" cy="{xy(0, days[0][key]).split(",")[1]}" '
                         f'r="3" fill="{color}"></circle>')  # fmt: skip
    for i in sorted({0, len(days) - 1}):
        anchor = "start" if i == 0 else "end"
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">'
            f"{escape(days[i]['date'])}</text>"
        )
    for j, (key, color) in enumerate(TREND_SERIES):
        x = left + j * 130
        parts.append(
            f'<rect x="{x}" y="{top + plot_h + 32}" width="12" height="12" fill="{color}">'
            f'</rect><text x="{x + 16}" y="{top + plot_h + 42}">'
            f"{escape(TREND_NAMES[key])}</text>"
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


def html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.flat_headers)
    body = (
        "".join(
            "<tr>"
            + "".join(
                f'<td class="n">{escape(c)}</td>' if _numeric(c) else f"<td>{escape(c)}</td>"
                for c in row
            )
            + "</tr>"
            for row in table.rows
        )
        or f'<tr><td colspan="{len(table.headers)}">None.</td></tr>'
    )
    cls = ' class="phi"' if "patient information" in table.title else ""
    note = f'<p class="sub">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<h2{cls}>{escape(table.title)}</h2><div class="wrap"><table><thead><tr>{head}'
        f"</tr></thead><tbody>{body}</tbody></table></div>{note}"
    )


def _numeric(text: str) -> bool:
    return text == "-" or text.replace(".", "", 1).replace("%", "").isdigit()


def as_html(report: dict[str, Any], labels: Labels = NO_LABELS) -> str:
    title, sub = heading(report)
    t = report["totals"]
    cards = "".join(
        f'<div class="card"><b>{escape(cell(v))}</b>{escape(name)}</div>'
        for name, v in (
            ("new callbacks", t["created"]),
            ("closed", t["closed"]),
            ("open at the end", t["open"]),
            ("overdue at the end", t["overdue"]),
            (
                "first calls that reached the patient",
                percent(report["first_attempts"]["reach_rate"]),
            ),
            ("patients called back twice or more", report["repeat_patients"]),
        )
    )
    charts = "".join(
        (
            bar_chart(
                "New callbacks by category",
                [(b["label"], b["created"]) for b in report["by_category"].values()],
            ),
            bar_chart(
                "Hours to the first call (callbacks)",
                [
                    (b["label"], b["count"])
                    for b in report["distribution"]["hours_to_first_attempt"]
                ],
            ),
            bar_chart(
                "Why callbacks were closed",
                [(words(r), n) for r, n in report["closure_reasons"].items()],
            ),
            trend_chart("Daily trend", report["trend"]),
        )
    )
    insights = "".join(f"<li>{escape(s)}</li>" for s in report["insights"]) or (
        "<li>No pattern stands out in this period.</li>"
    )
    body = "".join(html_table(tb) for tb in tables(report, labels))
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(sub)}</p>'
        f'<div class="cards">{cards}</div>'
        f'<h2>Charts</h2><div class="charts">{charts}</div>'
        f"<h2>Insights</h2><ol>{insights}</ol>{body}"
        "</main></body></html>\n"
    )


def shown(value: Any) -> Any:
    """The report with every text (keys too) made printable: control and bidirectional
    characters in a name, reason or policy label become visible escapes in every format
    but JSON, which escapes them itself."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


TREND_KEYS = ("date", "created", "closed", "open_at_end")
_TREND_DAY = (
    '{\n      "date": "%s",\n      "created": %d,\n      "closed": %d,\n'
    '      "open_at_end": %d\n    }'
)


def _json(report: dict[str, Any]) -> str:
    """`to_json(report)`, with the trend (a line per day: thousands over a long period)
    written straight from a template instead of through the json module's indenting
    encoder: the same text, several times faster."""
    trend = report.get("trend")
    if not isinstance(trend, list) or not trend or {type(d) for d in trend} != {dict}:
        return to_json(report)
    rows = [tuple(d.values()) for d in trend]
    dates = "".join(r[0] for r in rows) if {tuple(d) for d in trend} == {TREND_KEYS} else ""
    if not (
        dates.isascii()
        and dates.replace("-", "").isalnum()
        and {type(r[0]) for r in rows} == {str}
        and {type(v) for r in rows for v in r[1:]} == {int}
    ):
        return to_json(report)
    marker = f"@@trend-{os.urandom(8).hex()}@@"  # text no report can hold
    text = to_json({**report, "trend": marker})
    days = ",\n    ".join(_TREND_DAY % r for r in rows)
    return text.replace(f'"{marker}"', f"[\n    {days}\n  ]", 1)


def render(report: dict[str, Any], fmt: str, labels: Labels = NO_LABELS) -> str:
    """The report in `fmt`; every format but JSON uses the practice's `labels`."""
    if fmt == "json":
        return _json(report) + "\n"
    report = shown(report)
    labels = Labels(shown(labels.category), shown(labels.urgency), shown(labels.owner))
    return {"text": as_text, "markdown": as_markdown, "csv": as_csv, "html": as_html}[fmt](
        report, labels
    )
