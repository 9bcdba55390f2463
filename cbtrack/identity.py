"""Who did it: staff identity from git's own SSH commit signing.

With `signing: required` in the policy, every commit cbtrack makes is signed (`gpg.format
ssh`) with the key named by `CBTRACK_SIGNING_KEY`, else git's `user.signingkey`: a private
key file, a public key file whose private half is in ssh-agent, or `key::ssh-ed25519 ...`.
The acting user is the staff member whose `staff.<user>.key` that key is.

`verify`, `sync` and the server's `pre-receive` hook check each commit made while the
policy (as committed in its parent) required signing: signed by a key that policy lists,
and by the key of the commit's author. The list of allowed signers is written from that
policy for the check only, never read from a file a desk could edit.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cbtrack import gitlog, gitread
from cbtrack.errors import GitError, Refused

if TYPE_CHECKING:
    from cbtrack.policy import Policy

KEYGEN_HINT = (
    "make one with 'ssh-keygen -t ed25519', set CBTRACK_SIGNING_KEY to its file, and ask "
    "the practice's admin to add the .pub file with 'cbtrack keys add USER FILE'"
)


@dataclass(frozen=True)
class SigningKey:
    """A key this desk signs with: what git is given (`user.signingkey`) and its public
    half (`type base64`)."""

    spec: str
    public: str


def key_body(line: str) -> str:
    """`type base64` of a public key line (the comment dropped), to compare keys."""
    return " ".join(line.split()[:2])


def configured_spec(root: Path) -> str | None:
    """`CBTRACK_SIGNING_KEY`, else git's `user.signingkey` for this store."""
    spec = os.environ.get("CBTRACK_SIGNING_KEY", "").strip()
    if spec:
        return spec
    try:  # (git's own setting: not what this process passes to git for signing)
        out = gitlog.run_bytes(root, "config", "user.signingkey")
    except GitError:
        return None
    return out.decode("utf-8", "replace").strip() or None


def signing_key(root: Path) -> SigningKey | None:
    """The key this desk signs with, or None when none is configured. Refused when the
    setting names something that is not a usable key."""
    spec = configured_spec(root)
    if spec is None:
        return None
    if spec.startswith("key::"):
        return SigningKey(spec, key_body(spec[len("key::") :]))
    if re.match(r"^(ssh-|ecdsa-|sk-)", spec):
        return SigningKey(f"key::{spec}", key_body(spec))
    path = Path(spec).expanduser()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise Refused(
            f"The signing key {path} cannot be read; check CBTRACK_SIGNING_KEY (or git's "
            "user.signingkey) names your SSH key file."
        ) from None
    if "PRIVATE KEY" not in text:
        return SigningKey(str(path), key_body(text.strip()))
    pub = Path(f"{path}.pub")
    if pub.is_file():  # what ssh-keygen wrote beside it: no passphrase needed to read
        return SigningKey(str(path), key_body(pub.read_text(encoding="utf-8").strip()))
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-P", "", "-f", str(path)], capture_output=True, text=True
    )
    if derived.returncode != 0:
        raise Refused(
            f"The public half of {path} cannot be read (a passphrase-protected key?); add "
            "the key to ssh-agent and set CBTRACK_SIGNING_KEY to its .pub file."
        )
    return SigningKey(str(path), key_body(derived.stdout.strip()))


def owner_of(keys: Mapping[str, str], public: str) -> str | None:
    """The staff member whose key `public` is."""
    for user, line in keys.items():
        if key_body(line) == public:
            return user
    return None


def acting_user(root: Path, keys: Mapping[str, str], claimed: str | None) -> tuple[str, str]:
    """(the acting user, the key spec to sign with) under `signing: required`: whose key
    this desk signs with; refused when there is no key, an unknown or revoked one, or
    `--as` names someone else."""
    key = signing_key(root)
    if key is None:
        raise Refused(
            "The practice's policy requires signed changes and this desk has no signing "
            f"key; {KEYGEN_HINT}."
        )
    owner = owner_of(keys, key.public)
    if owner is None:
        raise Refused(
            "The signing key of this desk is not any staff member's key in the policy (or it "
            "was revoked); ask the practice's admin to add yours with 'cbtrack keys add USER "
            "FILE'."
        )
    if claimed and claimed != owner:
        raise Refused(
            f"This desk signs with {owner}'s key, so it cannot act as {claimed}; run the "
            f"command as {owner}, or set CBTRACK_SIGNING_KEY to {claimed}'s own key."
        )
    return owner, key.spec


def actor(root: Path, policy: Policy, user: str | None) -> str:
    """The acting user of a change. Signing off: the name given (on the roster, where
    there is one). Signing required: whose key this desk signs with, and every commit of
    this process is signed with it from here on."""
    from cbtrack import triage

    gitlog.sign_with(root, None)
    if policy.signing != "required":
        return triage.check_user(policy, user)
    keys = {u: m.key for u, m in policy.staff.items() if m.key}
    who, spec = acting_user(root, keys, policy.staff_key(user) if user else None)
    triage.check_user(policy, who)
    gitlog.sign_with(root, spec)
    return who


# --- checking signatures ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    commit: str
    author: str
    why: str


def check_commits(
    root: Path, commits: Iterable[tuple[str, str, Mapping[str, str]]]
) -> list[Problem]:
    """For each (commit, author, the staff keys of the policy it was made under): a
    problem when it is unsigned, signed by a key that policy does not list, or signed by
    someone other than its author. One `git verify-commit` per commit."""
    out: list[Problem] = []
    files: dict[tuple[tuple[str, str], ...], str] = {}
    with tempfile.TemporaryDirectory(prefix="cbtrack-signers-") as tmp:
        for sha, author, keys in commits:
            listed = tuple(sorted(keys.items()))
            allowed = files.get(listed)
            if allowed is None:
                allowed = os.path.join(tmp, f"allowed-{len(files)}")
                with open(allowed, "w", encoding="utf-8") as fh:
                    fh.writelines(f'{u} namespaces="git" {key_body(k)}\n' for u, k in listed)
                files[listed] = allowed
            why = _judge(root, sha, author, allowed)
            if why:
                out.append(Problem(sha, author, why))
    return out


def _judge(root: Path, sha: str, author: str, allowed: str) -> str | None:
    proc = gitlog.run(root, "-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed}",
                      "verify-commit", "--raw", sha, check=False)  # fmt: skip
    said = proc.stderr + proc.stdout
    signer = re.search(r'Good "git" signature for (\S+) with', said)
    if proc.returncode == 0 and signer:
        if signer.group(1) != author:
            return f"it is signed with {signer.group(1)}'s key but names {author} as its author"
        return None
    if "gpgsig" not in _header(root, sha):
        return "it is not signed, and the policy requires signed commits"
    return "its signature is not by a key the policy listed then (unknown, revoked or forged)"


def _header(root: Path, sha: str) -> str:
    found = gitread.read_objects(root, [sha]).get(sha)
    head = found[1].split(b"\n\n", 1)[0] if found else b""
    return head.decode("utf-8", "replace")
