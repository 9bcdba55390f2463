"""Files the tool writes outside its records: `--output` writes only a regular file or a new
file in an existing folder (atomically, owner-only), and `init` commits only its own files.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cbtrack.cli import app


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- report --output ---------------------------------------------------------------------


def test_output_refuses_a_fifo_and_leaves_it_a_fifo(cli: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    err = cli.refused("report", "--output", str(fifo))
    assert err == (
        f"Error: {fifo} is not a regular file (a device, pipe or socket); give --output a "
        "regular file or a new file.\n"
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_refuses_a_device_node(cli: Any, tmp_path: Path) -> None:
    """A device node of the test's own (a regression must never hit the system's
    /dev/null: as root, the old code replaced it with the report)."""
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    err = cli.refused("report", "--output", str(device))
    assert "is not a regular file" in err
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_output_into_a_missing_folder_makes_no_folder(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "report.txt"
    err = cli.refused("report", "--output", str(target))
    assert err.startswith(f"Error: The folder {target.parent} does not exist;")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("points_at", ["folder", "fifo", "file", "nothing"])
def test_output_refuses_a_symbolic_link(cli: Any, tmp_path: Path, points_at: str) -> None:
    target = tmp_path / "target"
    if points_at == "folder":
        target.mkdir()
    elif points_at == "fifo":
        os.mkfifo(target)
    elif points_at == "file":
        target.write_text("someone else's file\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    err = cli.refused("report", "--output", str(link))
    assert "is a symbolic link" in err
    assert link.is_symlink()
    if points_at == "file":
        assert target.read_text() == "someone else's file\n"
    if points_at == "nothing":
        assert not target.exists()


def test_output_refuses_a_folder(cli: Any, tmp_path: Path) -> None:
    err = cli.refused("report", "--output", str(tmp_path))
    assert err == f"Error: {tmp_path} is a folder; give --output a file name.\n"


def test_output_replaces_a_regular_file_atomically_owner_only(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("last week's report\n")
    target.chmod(0o644)
    result = cli.ok("report", "--output", str(target))
    assert result.stdout == ""
    assert target.read_text().startswith("Callback report:")
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "store") == [
        "home",
        "report.txt",
    ]
    fresh = tmp_path / "new.html"
    cli.ok("report", "--format", "html", "--output", str(fresh))
    assert mode(fresh) == 0o600


def test_output_refusal_comes_before_any_work(cli: Any, tmp_path: Path) -> None:
    """The path is checked before the report is built: a cron line with a typo fails
    fast, with the same sentence, whatever the period."""
    err = cli.refused("report", "--since", "2020-01-01", "--output", str(tmp_path / "x" / "r"))
    assert "does not exist" in err


# --- init on an existing folder -----------------------------------------------------------


def tracked(store: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=store, capture_output=True, text=True, check=True
    ).stdout
    return sorted(out.split())


OWN_FILES = [
    ".gitattributes",
    ".gitignore",
    "callbacks/closed/.gitkeep",
    "callbacks/open/.gitkeep",
    "cbtrack.yaml",
]


def test_init_in_a_folder_with_other_files_commits_only_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "desk"
    (folder / "exports").mkdir(parents=True)
    (folder / ".env").write_text("API_TOKEN=not-a-real-token\n")
    (folder / "patients.csv").write_text("name,phone\nAda Example,5550100123\n")
    (folder / "exports" / "old.csv").write_text("x\n")
    named = ["--practice", "Oak Test Clinic", "--callback-number", "5550100999"]
    result = CliRunner().invoke(app, ["--as", "jlee", "init", str(folder), *named])
    assert result.exit_code == 0, result.stderr
    assert tracked(folder) == OWN_FILES
    assert (
        f"Note: 3 other file(s) in {folder.resolve()} were left untracked; cbtrack commits "
        "only its own files (see 'git status')."
    ) in result.stderr.splitlines()
    # the strays stay where they were, untouched
    assert (folder / ".env").read_text() == "API_TOKEN=not-a-real-token\n"
    # a second init commits nothing new and says the same
    again = CliRunner().invoke(app, ["--as", "jlee", "init", str(folder)])
    assert again.exit_code == 0 and tracked(folder) == OWN_FILES
    assert "3 other file(s)" in again.stderr


def test_init_of_a_copied_store_commits_its_records_but_not_strays(
    cli: Any, tmp_path: Path
) -> None:
    cid = cli.add()
    copy = tmp_path / "copy"
    copy.mkdir()
    for rel in ("cbtrack.yaml", f"callbacks/open/{cid}.yaml"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((cli.store / rel).read_bytes())
    (copy / "callbacks" / "open" / "notes.txt").write_text("scribbles\n")
    (copy / "patients.csv").write_text("x\n")
    result = CliRunner().invoke(app, ["--as", "jlee", "init", str(copy)])
    assert result.exit_code == 0, result.stderr
    assert f"callbacks/open/{cid}.yaml" in tracked(copy)
    assert "callbacks/open/notes.txt" not in tracked(copy)
    assert "patients.csv" not in tracked(copy)
    assert "2 other file(s)" in result.stderr


def test_init_of_an_empty_folder_says_nothing_about_strays(tmp_path: Path) -> None:
    named = ["--practice", "Oak Test Clinic", "--callback-number", "5550100999"]
    result = CliRunner().invoke(app, ["--as", "jlee", "init", str(tmp_path / "new"), *named])
    assert result.exit_code == 0
    assert result.stderr == ""  # (no placeholder left to warn about either)
    assert tracked(tmp_path / "new") == OWN_FILES
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=tmp_path / "new",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""


def test_export_output_follows_the_same_rules(cli: Any, tmp_path: Path) -> None:
    """Every --output the tool has goes through one check: export too."""
    cli.add()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target, says in (
        (fifo, "is not a regular file (a device, pipe or socket)"),
        (tmp_path / "no" / "x.csv", "does not exist"),
    ):
        err = cli.refused("export", "--format", "csv", "--output", str(target))
        assert says in err, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not (tmp_path / "no").exists()
    out = tmp_path / "x.csv"
    cli.ok("export", "--format", "csv", "--output", str(out))
    assert mode(out) == 0o600 and "+15550100123" in out.read_text()
