"""The command-line interface: a thin typer layer over `cbtrack.service`."""

from __future__ import annotations

import gc
import os

# Importing a command module registers its commands; --help lists them in this order.
from cbtrack.cli import core, desk, doctor, gitcmds, interop, reports  # noqa: F401
from cbtrack.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: owner-only files, then the typer app."""
    os.umask(0o077)
    # A command is a short process whose objects (records, rows) hold no reference cycles:
    # the cycle collector would only walk them again and again (a quarter of a big report).
    gc.disable()
    app(prog_name="cbtrack")
