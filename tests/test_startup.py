"""The installed `cbtrack` builds only the command it runs, and still helps with the rest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cbtrack.cli import command_named

CBTRACK = shutil.which("cbtrack", path=str(Path(sys.executable).parent)) or "cbtrack"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CBTRACK_USER="jlee")
    return subprocess.run(
        [CBTRACK, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["add", "--patient", "x"], "add"),
        (["--store", "dir", "--as", "jlee", "queue"], "queue"),
        (["--store=dir", "show", "cb-1"], "show"),
        (["import", "missed-calls", "f.csv"], "import"),
        (["--help"], None),
        ([], None),
        (["--store", "dir"], None),
    ],
)
def test_the_command_a_line_runs(argv: list[str], name: str | None) -> None:
    assert command_named(argv) == name


def test_a_command_runs_with_options_before_and_after_its_name(store_dir: Path) -> None:
    add = ["--patient", "Ada Example", "--phone", "+15550100123", "--category", "general"]
    out = run(
        "--store",
        str(store_dir),
        "add",
        "--as",
        "jlee",
        *add,
        "--reason",
        "New visit",
        "--detail",
        "topic=visit",
    )
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    shown = run("--as", "jlee", "show", cid, "--store", str(store_dir))
    assert shown.returncode == 0 and cid in shown.stdout, shown.stderr


def test_help_and_typos_still_see_every_command() -> None:
    bare = run()
    assert bare.returncode in (0, 2)
    text = bare.stdout + bare.stderr
    # the overall help, on real lines (nothing escaped), listing every command
    assert "\\n" not in text and "\nCommands:\n" in text
    for name in ("add", "queue", "review", "report", "import", "export"):
        assert f"\n  {name} " in text
    typo = run("shw", "cb-1")
    assert typo.returncode == 2 and "Did you mean 'show'?" in typo.stderr
    sub = run("import", "--help")
    assert sub.returncode == 0 and "missed-calls" in sub.stdout
