"""Schemas are current, layers stay apart, and the installed `cbtrack` works as cron runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cbtrack.schema import SCHEMAS, schema_text

ROOT = Path(__file__).resolve().parent.parent


def test_schemas_are_current() -> None:
    for name, model in SCHEMAS.items():
        path = ROOT / "schemas" / name
        assert path.read_text() == schema_text(model), (
            f"schemas/{name} is stale: run python -m cbtrack.schema schemas/"
        )


def test_library_does_not_load_the_cli() -> None:
    code = (
        "import sys, cbtrack, cbtrack.service, cbtrack.store, cbtrack.triage, cbtrack.scripts\n"
        "import cbtrack.sync, cbtrack.mergedriver, cbtrack.review, cbtrack.report\n"
        "bad = [m for m in ('typer', 'tabulate', 'cbtrack.cli', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import cbtrack.store\n"
        "assert 'typer' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_domain_modules_do_no_io() -> None:
    """triage, review, report, scripts, merge, policy, model, clock: pure, no file or git."""
    import ast

    for name in ("triage", "review", "report", "scripts", "merge", "policy", "model", "clock"):
        tree = ast.parse((ROOT / "cbtrack" / f"{name}.py").read_text())
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            f"{node.module}.{alias.name}" if node.module == "cbtrack" else str(node.module)
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }  # fmt: skip
        bad = {"cbtrack.store", "cbtrack.gitlog", "cbtrack.service", "yaml", "subprocess"}
        assert not imported & bad, (name, imported & bad)


def _cbtrack() -> list[str]:
    exe = shutil.which("cbtrack") or str(Path(sys.executable).parent / "cbtrack")
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "cbtrack"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBTRACK_")}
    env.update(
        HOME=str(tmp_path),
        GIT_CONFIG_NOSYSTEM="1",
        CBTRACK_NOW="2026-11-27T10:00:00-05:00",
        **extra,
    )
    return env


def run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cbtrack(), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        check=False,
    )


def test_installed_cbtrack_day_one(tmp_path: Path) -> None:
    store = tmp_path / "desk"
    assert run(tmp_path, "--as", "jlee", "init", str(store)).returncode == 0
    added = run(
        tmp_path,
        "--store",
        str(store),
        "--as",
        "jlee",
        "add",
        "--patient",
        "Cy Placeholder",
        "--phone",
        "5550100155",
        "--category",
        "general",
        "--reason",
        "Parking question",
        "--detail",
        "topic=parking",
    )
    assert added.returncode == 0, added.stderr
    cid = added.stdout.strip()
    queue = run(tmp_path, "--store", str(store), "queue", "--json")
    assert queue.returncode == 0 and json.loads(queue.stdout)[0]["id"] == cid
    bad = run(
        tmp_path,
        "--store",
        str(store),
        "--as",
        "jlee",
        "close",
        cid,
        "--reason",
        "reached",
        "--summary",
        "Done",
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: ") and len(bad.stderr.strip().splitlines()) == 1
    missing = run(tmp_path, "--store", str(tmp_path / "nowhere"), "queue")
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    usage = run(tmp_path, "--store", str(store), "queue", "--bogus")
    assert usage.returncode == 2


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cbtrack", "--help"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0 and "queue" in result.stdout


def test_example_store_validates_and_queues(tmp_path: Path) -> None:
    examples = [p.parent for p in (ROOT / "examples").glob("*/cbtrack.yaml")]
    assert examples, "examples/ holds no store"
    for store in examples:
        result = run(tmp_path, "--store", str(store), "validate")
        assert result.returncode == 0, result.stderr
        queue = run(tmp_path, "--store", str(store), "queue")
        assert queue.returncode == 0 and len(queue.stdout.splitlines()) > 10
