"""The read commands: `show`, `queue`, `validate`, `categories`, `script`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli.app import (
    IdArg,
    JsonOpt,
    State,
    app,
    state,
    term_width,
    unreadable_exit,
    warn,
)
from cbtrack.cli.options import whole_number
from cbtrack.enums import (
    Status,
    Urgency,
)
from cbtrack.errors import Refused
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import queuefmt, render, service
else:  # loaded when a command runs, so --help stays cheap
    queuefmt = lazy_module("cbtrack.queuefmt")
    render = lazy_module("cbtrack.render")
    service = lazy_module("cbtrack.service")


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
        typer.Option(
            "--limit",
            metavar="N",
            parser=whole_number("--limit", 1, 10),
            help="Only the first N (the most urgent).",
        ),
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
    whole = as_json or show_all or not sys.stdout.isatty()
    urgency_value, status_value = (
        (urgency.value if urgency else None),
        (status.value if status else None),
    )
    if not as_json:
        from cbtrack import quick  # from the index alone, when it can

        if quick.queue_screen(
            st.store_dir, st.user, owner, mine, category, urgency_value, status_value,
            overdue, limit, whole,
        ):  # fmt: skip
            return
    _full_queue(st, owner, mine, category, urgency, status, overdue, limit, whole, as_json)


def _full_queue(
    st: State,
    owner: str | None,
    mine: bool,
    category: str | None,
    urgency: Urgency | None,
    status: Status | None,
    overdue: bool,
    limit: int | None,
    whole: bool,
    as_json: bool,
) -> None:
    """The queue read strictly (which refreshes the index): every callback when `whole`,
    else the first screen."""
    from cbtrack.quick import hint_for, print_queue, screen_size

    store = st.store()
    now = st.now()
    if category:
        from cbtrack.triage import check_category

        check_category(store.policy, category)
    if mine:
        if not st.user:
            raise Refused("--mine needs to know who you are: use --as USER or set CBTRACK_USER.")
        me = store.policy.staff_key(st.user)
        if owner and owner not in (st.user, me):
            raise Refused("--mine shows your own callbacks; leave out --owner, or --mine.")
        owner = me
    if owner:
        from cbtrack.triage import check_owner

        check_owner(store.policy, owner)  # a typo must not read as "nothing to do"
    chosen = service.QueueFilter(
        owner=owner, category=category, urgency=urgency, status=status, overdue=overdue, mine=mine
    )
    unreadable: list[str] = []
    shown = limit if whole or limit is not None else screen_size()
    page = service.queue_page(store, now, chosen, shown, unreadable, lines=not as_json)
    if as_json:
        typer.echo(render.records_json(page.records))
    else:
        filtered = bool(owner or mine or category or urgency or status or overdue or unreadable)
        print_queue(page.lines, now, page.total, page.overdue, page.waiting, filtered,
                    hint_for(whole, limit))  # fmt: skip
    unreadable_exit(unreadable)


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
