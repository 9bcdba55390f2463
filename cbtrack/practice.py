"""Setting up a practice: the policy text a new store starts from, and `init`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cbtrack.errors import Refused, StoreError, WriteFailed
from cbtrack.lazy import lazy_module
from cbtrack.store import POLICY_FILE, STORE_FILES, Store, init_layout
from cbtrack.yamlio import dump_yaml, parse_policy

if TYPE_CHECKING:
    from cbtrack import gitlog
else:  # loaded by the commands that use them: reading the queue needs none of them
    gitlog = lazy_module("cbtrack.gitlog")


# --- init --------------------------------------------------------------------------


@dataclass
class PracticeSetup:
    """What `init` fills into the default policy; None keeps the shipped value."""

    practice: str | None = None
    callback_number: str | None = None
    timezone: str | None = None
    staff: dict[str, StaffEntry] = field(default_factory=dict)
    signing: str | None = None  # "off" or "required"

    def given(self) -> bool:
        return bool(
            self.practice or self.callback_number or self.timezone or self.staff or self.signing
        )


@dataclass
class StaffEntry:
    name: str
    roles: list[str]
    key: str | None = None  # the SSH public key line


def policy_text(setup: PracticeSetup | None = None) -> str:
    """The commented default policy with the practice's own values filled in, checked like
    a policy file (a refusal names the key and a right value)."""
    from cbtrack.policy import default_policy_text

    text = default_policy_text()
    if setup is not None:
        for key in ("practice", "callback_number", "timezone"):
            value = getattr(setup, key)
            if value is not None:
                text = _replace_top_key(text, key, dump_yaml({key: value}).rstrip("\n"))
        if setup.staff:
            block = ["staff:"]
            for user, e in setup.staff.items():
                data: dict[str, object] = {"name": e.name, "roles": e.roles}
                if e.key:
                    data["key"] = e.key
                member = dump_yaml({user: data}, flow=True)
                block.append("  " + member.strip()[1:-1])
            text = _replace_top_key(text, "staff", "\n".join(block))
        if setup.signing is not None:
            if setup.signing == "required" and not any(e.key for e in setup.staff.values()):
                raise Refused(
                    "With --signing required, give the staff's public keys with --key "
                    "USER=FILE (at least one), or start with signing off and add keys later."
                )
            text = _replace_top_key(text, "signing", f'signing: "{setup.signing}"')
    try:
        parse_policy(text, POLICY_FILE)
    except StoreError as exc:
        raise Refused(exc.message.replace(f"{POLICY_FILE}: ", "", 1)) from None
    return text


def _replace_top_key(text: str, key: str, block: str) -> str:
    """Replace the one line `key: ...` at the top level of the policy text by `block`."""
    lines = text.split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
    if len(at) != 1:
        raise ValueError(f"the packaged policy has no single top-level {key}")
    lines[at[0] : at[0] + 1] = block.split("\n")
    return "\n".join(lines)


def init_store(
    root: Path, user: str | None, now: datetime, setup: PracticeSetup | None = None
) -> list[Path]:
    """Make `root` a store: the commented default policy with `setup` filled in (an
    existing policy is kept), folders, git, and one commit of all of it."""
    if setup is not None and setup.given() and (root / POLICY_FILE).exists():
        raise Refused(
            f"{root / POLICY_FILE} already exists; edit it instead and run "
            "'cbtrack validate --commit'."
        )
    text = policy_text(setup)
    try:
        written = init_layout(root, text)
    except OSError as exc:
        raise WriteFailed(
            f"The store at {root} could not be set up ({exc.strerror or 'I/O error'}); "
            f"once that is fixed, run 'cbtrack init {root}' again (it keeps what is there)."
        ) from None
    root = root.resolve()
    gitlog.init_repo(root)
    # Only the store's own files: a folder that already held other files (a `.env`, an
    # export of patients) keeps them untracked, so no sync ever pushes them.
    store = Store(root)
    own = [*STORE_FILES, *(store.rel(p) for p in store.open_paths() + store.closed_paths())]
    gitlog.commit(root, own, "init cbtrack store", user or gitlog.TOOL_USER, now)
    return written


def untracked_files(root: Path) -> list[str]:
    """Files in the store folder that git does not track and no ignore rule covers."""
    return gitlog.untracked(root.resolve())
