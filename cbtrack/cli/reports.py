"""The lead's commands: the end-of-day `review` and the period `report`."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli import core  # noqa: F401  (day-one commands are listed first in --help)
from cbtrack.cli.app import JsonOpt, State, app, color_ok, state, term_width, unreadable_exit
from cbtrack.errors import Refused, UsageProblem
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import clock, files, queuefmt, render, review, service, yamlio
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
    policy = store.policy
    now = st.now()
    unreadable: list[str] = []
    if check:
        missing = review.unattempted_due_today(policy, store.open_views(unreadable), now)
        unreadable_exit(unreadable)
        if missing:
            n = len(missing)
            raise Refused(
                f"{n} callback{'s' if n != 1 else ''} due today or overdue "
                f"{'have' if n != 1 else 'has'} no attempt yet: {', '.join(missing)}; "
                "see 'cbtrack review'."
            )
        return
    if roll:
        _roll(st, now, dry_run, as_json)
        return
    records = store.open_views(unreadable)  # read-only views: no model per record
    found = review.buckets(policy, records, now)
    alerted = _alerts_today(st, now)
    if as_json:
        data: dict[str, object] = {b: [cb.id for cb in found[b]] for b in review.BUCKETS}
        if alerted is not None:
            data["alerts"] = alerted
        typer.echo(render.to_json(data))
        unreadable_exit(unreadable)
        return
    total = len(records)
    local = now.astimezone(policy.tz)
    width = term_width()
    typer.echo(f"End-of-day review, {local:%a %d %b %H:%M} ({policy.timezone}): {total} open")
    if alerted is not None:
        typer.echo(_alerts_line(alerted))
    if not total:
        typer.echo("Nothing is open: there is nothing to review.")
        unreadable_exit(unreadable)
        return
    memo: dict[object, object] = {}  # a callback under several headings is laid out once
    line_of = {cb.id: queuefmt.line_of(policy, cb) for cb in records}
    moment = now.timestamp()
    layout = queuefmt.queue_layout(list(line_of.values()), moment, width, memo)
    header = "\n".join(queuefmt.queue_header(layout))
    empty = [review.TITLES[b] for b in review.BUCKETS if not found[b]]
    for bucket in review.BUCKETS:
        if not found[bucket]:
            continue
        typer.echo(f"\n{review.TITLES[bucket]}: {len(found[bucket])}")
        typer.echo(header)
        shown = [line_of[cb.id] for cb in found[bucket]]
        lines = queuefmt.queue_lines(shown, moment, color_ok(), width, layout, memo)
        typer.echo("\n".join(lines[len(queuefmt.queue_header(layout)) :]))
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
    unreadable_exit(unreadable)


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
    if as_json:
        typer.echo(render.to_json({"dry_run": dry_run, "rolled": [r.as_json() for r in rolls]}))
        return
    if not rolls:
        typer.echo(
            "Nothing to roll over: every open callback is already set for the next business day."
        )
        return
    verb = "would roll" if dry_run else "rolled"
    for line in render.roll_lines(policy, rolls, now, verb, term_width()):
        typer.echo(line)
    day = rolls[0].day
    typer.echo(f"{len(rolls)} callback(s) {verb} over to {day:%a %d %b}.")


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
            help="Write to FILE (atomically, owner-only) instead of stdout; print nothing. "
            "With --format csv, a folder gets one file per table.",
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
    policy = store.policy
    now = st.now()
    end = period_end(st, until or "today")
    if since:
        start = period_start(st, since)
    else:
        first = now.astimezone(policy.tz).date() - timedelta(days=6)
        start = datetime.combine(first, time(0), tzinfo=policy.tz)
    if start >= end:
        raise Refused("The period is empty: --since must be earlier than --until.")
    if output is not None:
        output = output.expanduser()
        if not (chosen == Format.csv and output.is_dir() and not output.is_symlink()):
            files.check_output(output)
        if include_phi:
            output = files.outside_store(store.root, output, "report with --include-phi")
    from cbtrack import reportfmt, reportrows

    with store.read_lock():  # one consistent state, never half a sync
        figures = reportrows.from_store(store, start, end, now, include_phi=include_phi)
    labels = reportfmt.Labels.of(policy)
    if output is not None and chosen == Format.csv and output.is_dir():
        for name, part in reportfmt.csv_tables(figures, labels):
            files.write_output(output / name, part)
        return
    text = reportfmt.render(figures, chosen.value, labels)
    if output is None:
        typer.echo(text, nl=False)
        return
    files.write_output(output, text)
