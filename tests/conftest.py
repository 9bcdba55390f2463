"""Shared fixtures: an isolated environment, a fresh store, and a CLI runner bound to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cbtrack.cli import app, built_for

NOW = "2026-11-27T10:00:00-05:00"  # a Friday, inside business and call hours


@pytest.fixture(scope="session")
def _rule_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per test process for the compiled triage rules and checked policies
    (digest-named, holding no patient data), so that each command run as a subprocess does
    not compile the rules again; tests of the cache itself point it elsewhere."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, _rule_cache: Path) -> Iterator[None]:
    # Its own MonkeyPatch: a test that undoes its own patches keeps this isolation (and the
    # pinned clock: no test may see the real date).
    env = pytest.MonkeyPatch()
    home = tmp_path / "home"
    home.mkdir()
    env.setenv("HOME", str(home))
    env.setenv("GIT_CONFIG_NOSYSTEM", "1")
    env.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("CBTRACK_STORE", "CBTRACK_USER", "CBTRACK_NOW", "NO_COLOR", "GIT_DIR", "COLUMNS",
                "CBTRACK_PROGRESS", "CBTRACK_WORKERS", "CBTRACK_LOCK_LOG"):  # fmt: skip
        env.delenv(var, raising=False)
    env.setenv("CBTRACK_NOW", NOW)
    env.setenv("XDG_CACHE_HOME", str(_rule_cache))
    # git's sample hooks are a sixth of a test store's files, and every file is written
    # and later cleared away: stores made by tests start from no template
    env.setenv("GIT_TEMPLATE_DIR", "")
    old = os.umask(0o077)  # as `cbtrack` itself sets it (cbtrack.cli.main)
    yield
    os.umask(old)
    env.undo()


class Cli:
    """Runs cbtrack commands against one store, as staff member `user`."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.runner = CliRunner()

    def __call__(
        self, *args: str, user: str | None = "jlee", now: str | None = None, store: bool = True
    ) -> Any:
        argv: list[str] = []
        if store:
            argv += ["--store", str(self.store)]
        if user:
            argv += ["--as", user]
        env = {"CBTRACK_NOW": now} if now else {}
        argv += args
        with built_for(argv):  # as `cbtrack` runs it: only the command named is built
            return self.runner.invoke(app, argv, env=env)

    def ok(self, *args: str, **kw: Any) -> Any:
        result = self(*args, **kw)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def refused(self, *args: str, code: int = 1, **kw: Any) -> str:
        """Run a command that must be refused: exit code, one line on stderr, nothing written."""
        before = snapshot(self.store)
        result = self(*args, **kw)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        assert snapshot(self.store) == before, "a refused command changed the store"
        assert "Traceback" not in result.stderr + result.stdout
        if code != 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        return str(result.stderr)

    def add(self, *extra: str, category: str = "scheduling", **kw: Any) -> str:
        base = [
            "add",
            "--patient",
            "Ada Example",
            "--phone",
            "+15550100123",
            "--category",
            category,
            "--reason",
            kw.pop("reason", "New patient visit"),
        ]
        details = {
            "scheduling": [
                "visit_type=new_patient",
                "availability=weekday mornings",
                "provider_preference=any",
            ],
            "general": ["topic=parking"],
            "referral_status": [
                "receipt_status=not received",
                "missing_documents=all",
                "next_expected_update=Monday",
            ],
            "clinical_concern": ["concern_summary=cough", "onset=yesterday"],
            "billing": ["statement_date=2026-10-01", "question_type=copay"],
        }.get(category, [])
        for d in details:
            base += ["--detail", d]
        return str(self.ok(*base, *extra, **kw).stdout.strip())

    def record(self, cid: str) -> dict[str, Any]:
        result = self.ok("show", cid, "--json")
        import json

        data: dict[str, Any] = json.loads(result.stdout)
        return data


#: `cbtrack add` of a valid general callback; tests append the option under test.
ADD_GENERAL = ["add", "--patient", "A B", "--phone", "5550100123", "--category", "general",
               "--reason", "x", "--detail", "topic=x"]  # fmt: skip


def attempt_args(cid: str, method: str, result: str, note: str) -> list[str]:
    """The arguments of `cbtrack attempt` for one contact attempt."""
    return ["attempt", cid, "--method", method, "--result", result, "--note", note]


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file of the store outside .git and .cbtrack, plus the git HEAD."""
    files = {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*"))
        if p.is_file()
        and ".git" not in p.relative_to(store).parts[:1]
        and ".cbtrack" not in p.relative_to(store).parts[:1]
    }
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=store, capture_output=True, text=True, check=False
    ).stdout
    files["<HEAD>"] = head.encode()
    return files


def set_policy(store: Path, **changes: Any) -> None:
    """Edit the store's cbtrack.yaml (top-level keys) the way a lead would by hand."""
    path = store / "cbtrack.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    commit_policy(store)


def commit_policy(store: Path) -> None:
    """Commit the edited cbtrack.yaml, as the lead does after editing it."""
    ident = ["-c", "user.name=Test Lead", "-c", "user.email=lead@example.invalid"]
    subprocess.run(
        ["git", *ident, "commit", "-q", "--no-verify", "-m", "policy", "--", "cbtrack.yaml"],
        cwd=store,
        check=True,
        capture_output=True,
    )


STAFF = {
    "jlee": {"name": "Jamie Lee", "roles": ["front_desk"]},
    "mkhan": {"name": "Mo Khan", "roles": ["scheduling"]},
    "rnpatel": {"name": "Riya Patel RN", "roles": ["clinical"]},
    "lead": {"name": "Lee Lead", "roles": ["front_desk_lead"]},
}


#: One freshly initialised store per test process and clock, copied for each test: `init`
#: runs git several times, and most tests need a store before anything else.
_FRESH_STORES: dict[str, Path] = {}


@pytest.fixture(scope="session")
def _fresh_store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fresh-stores")


@pytest.fixture
def store_dir(tmp_path: Path, _fresh_store_root: Path) -> Path:
    """A store as `cbtrack init` makes it (a copy of one made once, at the same clock)."""
    key = os.environ.get("CBTRACK_NOW", "")
    made = _FRESH_STORES.get(key)
    if made is None:
        made = _fresh_store_root / f"store{len(_FRESH_STORES)}"
        result = CliRunner().invoke(app, ["--as", "jlee", "init", str(made)])
        assert result.exit_code == 0, result.stderr
        _FRESH_STORES[key] = made
    store = tmp_path / "store"
    shutil.copytree(made, store, symlinks=True)
    return store


@pytest.fixture
def cli(store_dir: Path) -> Cli:
    return Cli(store_dir)


def git(store: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=store, capture_output=True, text=True, check=True
    ).stdout


def settle_index(store: Path) -> None:
    """Note the local index's entries as read a moment after their files were written (the
    racy rule distrusts a file changed in the tick it was read, and tests change files
    faster than any desk). Only for files as the index last read them."""
    import sqlite3

    from cbtrack import freshness, localindex

    path = store / ".cbtrack" / localindex.FILE_NAME
    if not path.exists():
        return
    with sqlite3.connect(path) as db:
        rows = list(db.execute("SELECT folder, name FROM rec"))
        for folder, name in rows:
            st = (store / "callbacks" / folder / name).stat()
            db.execute(
                "UPDATE rec SET stamp = ? WHERE folder = ? AND name = ?",
                (freshness.signature(st), folder, name),
            )
