"""`cbtrack doctor`: find what crashes, kills and hand edits leave behind; repair the
safe part with --repair."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from cbtrack.cli.app import JsonOpt, app, state
from cbtrack.errors import CbtrackError, Refused
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import doctor as doc, render
    from cbtrack.store import Store
else:  # loaded when the command runs, so --help stays cheap
    doc = lazy_module("cbtrack.doctor")
    render = lazy_module("cbtrack.render")


@app.command(
    short_help="Check the store for what a crash, a hand edit or a copy can leave behind; "
    "--repair fixes what it safely can."
)
def doctor(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Repair what is safe: make the store owner-only, remove stale temp and git "
            "lock files, finish an interrupted change, drop the older copy of a record in "
            "both folders, move a record to the folder its status names. A change no "
            "cbtrack command made (a hand edit) is never committed: it is named, with how "
            "to keep it with git or drop it.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the store for stale lock and temp files, interrupted changes, records in
    both folders or the wrong one, file names that differ from IDs, files under
    callbacks/ that are not records, what `validate` reports (records the policy does
    not fit), files others can read, and uncommitted records. Only reports (exit 1 if
    anything is wrong) unless --repair is given.

    Example: cbtrack --as jlee doctor --repair
    """
    st = state(ctx)
    store = st.store()
    user = st.user
    if repair:
        user = _repair_user(st.user, store)
    now = st.now(_tz_or_default(store))
    problems = doc.examine(store, now, user, repair)
    left = [p for p in problems if not p.repaired]
    zone_note = _zone_note(store, now)
    if as_json:
        payload = {
            "store": str(store.root),
            "repair": repair,
            "healthy": not left,
            "problems": [p.as_dict() for p in problems],
            "notes": [zone_note] if zone_note else [],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        for p in problems:
            if p.repaired:
                mark = "repaired"
            elif p.repairable:
                mark = "repairable with --repair"
            else:
                mark = "needs a person"
            typer.echo(render.printable(f"{p.kind}: {p.path}: {p.detail} [{mark}]"))
        if not problems:
            typer.echo("The store is healthy.")
        elif not left:
            typer.echo(f"Repaired {len(problems)} problem(s); the store is healthy.")
        else:
            typer.echo(f"{len(left)} problem(s) left.")
        if zone_note:
            typer.echo(f"Note: {zone_note}.", err=True)
    if left:
        raise typer.Exit(1)


def _repair_user(user: str | None, store: Store) -> str:
    """Repairs commit, so they need someone to act as: on the roster when the policy
    loads; any well-formed name when it does not (so a broken policy can be looked at)."""
    try:
        policy = store.policy
    except CbtrackError:
        if not user:
            raise Refused("Say who you are with --as USER or by setting CBTRACK_USER.") from None
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", user):
            raise Refused("A user name may hold only letters, digits, '.', '_' and '-'.") from None
        return user
    from cbtrack import identity

    return identity.actor(store.root, policy, user)


def _zone_note(store: Store, now: datetime) -> str | None:
    """Not a problem with the store (the exit code does not change): a word for whoever
    writes the crontab."""
    from cbtrack import clock

    try:
        tz = store.policy.tz
    except CbtrackError:
        return None
    return clock.machine_zone_differs(tz, now)


def _tz_or_default(store: Store) -> ZoneInfo:
    try:
        return store.policy.tz
    except CbtrackError:
        from cbtrack.policy import Policy

        return Policy.default().tz
