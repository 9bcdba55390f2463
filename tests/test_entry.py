"""The console entry point (cbtrack/entry.py): the plain forms of `queue` and `find` are
answered from the index without loading typer, and print exactly what the typer app
prints; every other command line goes to the typer app, errors included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cbtrack.entry import plain_form
from tests.conftest import Cli, settle_index

CBTRACK = shutil.which("cbtrack", path=str(Path(sys.executable).parent)) or "cbtrack"
TYPER_PATH = "import sys; from cbtrack.cli import main; sys.argv[0] = 'cbtrack'; main()"


@pytest.mark.parametrize(
    ("argv", "form"),
    [
        (["queue"], ("queue", {}, [])),
        (["--store", "s", "--as", "jlee", "queue", "--mine"],
         ("queue", {"--store": "s", "--as": "jlee", "--mine": True}, [])),
        (["queue", "--limit=3", "--store=s"], ("queue", {"--limit": "3", "--store": "s"}, [])),
        (["find", "maria gonzalez"], ("find", {}, ["maria gonzalez"])),
        (["queue", "--json"], None),
        (["queue", "--help"], None),
        (["--owner", "x", "queue"], None),  # a queue option before the command
        (["queue", "--owner"], None),
        (["queue", "--owner", "--mine"], None),
        (["queue", "--mine", "--mine"], None),
        (["queue", "--mine=yes"], None),
        (["queue", "extra"], None),
        (["find"], None),
        (["find", "a", "b"], None),
        (["find", "-5550140"], None),
        (["add", "--patient", "x"], None),
        ([], None),
    ],
)  # fmt: skip
def test_the_plain_forms(argv: list[str], form: object) -> None:
    assert plain_form(argv) == form


def _run(argv: list[str], env: dict[str, str], typer_path: bool) -> tuple[int, str, str]:
    cmd = [sys.executable, "-c", TYPER_PATH, *argv] if typer_path else [CBTRACK, *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_the_quick_answers_are_the_typer_apps(cli: Cli, store_dir: Path, tmp_path: Path) -> None:
    cli.add(category="general", reason="Question about parking")
    cli.add(category="general", reason="his lips look a little blue")
    cli.add(category="billing", reason="Copay question")
    cli.ok("queue")  # notes the policy's digest
    cli.ok("find", "x")
    settle_index(store_dir)
    # A `typer` that cannot be imported: what the quick path answers never loads it.
    blocked = tmp_path / "blocked"
    (blocked / "typer").mkdir(parents=True)
    (blocked / "typer" / "__init__.py").write_text("raise ImportError('typer was loaded')\n")
    env = dict(os.environ, CBTRACK_USER="jlee", COLUMNS="100")
    env.pop("PYTHONPATH", None)
    quick_env = dict(env, PYTHONPATH=str(blocked))
    s = str(store_dir)
    answered = [
        ["--store", s, "queue"], ["--store", s, "queue", "--limit", "2"],
        ["--store", s, "queue", "--all"], ["--store", s, "queue", "--urgency", "emergency"],
        ["--store", s, "queue", "--status", "new"], ["--store", s, "queue", "--overdue"],
        ["--store", s, "queue", "--owner", "front_desk"], ["--store", s, "queue", "--mine"],
        ["--store", s, "--as", "mkhan", "queue", "--mine"],
        ["--store", s, "queue", "--category", "billing"], [f"--store={s}", "find", "5550100123"],
        ["--store", s, "find", "ada"], ["--store", s, "find", "nobody at all"],
    ]  # fmt: skip
    for argv in answered:
        fast = _run(argv, quick_env, typer_path=False)
        assert fast == _run(argv, env, typer_path=True), argv
        assert fast[0] == 0 and "typer was loaded" not in fast[2], argv
    declined = [
        ["--store", s, "queue", "--limit", "0"], ["--store", s, "queue", "--urgency", "soon"],
        ["--store", s, "queue", "--category", "nope"], ["--store", s, "queue", "--bogus"],
        ["--store", s, "find"], ["--store", s, "queue", "--json"],
        ["--store", str(tmp_path / "nowhere"), "queue"],
    ]  # fmt: skip
    for argv in declined:
        fast = _run(argv, env, typer_path=False)
        assert fast == _run(argv, env, typer_path=True), argv
        assert "Traceback" not in fast[2], argv


def test_a_surprise_in_the_quick_path_goes_to_the_typer_app(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cbtrack import entry, quick

    cli.add()

    def broken(*_: object) -> bool:
        raise RuntimeError("a bug in the quick path")

    monkeypatch.setattr(quick, "queue_screen", broken)
    monkeypatch.setattr(quick, "printed", False)
    monkeypatch.setattr(sys, "argv", ["cbtrack", "--store", str(store_dir), "queue"])
    with pytest.raises(SystemExit) as done:
        entry.main()
    # The typer app took the command line; it offers the screen to the quick path too, met
    # the same bug, and reported it as every unexpected failure is reported: one line,
    # details in the private log, no traceback.
    out, err = capsys.readouterr()
    assert done.value.code not in (0, None) and out == ""
    assert err.startswith("Error: unexpected failure (RuntimeError)") and "Traceback" not in err
    calls: list[int] = []

    def once(*_: object) -> bool:  # a surprise the first time only
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a passing fault")
        return False

    monkeypatch.setattr(quick, "queue_screen", once)
    with pytest.raises(SystemExit) as done:
        entry.main()
    assert done.value.code in (0, None)
    assert "Ada Example" in capsys.readouterr().out  # the full path answered

    def half(*_: object) -> bool:
        quick.say("ID    URG")
        raise OSError("the disk went away")

    monkeypatch.setattr(quick, "queue_screen", half)
    with pytest.raises(SystemExit) as done:
        entry.main()
    assert done.value.code == 1
    out, err = capsys.readouterr()
    assert out == "ID    URG\n"  # printed once, never twice
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
