"""The practice's shared remote: a bare git repository that guards itself.

`cbtrack server init PATH` makes the bare repository and installs a `pre-receive` hook
that runs this module (`python -m cbtrack.server`, this Python, no daemon): every pushed
commit is judged by the rule book and, where the policy requires signing, by its
signature, before git accepts it; a push that breaks a rule is rejected with the commit
and the rule, which the pusher sees in `git push` (or `cbtrack sync`) output. A push that
rewrites or deletes a branch is rejected too. `cbtrack server check PATH` judges the whole
history the same way.
"""

from __future__ import annotations

import shlex
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cbtrack import audit, clock, gitlog, gitread, versions
from cbtrack.errors import Refused

HOOK_MARK = "# cbtrack pre-receive hook"
ZERO = "0" * 40


def hook_text() -> str:
    return (
        "#!/bin/sh\n"
        f"{HOOK_MARK}, installed by 'cbtrack server init': every pushed commit is judged\n"
        "# by cbtrack's rule book (and signatures, when the policy requires them).\n"
        f"exec {shlex.quote(sys.executable)} -m cbtrack.server\n"
    )


def init(path: Path) -> Path:
    """A bare repository at `path` with the guarding hook (an existing one gets the hook)."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise Refused(f"{path} is a file, not a folder; give a new folder for the repository.")
    if path.exists() and any(path.iterdir()) and not (path / "HEAD").is_file():
        raise Refused(f"{path} exists and is not a bare git repository; choose a new folder.")
    if not (path / "HEAD").is_file():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        gitlog.run(path, "init", "-q", "--bare")
    hooks = path / "hooks"
    hooks.mkdir(exist_ok=True, mode=0o700)
    hook = hooks / "pre-receive"
    hook.write_text(hook_text(), encoding="utf-8")
    hook.chmod(0o700)
    return path.resolve()


def check(path: Path, now: datetime | None = None) -> list[audit.Finding]:
    """Every commit of every branch judged (the rule book and signatures); `now`: the
    checker's clock, which no commit may be far ahead of (`audit.AHEAD`; default cbtrack's)."""
    now = now or clock.current(ZoneInfo("UTC"))
    path = path.expanduser().resolve()
    if not (path / "HEAD").is_file() and not (path / ".git").exists():
        raise Refused(f"{path} is not a git repository; give the server repository's folder.")
    heads = [line.split()[0] for line in _refs(path)]
    walked = gitread.commits(path, heads[0]) if heads else []
    for extra in heads[1:]:
        seen = {w.sha for w in walked}
        walked += [c for c in gitread.commits(path, extra) if c.sha not in seen]
    anchor = heads[0] if heads else None
    return audit.judge_commits(path, versions.Reader(), walked, anchor, now=now)


def _refs(path: Path) -> list[str]:
    out = gitlog.run(path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
    return [line for line in out.stdout.splitlines() if line.strip()]


def judge_push(path: Path, updates: list[tuple[str, str, str]]) -> list[str]:
    """What is wrong with a push of (old, new, ref) updates; empty when it may go in (a
    commit dated over an hour ahead of the server's clock may not). The shared store keeps
    the one branch its first push made: work pushed to another would reach no desk."""
    now = clock.current(ZoneInfo("UTC"))
    problems: list[str] = []
    refs = [line.split() for line in _refs(path)]
    existing = [sha for sha, _ in refs]
    for old, new, ref in updates:
        if not ref.startswith("refs/heads/"):
            problems.append(
                f"{ref}: only branches may be pushed to the shared store (a replacement, a "
                "tag or a note could make git show another history than the one judged)"
            )
            continue
        if old == ZERO and refs and all(name != ref for _, name in refs):
            shared = refs[0][1].removeprefix("refs/heads/")
            problems.append(
                f"{ref}: a new branch; the shared store keeps one, '{shared}' (work on another "
                f"reaches no other desk): run 'git checkout {shared}' and 'git merge' your "
                "branch into it on the desk, then sync again"
            )
            continue
        if new == ZERO:
            problems.append(f"{ref}: deleting a branch of the shared store is not allowed")
            continue
        if old != ZERO and not gitlog.is_ancestor(path, old, new):
            problems.append(
                f"{ref}: the push rewrites history (commit {gitlog.short(old)} would be lost); "
                "sync instead of force-pushing"
            )
            continue
        walked = gitread.commits(path, new, exclude=existing)
        anchor = old if old != ZERO else (existing[0] if existing else None)
        found = audit.judge_commits(path, versions.Reader(), walked, anchor, now=now)
        problems += [f.message for f in found]
    return problems


def main() -> int:
    """The pre-receive hook: lines `old new ref` on stdin; exit 1 rejects the push."""
    path = Path.cwd()
    updates = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    try:
        problems = judge_push(path, updates)
    except Exception as exc:  # a hook that cannot judge must not let the push through
        print(f"cbtrack: the push could not be judged ({type(exc).__name__}); rejected.",
              file=sys.stderr)  # fmt: skip
        return 1
    for p in problems:
        print(f"cbtrack: {p}", file=sys.stderr)
    if problems:
        print("cbtrack: push rejected by the practice's store; nothing was changed.",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
