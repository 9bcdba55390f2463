"""The README's shell blocks run, and their samples are the real output.

How README.md is read (see "Development" in it):
- Blocks fenced as `sh`, `bash`, `shell`, `console` or `cron` are shell blocks. Each one
  runs, in README order, in one bash session, unless its first line is a comment that says
  `# not run by the README test: <why>` (installing software, a cron table, a file server).
- A `console` block holds `$ command` lines (a line ending in `\\` continues the command),
  each followed by exactly what it prints on stdout. A `sh` block runs as a whole and only
  has to succeed.
- The session runs in an empty folder holding a copy of `examples/` and `.venv/bin` (the
  installed cbtrack), with HOME there too, that `cbtrack` first on PATH, `CBTRACK_NOW`
  pinned to a Friday morning inside call hours (a block may export another), `COLUMNS=80`,
  and no other cbtrack settings.
- Callback IDs are random, so the README's IDs stand for the real ones: when a printed ID
  differs from the README's, the two are paired, and later commands get the real ID (full,
  or its last five characters) wherever the README's appears. `$HOME` prints as `~`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL_LANGS = {"sh", "bash", "shell", "console", "cron"}
NOT_RUN = "# not run by the README test:"
NOW = "2026-11-27T10:00:00-05:00"  # a Friday, inside business and call hours
ID = re.compile(r"\bcb-\d{8}-([0-9a-z]{5})\b")


@dataclass
class Block:
    lang: str
    line: int  # where its fence opens in README.md, 1-based
    lines: list[str]

    @property
    def runs(self) -> bool:
        return not (self.lines and self.lines[0].startswith(NOT_RUN))


@dataclass
class Step:
    command: str
    expected: list[str] | None  # None: only has to succeed
    line: int


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    current: Block | None = None
    for n, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```\s*([\w+-]*)\s*$", line)
        if current is None and fence:
            current = Block(fence.group(1).lower(), n, [])
        elif current is not None and line.startswith("```"):
            out.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, "README.md has a code block that is never closed"
    return out


def steps(block: Block) -> list[Step]:
    if block.lang != "console":
        return [Step("\n".join(block.lines), None, block.line + 1)]
    out: list[Step] = []
    command: list[str] = []
    for n, line in enumerate(block.lines, block.line + 1):
        if command and command[-1].endswith("\\"):
            command.append(line)
            if not line.endswith("\\"):
                out.append(Step("\n".join(command), [], n - len(command) + 1))
            continue
        if line.startswith("$ "):
            command = [line[2:]]
            if not line.endswith("\\"):
                out.append(Step(command[0], [], n))
            continue
        assert out, f"README.md line {n}: output before any $ command"
        expected = out[-1].expected
        assert expected is not None
        expected.append(line)
    return out


@dataclass
class Ids:
    """The README's IDs and the real ones, paired as they are printed."""

    real_of: dict[str, str] = field(default_factory=dict)

    def learn(self, expected: list[str], actual: list[str]) -> None:
        want = ID.findall("\n".join(expected))
        got = ID.findall("\n".join(actual))
        if len(want) == len(got):
            for readme, real in zip(want, got, strict=True):
                self.real_of.setdefault(readme, real)

    def to_real(self, command: str) -> str:
        for readme, real in self.real_of.items():
            command = re.sub(rf"\b{readme}\b", real, command)
        return command

    def to_readme(self, text: str) -> str:
        for readme, real in self.real_of.items():
            text = re.sub(rf"\b{real}\b", readme, text)
        return text


class Session:
    """One bash process that runs the steps one after another and keeps its state."""

    def __init__(self, home: Path) -> None:
        bin_dir = Path(sys.executable).parent
        env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "CBTRACK_NOW": NOW,
            "COLUMNS": "80",
            "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1",
            "TZ": "UTC",
        }
        self.home = home
        self.err = home.parent / "stderr.txt"
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=home,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.count = 0

    def run(self, command: str) -> tuple[int, list[str], str]:
        self.count += 1
        marker = f"@@readme-step-{self.count}@@"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(
            f"{{\n{command}\n}} 2>{self.err} </dev/null\nprintf '\\n{marker} %s\\n' \"$?\"\n"
        )
        self.proc.stdin.flush()
        lines: list[str] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the shell ended during: {command}")
            if line.startswith(marker):
                code = int(line.split()[-1])
                break
            lines.append(line.rstrip("\n"))
        if lines and lines[-1] == "":
            lines.pop()  # the newline printed before the marker
        text = "\n".join(lines).replace(str(self.home), "~")
        return code, [ln.rstrip() for ln in text.split("\n")] if lines else [], self.stderr()

    def stderr(self) -> str:
        return self.err.read_text() if self.err.exists() else ""

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def test_every_shell_block_runs_or_says_why_not() -> None:
    found = [b for b in blocks(README.read_text()) if b.lang in SHELL_LANGS]
    assert found
    for b in found:
        if not b.runs:
            why = b.lines[0].removeprefix(NOT_RUN).strip()
            assert why, f"README.md line {b.line}: say why the block does not run"
    assert sum(b.runs for b in found) >= 5


def run_readme(home: Path, fill: bool = False) -> str:
    """Run every shell block of README.md in `home`; with `fill`, return the README with
    each console block's output replaced by what the commands print (for editing it)."""
    shutil.copytree(ROOT / "examples", home / "examples")
    (home / ".venv").mkdir()
    (home / ".venv" / "bin").symlink_to(Path(sys.executable).parent)  # the Quick start's
    text = README.read_text()
    lines = text.split("\n")
    replaced: dict[int, tuple[int, list[str]]] = {}  # first output line -> (count, new)
    ids = Ids()
    session = Session(home)
    try:
        for block in blocks(text):
            if block.lang not in SHELL_LANGS or not block.runs:
                continue
            for step in steps(block):
                code, out, err = session.run(ids.to_real(step.command))
                where = f"README.md line {step.line}: {step.command.splitlines()[0]}"
                assert code == 0, f"{where}\nexit {code}\n{err}\n" + "\n".join(out)
                if step.expected is None:
                    continue
                ids.learn(step.expected, out)
                shown = ids.to_readme("\n".join(out)).split("\n") if out else []
                expected = [ln.rstrip() for ln in step.expected]
                if fill:
                    first = step.line + step.command.count("\n")  # 0-based: the next line
                    replaced[first] = (len(step.expected), shown)
                    continue
                assert shown == expected, (
                    f"{where}\nthe README shows:\n"
                    + "\n".join(expected)
                    + "\nbut it prints:\n"
                    + "\n".join(shown)
                )
    finally:
        session.close()
    for first in sorted(replaced, reverse=True):
        count, new = replaced[first]
        lines[first : first + count] = new
    return "\n".join(lines)


def test_the_readme_runs_and_shows_the_real_output(tmp_path: Path) -> None:
    home = tmp_path / "readme"  # (the autouse fixture has made tmp_path/home)
    home.mkdir()
    run_readme(home)


def test_the_runner_pairs_ids_and_reads_console_blocks() -> None:
    text = (
        "```console\n$ cbtrack add --patient X \\\n  --reason y\ncb-20261127-k7m2q\n"
        "$ cbtrack show k7m2q\nline one\n```\n"
    )
    [block] = blocks(text)
    first, second = steps(block)
    assert first.command == "cbtrack add --patient X \\\n  --reason y"
    assert first.expected == ["cb-20261127-k7m2q"]
    assert second.expected == ["line one"]
    ids = Ids()
    ids.learn(first.expected, ["cb-20261127-abcde"])
    assert ids.to_real(second.command) == "cbtrack show abcde"
    assert ids.to_readme("abcde: closed (cb-20261127-abcde)") == "k7m2q: closed (cb-20261127-k7m2q)"


def test_the_session_keeps_state_and_exit_codes(tmp_path: Path) -> None:
    home = tmp_path / "readme"
    home.mkdir()
    session = Session(home)
    try:
        code, out, _ = session.run("echo one; echo two")
        assert (code, out) == (0, ["one", "two"])
        code, out, _ = session.run("export A=1")
        code, out, _ = session.run("echo $A; false")
        assert (code, out) == (1, ["1"])
        code, out, _ = session.run("true")
        assert (code, out) == (0, [])
    finally:
        session.close()


if __name__ == "__main__":
    # `python tests/test_readme.py --fill`: write what each console command prints into
    # README.md (then read the diff: the samples must still say what the prose says).
    import tempfile

    if sys.argv[1:] == ["--fill"]:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            home.mkdir()
            README.write_text(run_readme(home, fill=True))


CRON_INSTALL = "/opt/cbtrack/bin/cbtrack"
CRON_STORE = "/srv/callbacks"
CRON_REPORTS = "/srv/reports"
CRON_FIELDS = re.compile(r"^(\S+\s+){5}")
GUARD = re.compile(r"^\[ \"\$\(TZ=(\S+) date \+%H\)\" = (\d\d) \] && ")


def cron_jobs() -> list[tuple[int, str, dict[str, str]]]:
    """Each job line of the README's cron blocks: its line number, its command (as cron
    hands it to sh: `\\%` made `%`) and the variables set above it."""
    out = []
    for block in blocks(README.read_text()):
        if block.lang != "cron":
            continue
        env: dict[str, str] = {}
        for n, line in enumerate(block.lines, block.line + 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, eq, value = line.partition("=")
            if eq and re.fullmatch(r"[A-Z_]+", name.strip()):
                env[name.strip()] = value.strip()
                continue
            command = CRON_FIELDS.sub("", line)
            assert command != line, f"README.md line {n}: not a cron line"
            assert "%" not in command.replace("\\%", ""), f"README.md line {n}: escape % as \\%"
            out.append((n, command.replace("\\%", "%"), dict(env)))
    return out


def test_the_cron_lines_run_as_written(tmp_path: Path) -> None:
    """Every job of the cron blocks, run as cron runs it (sh, a bare PATH, no terminal,
    the crontab's variables), on the example practice; only the install and store paths
    are this machine's."""
    jobs = cron_jobs()
    assert len(jobs) >= 5
    store, reports = tmp_path / "callbacks", tmp_path / "reports"
    shutil.copytree(ROOT / "examples" / "maplewood", store)
    reports.mkdir()
    cbtrack = shutil.which("cbtrack", path=str(Path(sys.executable).parent))
    assert cbtrack
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LANG": "C"}
    subprocess.run([cbtrack, "init", str(store)], env=env, check=True, capture_output=True)
    for n, command, variables in jobs:
        assert command.startswith(CRON_INSTALL) or GUARD.match(command), n
        guard = GUARD.match(command)
        if guard:  # the line checks the practice's hour: valid sh, then the job itself
            check = subprocess.run(["/bin/sh", "-c", guard.group(0)[:-4]], env=env)
            assert check.returncode in (0, 1), n
            command = command[guard.end() :]
        command = (
            command.replace(CRON_INSTALL, cbtrack)
            .replace(CRON_STORE, str(store))
            .replace(CRON_REPORTS, str(reports))
        )
        job_env = {**env, **variables, "CBTRACK_NOW": "2026-11-27T17:00:00-05:00"}
        done = subprocess.run(
            ["/bin/sh", "-c", command], env=job_env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        expected = (0, 1) if "--check" in command else (0,)  # 1: cron mails the alert
        assert done.returncode in expected, (n, done.stderr)
        assert "Traceback" not in done.stderr and "Usage:" not in done.stderr, (n, done.stderr)
        if done.returncode:
            assert "have no attempt yet" in done.stderr, (n, done.stderr)
    day = _practice_date()  # (the report is named by the practice's date)
    assert sorted(p.name for p in reports.iterdir()) == [f"callbacks-{day}.html", "roll.jsonl"]


def _practice_date() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("America/New_York")).strftime("%Y-%m-%d")
