"""The installed `cbtrack` builds only the command it runs, and still helps with the rest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cbtrack.cli import command_named
from tests.conftest import Cli, settle_index

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


def test_the_plain_text_check_is_for_the_typer_installed(
    cli: Cli, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_plain_text_options` reaches into typer's internals, so it is pinned to the typer
    releases it was written for: with this typer it is on, and a read command given only
    text options loads no pydantic; with any other typer it stands aside and typer's own
    checks (with their messages) run."""
    import importlib

    import typer

    app_module = importlib.import_module("cbtrack.cli.app")

    assert app_module.plain_text_typer(), (
        f"typer {typer.__version__} is not one the plain-text option check was written for: "
        "check cbtrack/cli/app.py `_plain_text_options` against it, then move PLAIN_TEXT_TYPER"
    )
    cli.add()
    cli.ok("queue")  # (then the queue comes from the index alone: no models)
    settle_index(store_dir)
    probe = (
        "import sys; from cbtrack.cli import main; sys.argv = ['cbtrack', '--store', sys.argv[1],"
        " 'queue', '--owner', 'front_desk'];\ntry: main()\nexcept SystemExit: pass\n"
        "print('pydantic' in sys.modules, file=sys.stderr)"
    )
    env = dict(os.environ, CBTRACK_USER="jlee")
    out = subprocess.run([sys.executable, "-c", probe, str(store_dir)], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr
    monkeypatch.setattr(typer, "__version__", "0.30.0")
    assert not app_module.plain_text_typer()
    monkeypatch.setattr(typer, "__version__", "0.15.1")
    assert app_module.plain_text_typer()  # (no `typer._coercion` there: it imports nothing)
