"""The lead's commands: the end-of-day `review` and the period `report`."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbtrack.cli import core  # noqa: F401  (day-one commands are listed first in --help)
from cbtrack.cli.app import (
    JsonOpt,
    State,
    app,
    color_ok,
    printable,
    state,
    term_width,
    unreadable_exit,
    warn,
)
from cbtrack.errors import Refused, UsageProblem
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import clock, files, queuefmt, render, review, service, yamlio
    from cbtrack.model import Callback
    from cbtrack.policy import Policy
    from cbtrack.store import Store
else:  # loaded when a command runs, so --help stays cheap
    clock = lazy_module("cbtrack.clock")
    queuefmt = lazy_module("cbtrack.queuefmt")
    render = lazy_module("cbtrack.render")
    review = lazy_module("cbtrack.review")
    service = lazy_module("cbtrack.service")
    files = lazy_module("cbtrack.files")
    yamlio = lazy_module("cbtrack.yamlio")


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


@app.command("review")
def review_cmd(
    ctx: typer.Context,
    roll: Annotated[
        bool,
        typer.Option(
            "--roll",
            help="Give every open callback an owner and a next touch for the next business day.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --roll: print the roll-over; write nothing.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 if anything due today has no attempt; print nothing otherwise (for cron).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """End-of-day review: due today, no attempt, waiting on the patient, waiting on internal
    work, needing escalation, and closable. --roll hands unresolved callbacks to tomorrow.

    Example: cbtrack --as lead review --roll --dry-run
    """
    if dry_run and not roll:
        raise UsageProblem("--dry-run goes with --roll; add --roll or leave --dry-run out.")
    if check and (roll or as_json):
        raise UsageProblem("--check runs on its own; leave out --roll and --json.")
    st = state(ctx)
    store = st.store()
    now = st.now()
    if check:
        _check_attempted(store, now)
        return
    if roll:
        _roll(st, now, dry_run, as_json)
        return
    unreadable: list[str] = []
    records = store.open_views(unreadable)  # read-only views: no model per record
    found = review.buckets(store.policy, records, now)
    alerted = _alerts_today(st, now)
    if as_json:
        data: dict[str, object] = {b: [cb.id for cb in found[b]] for b in review.BUCKETS}
        if alerted is not None:
            data["alerts"] = alerted
        typer.echo(render.to_json(data))
    else:
        _print_review(store.policy, now, records, found, alerted)
    unreadable_exit(unreadable)


def _check_attempted(store: Store, now: datetime) -> None:
    """`review --check`: refuse (exit 1) when anything due today or overdue has no attempt
    yet; say nothing otherwise."""
    unreadable: list[str] = []
    missing = review.unattempted_due_today(store.policy, store.open_views(unreadable), now)
    unreadable_exit(unreadable)
    if missing:
        n = len(missing)
        raise Refused(
            f"{n} callback{'s' if n != 1 else ''} due today or overdue "
            f"{'have' if n != 1 else 'has'} no attempt yet: {', '.join(missing)}; "
            "see 'cbtrack review'."
        )


def _print_review(
    policy: Policy,
    now: datetime,
    records: list[Callback],
    found: dict[str, list[Callback]],
    alerted: dict[str, object] | None,
) -> None:
    """The review on a terminal: a heading, then each bucket's callbacks as queue lines
    (the buckets with none named together), and what to do next."""
    local = now.astimezone(policy.tz)
    width = term_width()
    total = len(records)
    typer.echo(f"End-of-day review, {local:%a %d %b %H:%M} ({policy.timezone}): {total} open")
    if alerted is not None:
        typer.echo(_alerts_line(alerted))
    if not total:
        typer.echo("Nothing is open: there is nothing to review.")
        return
    _print_buckets(policy, now, records, found, width)
    empty = [review.TITLES[b] for b in review.BUCKETS if not found[b]]
    if empty:
        typer.echo("")
        for line in render.wrap("Nothing under: " + "; ".join(empty) + ".", width):
            typer.echo(line)
    typer.echo("")
    for line in render.wrap(
        "Next: 'cbtrack review --roll' gives each open callback that needs one an owner "
        "and a next touch on the next business day.",
        width,
    ):
        typer.echo(line)


def _print_buckets(
    policy: Policy,
    now: datetime,
    records: list[Callback],
    found: dict[str, list[Callback]],
    width: int,
) -> None:
    """Each bucket with callbacks in it: its title and count, and its callbacks as queue
    lines, laid out in columns shared by every bucket."""
    memo: dict[object, object] = {}  # a callback under several headings is laid out once
    line_of = {cb.id: queuefmt.line_of(policy, cb) for cb in records}
    moment = now.timestamp()
    layout = queuefmt.queue_layout(list(line_of.values()), moment, width, memo)
    header = "\n".join(queuefmt.queue_header(layout))
    for bucket in review.BUCKETS:
        if not found[bucket]:
            continue
        typer.echo(f"\n{review.TITLES[bucket]}: {len(found[bucket])}")
        typer.echo(header)
        shown = [line_of[cb.id] for cb in found[bucket]]
        lines = queuefmt.queue_lines(shown, moment, color_ok(), width, layout, memo)
        typer.echo("\n".join(lines[len(queuefmt.queue_header(layout)) :]))


def _alerts_today(st: State, now: datetime) -> dict[str, object] | None:
    """Alerts sent today (practice time zone), when the policy has alert rules: every
    callback alerted today was open then, so it is open now or was closed today."""
    store = st.store()
    policy = store.policy
    if not policy.alerts:
        return None
    from cbtrack import alerts

    start = datetime.combine(now.astimezone(policy.tz).date(), time(0), tzinfo=policy.tz)
    end = start + timedelta(days=1)
    return alerts.sent_between(store.records_for_period(start, end), start, end)


def _alerts_line(a: dict[str, object]) -> str:
    if not a["sent"]:
        return "Alerts today: none sent."
    by_rule = a["by_rule"]
    assert isinstance(by_rule, dict)
    rules = ", ".join(f"{rule} {n}" for rule, n in by_rule.items())
    return (
        f"Alerts today: {a['sent']} sent ({rules}), typically "
        f"{a['median_minutes_after_event']:g} min after the event, at most "
        f"{a['max_minutes_after_event']:g} min."
    )


def _roll(st: State, now: datetime, dry_run: bool, as_json: bool) -> None:
    store = st.store()
    policy = store.policy
    if dry_run:
        rolls = review.plan_roll(policy, store.open_records(), now)
    else:
        rolls = service.roll_over(store, st.user, now)
    rolled = [r.callback_id for r in rolls if r.urgent_uncalled]
    if as_json:
        typer.echo(render.to_json({"dry_run": dry_run, "rolled": [r.as_json() for r in rolls]}))
    elif not rolls:
        typer.echo(
            "Nothing to roll over: every open callback is already set for the next business day."
        )
    else:
        verb = "would roll" if dry_run else "rolled"
        for line in render.roll_lines(policy, rolls, now, verb, term_width()):
            typer.echo(line)
        typer.echo(f"{len(rolls)} callback(s) {verb} over to {rolls[0].day:%a %d %b}.")
    if rolled:  # last, where it is seen: the roll never hides an uncalled clinical callback
        n = len(rolled)
        warn([
            f"{n} emergency or clinical callback{'s' * (n != 1)} due today with no call yet "
            f"{'would be' if dry_run else 'was' if n == 1 else 'were'} rolled over: "
            f"{', '.join(rolled)}; call {'it' if n == 1 else 'them'} now, or hand "
            f"{'it' if n == 1 else 'them'} to the clinician on call before leaving."
        ])  # fmt: skip


def period_start(st: State, text: str) -> datetime:
    """A date means its first moment in the practice's time zone."""
    tz = st.tz()
    low = text.strip().lower()
    today = st.now().astimezone(tz).date()
    if low in ("today", "yesterday"):
        d = today - timedelta(days=1 if low == "yesterday" else 0)
        return datetime.combine(d, time(0), tzinfo=tz)
    if clock.is_date_only(text):
        return st.when(text.strip())
    return st.when(text)


def period_end(st: State, text: str) -> datetime:
    """A date in --until includes that whole day: the period ends at the next midnight."""
    low = text.strip().lower()
    if low in ("today", "yesterday") or clock.is_date_only(text):
        first = period_start(st, text)
        nxt = first.date() + timedelta(days=1)
        return datetime.combine(nxt, time(0), tzinfo=st.tz())
    return st.when(text)


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Start: an ISO "
            "date or time, 'today' or 'yesterday' (default: 6 days before today).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            help="End: an ISO date (the whole day counts) or time (default: the end of today).",
        ),
    ] = None,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="Output format (default: text).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="FILE",
            help="Write to FILE (atomically, owner-only) instead of stdout; at a terminal, "
            "say where on stderr. With --format csv, a folder gets one file per table.",
        ),
    ] = None,
    include_phi: Annotated[
        bool,
        typer.Option(
            "--include-phi",
            help="Add patient names, phones, "
            "birth dates, MRNs and reasons (default: de-identified).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Figures for a period: volume, speed, reach, closure reasons, repeat patients,
    breakdowns by category, urgency, owner and source, and insights. De-identified unless
    --include-phi.

    Example: cbtrack --store ~/callbacks report --since 2026-11-01 --until 2026-11-30
    --format html --output november.html
    """
    if as_json and fmt not in (None, Format.json):
        raise UsageProblem(f"--json is --format json, not {fmt}; give only one of them.")
    chosen = Format.json if as_json else (fmt or Format.text)
    st = state(ctx)
    store = st.store()
    now = st.now()
    start, end = _report_period(st, now, since, until)
    target = _report_target(store, output, chosen, include_phi) if output is not None else None
    figures = _figures(store, start, end, now, include_phi)
    _write_report(figures, chosen, store.policy, target)


def _report_period(
    st: State, now: datetime, since: str | None, until: str | None
) -> tuple[datetime, datetime]:
    """The report's [start, end): by default the last seven days, today included."""
    tz = st.tz()
    end = period_end(st, until or "today")
    if since:
        start = period_start(st, since)
    else:
        first = now.astimezone(tz).date() - timedelta(days=6)
        start = datetime.combine(first, time(0), tzinfo=tz)
    if start >= end:
        raise Refused("The period is empty: --since must be earlier than --until.")
    return start, end


def _report_target(store: Store, output: Path, chosen: Format, include_phi: bool) -> Path:
    """Where `--output` writes: a file that may be written (or, for CSV, a folder), and
    never inside the store with patient data in it."""
    output = output.expanduser()
    if not (chosen == Format.csv and output.is_dir() and not output.is_symlink()):
        files.check_output(output)
    if include_phi:
        output = files.outside_store(store.root, output, "report with --include-phi")
    return output


def _figures(
    store: Store, start: datetime, end: datetime, now: datetime, include_phi: bool
) -> dict[str, Any]:
    """The report's figures for [start, end), read from one consistent state of the store."""
    from cbtrack import reportrows

    with store.read_lock():  # never half a sync
        return reportrows.from_store(store, start, end, now, include_phi=include_phi)


def _write_report(
    figures: dict[str, Any], chosen: Format, policy: Policy, target: Path | None
) -> None:
    """The report in the chosen format: on stdout, in the target file, or (CSV to a
    folder) one file per table."""
    from cbtrack import reportfmt

    labels = reportfmt.Labels.of(policy)
    if target is not None and chosen == Format.csv and target.is_dir():
        tables = reportfmt.csv_tables(figures, labels)
        for name, part in tables:
            files.write_output(target / name, part)
        say_written(f"the report's {len(tables)} tables", target)
        return
    text = reportfmt.render(figures, chosen.value, labels)
    if target is None:
        typer.echo(text, nl=False)
        return
    files.write_output(target, text)
    say_written("the report", target)


def say_written(what: str, path: Path) -> None:
    """After an `--output` was written: one line on stderr saying where, at a terminal.
    From cron or a script it stays silent, as every command that succeeds does (cron
    mails whatever a job prints)."""
    if sys.stderr.isatty():
        typer.echo(f"Wrote {what} to {printable(str(path))} (readable by you only).", err=True)
