"""The intake questions `add` asks at a terminal: the symptoms question, then the practice's
red-flag checklist. Neither has a default: Enter alone asks again, so a hurried keypress
never files an emergency as routine work. Without a terminal the answers come from
`--symptoms` and `--red-flags`."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from cbtrack.enums import Urgency

if TYPE_CHECKING:
    from cbtrack.policy import Policy

SYMPTOMS_QUESTION = (
    "Is the patient describing new or worsening symptoms, a reaction to a medicine, or harm?"
)
RED_FLAGS_QUESTION = "Does any of these apply?"
_YES = ("y", "yes")
_NO = ("n", "no")


@dataclass
class Answers:
    symptoms: bool | None
    red_flags: bool | None


def at_terminal() -> bool:
    """A person is there to answer: questions go to stderr, answers come from stdin."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def ask_yes_no(question: str) -> bool:
    """Ask until the answer is y or n (no default); end of input gives up, writing nothing."""
    while True:
        typer.echo(f"{question} [y/n]: ", err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            typer.echo("", err=True)
            typer.echo("Error: No answer was given; nothing was added.", err=True)
            raise typer.Exit(1)
        answer = line.strip().lower()
        if answer in _YES:
            return True
        if answer in _NO:
            return False
        typer.echo("Please answer y or n.", err=True)


def show_checklist(flags: list[str]) -> None:
    typer.echo("Red flags (read them to the caller):", err=True)
    for flag in flags:
        typer.echo(
            textwrap.fill(flag, width=76, initial_indent="  - ", subsequent_indent="    "),
            err=True,
        )


def ask(policy: Policy, level: Urgency, given: Answers) -> Answers:
    """The questions still to ask, given what the words alone make the callback (`level`):
    the symptoms question always (words that sound clinical do not answer it for staff),
    then the checklist after a yes. Nothing is asked when the words already make it an
    emergency: no answer could change that."""
    out = Answers(given.symptoms, given.red_flags)
    if level == Urgency.emergency:
        return out
    if out.symptoms is None:
        out.symptoms = ask_yes_no(SYMPTOMS_QUESTION)
    if out.red_flags is None and out.symptoms:
        show_checklist(policy.triage.red_flags)
        out.red_flags = ask_yes_no(RED_FLAGS_QUESTION)
    return out
