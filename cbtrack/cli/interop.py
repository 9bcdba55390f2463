"""Fitting the practice's other tools: `import missed-calls` and `export`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli import reports  # periods read as the report reads them; listed after it
from cbtrack.cli.app import app, state, warn
from cbtrack.errors import Refused, StoreError, UsageProblem
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from cbtrack import files, importer, render, service, yamlio
    from cbtrack.model import Callback
    from cbtrack.policy import Policy
    from cbtrack.store import Store
else:  # loaded when a command runs, so --help stays cheap
    importer = lazy_module("cbtrack.importer")
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")
    files = lazy_module("cbtrack.files")
    yamlio = lazy_module("cbtrack.yamlio")

MAX_IMPORT_BYTES = 50_000_000
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

import_app = typer.Typer(
    no_args_is_help=True,
    help="Bring records in from the practice's other tools.\n\n"
    "Example: cbtrack --as jlee import missed-calls calls.csv",
)
app.add_typer(import_app, name="import")


@import_app.command("missed-calls")
def missed_calls(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The phone system's missed-call export (CSV); - reads stdin."
        ),
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help="Read the export's COLUMN as FIELD (called_at, phone, name, duration, "
            "voicemail); repeatable. Two columns mapped to called_at are read as date, time.",
        ),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            metavar="ORDER",
            help="The file's day/month order: MDY (11/26/2026), DMY (26/11/2026), YMD, or a "
            "strftime form like '%d.%m.%Y %H:%M'. Default: what the file's unambiguous dates "
            "show; a row that reads only the other way, or either way when nothing settles "
            "it, is a bad row.",
        ),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Import the good rows even if some rows are bad."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be imported; write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {added, skipped, bad} as JSON and nothing else.")
    ] = False,
) -> None:
    """Import a phone system's missed-call export (CSV) as missed_call callbacks.

    The header names the columns called_at and phone, and optionally name, duration and
    voicemail (the transcript, which triage reads like a reason). Each call becomes a
    callback created at the call time; a call already imported (same time, same number)
    is skipped, so overlapping exports are safe. One commit for the whole import.

    Day and month are read in one order for the whole file: --date-format states it,
    else the dates that read only one way (26/11/2026) decide it. A row that reads only
    the other way, or either way when nothing decides, is a bad row, never read the other
    way round. A number may carry an extension (x123, ext. 123), kept apart.

    Example: cbtrack --as jlee import missed-calls calls.csv --map "Caller ID=phone"
    """
    st = state(ctx)
    now = st.now()
    parsed = _read_calls(st.tz(), now, file, mapping, date_format, skip_bad)
    progress = _progress if sys.stderr.isatty() and not as_json else None
    done = service.import_missed_calls(
        st.store(), st.user, now, parsed.calls, dry_run=dry_run, progress=progress
    )
    _say_imported(done, len(parsed.bad), dry_run, as_json)


def _read_calls(
    tz: ZoneInfo,
    now: datetime,
    file: Path,
    mapping: list[str] | None,
    date_format: str | None,
    skip_bad: bool,
) -> importer.Parsed:
    """The export's calls, read with the options; each bad row named on stderr, and none
    imported when there is one, unless --skip-bad."""
    fields = importer.parse_mapping(mapping or [])
    order = None
    if date_format is not None:
        try:
            order = importer.check_date_format(date_format)
        except Refused as exc:
            raise UsageProblem(exc.message) from None
    parsed = importer.read_calls(_read_export(file), fields, tz, now, order)
    for bad in parsed.bad:
        what = f"{'Left out' if skip_bad else 'Bad row'}: line {bad.line}: {bad.problem}."
        typer.echo(render.printable(what), err=True)  # a problem may quote a column name
    if parsed.bad and not skip_bad:
        n = len(parsed.bad)
        lines = ", ".join(str(b.line) for b in parsed.bad[:10]) + (", ..." if n > 10 else "")
        raise Refused(
            f"{n} row{'s are' if n != 1 else ' is'} bad (line{'s' if n != 1 else ''} {lines}); "
            "nothing was imported: fix the file, or add --skip-bad to import the other rows."
        )
    return parsed


def _say_imported(done: service.Imported, n_bad: int, dry_run: bool, as_json: bool) -> None:
    """What the import did (or would do): its warnings on stderr, then the counts, as JSON
    or a sentence; in a dry run, also each call and the callback it would become."""
    warn(done.warnings)
    counts = {"added": len(done.added), "skipped": len(done.skipped), "bad": n_bad}
    if as_json:
        typer.echo(render.to_json({**counts, "dry_run": dry_run} if dry_run else counts))
        return
    if dry_run:
        for p in done.added:
            typer.echo(
                f"line {p.call.line}: call at {p.call.at:%a %Y-%m-%d %H:%M} -> "
                f"{p.plan.urgency.value}, {p.plan.owner}, due {p.plan.due_at:%a %m-%d %H:%M}"
            )
    verb = "Would add" if dry_run else "Added"
    typer.echo(
        f"{verb} {counts['added']} missed call{'s' if counts['added'] != 1 else ''}; "
        f"skipped {counts['skipped']} already imported"
        + (f"; {n_bad} bad row{'s' if n_bad != 1 else ''} left out" if n_bad else "")
        + "."
    )


def _read_export(file: Path) -> str:
    """The export's text: a file (a regular one, of sane size), or stdin for `-`."""
    if str(file) == "-":
        raw = sys.stdin.buffer.read(MAX_IMPORT_BYTES + 1)
        try:
            return yamlio.decode_text(raw, MAX_IMPORT_BYTES, "The input")
        except StoreError as exc:
            raise Refused(exc.message) from None
    try:
        return yamlio.read_text(file.expanduser(), MAX_IMPORT_BYTES, str(file))
    except StoreError as exc:  # the file to import is input, not the store: exit 1
        raise Refused(exc.message) from None


def _progress(step: str, n: int, total: int) -> None:
    """A count that rewrites itself on a terminal, every 25 calls and at the end."""
    if n == total or n % 25 == 0:
        typer.echo(f"\r{step} {n}/{total}...", err=True, nl=n == total)


class ExportFormat(StrEnum):
    fhir = "fhir"
    csv = "csv"
    json = "json"


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="fhir (an R4 Bundle), csv or json.  [required]"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only callbacks created, attempted, changed or closed at or after WHEN.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            help="... and before WHEN (a date includes that whole day).",
        ),
    ] = None,
    only_open: Annotated[bool, typer.Option("--open", help="Only open callbacks.")] = False,
    only_closed: Annotated[bool, typer.Option("--closed", help="Only closed callbacks.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="FILE",
            help="Write to FILE (owner-only, atomically; outside the store) instead of "
            "stdout; at a terminal, say where on stderr.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """Export callbacks with patient data for another system: a FHIR R4 Bundle (Tasks,
    Communications, Patients), CSV (one row per callback) or JSON (the records).

    The export holds names, phones and reasons: keep it as you keep the health record.
    It is never written into the store, so it is never committed.

    Example: cbtrack export --format fhir --since 2026-11-01 --output ~/out/november.json
    """
    fmt = _export_format(fmt, as_json, only_open, only_closed)
    st = state(ctx)
    store = st.store()
    now = st.now()
    start = reports.period_start(st, since) if since else None
    end = reports.period_end(st, until) if until else None
    if start and end and start >= end:
        raise Refused("The period is empty: --since must be earlier than --until.")
    target = _output_path(store, output) if output is not None else None
    which = "open" if only_open else "closed" if only_closed else None
    records = _export_records(store, start, end, which)
    text = _export_text(store.policy, fmt, records, now)
    if target is None:
        typer.echo(text, nl=False)
        return
    files.write_output(target, text)
    n = len(records)
    reports.say_written(f"the export of {n} callback{'s' if n != 1 else ''}", target)


def _export_format(
    fmt: ExportFormat | None, as_json: bool, only_open: bool, only_closed: bool
) -> ExportFormat:
    """The format asked for (`--json` is `--format json`), once the options agree."""
    if as_json and fmt not in (None, ExportFormat.json):
        raise UsageProblem("--json is --format json; give only one of them.")
    fmt = ExportFormat.json if as_json else fmt
    if fmt is None:
        raise UsageProblem("Say which format with --format fhir, --format csv or --format json.")
    if only_open and only_closed:
        raise UsageProblem("--open and --closed exclude each other; give one, or neither for all.")
    return fmt


def _export_records(
    store: Store, start: datetime | None, end: datetime | None, which: str | None
) -> list[Callback]:
    """The callbacks to export (`which` is open, closed or None for all), touched in the
    period, oldest first; read from only the records that can matter."""
    from cbtrack import export

    if which == "open":
        pool = iter(store.open_records())
    elif start is not None or end is not None:  # skips months that cannot matter
        pool = store.records_for_period(start or EARLIEST, end or LATEST)
    elif which == "closed":
        pool = store.closed_records()
    else:
        pool = store.all_records()
    return export.select(pool, start, end, which)


def _export_text(policy: Policy, fmt: ExportFormat, records: list[Callback], now: datetime) -> str:
    """The export's text in `fmt`: a FHIR R4 Bundle, CSV, or JSON."""
    from cbtrack import export

    if fmt == ExportFormat.fhir:
        return export.to_fhir(policy, records, now)
    if fmt == ExportFormat.csv:
        return export.to_csv(records, policy.country)
    return export.to_json(records, policy.country) + "\n"


def _output_path(store: Store, output: Path) -> Path:
    """A regular file, or a new file in an existing folder, outside the store."""
    path = output.expanduser()
    files.check_output(path)  # a regular file or a new one in an existing folder, as for reports
    return files.outside_store(store.root, path, "export")
