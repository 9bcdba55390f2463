"""Front-desk commands: find a patient's callbacks, and correct a record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli.app import IdArg, JsonOpt, app, state, term_width, warn
from cbtrack.cli.core import (
    _details,
    _emergency_banner,
    _print_outcome,
    _yes,
    deadline_time,
)
from cbtrack.cli.options import (
    ContactMethodEdit,
    DeadlineOpt,
    DetailEdit,
    DobEdit,
    DueOpt,
    EmailEdit,
    LanguageEdit,
    MrnEdit,
    NextOpt,
    PatientEdit,
    PhoneEdit,
    RedFlagsEdit,
    SymptomsEdit,
    VoicemailEdit,
    WindowEdit,
)
from cbtrack.enums import EventType, Urgency
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import render, service
else:  # loaded when a command runs, so --help stays cheap
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")


@app.command()
def find(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT",
            help="A phone number (any format; the last 7+ digits), a name (any order), an MRN "
            "or a callback ID.",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Find callbacks, open and closed, by phone, patient name, MRN or ID; newest first.
    Check here before adding a callback for a patient who calls again.

    Example: cbtrack find "617.555.0140"
    """
    st = state(ctx)
    if not as_json:
        from cbtrack import quick  # from the index alone, when every file is fresh

        if quick.find_screen(st.store_dir, text):
            return
    store = st.store()
    found, problems = service.find(store, text)
    if problems:
        warn(
            [
                f"{len(problems)} record(s) could not be read and were skipped; "
                "run 'cbtrack validate' to see which."
            ]
        )
    if as_json:
        typer.echo(render.records_json(found))
        return
    if not found:
        typer.echo("No callback matches.")
        return
    for line in render.find_lines(store.policy, found, term_width()):
        typer.echo(line)
    n_open = sum(1 for cb in found if cb.is_open)
    typer.echo(f"{len(found)} found, {n_open} open.")


@app.command()
def edit(
    ctx: typer.Context,
    callback_id: IdArg,
    why: Annotated[str, typer.Option("--why", help="Why the record is corrected.")],
    patient: PatientEdit = None,
    phone: PhoneEdit = None,
    dob: DobEdit = None,
    mrn: MrnEdit = None,
    language: LanguageEdit = None,
    email: EmailEdit = None,
    method: ContactMethodEdit = None,
    window: WindowEdit = None,
    voicemail: VoicemailEdit = None,
    detail: DetailEdit = None,
    reason: Annotated[str | None, typer.Option("--reason", help="The reason, corrected.")] = None,
    due: DueOpt = None,
    deadline: DeadlineOpt = None,
    next_action: NextOpt = None,
    symptoms: SymptomsEdit = None,
    red_flags: RedFlagsEdit = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct a record: patient details, reason, details, due time, deadline or next
    action. Records an `edited` event naming the fields changed. When the patient says more
    later, --symptoms yes or --red-flags yes raise it as the answers at intake would.

    Example: cbtrack --as jlee edit cb-20261127-k7m2q --phone "617-555-0141"
    --why "Patient gave the wrong number on the first call"
    """
    st = state(ctx)
    edits = service.Edits(
        patient=patient,
        phone=phone,
        dob=dob,
        mrn=mrn,
        language=language,
        email=email,
        method=method,
        window=window,
        voicemail=voicemail,
        details=_details(detail or []),
        reason=reason,
        due=st.due(due) if due else None,
        deadline=deadline_time(st, deadline) if deadline else None,
        next_action=next_action,
        symptoms=_yes(symptoms),
        red_flags=_yes(red_flags),
    )
    before = st.store().load(callback_id)
    out = service.edit(st.store(), st.user, st.now(), callback_id, why=why, edits=edits)
    if out.record.urgency == Urgency.emergency != before.urgency:
        _emergency_banner(st, out)
    new = out.record.events[len(before.events) :]
    edited = next((e for e in new if e.type == EventType.edited), None)
    if edited is not None:
        message = f"{out.record.id}: edited {', '.join(edited.set or {})}"
    else:
        message = f"{out.record.id}: urgency {out.record.urgency.value}, owner {out.record.owner}"
    _print_outcome(st, out, as_json, message)
