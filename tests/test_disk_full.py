"""A full disk: every change says what really happened to it.

The disk fills at each point of a change (the journal, the record, the commit, the undo).
The error is one sentence that says either that nothing was changed, that the change was
undone, or that it was written but not committed and the next command will complete it;
and the store matches what it says. A change is never reported written when its write
failed, and a change reported "to be completed" is completed by the next command.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import attempt_args, snapshot

from cbtrack import files, gitlog
from cbtrack.errors import GitError
from cbtrack.store import Store

NOTE = "Rang the mobile, no answer; trying again this afternoon"
ENOSPC = os.strerror(errno.ENOSPC)


def disk_full_from(
    monkeypatch: pytest.MonkeyPatch, call: int, until: int | None = None
) -> list[Path]:
    """Every atomic write from the `call`-th on (to the `until`-th) fails as on a full disk."""
    real = files.write_atomic
    calls: list[Path] = []

    def write_atomic(path: Path, text: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if call <= len(calls) <= (until or len(calls)):
            raise OSError(errno.ENOSPC, ENOSPC)
        real(path, text, *args, **kwargs)

    # every module that writes through cbtrack.files (the store, its journal, outputs)
    for name, module in list(sys.modules.items()):
        if name.startswith("cbtrack") and getattr(module, "write_atomic", None) is real:
            monkeypatch.setattr(module, "write_atomic", write_atomic)
    return calls


def commit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """git cannot write its objects: every commit (`git commit`, or the commit object a
    command's own commit writes with `git commit-tree`) fails."""
    real = gitlog.run

    def run(root: Path, *args: str, **kwargs: Any) -> Any:
        if args and args[0] in ("commit", "commit-tree"):
            raise GitError(f"git commit failed in {root}: error: {ENOSPC}")
        return real(root, *args, **kwargs)

    monkeypatch.setattr(gitlog, "run", run)


def commits(root: Path) -> int:
    out = subprocess.run(
        ["git", "rev-list", "--count", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout
    return int(out)


def attempts_on_disk(root: Path, cid: str) -> int:
    return Store(root).load(cid).attempts.__len__()


def test_journal_cannot_be_written(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = cli.add()
    disk_full_from(monkeypatch, 1)
    err = cli.refused(*attempt_args(cid, "phone", "no_answer", NOTE))
    assert err == (
        f"Error: The change to {cid} could not be started: .cbtrack/pending could not be "
        f"written ({ENOSPC}); nothing was changed.\n"
    )
    assert Store(cli.store).journal_ids() is None


@pytest.mark.parametrize("op", ["attempt", "add", "close"])
def test_record_cannot_be_written(cli: Any, monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    """The old message said the change 'was written ... the next command will complete
    it' and the attempt was lost. Now: not written, nothing changed, nothing pending."""
    cid = cli.add()
    args = {
        "attempt": attempt_args(cid, "phone", "no_answer", NOTE),
        "add": [
            "add",
            "--patient",
            "B C",
            "--phone",
            "5550100199",
            "--category",
            "general",
            "--reason",
            "Parking",
            "--detail",
            "topic=parking",
        ],
        "close": ["close", cid, "--reason", "resolved", "--summary", "Answered by email"],
    }[op]
    disk_full_from(monkeypatch, 2)  # the journal is written; the record is not
    err = cli.refused(*args)
    assert f"could not be written ({ENOSPC}); nothing was changed." in err, err
    assert "will complete" not in err and "was written" not in err
    assert Store(cli.store).journal_ids() is None
    monkeypatch.undo()
    assert attempts_on_disk(cli.store, cid) == 0
    cli.ok("note", cid, "Disk has room again")  # the next command finds nothing to finish
    assert (
        "recover"
        not in subprocess.run(
            ["git", "log", "--format=%s"], cwd=cli.store, capture_output=True, text=True
        ).stdout
    )


def test_commit_fails_and_the_change_is_undone(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = cli.add()
    commit_fails(monkeypatch)
    err = cli.refused(*attempt_args(cid, "phone", "no_answer", NOTE))
    assert err == (
        f"Error: git commit failed in {cli.store.resolve()}: error: {ENOSPC}; the change to "
        f"{cid} was undone, nothing changed.\n"
    )
    assert Store(cli.store).journal_ids() is None


def test_commit_and_undo_fail_and_the_next_command_completes_it(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = cli.add()
    before = commits(cli.store)
    commit_fails(monkeypatch)
    disk_full_from(monkeypatch, 3)  # journal and record written; putting it back fails
    result = cli(*attempt_args(cid, "phone", "no_answer", NOTE))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The change to {cid} was written but not committed (git commit failed in "
        f"{cli.store.resolve()}: error: {ENOSPC}) and could not be undone; the next cbtrack "
        "command will complete it (or run 'cbtrack doctor').\n"
    )
    # as it says: written, pending, not committed
    assert attempts_on_disk(cli.store, cid) == 1
    assert Store(cli.store).journal_ids() == [cid]
    assert commits(cli.store) == before
    monkeypatch.undo()
    cli.ok("note", cid, "Disk has room again")
    assert commits(cli.store) == before + 2  # the recovery commit, then the note
    assert attempts_on_disk(cli.store, cid) == 1
    shown = cli.ok("log", cid).stdout
    assert NOTE[:20] in shown


def test_a_roll_over_undoes_the_records_it_wrote(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One commit for many records: the disk is full for the second record, the first is
    put back, and the message says nothing changed."""
    cli.add(), cli.add(category="general")
    before = snapshot(cli.store)
    disk_full_from(monkeypatch, 4, until=4)  # journal, record, journal (+1), record 2
    result = cli("review", "--roll", user="lead")
    assert result.exit_code == 1, result.stderr
    assert "could not be written" in result.stderr
    assert result.stderr.endswith("was undone, nothing changed.\n"), result.stderr
    assert snapshot(cli.store) == before
    assert Store(cli.store).journal_ids() is None


def test_a_roll_over_on_a_disk_that_stays_full_says_it_is_pending(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Putting the first record back needs room too: then the message says the change is
    written and pending, and the next command commits what was written."""
    first, second = cli.add(), cli.add()
    before = commits(cli.store)
    disk_full_from(monkeypatch, 4)
    result = cli("review", "--roll", user="lead")
    assert result.exit_code == 1
    written = [cid for cid in (first, second) if f"change to {cid} was written" in result.stderr]
    assert len(written) == 1, result.stderr
    assert "could not be undone; the next cbtrack command will complete it" in result.stderr
    monkeypatch.undo()
    rolled = lambda cid: any(  # noqa: E731
        e.type.value == "rolled_over" for e in Store(cli.store).load(cid).events
    )
    assert rolled(written[0])
    cli.ok("note", written[0], "Disk has room again")
    assert commits(cli.store) == before + 2


def test_without_the_lock_a_failed_save_says_the_file_was_not_written(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's `save` outside a change: the error names the file; nothing else."""
    cid = cli.add()
    s = Store(cli.store)
    cb = s.load(cid)
    disk_full_from(monkeypatch, 1)
    from cbtrack.errors import WriteFailed

    with pytest.raises(WriteFailed) as caught:
        s.save(cb)
    assert caught.value.message == f"callbacks/open/{cid}.yaml could not be written ({ENOSPC})."


def test_init_and_report_output_on_a_full_disk(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full_from(monkeypatch, 1)
    new = tmp_path / "new-store"
    result = cli("init", str(new), store=False)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The store at {new} could not be set up ({ENOSPC}); once that is fixed, run "
        f"'cbtrack init {new}' again (it keeps what is there).\n"
    )
    target = tmp_path / "report.txt"
    err = cli.refused("report", "--output", str(target))
    assert err == f"Error: Cannot write to {target} ({ENOSPC}); nothing was written.\n"
    assert not target.exists()
