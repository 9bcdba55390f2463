"""The intake questions: asked at a real terminal with no default (a pseudo-terminal
running the installed `cbtrack`), and answered by --symptoms / --red-flags without one."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli, set_policy, snapshot

GENERAL = ["--category", "general", "--detail", "topic=x"]


def _exe() -> str:
    return shutil.which("cbtrack") or str(Path(sys.executable).parent / "cbtrack")


class Terminal:
    """`cbtrack add ...` with stdin and stderr on a pseudo-terminal, as staff at a desk."""

    def __init__(self, store: Path, *args: str) -> None:
        self.master, slave = os.openpty()
        argv = [_exe(), "--store", str(store), "--as", "jlee", "add", *args]
        env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env
        )
        os.close(slave)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while text not in self.seen:
            left = end - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"the terminal closed before {text!r}: {self.seen!r}"
                self.seen += chunk.decode().replace("\r\n", "\n")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def eof(self) -> None:
        os.write(self.master, b"\x04")  # Ctrl-D at the start of a line

    def finish(self) -> tuple[int, str, str]:
        out = self.proc.stdout.read().decode() if self.proc.stdout else ""
        code = self.proc.wait(timeout=30)
        try:
            while True:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    break
                chunk = os.read(self.master, 4096)
                if not chunk:
                    break
                self.seen += chunk.decode().replace("\r\n", "\n")
        except OSError:
            pass
        os.close(self.master)
        return code, out, self.seen


def _record(cli: Cli, out: str) -> dict[str, object]:
    return cli.record(out.strip())


def test_at_a_terminal_enter_alone_is_no_answer_and_a_red_flag_makes_an_emergency(
    cli: Cli, store_dir: Path
) -> None:
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "question about parking", *GENERAL)  # fmt: skip
    term.read_until("or harm? [y/n]: ")
    term.type("")  # a hurried Enter files nothing
    term.read_until("Please answer y or n.")
    term.type("y")
    screen = term.read_until("Does any of these apply? [y/n]: ")
    assert "Red flags" in screen and "blue, grey" in screen and "suicide" in screen
    term.type("yes")
    code, out, screen = term.finish()
    assert code == 0, screen
    assert "EMERGENCY: give this to the patient now" in screen
    assert screen.index("EMERGENCY") > screen.index("Does any of these apply?")
    record = _record(cli, out)
    assert (record["urgency"], record["owner"]) == ("emergency", "clinical")
    notes = [e.get("note", "") for e in record["events"]]  # type: ignore[attr-defined]
    assert "Triage by staff answered yes to the red-flag checklist" in notes


def test_at_a_terminal_no_to_symptoms_asks_nothing_more(cli: Cli, store_dir: Path) -> None:
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "question about parking", *GENERAL)  # fmt: skip
    term.read_until("[y/n]: ")
    term.type("n")
    code, out, screen = term.finish()
    assert code == 0, screen
    assert "Does any of these apply?" not in screen
    assert _record(cli, out)["urgency"] == "routine"


def test_at_a_terminal_clinical_words_still_ask_the_symptoms_question(
    cli: Cli, store_dir: Path
) -> None:
    """Words that sound clinical do not answer the question for staff: it is asked, and
    the checklist follows a yes, as for any other reason."""
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "fever since yesterday", *GENERAL)  # fmt: skip
    screen = term.read_until("or harm? [y/n]: ")
    assert "Does any of these apply?" not in screen
    term.type("y")
    term.read_until("Does any of these apply? [y/n]: ")
    term.type("n")
    code, out, screen = term.finish()
    assert code == 0, screen
    assert _record(cli, out)["urgency"] == "clinical"
    # a no leaves what the words made it, and asks nothing more
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100124",
                    "--reason", "rash on her arm since monday", *GENERAL)  # fmt: skip
    term.read_until("or harm? [y/n]: ")
    term.type("n")
    code, out, screen = term.finish()
    assert code == 0, screen
    assert "Does any of these apply?" not in screen
    assert _record(cli, out)["urgency"] == "clinical"


def test_at_a_terminal_emergency_words_ask_nothing(cli: Cli, store_dir: Path) -> None:
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100125",
                    "--reason", "crushing chest pain and sweating", *GENERAL)  # fmt: skip
    code, out, screen = term.finish()
    assert code == 0, screen
    assert "[y/n]" not in screen and "EMERGENCY" in screen
    assert _record(cli, out)["urgency"] == "emergency"


def test_at_a_terminal_no_answer_at_all_adds_nothing(cli: Cli, store_dir: Path) -> None:
    before = snapshot(store_dir)
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "question about parking", *GENERAL)  # fmt: skip
    term.read_until("[y/n]: ")
    term.eof()
    code, out, screen = term.finish()
    assert code == 1 and out == ""
    assert "No answer was given; nothing was added." in screen
    assert "Traceback" not in screen
    assert snapshot(store_dir) == before


def test_at_a_terminal_the_options_answer_the_questions(cli: Cli, store_dir: Path) -> None:
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "question about parking", *GENERAL,
                    "--symptoms", "no")  # fmt: skip
    code, out, screen = term.finish()
    assert code == 0 and "[y/n]" not in screen
    assert _record(cli, out)["urgency"] == "routine"


# --- without a terminal ----------------------------------------------------------------


def _add(cli: Cli, reason: str, *extra: str) -> dict[str, object]:
    result = cli.ok("add", "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", reason, *GENERAL, *extra)  # fmt: skip
    return cli.record(result.stdout.strip())


def test_red_flags_yes_makes_an_emergency_and_prints_the_script_at_once(cli: Cli) -> None:
    result = cli.ok("add", "--patient", "Ada Example", "--phone", "5550100123", "--reason",
                    "question about parking", *GENERAL, "--red-flags", "yes", "--json")  # fmt: skip
    assert "EMERGENCY: give this to the patient now" in result.stderr
    record = json.loads(result.stdout)
    assert (record["urgency"], record["owner"]) == ("emergency", "clinical")
    assert (
        _add(cli, "question about parking", "--symptoms", "yes", "--red-flags", "no")["urgency"]
        == "clinical"
    )
    assert _add(cli, "question about parking", "--red-flags", "no")["urgency"] == "routine"
    cli.refused("add", "--red-flags", "maybe", code=2)


def test_edit_takes_the_answers_when_the_patient_says_more(cli: Cli) -> None:
    cid = cli.add(category="general", reason="question about parking")
    result = cli.ok("edit", cid, "--why", "Patient called back", "--symptoms", "yes")
    assert "urgency clinical" in result.stdout
    assert cli.record(cid)["urgency"] == "clinical"
    result = cli.ok("edit", cid, "--why", "Patient called back", "--red-flags", "yes")
    assert "EMERGENCY: give this to the patient now" in result.stderr
    record = cli.record(cid)
    assert (record["urgency"], record["owner"]) == ("emergency", "clinical")
    assert record["events"][-1]["type"] == "triaged"
    err = cli.refused("edit", cid, "--why", "again", "--red-flags", "yes")
    assert "already emergency" in err
    cli.refused("edit", cid, "--why", "nothing", "--symptoms", "no")


def test_edit_with_a_correction_and_an_answer_records_both(cli: Cli) -> None:
    cid = cli.add(category="general", reason="question about parking")
    cli.ok("edit", cid, "--why", "More detail", "--reason", "parking, and feels off",
           "--red-flags", "yes")  # fmt: skip
    types = [e["type"] for e in cli.record(cid)["events"]]
    assert "edited" in types and types[-1] == "triaged"
    assert cli.record(cid)["urgency"] == "emergency"


def test_validate_checks_the_red_flag_checklist(cli: Cli, store_dir: Path) -> None:
    data = yaml.safe_load((store_dir / "cbtrack.yaml").read_text())
    assert len(data["triage"]["red_flags"]) >= 10
    set_policy(store_dir, triage={"red_flags": [], "rules": []})
    result = cli("validate")
    assert result.exit_code == 1
    assert "triage.red_flags" in result.stderr + result.stdout
    set_policy(store_dir, triage={"red_flags": ["Chest pain", "chest pain"]})
    result = cli("validate")
    assert result.exit_code == 1 and "twice" in result.stderr + result.stdout
    set_policy(store_dir, triage={"red_flags": ["Our own sign"]})
    assert cli.ok("validate").exit_code == 0


def test_a_policy_of_an_earlier_version_keeps_its_rules_and_gets_the_default_checklist(
    cli: Cli, store_dir: Path
) -> None:
    set_policy(store_dir, triage=[{"name": "ours", "urgency": "same_day", "patterns": ["pump"]}])
    assert cli.ok("validate").exit_code == 0
    from cbtrack.store import Store

    policy = Store(store_dir).policy
    assert [r.name for r in policy.triage.rules] == ["ours"]
    assert "Chest pain, pressure or tightness" in policy.triage.red_flags


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_the_answers_are_not_questions_for_cron(cli: Cli, answer: str) -> None:
    """Without a terminal nothing is asked: the command never waits for input."""
    result = cli.ok("add", "--patient", "Ada Example", "--phone", "5550100123", "--reason",
                    "question about parking", *GENERAL, "--symptoms", answer)  # fmt: skip
    assert "[y/n]" not in result.stderr


def test_at_a_terminal_an_emergency_chosen_by_staff_asks_nothing(cli: Cli, store_dir: Path) -> None:
    term = Terminal(store_dir, "--patient", "Ada Example", "--phone", "5550100123",
                    "--reason", "question about parking", *GENERAL,
                    "--urgency", "emergency")  # fmt: skip
    code, out, screen = term.finish()
    assert code == 0 and "[y/n]" not in screen
    assert _record(cli, out)["urgency"] == "emergency"


def test_an_add_with_no_terminal_and_no_answer_says_nobody_asked(cli: Cli) -> None:
    """The symptom question has no default: a script that leaves --symptoms out files the
    callback, and stderr says the question was not asked and how to answer it later."""
    got = cli.ok("add", "--patient", "A B", "--phone", "5550100123", "--reason", "Parking",
                 *GENERAL)  # fmt: skip
    cid = got.stdout.strip()
    assert (
        f"Note: nobody was asked whether the patient has symptoms (no terminal and no "
        f"--symptoms); if they mentioned any, run 'cbtrack edit {cid} --symptoms yes "
        '--why "what they said"\'.'
    ) in got.stderr
    answered = cli.ok("add", "--patient", "A C", "--phone", "5550100124", "--reason",
                      "Parking", "--symptoms", "no", *GENERAL)  # fmt: skip
    assert "nobody was asked" not in answered.stderr
    clinical = cli.ok("add", "--patient", "A D", "--phone", "5550100125", "--reason",
                      "Chest pain since this morning", *GENERAL)  # fmt: skip
    assert "nobody was asked" not in clinical.stderr
