"""Day-one commands: init, add, attempt, close, reopen, show, queue, validate, and the
ownership, urgency and dependency commands. Each: parse, call the service, print."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from cbtrack.cli import alerting, intake
from cbtrack.cli.app import (
    JsonOpt,
    State,
    app,
    color_ok,
    state,
    term_width,
    unreadable_exit,
    warn,
)
from cbtrack.enums import (
    AttemptMethod,
    AttemptResult,
    CloseReason,
    ContactMethod,
    DependencyKind,
    Source,
    Status,
    Urgency,
    VoicemailConsent,
)
from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import clock, model, queuefmt, render, service
else:  # loaded when a command runs, so --help stays cheap
    clock = lazy_module("cbtrack.clock")
    model = lazy_module("cbtrack.model")
    queuefmt = lazy_module("cbtrack.queuefmt")
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")


class YesNo(StrEnum):
    yes = "yes"
    no = "no"


IdArg = Annotated[
    str,
    typer.Argument(metavar="ID", help="The callback ID, or its last 5 characters."),
]


def _print_outcome(st: State, out: service.Outcome, as_json: bool, text: str) -> None:
    warn(st.notes + out.warnings)
    if as_json:
        typer.echo(render.record_json(out.record))
    else:
        typer.echo(text)


def _details(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise Refused("--detail takes KEY=VALUE, like --detail visit_type=annual.")
        if key.strip() in out:
            raise Refused(f"--detail {key.strip()} is given twice; give each detail once.")
        out[key.strip()] = value.strip()
    return out


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
            lambda v: 7 <= len(model.phone_digits(v)) <= 15,
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
    chosen = directory or st.store_dir or os.environ.get("CBTRACK_STORE") or "."
    directory = Path(chosen).expanduser()
    if directory.exists() and not directory.is_dir():
        raise Refused(f"{directory} exists and is not a folder; pick another path.")
    setup = service.PracticeSetup(practice, callback_number, timezone)
    setup.signing = signing.value if signing else None
    for entry in staff or []:
        user, member = _staff_entry(entry)
        setup.staff[user] = member
    for entry in keys or []:
        user, _, file = entry.partition("=")
        if user not in setup.staff or not file:
            raise Refused(
                f"--key {entry[:60]} needs USER=FILE for a user given with --staff, like "
                "--key rnpatel=rnpatel.pub."
            )
        from cbtrack import staffkeys

        setup.staff[user].key = staffkeys.read_public_key(Path(file), directory)
    new_policy = not (directory / "cbtrack.yaml").exists()
    if new_policy and interactive():
        _ask_setup(setup, ask_staff=not staff)
    written = service.init_store(directory, st.user, st.now(_setup_zone(setup)), setup)
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


@app.command()
def add(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option("--patient", help="Patient's name.")],
    phone: Annotated[str, typer.Option("--phone", help="Phone number, 7 to 15 digits.")],
    category: Annotated[str, typer.Option("--category", help="A category from the policy.")],
    reason: Annotated[str, typer.Option("--reason", help="One line, in the patient's terms.")],
    method: Annotated[
        ContactMethod, typer.Option("--method", help="Preferred contact method.")
    ] = ContactMethod.phone,
    voicemail: Annotated[
        VoicemailConsent, typer.Option("--voicemail", help="Voicemail consent.")
    ] = VoicemailConsent.minimal,
    window: Annotated[
        str | None,
        typer.Option(
            "--window", metavar="HH:MM-HH:MM", help="When the patient asked to be called."
        ),
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option("--detail", metavar="KEY=VALUE", help="A category note field (repeatable)."),
    ] = None,
    urgency: Annotated[
        Urgency | None, typer.Option("--urgency", help="Urgency (triage may raise it).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="A role or staff user (default: the category's).")
    ] = None,
    due: Annotated[
        str | None, typer.Option("--due", help="Due time: ISO 8601, 15:00, 'tomorrow 9:00'.")
    ] = None,
    source: Annotated[
        Source, typer.Option("--source", help="How the request came in.")
    ] = Source.phone,
    mrn: Annotated[str | None, typer.Option("--mrn", help="Medical record number.")] = None,
    dob: Annotated[str | None, typer.Option("--dob", help="Date of birth, YYYY-MM-DD.")] = None,
    language: Annotated[str | None, typer.Option("--language", help="Preferred language.")] = None,
    email: Annotated[
        str | None,
        typer.Option(
            "--email", metavar="ADDRESS", help="Email address (needed with --method email)."
        ),
    ] = None,
    next_action: Annotated[
        str | None, typer.Option("--next", help="What should happen next.")
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            metavar="WHEN",
            help="A procedure date or expiry: due before it by the policy's deadline_lead.",
        ),
    ] = None,
    related: Annotated[
        str | None,
        typer.Option("--related", metavar="ID", help="An earlier callback this one follows up."),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", help="What the patient said, in more words (triage reads it)."),
    ] = None,
    symptoms: Annotated[
        YesNo | None,
        typer.Option(
            "--symptoms",
            help="Is the patient describing new or worsening symptoms, a reaction to a "
            "medicine, or harm? yes makes the callback at least clinical. Asked on a terminal "
            "when left out (no default: y or n).",
        ),
    ] = None,
    red_flags: Annotated[
        YesNo | None,
        typer.Option(
            "--red-flags",
            help="Does any sign on the policy's red-flag checklist (triage.red_flags) apply? "
            "yes makes the callback an emergency. Asked on a terminal after a yes to "
            "--symptoms.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a callback; triage sets owner, urgency and due time from the policy. Prints the ID.
    Each category needs its own details: 'cbtrack categories' lists them. Warns when an open
    callback has the same phone number or MRN.

    Triage reads the reason, the details and --note. At a terminal it then asks whether the
    patient describes symptoms and, after a yes, reads out the red-flag checklist; without
    one, give --symptoms and --red-flags. An emergency prints the emergency script on
    stderr at once: read it to the patient while they are on the line; then the policy's
    alert rules for emergencies are sent (see 'cbtrack alerts').

    Example: cbtrack --as jlee add --patient "Ada Example" --phone +15550100123
    --category scheduling --reason "New patient visit" --detail visit_type=new_patient
    --detail availability="weekday mornings" --detail provider_preference=any
    """
    st = state(ctx)
    details = _details(detail or [])
    answers = _intake_answers(st, category, reason, details, note, symptoms, red_flags, urgency)
    if answers.red_flags:
        _emergency_script(st)
    out = service.add(
        st.store(),
        st.user,
        st.now(),
        patient=patient,
        phone=phone,
        category=category,
        reason=reason,
        method=method,
        voicemail=voicemail,
        window=window,
        details=details,
        urgency=urgency,
        owner=owner,
        due=st.due(due) if due else None,
        source=source,
        mrn=mrn,
        dob=dob,
        language=language,
        email=email,
        next_action=next_action,
        deadline=deadline_time(st, deadline) if deadline else None,
        related=related,
        note=note,
        symptoms=answers.symptoms,
        red_flags=answers.red_flags,
    )
    if out.record.urgency == Urgency.emergency:
        _emergency_banner(st, out, script_shown=bool(answers.red_flags))
    _print_outcome(st, out, as_json, out.record.id)
    if out.record.urgency == Urgency.emergency:
        alerting.send_now(st, out.record.id)


def _yes(answer: YesNo | None) -> bool | None:
    return None if answer is None else answer == YesNo.yes


def _intake_answers(
    st: State,
    category: str,
    reason: str,
    details: dict[str, str],
    note: str | None,
    symptoms: YesNo | None,
    red_flags: YesNo | None,
    chosen: Urgency | None = None,
) -> intake.Answers:
    """The answers to the intake questions: from the options, else asked at a terminal
    (once the category and details are known to be right, so nothing is asked in vain;
    an urgency staff chose counts like the words)."""
    given = intake.Answers(_yes(symptoms), _yes(red_flags))
    if given.red_flags or not intake.at_terminal():
        return given
    from cbtrack import triage

    policy = st.store().policy
    triage.check_category(policy, category)
    triage.check_details(policy, category, details)
    notes = [note] if note else []
    level = triage.intake_level(policy, category, reason, details, notes)
    if chosen is not None:
        level = triage.higher(policy, level, chosen)
    return intake.ask(policy, level, given)


def deadline_time(st: State, text: str) -> datetime:
    """A deadline; a bare date means the start of that business day, to be safe."""
    moment = st.when(text)
    if clock.is_date_only(text):
        opens = st.store().policy.calendar.open
        moment = moment.replace(hour=opens.hour, minute=opens.minute)
    return moment


_RULE = "!" * 60


def _emergency_script(st: State) -> None:
    """The emergency script on stderr, at once and impossible to miss (stdout stays clean)."""
    from cbtrack.scripts import emergency_text

    policy = st.store().policy
    typer.echo(
        "\n".join(
            [
                _RULE,
                "EMERGENCY: give this to the patient now, while they are on the line:",
                "",
                textwrap.fill(
                    render.printable(emergency_text(policy)),
                    width=72,
                    initial_indent="  ",
                    subsequent_indent="  ",
                ),
                "",
            ]
        ),
        err=True,
    )


def _emergency_banner(st: State, out: service.Outcome, script_shown: bool = False) -> None:
    """After an emergency `add`: the script (unless a red-flag 'yes' showed it already) and
    whom to tell."""
    if not script_shown:
        _emergency_script(st)
    typer.echo(f"Then tell {out.record.owner} at once. Callback {out.record.id}.", err=True)
    typer.echo(_RULE, err=True)


@app.command()
def attempt(
    ctx: typer.Context,
    callback_id: IdArg,
    method: Annotated[AttemptMethod, typer.Option("--method", help="How contact was tried.")],
    result: Annotated[AttemptResult, typer.Option("--result", help="What happened.")],
    note: Annotated[
        str, typer.Option("--note", help="What happened and what comes next, specifically.")
    ],
    message_left: Annotated[
        bool | None,
        typer.Option(
            "--message-left/--no-message-left",
            help="Whether a message was left (default: from the result).",
        ),
    ] = None,
    response: Annotated[
        str | None, typer.Option("--response", help="What the patient said.")
    ] = None,
    next_action: Annotated[
        str | None, typer.Option("--next", help="The next action, in words.")
    ] = None,
    script: Annotated[
        str | None,
        typer.Option(
            "--script", help="Voicemail script used (default: the one the consent allows)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Pass a policy limit (needs --why).")
    ] = False,
    why: Annotated[
        str | None, typer.Option("--why", help="Why a limit must be passed; recorded.")
    ] = None,
    next_at: Annotated[
        str | None,
        typer.Option("--next-at", help="When to try next (default: computed from the policy)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a contact attempt; checks call hours, spacing, limits and voicemail consent.

    Example: cbtrack --as jlee attempt cb-20261127-k7m2q --method phone --result left_voicemail
    --note "Left voicemail asking patient to call scheduling line; next attempt tomorrow morning"
    """
    st = state(ctx)
    out = service.attempt(
        st.store(),
        st.user,
        st.now(),
        callback_id,
        method=method,
        result=result,
        note=note,
        message_left=message_left,
        response=response,
        next_action=next_action,
        script=script,
        force=force,
        why=why,
        next_at=st.when(next_at) if next_at else None,
    )
    cb = out.record
    nxt = cb.next_attempt_at
    n = len(cb.attempts)
    text = f"{cb.id}: {render.words(result.value)}, {n} attempt{'s' if n != 1 else ''}, "
    text += render.STATUS_WORDS[cb.status.value]
    if nxt:
        text += f"; next attempt {render.say_time(nxt, st.now(), st.tz())}"
    _print_outcome(st, out, as_json, text)


@app.command()
def close(
    ctx: typer.Context,
    callback_id: IdArg,
    reason: Annotated[CloseReason, typer.Option("--reason", help="Why it closes.")],
    summary: Annotated[str, typer.Option("--summary", help="What was done, for the record.")],
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="ROLE", help="With --reason routed: the role it went to."),
    ] = None,
    of: Annotated[
        str | None,
        typer.Option("--of", metavar="ID", help="With --reason duplicate: the original callback."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a callback for a defined reason (duplicate names the original with --of).

    Example: cbtrack --as jlee close cb-20261127-k7m2q --reason reached
    --summary "Scheduled follow-up with Dr. Lee for June 10"
    """
    st = state(ctx)
    out = service.close(
        st.store(), st.user, st.now(), callback_id, reason=reason, summary=summary, to=to, of=of
    )
    _print_outcome(st, out, as_json, f"{out.record.id}: closed, {render.words(reason.value)}")


@app.command()
def reopen(
    ctx: typer.Context,
    callback_id: IdArg,
    why: Annotated[str, typer.Option("--why", help="Why it is reopened.")],
    as_json: JsonOpt = False,
) -> None:
    """Reopen a closed callback.

    Example: cbtrack --as jlee reopen cb-20261127-k7m2q --why "Patient called back, still no slot"
    """
    st = state(ctx)
    out = service.reopen(st.store(), st.user, st.now(), callback_id, why=why)
    status = render.STATUS_WORDS[out.record.status.value]
    _print_outcome(st, out, as_json, f"{out.record.id}: reopened, {status}")


@app.command("urgency")
def urgency_cmd(
    ctx: typer.Context,
    callback_id: IdArg,
    level: Annotated[Urgency, typer.Argument(metavar="LEVEL", help="The new urgency.")],
    why: Annotated[str, typer.Option("--why", help="Why it changes.")],
    as_json: JsonOpt = False,
) -> None:
    """Change urgency. Anyone may raise it; lowering clinical or emergency needs a clinical role.

    Example: cbtrack --as rnpatel urgency cb-20261127-k7m2q routine --why "Reviewed: routine refill"
    """
    st = state(ctx)
    out = service.set_urgency(st.store(), st.user, st.now(), callback_id, level=level, why=why)
    _print_outcome(st, out, as_json, f"{out.record.id}: urgency {render.words(level.value)}")
    if level == Urgency.emergency:
        alerting.send_now(st, out.record.id)


@app.command()
def assign(
    ctx: typer.Context,
    callback_id: IdArg,
    owner: Annotated[str, typer.Argument(metavar="OWNER", help="A role or staff user.")],
    note: Annotated[str | None, typer.Option("--note", help="Why, for the record.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a callback a new owner.

    Example: cbtrack --as jlee assign cb-20261127-k7m2q scheduling
    """
    st = state(ctx)
    out = service.assign(st.store(), st.user, st.now(), callback_id, owner=owner, note=note)
    _print_outcome(st, out, as_json, f"{out.record.id}: owner {owner}")


@app.command()
def block(
    ctx: typer.Context,
    callback_id: IdArg,
    on: Annotated[DependencyKind, typer.Option("--on", help="What it waits on.")],
    note: Annotated[str, typer.Option("--note", help="What exactly, and from whom.")],
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="WHEN",
            help="When it is expected (default: the policy's dependency_wait from now).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a callback as waiting on internal work (status waiting_internal). Until the
    expected time it is not overdue; after it the dependency is late and needs escalation.

    Example: cbtrack --as jlee block cb-20261127-k7m2q --on referral_documents
    --note "Waiting on cardiology referral packet from referring office" --until 2026-12-01
    """
    st = state(ctx)
    out = service.block(
        st.store(),
        st.user,
        st.now(),
        callback_id,
        kind=on,
        note=note,
        until=st.due(until) if until else None,
    )
    dep = out.record.open_dependencies[-1]
    when = f", expected by {render.say_time(dep.until, st.now(), st.tz())}" if dep.until else ""
    text = f"{out.record.id}: waiting on {render.words(on.value)}{when}"
    _print_outcome(st, out, as_json, text)


@app.command()
def unblock(
    ctx: typer.Context,
    callback_id: IdArg,
    on: Annotated[
        DependencyKind | None, typer.Option("--on", help="Resolve only this kind (default: all).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="What arrived or was done.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve what a callback waits on.

    Example: cbtrack --as jlee unblock cb-20261127-k7m2q --note "Referral packet received"
    """
    st = state(ctx)
    out = service.unblock(st.store(), st.user, st.now(), callback_id, kind=on, note=note)
    status = render.STATUS_WORDS[out.record.status.value]
    _print_outcome(st, out, as_json, f"{out.record.id}: unblocked, {status}")


@app.command()
def route(
    ctx: typer.Context,
    callback_id: IdArg,
    to: Annotated[str, typer.Option("--to", metavar="ROLE", help="The role that takes it.")],
    note: Annotated[str, typer.Option("--note", help="What the handoff says.")],
    next_action: Annotated[
        str | None,
        typer.Option(
            "--next",
            help="The next action for the new owner (default: what the role's own category "
            "says, never the previous owner's).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Route a callback to another role (clinical handoff, billing, referrals). The next
    action becomes the new role's (or --next), not the previous owner's.

    Example: cbtrack --as jlee route cb-20261127-k7m2q --to clinical --note "Asks about new rash"
    """
    st = state(ctx)
    out = service.route(
        st.store(), st.user, st.now(), callback_id, to=to, note=note, next_action=next_action
    )
    _print_outcome(st, out, as_json, f"{out.record.id}: routed to {to}")


@app.command()
def note(
    ctx: typer.Context,
    callback_id: IdArg,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a note event to a callback (the attempt history is for contact attempts).

    Example: cbtrack --as jlee note cb-20261127-k7m2q "Provider asked to wait for lab results"
    """
    st = state(ctx)
    out = service.add_note(st.store(), st.user, st.now(), callback_id, note=text)
    _print_outcome(st, out, as_json, f"{out.record.id}: note added")


@app.command()
def show(ctx: typer.Context, callback_id: IdArg, as_json: JsonOpt = False) -> None:
    """The whole record: who, why, urgency, owner, due, dependencies, attempts and events.

    Example: cbtrack show cb-20261127-k7m2q
    """
    st = state(ctx)
    store = st.store()
    cb = store.load(callback_id)
    if as_json:
        typer.echo(render.record_json(cb))
    else:
        typer.echo(render.show_text(store.policy, cb, st.now(), term_width()))


@app.command()
def queue(
    ctx: typer.Context,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only this owner (role or user).")
    ] = None,
    mine: Annotated[
        bool, typer.Option("--mine", help="Only yours: your user and your roles.")
    ] = False,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    urgency: Annotated[Urgency | None, typer.Option("--urgency", help="Only this urgency.")] = None,
    status: Annotated[Status | None, typer.Option("--status", help="Only this status.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue callbacks.")] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", min=1, help="Only the first N (the most urgent)."),
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", help="On a terminal, list every callback, not only the first screen."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The 3-second view: open callbacks ranked by urgency, due time, then age. Fits the
    terminal ($COLUMNS, else its width; 80 columns or more).

    On a terminal it shows one screen, most urgent first (--all for every callback);
    piped or with --json it lists them all.

    Example: cbtrack queue --mine --overdue --limit 10
    """
    st = state(ctx)
    if sys.stdout.isatty() and not as_json and not show_all:
        from cbtrack import quick  # the screen from the read cache alone, when it can

        if quick.queue_screen(
            st.store_dir, st.user, owner, mine, category,
            urgency.value if urgency else None, status.value if status else None,
            overdue, limit,
        ):  # fmt: skip
            return
    store = st.store()
    policy = store.policy
    now = st.now()
    if category:
        from cbtrack.triage import check_category

        check_category(policy, category)
    if mine:
        if not st.user:
            raise Refused("--mine needs to know who you are: use --as USER or set CBTRACK_USER.")
        if owner and owner != st.user:
            raise Refused("--mine shows your own callbacks; leave out --owner, or --mine.")
        owner = st.user
    chosen = service.QueueFilter(
        owner=owner, category=category, urgency=urgency, status=status, overdue=overdue
    )
    unreadable: list[str] = []
    if sys.stdout.isatty() and not as_json and not show_all:
        filtered = bool(owner or mine or category or urgency or status or overdue)
        _queue_screen(st, chosen, filtered, limit, unreadable)
        unreadable_exit(unreadable)
        return
    page = service.queue_page(store, now, chosen, limit, unreadable, views=not as_json)
    records = page.records
    if as_json:
        typer.echo(render.records_json(records))
    elif not records:
        typer.echo(
            "No open callbacks match."
            if (owner or mine or category or urgency or status or overdue or unreadable)
            else "No open callbacks. The queue is clear."
        )
    else:
        width = term_width()
        lines = queuefmt.queue_lines(policy, records, now, color_ok(), width)
        summary = render.queue_counts(page.total, page.overdue, page.waiting, len(records))
        typer.echo("\n".join([*lines, *queuefmt.footer_lines(summary, width)]))
    unreadable_exit(unreadable)


def _queue_screen(
    st: State,
    chosen: service.QueueFilter,
    filtered: bool,
    limit: int | None,
    unreadable: list[str],
) -> None:
    """The queue on a terminal: as many callbacks as fit the window (or `limit`), then the
    counts over all of them."""
    store, now = st.store(), st.now()
    rows, width = shutil.get_terminal_size((100, 24)).lines, term_width()
    shown = limit if limit is not None else queuefmt.screenful(rows, width)
    page = service.queue_page(store, now, chosen, shown, unreadable)
    if not page.total:
        typer.echo(
            "No open callbacks match."
            if filtered or unreadable
            else "No open callbacks. The queue is clear."
        )
        return
    for line in queuefmt.queue_lines(store.policy, page.records, now, color_ok(), width):
        typer.echo(line)
    hint = "raise --limit" if limit is not None else "'cbtrack queue --all' lists them all"
    counts = render.queue_counts(page.total, page.overdue, page.waiting, len(page.records), hint)
    typer.echo("\n".join(queuefmt.footer_lines(counts, width)))


@app.command()
def triage(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID...", help="Callbacks to triage (default: new ones)."),
    ] = None,
    all_open: Annotated[
        bool, typer.Option("--all", help="Every open callback, not only new ones.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the changes; write nothing.")
    ] = False,
    misses: Annotated[
        bool,
        typer.Option(
            "--misses",
            help="List the corrections staff made to triage (misses and false alarms) with "
            "the words triage read; patient data, for this screen only. Changes nothing.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="With --misses: corrections since DATE."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the policy's rules (urgency, routing) to new, named or all open callbacks, and
    escalate overdue ones. With --misses, list where staff corrected triage instead, so the
    practice's clinician can add a rule.

    Example: cbtrack --as jlee triage --all --dry-run; cbtrack triage --misses --since 2026-11-01
    """
    st = state(ctx)
    if misses or since:
        from cbtrack.cli.misses import show_misses

        show_misses(st, misses, since, bool(ids or all_open or dry_run), as_json)
        return
    store = st.store()
    now = st.now()
    if dry_run:
        plans = service.plan_triage(store, now, ids or (), all_open)
    else:
        plans = service.apply_triage(store, st.user, now, ids or (), all_open)
    if as_json:
        from cbtrack.render import to_json

        typer.echo(
            to_json(
                [
                    {
                        "id": p.callback_id,
                        "changes": [
                            {
                                "event": c.type.value,
                                "note": c.note,
                                "set": {
                                    k: (v.isoformat() if isinstance(v, datetime) else str(v))
                                    for k, v in c.fields.items()
                                },
                            }
                            for c in p.changes
                        ],
                    }
                    for p in plans
                ]
            )
        )
        return
    if not plans:
        typer.echo("Nothing to change.")
        return
    for line in render.triage_lines(store.policy, plans, now, dry_run, term_width()):
        typer.echo(line)


@app.command()
def validate(
    ctx: typer.Context,
    commit: Annotated[
        bool,
        typer.Option("--commit", help="Commit cbtrack.yaml's edits once the policy validates."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the policy and every record; list every problem; exit 1 if there is any.
    Warns while the practice name or callback number are still the placeholders, and for
    each alert rule with include_phi on.

    Example: cbtrack --store ~/callbacks --as jlee validate --commit
    """
    st = state(ctx)
    store = st.store(policy_notice=False)
    problems = service.validate(store)
    policy_ok = not store.policy_problems()
    if policy_ok:
        warn(store.policy.placeholders() + store.policy.alert_warnings())
    committed = False
    if commit and policy_ok:
        committed = service.commit_policy(store, st.user, st.now())
    elif not commit and policy_ok and service.policy_uncommitted(store):
        warn(["cbtrack.yaml has edits that are not committed; commit them with --commit."])
    if as_json:
        typer.echo(
            render.to_json({"ok": not problems, "problems": problems, "committed": committed})
        )
    elif problems:
        for p in problems:
            typer.echo(render.printable(p), err=True)
    else:
        typer.echo("The policy and every record are valid.")
    if committed and not as_json:
        typer.echo("Committed the edited cbtrack.yaml.")
    elif commit and policy_ok and not as_json:
        typer.echo("cbtrack.yaml had no uncommitted edits.")
    if problems:
        if not as_json:
            not_committed = " cbtrack.yaml was not committed." if commit and not policy_ok else ""
            typer.echo(f"Error: {len(problems)} problem(s) found.{not_committed}", err=True)
        raise typer.Exit(1)


@app.command()
def categories(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The policy's categories: what each is for, who owns it, its urgency, and the
    details `add` needs for it (as --detail KEY=VALUE).

    Example: cbtrack categories
    """
    st = state(ctx)
    policy = st.store().policy
    if as_json:
        typer.echo(
            render.to_json(
                {
                    name: {
                        "label": cat.label,
                        "owner": cat.owner,
                        "urgency": cat.urgency.value,
                        "required_details": cat.required_details,
                        "optional_details": cat.optional_details,
                    }
                    for name, cat in policy.categories.items()
                }
            )
        )
        return
    width = max(term_width(), render.MIN_WIDTH)
    name_w = max(len(n) for n in policy.categories) + 2
    for name, cat in policy.categories.items():
        level = policy.urgencies[cat.urgency]
        head = f"{cat.label}; owner {render.owner_label(policy, cat.owner)}, "
        head += (level.label or cat.urgency.value).lower()
        lines = render.wrap(head, width, first=name.ljust(name_w))
        needs = ", ".join(f"{d}=..." for d in cat.required_details) or "nothing"
        more = f"; may add {', '.join(cat.optional_details)}" if cat.optional_details else ""
        lines += render.wrap(f"needs {needs}{more}", width, first=" " * name_w)
        typer.echo("\n".join(lines))


@app.command()
def script(ctx: typer.Context, callback_id: IdArg, as_json: JsonOpt = False) -> None:
    """The approved script for a callback: opening with identity check, voicemail at the
    patient's consent level, outcome phrases, clinical or emergency handoff.

    Example: cbtrack --as jlee script cb-20261127-k7m2q
    """
    from cbtrack.scripts import scripts_for

    st = state(ctx)
    store = st.store()
    cb = store.load(callback_id)
    filled = scripts_for(store.policy, cb, st.user or "[your name]", st.now())
    warn(store.policy.placeholders())  # these would be read to the patient
    if as_json:
        typer.echo(render.to_json(filled.as_dict()))
        return
    width = max(term_width(), render.MIN_WIDTH)

    def para(head: str, text: str, first: str = "  ", rest: str = "  ") -> list[str]:
        return ([head] if head else []) + render.wrap(text, width, first=first, rest=rest)

    kind = "emergency" if cb.urgency == Urgency.emergency else "clinical"
    handoff = para(f"Handoff ({kind}):", filled.handoff)
    first = cb.urgency in (Urgency.emergency, Urgency.clinical)
    language = para("", f"Language: {filled.language_note}", "", "  ")
    lines = [
        *(handoff if first else []),
        *(language if cb.patient.language else []),
        *para("Opening:", filled.opening),
        *para(f"Voicemail ({cb.patient.voicemail.value} consent):", filled.voicemail),
        "Outcomes:",
        *[ln for k, v in filled.outcomes.items() for ln in para("", v, f"  {k}: ", "      ")],
        *([] if first else handoff),
        "Avoid saying:",
        *[ln for text in filled.avoid for ln in para("", text, "  - ", "    ")],
    ]
    typer.echo("\n".join(lines))
