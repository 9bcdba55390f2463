"""`cbtrack alerts` (for cron), and the alerts an emergency sends right after its commit.
Each: parse, call `cbtrack.alertrun`, print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli.app import JsonOpt, State, app, printable, state, unreadable_exit, warn
from cbtrack.errors import CbtrackError
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import alertrun, render
else:  # loaded when a command runs, so --help stays cheap
    alertrun = lazy_module("cbtrack.alertrun")
    render = lazy_module("cbtrack.render")


@app.command("alerts")
def alerts_cmd(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what is due; send and write nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send each alert the policy's alert rules make due, once. A sent alert is recorded
    as an 'alerted' event (rule, channel, who was told) in a commit by the acting user, so
    desks that share the store through git do not send it again. Quiet and exit 0 when
    nothing failed; exit 1 naming each alert that failed (it is tried again next run).
    Run it from cron every few minutes as a staff user (--as).

    Example: cbtrack --store ~/callbacks --as lee alerts
    """
    st = state(ctx)
    store = st.store()
    now = st.now()
    out = alertrun.run(store, st.user, now, dry_run=dry_run)
    if as_json:
        typer.echo(render.to_json(alertrun.as_json(store.policy, out, now, dry_run)))
    elif dry_run:
        for due in out.due:
            typer.echo(f"would send the {due.label} to {printable(due.told)}")
        if not out.due:
            typer.echo("No alert is due.")
    _say_failures(out, retry="the next run tries again")
    unreadable_exit(out.problems)
    if not out.ok:
        raise typer.Exit(1)


def _say_failures(out: alertrun.Outcome, retry: str, said_as: str = "Error") -> None:
    """Each failure in one sentence: an `Error` where the command then fails, a `Warning`
    where it succeeds all the same (the callback `add` filed is saved)."""
    for due, why in out.failed:
        typer.echo(f"{said_as}: the {due.label} was not sent: {printable(why)}; {retry}.", err=True)
    for cid, why in out.unrecorded:
        typer.echo(
            f"{said_as}: the alerts sent for {cid} could not be recorded ({printable(why)}); "
            "they will be sent again by the next run unless that is fixed.",
            err=True,
        )
    if out.busy:
        typer.echo(
            f"{said_as}: another alerts run on this desk is still sending, so nothing was "
            f"sent; {retry}.",
            err=True,
        )


def send_now(st: State, callback_id: str) -> None:
    """An emergency's alerts, right after its commit. The callback is saved whatever
    happens here: a failure is said on stderr in one sentence, and the next
    `cbtrack alerts` sends what was not sent."""
    store = st.store()
    if not store.policy.alerts:
        return
    retry = "'cbtrack alerts' tries again on its next run"
    try:
        out = alertrun.run(store, st.user, st.now(), ids=[callback_id], wait=alertrun.ADD_WAIT)
    except CbtrackError as exc:
        warn([f"the alerts for {callback_id} were not sent ({exc.message}); {retry}."])
        return
    for due in out.sent:
        typer.echo(f"Alert sent: {due.label} to {printable(due.told)}.", err=True)
    _say_failures(out, retry, said_as="Warning")
