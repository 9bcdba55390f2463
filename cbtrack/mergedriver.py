"""The merge driver git runs for callback records, without the CLI's start-up cost:

    python -m cbtrack.mergedriver %O %A %B %P

`%A` receives the merged record. Exit 0 when every rule decided, 1 (a conflict for git)
when a person must decide; the reason goes to stderr without record values.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cbtrack.errors import CbtrackError


def run(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print("usage: python -m cbtrack.mergedriver BASE OURS THEIRS [PATH]", file=sys.stderr)
        return 2
    from cbtrack import sync

    path = argv[3] if len(argv) == 4 else "record"
    try:
        merged = sync.merge_files(Path(argv[0]), Path(argv[1]), Path(argv[2]), path)
    except CbtrackError as exc:
        print(f"cbtrack: {path}: {exc.message}", file=sys.stderr)
        return 1
    for note in merged.notes:
        print(f"Warning: {note}", file=sys.stderr)
    for conflict in merged.conflicts:
        print(f"cbtrack: {path}: {conflict}.", file=sys.stderr)
    return 1 if merged.conflicts else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
