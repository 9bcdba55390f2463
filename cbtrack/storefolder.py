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


def locate(explicit: str | None, cwd: Path | None = None) -> tuple[Path | None, bool]:
    """(the store folder or None, whether one was named with --store or CBTRACK_STORE)."""
    chosen = explicit or os.environ.get("CBTRACK_STORE")
    if chosen:
        root = Path(chosen).expanduser()
        return (root if holds_policy(root) else None), True
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if holds_policy(folder):
            return folder, False
    return None, False


def keep_or_drop(rel: str, held: bool) -> str:
    """What to do with a change no cbtrack command made (a hand edit): cbtrack never
    commits it in anyone's name, so a person keeps it with git (the hook and `verify` judge
    it, under that person's own name) or drops it. `held`: HEAD holds the file."""
    drop = f"with 'git checkout HEAD -- {rel}'" if held else f"by deleting {rel}"
    return (
        "keep it by committing it yourself with git (cbtrack verify judges it), or drop it " + drop
    )
