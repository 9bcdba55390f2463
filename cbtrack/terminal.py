"""The terminal output is laid out for: its width and whether it takes colour (no typer, so
the quick paths that run without the CLI share them)."""

from __future__ import annotations

import os
import shutil
import sys


def term_width() -> int:
    """Columns to lay text out for: $COLUMNS, else the terminal's width, else 100."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return 100


def color_ok() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
