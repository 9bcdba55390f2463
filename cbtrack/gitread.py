"""Reading git history in bulk: commits with their authors, what each changed, and many
blobs in one `git cat-file --batch`. Used by sync, log, verify and the server hook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cbtrack.errors import GitError
from cbtrack.gitrun import FILE_MODE, NULL_SHA, RECORDS, run, run_bytes

# --- history in bulk -----------------------------------------------------------------


@dataclass
class CommitInfo:
    sha: str
    parents: list[str]
    author: str
    at: str
    subject: str

    @property
    def when(self) -> datetime:
        """The author date, when the commit says it was made."""
        return datetime.fromisoformat(self.at)


def commits(
    root: Path,
    head: str,
    since: str | None = None,
    paths: list[str] | None = None,
    exclude: Sequence[str] = (),
) -> list[CommitInfo]:
    """Commits reachable from `head` and not from `since` (nor any of `exclude`), oldest
    first (parents first)."""
    args = ["log", "--reverse", "--topo-order", "--format=%H%x1f%P%x1f%an%x1f%aI%x1f%s%x1e"]
    if paths:
        args.append("--full-history")
    args.append(head)
    for other in [since, *exclude]:
        if other:
            args.append(f"^{other}")
    if paths:
        args += ["--", *paths]
    out: list[CommitInfo] = []
    for chunk in run(root, *args).stdout.split("\x1e"):
        parts = chunk.strip("\n").split("\x1f")
        if len(parts) == 5:
            sha, parents, author, at, subject = parts
            out.append(CommitInfo(sha, parents.split(), author, at, subject))
    return out


@dataclass
class Change:
    """One file changed between a parent and a commit (raw diff-tree entry)."""

    old: str | None  # blob in the parent, None if added
    new: str | None  # blob in the commit, None if deleted
    path: str
    mode: str = FILE_MODE  # git's mode in the commit ("000000" if deleted)


def tree_changes(
    root: Path,
    pairs: list[tuple[str, str]],
    under: str | None = RECORDS,
) -> list[list[Change]]:
    """For each (parent, commit): the files under `under` (None: anywhere) that differ.
    One git process."""
    if not pairs:
        return []
    lines = "".join(f"{commit} {parent}\n" for parent, commit in pairs)
    raw = run_bytes(
        root,
        "diff-tree",
        "--stdin",
        "-r",
        "-z",
        "--always",
        "--no-renames",
        "--raw",
        *(["--", under] if under else []),
        input=lines.encode(),
    )
    tokens = raw.decode("utf-8", "surrogateescape").split("\0")
    out: list[list[Change]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith(":"):
            meta = tok.split()
            old, new = meta[2], meta[3]
            out[-1].append(
                Change(
                    None if old == NULL_SHA else old,
                    None if new == NULL_SHA else new,
                    tokens[i + 1],
                    meta[1],
                )
            )
            i += 2
            continue
        if tok.strip():
            out.append([])
        i += 1
    if len(out) != len(pairs):
        raise GitError("git diff-tree gave an unexpected listing; the repository may be damaged.")
    return out


def read_blobs(root: Path, specs: list[str]) -> dict[str, bytes | None]:
    """Contents for blob IDs or `commit:path` specs, in one git process; None if missing."""
    return {
        spec: obj[1] if obj is not None and obj[0] == "blob" else None
        for spec, obj in read_objects(root, specs).items()
    }


def read_objects(root: Path, specs: list[str]) -> dict[str, tuple[str, bytes] | None]:
    """Type and content of each object a spec (`commit:path`, an ID) names, in one git
    process; None for what does not exist."""
    unique = list(dict.fromkeys(specs))
    if not unique:
        return {}
    raw = run_bytes(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in unique).encode())
    out: dict[str, tuple[str, bytes] | None] = {}
    pos = 0
    for spec in unique:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        pos = end + 1
        if len(header) != 3 or not header[2].isdigit():
            out[spec] = None
            continue
        size = int(header[2])
        out[spec] = (header[1].decode("ascii"), raw[pos : pos + size])
        pos += size + 1
    return out


def pending_files(root: Path) -> list[tuple[str, str]]:
    """Uncommitted changes as (two-letter status, path), untracked files included."""
    raw = run_bytes(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
    out: list[tuple[str, str]] = []
    for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
        if len(entry) > 3:
            out.append((entry[:2], entry[3:]))
    return out


def changed_between(root: Path, old: str, new: str) -> list[str]:
    """Every file that differs between two commits, no rename pairing."""
    raw = run_bytes(root, "diff", "--name-only", "-z", "--no-renames", old, new)
    return sorted({p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p})
