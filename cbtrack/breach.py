"""What a broken rule of history is, and how it is said: one `Breach` names the file,
what is wrong (never a value) and what a person must do; `HistoryRefused` is a commit
refused for them. The rule book (cbtrack/history.py, cbtrack/treerules.py) makes them;
the hook, `verify`, `sync` and the server report them."""

from __future__ import annotations

from dataclasses import dataclass

from cbtrack.errors import Refused

RECORDS = "callbacks"
OPEN = f"{RECORDS}/open/"
CLOSED = f"{RECORDS}/closed/"
KEEP_FILES = frozenset({f"{OPEN}.gitkeep", f"{CLOSED}.gitkeep"})


@dataclass(frozen=True)
class Breach:
    """One broken rule. `kind`: invalid, folder, stray, deleted, changed, removed, fixed,
    closure, status, unexplained, author, clock, guardrail, policy, merge, root, local,
    link. `restore` is the path a parent holds the record at, when it does."""

    kind: str
    path: str
    detail: str
    callback: str | None = None
    item: str | None = None
    restore: str | None = None

    @property
    def sentence(self) -> str:
        return f"{self.path}: {self.detail}"

    def fix(self) -> str:
        """What a person must do, as a command where there is one."""
        if self.kind == "stray":
            return (
                f"move {self.path} out of {RECORDS}/ (only records in {OPEN} and "
                f"{CLOSED}<YYYY-MM>/ belong there)"
            )
        if self.restore:
            also = f" and delete {self.path}" if self.path != self.restore else ""
            return f"restore it with 'git checkout HEAD -- {self.restore}'{also}"
        return f"fix {self.path} or delete it"


class HistoryRefused(Refused):
    """A commit refused by the rule book; `breaches` lists every reason (exit 1)."""

    def __init__(self, breaches: list[Breach]) -> None:
        first = breaches[0]
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        super().__init__(f"{first.sentence}{more}; nothing was committed: {first.fix()}.")
        self.breaches = breaches
