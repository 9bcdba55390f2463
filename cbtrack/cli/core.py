"""Day-one commands: init, add, attempt, close, reopen, show, queue, validate, and the
ownership, urgency and dependency commands. Each: parse, call the service, print."""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli import alerting, intake
from cbtrack.cli.app import (
    IdArg,
    JsonOpt,
    State,
    YesNo,
    app,
    state,
    term_width,
    warn,
)
from cbtrack.cli.options import (
    ContactMethodOpt,
    DeadlineOpt,
    DetailOpt,
    DobOpt,
    DueOpt,
    EmailOpt,
    LanguageOpt,
    MrnOpt,
    NextOpt,
    PatientOpt,
    PhoneOpt,
    RedFlagsOpt,
    SymptomsOpt,
    VoicemailOpt,
    WindowOpt,
)
from cbtrack.enums import (
    CLINICAL_URGENCIES,
    AttemptMethod,
    AttemptResult,
    CloseReason,
    ContactMethod,
    DependencyKind,
    Source,
    Urgency,
    VoicemailConsent,
)
from cbtrack.errors import CbtrackError, Refused
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import clock, render, service
    from cbtrack.model import Callback
else:  # loaded when a command runs, so --help stays cheap
    clock = lazy_module("cbtrack.clock")
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")


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


@app.command()
def add(
    ctx: typer.Context,
    patient: PatientOpt,
    phone: PhoneOpt,
    category: Annotated[str, typer.Option("--category", help="A category from the policy.")],
    reason: Annotated[str, typer.Option("--reason", help="One line, in the patient's terms.")],
    method: ContactMethodOpt = ContactMethod.phone,
    voicemail: VoicemailOpt = VoicemailConsent.minimal,
    window: WindowOpt = None,
    detail: DetailOpt = None,
    urgency: Annotated[
        Urgency | None, typer.Option("--urgency", help="Urgency (triage may raise it).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="A role or staff user (default: the category's).")
    ] = None,
    due: DueOpt = None,
    source: Annotated[
        Source, typer.Option("--source", help="How the request came in.")
    ] = Source.phone,
    mrn: MrnOpt = None,
    dob: DobOpt = None,
    language: LanguageOpt = None,
    email: EmailOpt = None,
    next_action: NextOpt = None,
    deadline: DeadlineOpt = None,
    related: Annotated[
        str | None,
        typer.Option("--related", metavar="ID", help="An earlier callback this one follows up."),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", help="What the patient said, in more words (triage reads it)."),
    ] = None,
    symptoms: SymptomsOpt = None,
    red_flags: RedFlagsOpt = None,
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
    shown = False  # the emergency script already on screen
    try:
        answers = _intake_answers(st, category, reason, details, note, symptoms, red_flags, urgency)
        if answers.red_flags:
            _emergency_script(st)
            shown = True
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
    except CbtrackError:
        if not shown:
            _unfiled_emergency(st, category, reason, details, note)
        raise
    if out.record.urgency == Urgency.emergency:
        _emergency_banner(st, out, script_shown=shown)
    if answers.symptoms is None and out.record.urgency not in CLINICAL_URGENCIES:
        # no terminal to ask at, and no --symptoms: the question has no default, so say so
        typer.echo(
            "Note: nobody was asked whether the patient has symptoms (no terminal and no "
            f"--symptoms); if they mentioned any, run 'cbtrack edit {out.record.id} "
            '--symptoms yes --why "what they said"\'.',
            err=True,
        )
    _print_outcome(st, out, as_json, out.record.id)
    if out.record.urgency == Urgency.emergency:
        alerting.send_now(st, out.record.id)


def _unfiled_emergency(
    st: State, category: str, reason: str, details: dict[str, str], note: str | None
) -> None:
    """A refused `add` whose words are an emergency (as intake triage reads them) still
    shows the emergency script: the patient may be on the line while staff fix the details
    (nothing was filed)."""
    from cbtrack import triage

    try:
        policy = st.store().policy
        level = triage.intake_level(policy, category, reason, details, [note] if note else [])
    except Exception:  # (the refusal below says what is wrong; this is only a safety net)
        return
    if level != Urgency.emergency:
        return
    _emergency_script(st)
    typer.echo(
        "Then tell clinical at once: the words read as an emergency, but the callback was "
        "NOT filed; fix what the error below says and add it again.",
        err=True,
    )
    typer.echo(_RULE, err=True)


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
    next_action: NextOpt = None,
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
    _print_outcome(st, out, as_json, _attempt_summary(st, out.record, result))


def _attempt_summary(st: State, cb: Callback, result: AttemptResult) -> str:
    """`ID: <result>, <n> attempts, <status>; next attempt <when>`."""
    n = len(cb.attempts)
    text = f"{cb.id}: {render.words(result.value)}, {n} attempt{'s' if n != 1 else ''}, "
    text += render.STATUS_WORDS[cb.status.value]
    if cb.next_attempt_at:
        text += f"; next attempt {render.say_time(cb.next_attempt_at, st.now(), st.tz())}"
    return text


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
        typer.echo(render.triage_json(plans))
        return
    if not plans:
        typer.echo("Nothing to change.")
        return
    for line in render.triage_lines(store.policy, plans, now, dry_run, term_width()):
        typer.echo(line)
