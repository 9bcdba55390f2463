"""Staff keys in the policy (`staff.<user>.key`): add, list, revoke. Service functions,
usable without the CLI. A key change is a policy change like any other: committed by the
acting user (signed when the policy requires it), and judged by the rule book, which
wants an admin once the practice has one."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cbtrack import doctor, gitlog, identity, service
from cbtrack.errors import Refused
from cbtrack.files import write_atomic
from cbtrack.policy import SSH_KEY_RE
from cbtrack.store import POLICY_FILE, Store
from cbtrack.yamlio import dump_yaml, parse_policy


@dataclass
class KeyInfo:
    user: str
    fingerprint: str
    comment: str

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "fingerprint": self.fingerprint, "comment": self.comment}


def fingerprint(line: str) -> str:
    """`SHA256:...` of a public key line, as `ssh-keygen -l` prints it."""
    proc = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=line + "\n", capture_output=True, text=True
    )
    parts = proc.stdout.split()
    return parts[1] if proc.returncode == 0 and len(parts) > 1 else "?"


def read_public_key(path: Path | None, root: Path) -> str:
    """A public key line from `path`, else this desk's own signing key."""
    if path is None:
        key = identity.signing_key(root)
        if key is None:
            raise Refused(
                "Give the staff member's public key file (the .pub that ssh-keygen made), "
                "or set CBTRACK_SIGNING_KEY to add this desk's own key."
            )
        return key.public
    try:
        text = path.expanduser().read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        raise Refused(f"{path} cannot be read; give the .pub file that ssh-keygen made.") from None
    if "PRIVATE KEY" in text:
        raise Refused(
            f"{path} is a private key; give its public half (the .pub file) and keep the "
            "private key on the staff member's own computer or token."
        )
    if not re.match(SSH_KEY_RE, text) or fingerprint(text) == "?":
        raise Refused(f"{path} is not an SSH public key; give the .pub file that ssh-keygen made.")
    return identity.key_body(text) + (f" {text.split()[2]}" if len(text.split()) > 2 else "")


def list_keys(store: Store) -> list[KeyInfo]:
    out = []
    for user, member in store.policy.staff.items():
        if member.key:
            parts = member.key.split()
            out.append(KeyInfo(user, fingerprint(member.key), " ".join(parts[2:])))
    return out


def set_key(store: Store, user: str | None, now: datetime, target: str, key: str | None) -> str:
    """Give `target` the public key `key` (None: revoke theirs) and commit the policy.
    Returns the key's fingerprint (or the revoked one's)."""
    gitlog.require_repo(store.root, merging_ok=True)
    if service.policy_uncommitted(store):
        raise Refused(
            f"{POLICY_FILE} has uncommitted edits; commit them first ('cbtrack validate "
            "--commit') or drop them, so that a key change commits nothing else."
        )
    policy = service.committed_policy(store)
    actor = identity.actor(store.root, policy, user)
    if target not in policy.staff:
        raise Refused(
            f"'{target}' is not on the practice's staff list; add them under staff in "
            f"{POLICY_FILE} first (and commit it with 'cbtrack validate --commit')."
        )
    old = policy.staff[target].key
    if key is None and not old:
        raise Refused(f"{target} has no key in the policy; nothing to revoke.")
    if key is not None:
        holder = identity.owner_of({u: m.key for u, m in policy.staff.items() if m.key}, key)
        if holder not in (None, target):
            raise Refused(f"That key is already {holder}'s; each staff member needs a key of "
                          "their own.")  # fmt: skip
    path = store.root / POLICY_FILE
    text = path.read_text(encoding="utf-8")
    members = {u: m.model_dump(exclude_none=True) for u, m in policy.staff.items()}
    if key is None:
        members[target].pop("key", None)
    else:
        members[target]["key"] = key
    new = replace_block(text, "staff", staff_block(members))
    parse_policy(new, POLICY_FILE)
    what = "revoke the key of" if key is None else "set the key of"
    with store.lock():
        doctor.recover(store, now, actor)
        write_atomic(path, new)
        try:
            gitlog.commit(store.root, [POLICY_FILE], f"policy: {what} {target}", actor, now)
        except BaseException:
            write_atomic(path, text)
            raise
    return fingerprint(key or old or "")


def staff_block(members: dict[str, dict[str, object]]) -> str:
    """The `staff:` block, one flow mapping per member (as `init` writes it)."""
    if not members:
        return "staff: {}"
    lines = ["staff:"]
    for user, member in members.items():
        lines.append("  " + dump_yaml({user: member}, flow=True).strip()[1:-1])
    return "\n".join(lines)


def replace_block(text: str, key: str, block: str) -> str:
    """Replace the top-level `key:` of a policy text and the indented lines under it."""
    lines = text.split("\n")
    at = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
    if len(at) != 1:
        raise Refused(f"{POLICY_FILE} has no single top-level {key}; fix it by hand.")
    end = at[0] + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    while end > at[0] + 1 and not lines[end - 1].strip():
        end -= 1
    lines[at[0] : end] = block.split("\n")
    return "\n".join(lines)
