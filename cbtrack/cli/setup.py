"""`cbtrack init`: a new store, with the practice's details asked for on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from cbtrack.cli.app import (
    app,
    state,
    warn,
)
from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import ids, render, service
else:  # loaded when a command runs, so --help stays cheap
    ids = lazy_module("cbtrack.ids")
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")


def interactive() -> bool:
    """True when a person is at a terminal (init asks questions only then)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _setup_zone(setup: service.PracticeSetup) -> ZoneInfo:
    """The zone the new practice is in (its first commit is dated there): the one given or
    asked for, else the default policy's (init_store says what is wrong with a bad one)."""
    from cbtrack.policy import Policy

    if setup.timezone and _known_zone(setup.timezone):
        return ZoneInfo(setup.timezone)
    return Policy.default().tz


def _staff_entry(text: str) -> tuple[str, service.StaffEntry]:
    user, eq, rest = text.partition("=")
    name, colon, roles = rest.rpartition(":")
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    if not eq or not colon or not user.strip() or not name.strip() or not role_list:
        raise Refused(
            "--staff takes USER=NAME:ROLE[,ROLE...], like "
            '--staff jlee="Jamie Lee:front_desk,front_desk_lead".'
        )
    return user.strip(), service.StaffEntry(name.strip(), role_list)


def _ask(question: str, default: str, ok: Callable[[str], bool], why: str) -> str:
    """Ask until the answer passes `ok`, saying `why` after a wrong one."""
    while True:
        answer = str(typer.prompt(question, default)).strip()
        if ok(answer):
            return answer
        typer.echo(why, err=True)


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _ask_setup(setup: service.PracticeSetup, ask_staff: bool) -> None:
    """Ask, at a terminal, for what the options did not give; Enter keeps the default."""
    from cbtrack.policy import Policy

    shipped = Policy.default()
    typer.echo("Setting up the practice (Enter keeps the value in brackets).")
    if setup.practice is None:
        setup.practice = typer.prompt("Practice name, as patients know it", shipped.practice)
    if setup.callback_number is None:
        setup.callback_number = _ask(
            "Number patients should call back",
            shipped.callback_number,
            lambda v: 7 <= len(ids.phone_digits(v)) <= 15,
            "A callback number has 7 to 15 digits, like +1 555 010 0123.",
        )
    if setup.timezone is None:
        setup.timezone = _ask(
            "Time zone",
            shipped.timezone,
            _known_zone,
            "That is not a time zone name; use one like America/Chicago or Europe/London.",
        )
    if not ask_staff:
        return
    typer.echo(
        "Staff, one at a time as USER=NAME:ROLE[,ROLE...], e.g. jlee=Jamie Lee:front_desk."
        f"\nRoles: {', '.join(shipped.roles)}. An empty line ends the list."
    )
    while True:
        entry = typer.prompt("Staff member", "", show_default=False).strip()
        if not entry:
            return
        try:
            user, member = _staff_entry(entry)
        except Refused as exc:
            typer.echo(exc.message, err=True)
            continue
        setup.staff[user] = member


class Signing(StrEnum):
    off = "off"
    required = "required"


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="Folder for the store (default: --store, else $CBTRACK_STORE, else here).",
        ),
    ] = None,
    practice: Annotated[
        str | None,
        typer.Option(
            "--practice", metavar="NAME", help="The practice's name, as patients know it."
        ),
    ] = None,
    callback_number: Annotated[
        str | None,
        typer.Option(
            "--callback-number", metavar="PHONE", help="The number patients should call back."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", metavar="TZ", help="Time zone, like America/Chicago (default New York)."
        ),
    ] = None,
    staff: Annotated[
        list[str] | None,
        typer.Option(
            "--staff",
            metavar="USER=NAME:ROLE[,ROLE...]",
            help="A staff member and their roles (repeatable).",
        ),
    ] = None,
    signing: Annotated[
        Signing | None,
        typer.Option(
            "--signing",
            help="required: every change is signed with the staff member's SSH key (give "
            "the keys with --key); off (the default): names are taken on trust.",
        ),
    ] = None,
    keys: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="USER=FILE",
            help="A staff member's SSH public key file (the .pub); repeatable.",
        ),
    ] = None,
) -> None:
    """Create a store: the commented policy with your practice filled in, callbacks/
    folders, a git repository, all in one commit. At a terminal, asks for what the options
    do not give. An existing cbtrack.yaml is kept, so init also turns a copied store into
    a repository.

    Example: cbtrack --as jlee init ~/callbacks --practice "Maple Street Family Medicine"
    --callback-number "+15555550123" --timezone America/Chicago
    --staff jlee="Jamie Lee:front_desk,front_desk_lead" --staff rnpatel="Riya Patel:clinical"
    """
    st = state(ctx)
    directory = _store_folder(directory or st.store_dir or os.environ.get("CBTRACK_STORE") or ".")
    setup = service.PracticeSetup(practice, callback_number, timezone)
    setup.signing = signing.value if signing else None
    _add_staff(setup, staff or [], keys or [], directory)
    new_policy = not (directory / "cbtrack.yaml").exists()
    if new_policy and interactive():
        _ask_setup(setup, ask_staff=not staff)
    written = service.init_store(directory, st.user, st.now(_setup_zone(setup)), setup)
    _say_init(directory, written, new_policy)


def _store_folder(chosen: str | Path) -> Path:
    """The folder `init` makes the store in: any path but an existing file."""
    directory = Path(chosen).expanduser()
    if directory.exists() and not directory.is_dir():
        raise Refused(f"{directory} exists and is not a folder; pick another path.")
    return directory


def _add_staff(
    setup: service.PracticeSetup, staff: list[str], keys: list[str], directory: Path
) -> None:
    """The staff members given with --staff, and the SSH public key files given for them
    with --key."""
    for entry in staff:
        user, member = _staff_entry(entry)
        setup.staff[user] = member
    for entry in keys:
        user, _, file = entry.partition("=")
        if user not in setup.staff or not file:
            raise Refused(
                f"--key {entry[:60]} needs USER=FILE for a user given with --staff, like "
                "--key rnpatel=rnpatel.pub."
            )
        from cbtrack import staffkeys

        setup.staff[user].key = staffkeys.read_public_key(Path(file), directory)


def _say_init(directory: Path, written: list[Path], new_policy: bool) -> None:
    """What `init` did: files it left untracked, then whether it checked a store, made a
    copied one a repository, or created one (and what to do next)."""
    where = directory.resolve()
    strays = service.untracked_files(directory)
    if strays:
        typer.echo(
            render.printable(
                f"Note: {len(strays)} other file(s) in {where} were left untracked; cbtrack "
                "commits only its own files (see 'git status')."
            ),
            err=True,
        )
    if not written:
        typer.echo(render.printable(f"Checked the cbtrack store in {where}: nothing was missing."))
        return
    from cbtrack.store import Store

    policy = Store(where).policy
    if not new_policy:
        typer.echo(
            render.printable(f"Made the store in {where} a repository; its cbtrack.yaml was kept.")
        )
        return
    roster = f"{len(policy.staff)} staff" if policy.staff else "no staff roster yet"
    typer.echo(
        render.printable(
            f"Created the cbtrack store for {policy.practice} in {where} (one commit).\n"
            f"Time zone {policy.timezone}; call hours {policy.call_hours}; {roster}.\n"
            "Next: read cbtrack.yaml (each key is explained in it), change what your "
            "practice does\ndifferently, then run 'cbtrack validate --commit'.",
            newlines=True,
        )
    )
    warn(policy.placeholders())
