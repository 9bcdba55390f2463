"""Where a store is: `--store`, else `$CBTRACK_STORE`, else the nearest folder upwards that
holds the policy file. One rule for the full path (`Store.find`) and the quick paths
(`quick.find_root`); plain Python, so the quick paths stay cheap."""

from __future__ import annotations

import os
from pathlib import Path

from cbtrack.errors import StoreError

POLICY_FILE = "cbtrack.yaml"


def holds_policy(folder: Path) -> bool:
    """Whether `folder` has the policy file; a folder this user may not read is named in
    one sentence (a store is owner-only), never a traceback."""
    try:
        return (folder / POLICY_FILE).is_file()
    except PermissionError:
        raise StoreError(
            f"Cannot read the store at {folder}: permission denied (a store is readable by "
            "its owner only); run cbtrack as the user who owns it, or give each login its "
            "own clone of the shared store."
        ) from None
    except OSError:
        return False


def locate(explicit: str | None, cwd: Path | None = None) -> tuple[Path | None, Path | None]:
    """(the store folder or None, the folder named with --store or CBTRACK_STORE if any)."""
    chosen = explicit or os.environ.get("CBTRACK_STORE")
    if chosen:
        named = Path(chosen).expanduser()
        return (named if holds_policy(named) else None), named
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if holds_policy(folder):
            return folder, None
    return None, None


def keep_or_drop(rel: str, held: bool) -> str:
    """What to do with a change no cbtrack command made (a hand edit): cbtrack never
    commits it in anyone's name, so a person keeps it with git (the hook and `verify` judge
    it, under that person's own name) or drops it. `held`: HEAD holds the file."""
    drop = f"with 'git checkout HEAD -- {rel}'" if held else f"by deleting {rel}"
    return (
        "keep it by committing it yourself with git (cbtrack verify judges it), or drop it " + drop
    )


def held_at_head(status: str) -> bool:
    """Whether a file git reports with this two-letter `status` is in the last commit (not
    untracked, not newly added): dropping its change then means restoring it."""
    return "?" not in status and "A" not in status
