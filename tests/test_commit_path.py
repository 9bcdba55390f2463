"""A command's own commit writes objects for its changed files only (no `git add` or `git
commit` over the whole index), and still leaves exactly what `git commit -- PATH` would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from cbtrack import gitlog
from cbtrack.store import Store
from tests.conftest import Cli, attempt_args, git


def index_version(store: Path) -> int:
    head = (store / ".git" / "index").read_bytes()[:8]
    assert head[:4] == b"DIRC"
    return int.from_bytes(head[4:8], "big")


def assert_like_git_commit(store: Path, message: str, user: str = "jlee") -> None:
    """HEAD is what `git commit` would have made of the index: same tree, nothing staged
    or changed left over, a sound object store, the usual author and reflog line; the
    message is the command's ("ACTION ... ID")."""
    assert git(store, "write-tree").strip() == git(store, "rev-parse", "HEAD^{tree}").strip()
    assert git(store, "status", "--porcelain", "--untracked-files=all") == ""
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=store, capture_output=True, text=True
    )
    assert fsck.returncode == 0 and fsck.stderr == "", fsck.stderr
    who, subject = git(store, "log", "-1", "--format=%an <%ae>|%cn|%B").rstrip("\n").rsplit("|", 1)
    assert who == f"{user} <{user}@cbtrack.invalid>|{user}"
    assert subject.startswith(message.split()[0]) and subject.endswith(message.split()[-1])
    assert git(store, "reflog", "-1", "--format=%gs").strip() == f"commit: {subject}"
    assert index_version(store) == 4


def test_add_attempt_and_close_commit_only_their_own_file(cli: Cli, store_dir: Path) -> None:
    other = cli.add()
    cid = cli.add()
    assert_like_git_commit(store_dir, f"add {cid}")
    assert git(store_dir, "show", "--name-status", "--format=", "HEAD").split() == [
        "A",
        f"callbacks/open/{cid}.yaml",
    ]
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer at the number on file"))
    assert_like_git_commit(store_dir, f"attempt {cid}")
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered on the second call")
    assert_like_git_commit(store_dir, f"close {cid}")
    moved = git(store_dir, "show", "--name-status", "--no-renames", "--format=", "HEAD").split()
    month = f"{cid[3:7]}-{cid[7:9]}"
    assert moved == [
        "A",
        f"callbacks/closed/{month}/{cid}.yaml",
        "D",
        f"callbacks/open/{cid}.yaml",
    ]
    # the rest of the tree is HEAD's before: the other callback is where it was
    assert f"callbacks/open/{other}.yaml" in git(store_dir, "ls-tree", "-r", "--name-only", "HEAD")


def test_a_hand_edit_elsewhere_stays_out_and_uncommitted(cli: Cli, store_dir: Path) -> None:
    first = cli.add()
    cid = cli.add()
    path = store_dir / "callbacks" / "open" / f"{first}.yaml"
    edited = path.read_text() + "# a note typed by hand\n"
    path.write_text(edited)
    cli.ok("note", cid, "Patient prefers mornings")
    assert git(store_dir, "show", "--name-only", "--format=", "HEAD").split() == [
        f"callbacks/open/{cid}.yaml"
    ]
    assert git(store_dir, "status", "--porcelain").split() == ["M", f"callbacks/open/{first}.yaml"]
    assert path.read_text() == edited


def test_a_branch_moved_meanwhile_is_refused_and_nothing_changes(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = cli.add()
    record = store_dir / "callbacks" / "open" / f"{cid}.yaml"
    before = record.read_bytes()
    real = gitlog.run

    def run(root: Path, *args: str, **kwargs: Any) -> Any:
        if args and args[0] == "update-ref" and "HEAD" in args:
            # someone commits by hand between the command's read of HEAD and its update
            (root / "notes.txt").write_text("hand notes\n")
            git(root, "add", "notes.txt")
            git(root, "-c", "user.name=IT", "-c", "user.email=it@example.invalid",
                "commit", "-q", "--no-verify", "-m", "hand commit", "--", "notes.txt")  # fmt: skip
        return real(root, *args, **kwargs)

    monkeypatch.setattr(gitlog, "run", run)
    result = cli(*attempt_args(cid, "phone", "no_answer", "No answer at the number on file"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "the branch moved" in lines[0], result.stderr
    assert "nothing changed" in lines[0]
    monkeypatch.undo()
    assert record.read_bytes() == before
    assert git(store_dir, "log", "-1", "--format=%s").strip() == "hand commit"
    assert git(store_dir, "status", "--porcelain", "--untracked-files=all") == ""
    assert Store(store_dir).journal_ids() is None
    cli.ok(*attempt_args(cid, "phone", "no_answer", "No answer at the number on file"))
    assert_like_git_commit(store_dir, f"attempt {cid}")


def test_an_old_index_is_switched_to_version_4_once(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    git(store_dir, "update-index", "--index-version", "2")
    assert index_version(store_dir) == 2
    cli.ok("note", cid, "Patient prefers mornings")
    assert_like_git_commit(store_dir, f"note {cid}")


def test_gits_index_is_kept_in_two_files(cli: Cli, store_dir: Path) -> None:
    """With `core.splitIndex` a command's change rewrites a small index file, not every
    entry of a large store; git itself reads both as one index."""
    cid = cli.add()
    assert git(store_dir, "config", "core.splitIndex").strip() == "true"
    cli.ok("note", cid, "Patient prefers mornings")
    assert list((store_dir / ".git").glob("sharedindex.*"))
    assert_like_git_commit(store_dir, f"note {cid}")
    assert git(store_dir, "ls-files").split() == sorted(
        git(store_dir, "ls-tree", "-r", "--name-only", "HEAD").split()
    )


def test_the_trees_are_written_beside_the_store_never_in_the_system_temp_folder(
    cli: Cli, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a killed command must leave nothing in the system's temp folder (a tree names the
    # store's callbacks): the changed folders' trees are written for git in the store's
    # local folder, as temp files `cbtrack doctor` finds and removes (tests/test_doctor.py),
    # and are gone once committed
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    cid = cli.add()
    assert_like_git_commit(store_dir, f"add {cid}")
    ran = trace.read_text()
    assert "git hash-object -w -t tree --stdin-paths" in ran
    assert "git commit " not in ran and "git add " not in ran
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not [p for p in (store_dir / ".cbtrack").iterdir() if p.name.startswith(".cbtrack-tmp")]
