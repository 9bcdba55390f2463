"""The `cbtrack` console entry point.

Staff open the queue all day and scripts read it and `find` all night; loading typer and
building its command costs more than answering them from the local index. So a command
line that is one of the plain forms of `queue` (its filters, `--limit`, `--all`) or
`find TEXT`, with at most the global `--store` and `--as`, is first offered to the quick
paths (cbtrack/quick.py), which answer only when the index can vouch for every record
file and print exactly what the full command prints. Everything else (another command,
`--json`, `--help`, any option or value this reader is not sure of, a store the index
cannot answer for) goes to the typer app (cbtrack/cli), which reads the command line
itself, checks it and says what is wrong. Declining costs a few milliseconds; nothing is
ever refused here.
"""

from __future__ import annotations

import os
import sys

GLOBAL = ("--store", "--as")
QUEUE_VALUES = ("--owner", "--category", "--urgency", "--status", "--limit")
QUEUE_FLAGS = ("--mine", "--overdue", "--all")


def main() -> None:
    os.umask(0o077)
    try:
        if _quick(sys.argv[1:]):
            return
    except BrokenPipeError:  # (`cbtrack queue | head`: as the full path, quietly)
        sys.stderr.close()
        return
    except Exception:  # any surprise: the full path answers (and reports) instead,
        quick = sys.modules.get("cbtrack.quick")  # unless some output is out already
        if quick is not None and getattr(quick, "printed", False):
            sys.stderr.write("Error: the output stopped part way; run the command again.\n")
            sys.exit(1)
    from cbtrack.cli import main as full

    full()


def plain_form(argv: list[str]) -> tuple[str, dict[str, str | bool], list[str]] | None:
    """(command, options, arguments) of a plain `queue` or `find` command line, or None
    for anything else. Options are given once each, as `--name value`, `--name=value` or a
    flag; a value never starts with `-`."""
    command: str | None = None
    options: dict[str, str | bool] = {}
    args: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            takes = name in GLOBAL or (command == "queue" and name in QUEUE_VALUES)
            if name in options or not (takes or (command == "queue" and name in QUEUE_FLAGS)):
                return None
            if not takes:
                if eq:
                    return None
                options[name] = True
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        return None
                    value = argv[i]
                if value.startswith("-"):
                    return None
                options[name] = value
        elif command is None:
            if word not in ("queue", "find"):
                return None
            command = word
        else:
            args.append(word)
        i += 1
    if command is None or len(args) != (1 if command == "find" else 0):
        return None
    return command, options, args


def _quick(argv: list[str]) -> bool:
    form = plain_form(argv)
    if form is None:
        return False
    command, o, args = form
    from cbtrack import quick

    store = o.get("--store")
    store_dir = store if isinstance(store, str) else None
    if command == "find":
        return quick.find_screen(store_dir, args[0])
    from cbtrack.enums import Status, Urgency

    def text(name: str) -> str | None:
        value = o.get(name)
        return value if isinstance(value, str) else None

    urgency, status, limit = text("--urgency"), text("--status"), text("--limit")
    if urgency is not None and urgency not in {u.value for u in Urgency}:
        return False
    if status is not None and status not in {s.value for s in Status}:
        return False
    if limit is not None and not (limit.isdigit() and limit.isascii() and int(limit) >= 1):
        return False
    user = text("--as") or os.environ.get("CBTRACK_USER") or None
    whole = bool(o.get("--all")) or not sys.stdout.isatty()
    return quick.queue_screen(
        store_dir, user, text("--owner"), bool(o.get("--mine")), text("--category"),
        urgency, status, bool(o.get("--overdue")), int(limit) if limit else None, whole,
    )  # fmt: skip
