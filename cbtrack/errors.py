"""Errors that carry their own exit code and a one-sentence message for staff.

Messages never contain record values (names, phones, reasons): they name files,
fields and what to do instead.
"""

from __future__ import annotations


class CbtrackError(Exception):
    """Base class: a refusal or failure that the CLI prints as `Error: <message>`."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(CbtrackError):
    """Input that parses but breaks a rule; nothing was written (exit 1)."""

    exit_code = 1


class NotFound(Refused):
    """An ID that names no callback in the store (exit 1)."""


class UsageProblem(CbtrackError):
    """A command-line usage problem detected after parsing (exit 2)."""

    exit_code = 2


class StoreError(CbtrackError):
    """The store is missing, unreadable, or a file in it does not validate (exit 3)."""

    exit_code = 3


class LockTimeout(CbtrackError):
    """Another command held the store lock for too long (exit 1, nothing written)."""

    exit_code = 1


class WriteFailed(CbtrackError):
    """A change could not be written or committed (a full disk, an I/O error); the message
    says what happened to it: nothing changed, undone, or written and to be completed
    (exit 1)."""

    exit_code = 1


class GitError(CbtrackError):
    """A git operation failed (exit 1); the message says which and what to do."""

    exit_code = 1
