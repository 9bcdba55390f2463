"""The report laid out as text, Markdown, CSV or one self-contained HTML page.

Input is the plain dict from `cbtrack.report.build`; nothing here computes a figure.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from typing import Any

from tabulate import tabulate

FORMATS = ("text", "markdown", "csv", "json", "html")

GROUP_COLUMNS = (
    ("created", "created"),
    ("closed", "closed"),
    ("open", "open"),
    ("overdue", "overdue"),
    ("first_attempt_on_time", "on\ntime"),
    ("first_attempt_late", "late"),
    ("median_hours_to_first_attempt", "1st h\nmed"),
    ("p90_hours_to_first_attempt", "1st h\np90"),
    ("median_hours_to_close", "close h\nmed"),
    ("p90_hours_to_close", "close h\np90"),
    ("mean_attempts_to_close", "tries"),
)
GROUPS = (
    ("by_category", "By category", "category"),
    ("by_urgency", "By urgency", "urgency"),
    ("by_owner", "By owner", "owner"),
    ("by_source", "By source", "source"),
)


LEGEND = (
    "on time / late: first attempts at or before / after the due time; 1st h: hours to the "
    "first attempt; close h: hours to close; med: median; p90: 90th percentile; tries: "
    "outbound attempts per closed callback."
)


@dataclass
class Table:
    title: str
    headers: list[str]  # a "\n" breaks a header over two lines in text
    rows: list[list[str]]
    note: str = ""

    @property
    def flat_headers(self) -> list[str]:
        return [h.replace("\n", " ") for h in self.headers]

    def text(self, fmt: str) -> str:
        """The table through tabulate; numbers (and '-') line up on the right."""
        if not self.rows:
            return "(none)"
        headers = self.headers if fmt == "simple" else self.flat_headers
        rows = self.rows if fmt == "simple" else [[_md(c) for c in row] for row in self.rows]
        align = ("left",) + ("right",) * (len(headers) - 1)
        return tabulate(rows, headers=headers, tablefmt=fmt, colalign=align, disable_numparse=True)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{round(100 * value)}%"


def day(text: str) -> str:
    """`2026-11-23T00:00:00-05:00` -> `2026-11-23 00:00`."""
    return text[:16].replace("T", " ")


def heading(report: dict[str, Any]) -> tuple[str, str]:
    p = report["period"]
    title = f"Callback report: {report['practice']}"
    sub = f"{day(p['start'])} to {day(p['end'])} (open and overdue as of {day(p['as_of'])})"
    if not report["phi_included"]:
        sub += "; de-identified"
    return title, sub


def tables(report: dict[str, Any]) -> list[Table]:
    """Every figure as a titled table, in reading order."""
    t, s, f = report["totals"], report["sla"], report["first_attempts"]
    o = report["overall"]
    out = [
        Table(
            "Totals",
            ["figure", "value"],
            [
                ["created in the period", cell(t["created"])],
                ["closed in the period", cell(t["closed"])],
                ["open at the end", cell(t["open"])],
                ["overdue at the end", cell(t["overdue"])],
                ["attempts made", cell(t["attempts"])],
                ["repeat patients", cell(report["repeat_patients"])],
                ["top category", cell(report["top_category"])],
            ],
        ),
        Table(
            "Speed and reach",
            ["figure", "value"],
            [
                ["hours to first attempt, median", cell(o["median_hours_to_first_attempt"])],
                ["hours to first attempt, 90th percentile", cell(o["p90_hours_to_first_attempt"])],
                ["hours to close, median", cell(o["median_hours_to_close"])],
                ["hours to close, 90th percentile", cell(o["p90_hours_to_close"])],
                ["attempts per closed callback", cell(o["mean_attempts_to_close"])],
                ["first attempts", cell(f["count"])],
                ["first attempts that reached the patient", percent(f["reach_rate"])],
                ["first attempts on time", cell(s["first_attempt_on_time"])],
                ["first attempts late", cell(s["first_attempt_late"])],
                ["overdue with no attempt at the end", cell(s["overdue_without_attempt"])],
            ],
        ),
    ]
    for key, title, name in GROUPS:
        rows = []
        for group, block in report[key].items():
            rows.append([group, *(cell(block[k]) for k, _ in GROUP_COLUMNS)])
        note = LEGEND if key == "by_category" else ""
        out.append(Table(title, [name, *(h for _, h in GROUP_COLUMNS)], rows, note))
    out.append(
        Table(
            "Closure reasons",
            ["reason", "closed"],
            [[r, cell(n)] for r, n in report["closure_reasons"].items()],
        )
    )
    out.append(
        Table(
            "Hours to first attempt",
            ["hours", "callbacks"],
            [
                [b["label"], cell(b["count"])]
                for b in report["distribution"]["hours_to_first_attempt"]
            ],
        )
    )
    out += desk_tables(report)
    old = report["oldest_open"]
    if old:
        out.append(
            Table(
                "Oldest open callback", ["field", "value"], [[k, cell(v)] for k, v in old.items()]
            )
        )
    phi = report.get("patients")
    if phi:
        cols = ["id", "name", "phone", "dob", "mrn", "category", "reason", "owner", "due_at"]
        out.append(
            Table(
                "Open at the end (contains patient information)",
                cols,
                [[cell(r.get(c)) for c in cols] for r in phi["open_at_end"]],
            )
        )
        rcols = ["name", "phone", "dob", "mrn"]
        out.append(
            Table(
                "Repeat patients (contains patient information)",
                [*rcols, "callbacks"],
                [
                    [*(cell(r.get(c)) for c in rcols), ", ".join(r["callbacks"])]
                    for r in phi["repeat_patients"]
                ],
            )
        )
    return out


def desk_tables(report: dict[str, Any]) -> list[Table]:
    """Handoffs, waits on internal work, the daily trend and details by category."""
    h = report["handoffs"]
    out = [
        Table(
            "Handoffs",
            ["figure", "value"],
            [
                ["callbacks routed", cell(h["routed"])],
                ["routed more than once", cell(h["rerouted"])],
                *[[f"routed to {role}", cell(n)] for role, n in h["to"].items()],
            ],
        ),
        Table(
            "Waits on internal work",
            ["dependency", "started", "resolved", "median h", "open", "late"],
            [
                [kind, *(cell(w[k]) for k in ("count", "resolved", "median_hours", "open", "late"))]
                for kind, w in report["waits"].items()
            ],
        ),
        Table(
            "Daily trend",
            ["date", "created", "closed", "open at end"],
            [
                [d["date"], cell(d["created"]), cell(d["closed"]), cell(d["open_at_end"])]
                for d in report["trend"]
            ],
        ),
    ]
    rows = []
    for category, fields in report["by_detail"].items():
        for name, b in fields.items():
            top = "; ".join(f"{v['value']} ({v['count']})" for v in b.get("top_values", []))
            rows.append(
                [category, name, cell(b["callbacks"]), cell(b["empty_or_unknown"]), top or "-"]
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


def csv_desk_rows(report: dict[str, Any]) -> Iterator[list[str]]:
    """CSV rows for the nested desk figures (trend and by_detail)."""
    for d in report["trend"]:
        for figure in ("created", "closed", "open_at_end"):
            yield ["trend", d["date"], figure, csv_cell(d[figure])]
    for category, fields in report["by_detail"].items():
        for name, b in fields.items():
            for figure in ("callbacks", "empty_or_unknown"):
                yield ["by_detail", f"{category}/{name}", figure, csv_cell(b[figure])]
            for i, v in enumerate(b.get("top_values", []), 1):
                yield ["by_detail", f"{category}/{name}", f"top_{i}", csv_cell(v["value"])]
                yield ["by_detail", f"{category}/{name}", f"top_{i}_count", csv_cell(v["count"])]


# --- text and Markdown ----------------------------------------------------------------


def as_text(report: dict[str, Any]) -> str:
    title, sub = heading(report)
    parts = [title, sub]
    for table in tables(report):
        note = "\n" + textwrap.fill(table.note, 100) if table.note else ""
        parts.append(f"{table.title}\n{table.text('simple')}{note}")
    parts.append("Insights\n" + _numbered(report["insights"]))
    return "\n\n".join(parts) + "\n"


def as_markdown(report: dict[str, Any]) -> str:
    title, sub = heading(report)
    parts = [f"# {_md(title)}", f"_{_md(sub)}_"]
    for table in tables(report):
        note = f"\n\n_{table.note}_" if table.note else ""
        parts.append(f"## {table.title}\n\n{table.text('github')}{note}")
    parts.append("## Insights\n\n" + _numbered([_md(s) for s in report["insights"]]))
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _numbered(lines: list[str]) -> str:
    if not lines:
        return "No pattern stands out in this period."
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


# --- CSV: one figure per row ----------------------------------------------------------------


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return cell(value)


def flatten(report: dict[str, Any]) -> Iterator[list[str]]:
    """(section, group, figure, value) rows: `by_category,scheduling,created,3`."""
    for section, value in report.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, dict):
                    for figure, leaf in inner.items():
                        yield [section, key, figure, csv_cell(leaf)]
                elif isinstance(inner, list):
                    for item in inner:
                        group = item.get("id") or item.get("name") or ""
                        for figure, leaf in item.items():
                            yield [section, f"{key}/{group}", figure, csv_cell(leaf)]
                else:
                    yield [section, "", key, csv_cell(inner)]
        elif isinstance(value, list):
            for i, item in enumerate(value, 1):
                yield [section, "", str(i), csv_cell(item)]
        else:
            yield [section, "", "value", csv_cell(value)]


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "group", "figure", "value"])
    for section, group, figure, value in flatten(report):
        if section in ("distribution", "trend", "by_detail"):
            continue
        writer.writerow([section, group, figure, value])
    for b in report["distribution"]["hours_to_first_attempt"]:
        writer.writerow(["distribution", "hours_to_first_attempt", b["label"], b["count"]])
    for row in csv_desk_rows(report):
        writer.writerow(row)
    return out.getvalue()


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
    label_w, bar_w, row_h = 170, 200, 24
    height = row_h * len(items) + 8
    width = label_w + bar_w + 50
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (name, n) in enumerate(items):
        y = 4 + i * row_h
        w = round(bar_w * n / top) if top else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(name[:24])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1)}" height="{row_h - 8}" '
            f'fill="{BAR}" rx="2"></rect>'
            f'<text x="{label_w + w + 6}" y="{y + 15}">{n}</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


TREND_SERIES = (("created", "#3b6fb6"), ("closed", "#2e8b57"), ("open_at_end", "#b3261e"))


def trend_chart(title: str, days: list[dict[str, Any]]) -> str:
    """Created, closed and open at the end of each day, as three lines in inline SVG."""
    if not days:
        return f"<figure><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>"
    left, top, plot_w, plot_h = 40, 10, 380, 160
    width, height = left + plot_w + 10, top + plot_h + 60
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
            f"{escape(key.replace('_', ' '))}</text>"
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


def as_html(report: dict[str, Any]) -> str:
    title, sub = heading(report)
    t = report["totals"]
    cards = "".join(
        f'<div class="card"><b>{escape(cell(v))}</b>{escape(name)}</div>'
        for name, v in (
            ("created", t["created"]),
            ("closed", t["closed"]),
            ("open at end", t["open"]),
            ("overdue at end", t["overdue"]),
            ("first attempts reached", percent(report["first_attempts"]["reach_rate"])),
            ("repeat patients", report["repeat_patients"]),
        )
    )
    charts = "".join(
        (
            bar_chart(
                "Volume by category (created)",
                [(b["label"], b["created"]) for b in report["by_category"].values()],
            ),
            bar_chart(
                "Time to first attempt (callbacks)",
                [
                    (b["label"], b["count"])
                    for b in report["distribution"]["hours_to_first_attempt"]
                ],
            ),
            bar_chart("Closure reasons", list(report["closure_reasons"].items())),
            trend_chart("Daily trend", report["trend"]),
        )
    )
    insights = "".join(f"<li>{escape(s)}</li>" for s in report["insights"]) or (
        "<li>No pattern stands out in this period.</li>"
    )
    body = "".join(html_table(tb) for tb in tables(report))
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


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return {"text": as_text, "markdown": as_markdown, "csv": as_csv, "html": as_html}[fmt](report)
