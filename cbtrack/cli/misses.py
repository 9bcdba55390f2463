"""`cbtrack triage --misses`: where staff corrected triage, with the words it read."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import typer

from cbtrack.cli.app import State, term_width
from cbtrack.enums import FALSE_ALARM, MISSED
from cbtrack.errors import Refused, UsageProblem

if TYPE_CHECKING:
    from cbtrack.corrections import Correction

_KIND = {MISSED: "MISSED", FALSE_ALARM: "FALSE ALARM"}


def _as_dict(c: Correction) -> dict[str, object]:
    return {
        "id": c.callback_id,
        "kind": c.kind,
        "at": c.at.isoformat(),
        "by": c.by,
        "from": c.was,
        "to": c.now,
        "why": c.why,
        "category": c.category,
        "texts": c.texts,
        "rules": c.rules,
    }


def show_misses(st: State, misses: bool, since: str | None, other: bool, as_json: bool) -> None:
    """Print the corrections (local output: they hold what the patient said)."""
    from cbtrack import render, service

    if not misses:
        raise UsageProblem("--since goes with --misses.")
    if other:
        raise UsageProblem("--misses lists corrections; it takes no ID, --all or --dry-run.")
    store = st.store()
    now = st.now()
    start = st.when(since) if since else None
    if start is not None and start > now:
        raise Refused("--since is in the future; give a date before today.")
    found = service.triage_corrections(store, start, now)
    if as_json:
        typer.echo(render.to_json([_as_dict(c) for c in found]))
        return
    width = max(60, term_width())
    for c in found:
        local = c.at.astimezone(store.policy.tz)
        head = f"{_KIND[c.kind]}  {c.callback_id}  {local:%Y-%m-%d %H:%M}  {c.by}: "
        head += f"{c.was} -> {c.now} ({c.category})"
        typer.echo(render.printable(head[:width]))
        lines = [f"why: {c.why}"] + [f"read: {t}" for t in c.texts]
        lines.append("rules: " + ("; ".join(c.rules) if c.rules else "none matched"))
        for line in lines:
            typer.echo(
                textwrap.fill(
                    render.printable(line),
                    width=width,
                    initial_indent="    ",
                    subsequent_indent="      ",
                )
            )
    missed = sum(c.kind == "missed" for c in found)
    typer.echo(
        f"{missed} missed, {len(found) - missed} false alarm(s)"
        + (f" since {start:%Y-%m-%d}." if start else ".")
        + (
            " Each is a phrase a practice rule could catch (cbtrack.yaml, triage.rules)."
            if missed
            else ""
        )
    )
