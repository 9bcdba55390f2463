"""Nothing leaked: owner-only files, and no patient name, phone, MRN, reason or detail in
commit messages, error messages, logs or tracebacks."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers_robust import add_args, attempt_args, cbtrack_argv, git, subprocess_env

from cbtrack import service

NAME = "Marisol Quintanilla"
PHONE = "+1 (555) 014-7788"
MRN = "QX-77123"
REASON = "Worried about a lump under her left arm"
DETAIL = "Zyrtecquinox sideeffects"  # invented words: found only if leaked
PHI = [NAME, *NAME.split(), MRN, REASON, "lump under", *DETAIL.split()]
PHONE_DIGITS = re.sub(r"\D", "", PHONE)


def leaks(text: str) -> list[str]:
    found = [p for p in PHI if p.lower() in text.lower()]
    if PHONE_DIGITS in re.sub(r"\D", "", text) or PHONE in text:
        found.append("phone")
    return found


def test_the_installed_command_makes_owner_only_files_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    env = subprocess_env(tmp_path / "home")

    def run(*args: str) -> str:
        proc = subprocess.run(
            [*cbtrack_argv(), "--as", "jlee", *args],
            env=env,
            capture_output=True,
            text=True,
            umask=0o022,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run("init", str(store))
    cid = run("--store", str(store), *add_args(NAME, reason=REASON)).strip()
    run("--store", str(store), *attempt_args(cid, "Left no message, will call again"))
    run("--store", str(store), "close", cid, "--reason", "resolved", "--summary", "Answered")
    checked = 0
    for path in [store, *store.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)} is {oct(mode)}"
        checked += 1
    assert checked > 30  # the records, the policy, .cbtrack, and all of .git


def scripted_day(cli: Any) -> list[str]:
    """A day at the front desk, with mistakes; returns everything written to stderr."""
    errs: list[str] = []

    def run(*args: str, ok: bool = True) -> Any:
        result = cli(*args)
        errs.append(result.stderr)
        if ok:
            assert result.exit_code == 0, result.stderr
        else:
            assert result.exit_code != 0
        return result

    add = ["add", "--patient", NAME, "--phone", PHONE, "--mrn", MRN, "--category",
           "clinical_concern", "--reason", REASON, "--detail", f"concern_summary={DETAIL}",
           "--detail", "onset=Monday", "--voicemail", "none"]  # fmt: skip
    cid = run(*add).stdout.strip()
    other = run(*add_args(NAME, phone=PHONE, reason=REASON)).stdout.strip()
    # mistakes staff make, with patient data in the arguments
    run("add", "--patient", NAME, "--phone", f"{NAME}'s cell", "--category", "general",
        "--reason", REASON, "--detail", "topic=x", ok=False)  # fmt: skip
    run("add", "--patient", NAME, "--phone", PHONE, "--category", "cardiology", "--reason",
        REASON, ok=False)  # fmt: skip
    run("add", "--patient", NAME, "--phone", PHONE, "--category", "general", "--reason",
        REASON, "--detail", "topic=x", "--mrn", f"{MRN} {NAME}", ok=False)  # fmt: skip
    run("attempt", cid, "--method", "phone", "--result", "left_voicemail", "--note",
        f"Left voicemail for {NAME} about {REASON}", ok=False)  # fmt: skip
    run("attempt", cid, "--method", "phone", "--result", "no_answer", "--note", "called",
        ok=False)  # fmt: skip
    run("attempt", cid, "--method", "phone", "--result", "no_answer", "--note",
        f"No answer at {PHONE}, try again after lunch")  # fmt: skip
    run("note", cid, f"Daughter says {NAME} prefers mornings; {DETAIL}")
    run("assign", other, "billing")
    run("block", other, "--on", "provider_review", "--note", f"Dr to review {REASON}")
    run("unblock", other, "--note", "Reviewed")
    run("urgency", other, "emergency", "--why", f"{NAME} called again about {REASON}")
    run("close", other, "--reason", "reached", "--summary", REASON, ok=False)
    run("attempt", other, "--method", "phone", "--result", "reached", "--note",
        f"Reached {NAME}, discussed {REASON}", "--force", "--why", "patient asked")  # fmt: skip
    run("close", other, "--reason", "reached", "--summary", f"Told {NAME} about {DETAIL}")
    run("reopen", other, "--why", f"{NAME} called back about {REASON}")
    run("close", other, "--reason", "duplicate", "--summary", "Same as the other", "--of", cid)
    run("show", cid)
    run("queue")
    run("review")
    run("validate")
    report = run("report", "--since", "2026-11-01", "--until", "2026-11-30")
    errs.append(report.stdout)  # the default report is mailed by cron: de-identified
    return errs


def test_no_patient_data_in_commits_errors_or_logs_after_a_day(
    cli: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errs = scripted_day(cli)

    # an unexpected failure whose message carries patient data
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"cannot handle {NAME} at {PHONE}: {REASON}")

    monkeypatch.setattr(service, "add", broken)
    result = cli(*add_args(NAME, phone=PHONE, reason=REASON))
    errs.append(result.stderr)
    log = store_dir / ".cbtrack" / "errors.log"
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: unexpected failure (ValueError); details were written to {log}.\n"
    )

    commits = git(store_dir, "log", "--all", "--format=%an%n%ae%n%cn%n%ce%n%B")
    assert leaks(commits) == [], commits
    for err in errs:
        assert leaks(err) == [], err
        assert "Traceback" not in err
    local = sorted(p for p in (store_dir / ".cbtrack").rglob("*") if p.is_file())
    assert log in local
    for path in local:
        # The local index holds records as the record files do (owner-only, local, never
        # committed); every other local file is a log or a lock and holds no patient data.
        if not path.name.startswith("index.sqlite"):
            assert leaks(path.read_text(errors="replace")) == [], path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((store_dir / ".cbtrack").stat().st_mode) == 0o700
    text = log.read_text()
    assert "ValueError" in text and "cbtrack/cli/core.py:" in text and "command=add" in text


def test_a_malformed_detail_is_not_echoed(cli: Any) -> None:
    result = cli("add", "--patient", NAME, "--phone", PHONE, "--category", "general",
                 "--reason", "Question", "--detail", f"topic: {DETAIL}")  # fmt: skip
    assert result.exit_code == 1
    assert leaks(result.stderr) == []


def test_an_unexpected_failure_without_a_store_logs_to_the_user_cache(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbtrack.cli.app import State

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def broken(self: Any) -> None:
        raise OSError(28, f"No space left for {NAME}", f"/tmp/{NAME}.yaml")

    monkeypatch.setattr(State, "store", broken)
    result = cli("queue", store=False)
    log = Path(os.environ["HOME"]) / ".cache" / "cbtrack" / "errors.log"
    assert result.exit_code == 1
    assert result.stderr == f"Error: unexpected failure (OSError); details were written to {log}.\n"
    text = log.read_text()
    assert "OSError [ENOSPC]" in text
    assert leaks(text) == []
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_the_failure_report_keeps_types_files_and_lines_only() -> None:
    from cbtrack.doctor import failure_report

    def inner(secret: str) -> None:
        raise KeyError(secret)

    try:
        try:
            inner(NAME)
        except KeyError as exc:
            raise RuntimeError(REASON) from exc
    except RuntimeError as exc:
        report = failure_report(exc, "attempt")
    assert leaks(report) == []
    assert "failure: RuntimeError" in report and "caused by: KeyError" in report
    assert re.search(r"test_privacy\.py:\d+ in inner", report)
