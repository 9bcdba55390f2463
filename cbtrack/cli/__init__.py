"""The command-line interface: a thin typer layer over `cbtrack.service`."""

from __future__ import annotations

import os

import cbtrack.cli.doctor  # registers doctor
import cbtrack.cli.gitcmds  # registers sync, log, verify
import cbtrack.cli.reports  # noqa: F401  (registers review and report)
from cbtrack.cli import core  # noqa: F401  (registers the commands)
from cbtrack.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: owner-only files, then the typer app."""
    os.umask(0o077)
    app(prog_name="cbtrack")
