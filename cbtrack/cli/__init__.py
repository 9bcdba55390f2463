"""The command-line interface: a thin typer layer over `cbtrack.service`."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Importing a command module registers its commands; --help lists them in this order.
# isort: off
from cbtrack.cli import alerting, setup, core, reading  # noqa: F401
from cbtrack.cli import desk, doctor, gitcmds, interop, reports, who  # noqa: F401

# isort: on
from cbtrack.cli.app import GLOBAL_OPTIONS, app

__all__ = ["app", "built_for", "main"]


def _summary(doc: str | None) -> str | None:
    """A command's one-line summary for the overall --help: its docstring's first sentence,
    whole (click would cut the paragraph at the column's width with "...")."""
    if not doc:
        return None
    para = " ".join(doc.strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[: end + 1]


def _summarize(typer_app: Any) -> None:
    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None:
            info.short_help = _summary(info.help or info.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _summarize(group.typer_instance)


_summarize(app)


def main() -> None:
    """Console entry point: owner-only files, then the typer app."""
    os.umask(0o077)
    # A command is a short process whose objects (records, rows) hold no reference cycles:
    # the cycle collector would only walk them again and again (a quarter of a big report).
    gc.disable()
    with built_for(sys.argv[1:]):
        app(prog_name="cbtrack")


@contextmanager
def built_for(argv: list[str]) -> Iterator[Any]:
    """The app with only the command that `argv` runs (see `_only`), as it was afterwards;
    `main` runs every command line through it, and so may a caller that invokes the app
    itself (typer's test runner)."""
    commands, groups = app.registered_commands, app.registered_groups
    try:
        _only(command_named(argv))
        yield app
    finally:
        app.registered_commands, app.registered_groups = commands, groups


def command_named(argv: list[str]) -> str | None:
    """The command a command line runs (`cbtrack [--store DIR] [--as USER] NAME ...`), or
    None when it asks for the overall help, completion, or names no command."""
    if os.environ.get("_CBTRACK_COMPLETE"):
        return None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] in GLOBAL_OPTIONS:
            i += 2
        elif argv[i].split("=", 1)[0] in GLOBAL_OPTIONS:
            i += 1
        else:
            return None
    return argv[i] if i < len(argv) else None


def _only(name: str | None) -> None:
    """Let typer build just the command being run: building all thirty (their options
    read from the functions' signatures) costs more than running most of them. A name
    that is no command keeps them all, for typer's "No such command" and its hints."""
    if name is None:
        return
    commands = [c for c in app.registered_commands if _name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def _name(info: Any) -> str:
    return str(info.name or info.callback.__name__.lower().replace("_", "-"))
