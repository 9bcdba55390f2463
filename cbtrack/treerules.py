"""Rules 10 and 11 of the rule book (cbtrack/history.py): what may change outside the
records. The policy's governed keys (who may do what) and the repository's own settings
files (`.gitattributes`, `.gitignore`: how git reads, merges and keeps every record) are
the admin's; nothing is shared from `.cbtrack/` (one desk's local files), and no symlink
or submodule lives anywhere in the store."""

from __future__ import annotations

from collections.abc import Iterable

from cbtrack.breach import RECORDS, Breach
from cbtrack.store import LOCAL_DIR, POLICY_FILE
from cbtrack.versions import ADMIN_ROLE, GOVERNED, Content, Reader, Rules

#: Git modes that are neither a plain file nor a folder: a symlink, a submodule.
ODD_MODES = frozenset({"120000", "160000"})
#: The repository's own settings, shared with every clone: they decide how git reads
#: (`working-tree-encoding`), merges (`merge=`) and ignores the records.
GIT_SETTINGS = (".gitattributes", ".gitignore")


def policy_breaches(rd: Reader, before: Content, after: Content, author: str) -> list[Breach]:
    """Rule 10: who may change the keys that say who may do what (no one may remove the
    policy: a commit after it would run with no roster, no roles, no guardrails)."""
    if isinstance(before, bytes) and after is None:
        why = f"was deleted by {author}; a store always keeps its policy"
        return [Breach("policy", POLICY_FILE, why, restore=POLICY_FILE)]
    if not isinstance(before, bytes) or not isinstance(after, bytes):
        return []  # a first policy, or one that does not read (judged as invalid elsewhere)
    old, new = rd.rules(before), rd.rules(after)
    keys = [k for k in GOVERNED if old.governed.get(k) != new.governed.get(k)]
    admins = old.admins
    if not keys or _admin_may(old, author):
        return []
    return [
        Breach(
            "policy",
            POLICY_FILE,
            f"{', '.join(keys)} changed by {author}, who does not have the {ADMIN_ROLE} role "
            f"in the policy before the change (held by {', '.join(admins)})",
            restore=POLICY_FILE,
        )
    ]


def _admin_may(rules: Rules, author: str) -> bool:
    """Whether `author` may change what is the admin's under these rules: they hold the
    admin role, or the policy names no admin yet."""
    return not rules.admins or rules.has_role(author, ADMIN_ROLE)


def tree_breaches(entries: Iterable[tuple[str, str]]) -> list[Breach]:
    """Rule 11 for the (path, git mode) pairs a change adds or alters."""
    out: list[Breach] = []
    for path, mode in entries:
        if path == LOCAL_DIR or path.startswith(f"{LOCAL_DIR}/"):
            why = f"is under {LOCAL_DIR}/, which holds one desk's local files and is never shared"
            out.append(Breach("local", path, why))
        elif mode in ODD_MODES:
            what = "a symlink" if mode == "120000" else "a submodule"
            out.append(Breach("link", path, f"is {what}; a store holds plain files only"))
    return out


def is_settings(path: str) -> bool:
    """A repository settings file outside the records (one under `callbacks/` is judged
    as a stray file there)."""
    return path.rsplit("/", 1)[-1] in GIT_SETTINGS and not path.startswith(f"{RECORDS}/")


def settings_breaches(
    rd: Reader, policy: Content, path: str, before: Content, after: Content, author: str
) -> list[Breach]:
    """Rule 10 for the repository's own settings files (`GIT_SETTINGS`, anywhere in the
    tree): a change needs an author with the admin role in the policy before it (or a
    policy that names no admin yet), as the governed keys do."""
    if before == after:
        return []
    rules = rd.rules(policy)
    admins = rules.admins
    if _admin_may(rules, author):
        return []
    why = (
        f"changed by {author}, who does not have the {ADMIN_ROLE} role (held by "
        f"{', '.join(admins)}); it decides how git reads and merges every record"
    )
    return [Breach("policy", path, why, restore=path if before is not None else None)]
