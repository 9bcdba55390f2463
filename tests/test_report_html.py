"""The HTML report: one self-contained page that a real browser renders cleanly.

Chromium (Debian's `chromium`, installed by .ci/run) loads the page headless; its log
must hold no console message (a CSP violation, a failed load or a script error would
all show there). A control page proves the log does catch console messages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers_report import AFTER_WEEK, PHI_STRINGS, WEEK, Staff, build_week, init_store

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("chromium is not installed (.ci/run installs it)")


def browse(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after load, and the console messages Chromium logged."""
    proc = subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Staff, dict[str, str]]:
    cli = init_store(tmp_path_factory.mktemp("html-week"))
    ids = build_week(cli)
    # A name that would be markup if it were not escaped.
    ids["X"] = cli.add(
        "2026-11-27T11:00:00-05:00",
        "Ozymandias <b>O'Hare</b> & Co",
        "5557310499",
        "general",
        "Asks <script>alert(1)</script> here",
    )
    return cli, ids


def html_report(cli: Staff, tmp: Path, *extra: str) -> Path:
    target = tmp / "report.html"
    cli.ok("report", *WEEK, "--format", "html", "--output", str(target), *extra, now=AFTER_WEEK)
    return target


def test_page_is_self_contained(week: tuple[Staff, dict[str, str]], tmp_path: Path) -> None:
    cli, _ = week
    page = html_report(cli, tmp_path).read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 4  # category volume, time to first call, closures, trend
    for caption in ("New callbacks by category", "Hours to the first call",
                    "Why callbacks were closed", "Daily trend"):  # fmt: skip
        assert caption in page
    # labels, not keys; the bars get most of the chart's width
    assert "attempts_exhausted" not in page and "Attempts exhausted" in page
    assert 'viewBox="0 0 560 ' in page
    assert "<style>" in page and "Content-Security-Policy" in page
    for external in ("<script", "<link", "src=", "href=", "url(", "@import", "http:", "https:"):
        assert external not in page, external
    assert "is the biggest repeat category" in page
    for secret in [*PHI_STRINGS, "Ozymandias"]:
        assert secret not in page


def test_patient_text_is_escaped_with_include_phi(
    week: tuple[Staff, dict[str, str]],
    tmp_path: Path,
) -> None:
    cli, _ = week
    page = html_report(cli, tmp_path, "--include-phi").read_text()
    assert "Ozymandias &lt;b&gt;O&#x27;Hare&lt;/b&gt; &amp; Co" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "<b>O" not in page


@pytest.mark.parametrize("phi", [False, True])
def test_chromium_renders_the_report_without_console_errors(
    week: tuple[Staff, dict[str, str]],
    tmp_path: Path,
    phi: bool,
) -> None:
    cli, _ = week
    page = html_report(cli, tmp_path, *(["--include-phi"] if phi else []))
    dom, console = browse(page, tmp_path / "profile")
    assert console == []
    assert len(re.findall(r"<svg\b", dom)) == 4  # categories, first-attempt times, reasons, trend
    assert len(re.findall(r"<rect\b", dom)) >= 4 + 5 + 5  # categories, histogram, reasons
    assert "<h1>Callback report: Your Practice Name</h1>" in dom
    assert ("Ozymandias" in dom) is phi


def test_the_console_check_catches_errors(tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>c</title></head><body>'
        "<script>console.error('control-marker')</script></body></html>"
    )
    _, console = browse(control, tmp_path / "profile")
    assert any("control-marker" in line for line in console)
