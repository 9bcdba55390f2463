"""The installed `cbtrack` on a real pseudo-terminal of 80 columns: the queue's screen (made
from the read cache on a terminal) shows every callback readable, and nothing is wider
than the terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import Cli

CBTRACK = shutil.which("cbtrack", path=str(Path(sys.executable).parent)) or "cbtrack"
NAME = "Maximiliana Bartholomew-Featherstonehaugh"
REASON = "Asks whether the October statement includes the lab work from the visit"


def on_a_terminal(argv: list[str], env: dict[str, str], columns: int = 80) -> str:
    """What `argv` writes to a pseudo-terminal of `columns` x 40."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the follower side closed: the program ended
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("how", ["COLUMNS", "window size"])
def test_the_queue_at_80_columns_on_a_terminal(cli: Cli, how: str) -> None:
    for i in range(6):
        cli.add(
            "--patient", f"{NAME} {i}", "--phone", f"555010{i:04d}",
            category="general", reason=f"{REASON} ({i})",
        )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(NO_COLOR="1", CBTRACK_STORE=str(cli.store), TERM="xterm")
    if how == "COLUMNS":
        env["COLUMNS"] = "80"
    out = on_a_terminal([CBTRACK, "queue"], env)
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert sum(NAME[:20] in ln for ln in lines) == 6
    assert sum(REASON[:20] in ln for ln in lines) == 6
    assert "6 open" in out
    firsts = [ln for ln in lines if NAME[:20] in ln]
    assert all("none yet" in ln and " in " in ln for ln in firsts), firsts  # due, tried whole
