"""Reading many files of a few commits at once, for judging history in bulk.

`git cat-file --batch` given `commit:path` finds each path by scanning its folder's tree,
entry by entry: with 10,000 records in `callbacks/open/`, reading every file of a big commit
(a first commit that brings 60,000 records) that way costs git minutes. Given blob IDs it
costs nothing, and `git ls-tree -r` lists a whole commit's blob IDs in one pass. `Trees`
resolves the specs of a commit that many are asked of through its listing (the last few
listings are kept), and reads each distinct content once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cbtrack import gitlog, gitread

MANY = 200  # specs of one commit from which its whole listing is cheaper than lookups


class Trees:
    def __init__(self, root: Path, keep: int = 4) -> None:
        self.root = root
        self.keep = keep
        self._listings: dict[str, dict[str, str]] = {}

    def blob_ids(self, commit: str) -> dict[str, str]:
        """path -> blob ID of every file in `commit` (symlinks too: their target is a blob;
        a submodule is not a file)."""
        found = self._listings.get(commit)
        if found is None:
            raw = gitlog.run_bytes(self.root, "ls-tree", "-r", "-z", "--full-tree", commit)
            found = {}
            for entry in raw.decode("utf-8", "surrogateescape").split("\0"):
                meta, tab, path = entry.partition("\t")
                parts = meta.split()
                if tab and len(parts) == 3 and parts[1] == "blob":
                    found[path] = parts[2]
            if len(self._listings) >= self.keep:
                del self._listings[next(iter(self._listings))]  # the oldest
            self._listings[commit] = found
        return found

    def files(self, commit: str, under: str) -> list[str]:
        """Every file under the folder `under` in `commit`."""
        return [p for p in self.blob_ids(commit) if p.startswith(f"{under}/")]

    def read(self, specs: list[str]) -> dict[str, bytes | None]:
        """Contents for `commit:path` specs (as `gitread.read_blobs`), None if missing."""
        per_commit = Counter(s.partition(":")[0] for s in specs)
        ask: dict[str, str | None] = {}
        for spec in dict.fromkeys(specs):
            commit, _, path = spec.partition(":")
            if per_commit[commit] >= MANY:
                ask[spec] = self.blob_ids(commit).get(path)
            else:
                ask[spec] = spec
        blobs = gitread.read_blobs(self.root, [a for a in ask.values() if a is not None])
        return {spec: None if a is None else blobs.get(a) for spec, a in ask.items()}
