"""Alert rules for the tests: a command that keeps what it is sent, and reading it back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# Writes its stdin (one alert's JSON) as a line of `argv[1]`, then exits with `argv[2]`.
HOOK = """import sys
data = sys.stdin.read()
with open(sys.argv[1], "a") as f:
    f.write(data if data.endswith("\\n") else data + "\\n")
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""

PATIENT, PHONE, REASON = "Ada Example", "+15550100123", "Crushing chest pain since this morning"


def hook(folder: Path, exit_code: int = 0, name: str = "got.jsonl") -> tuple[list[str], Path]:
    """An alert command (argv) and the file it appends each alert to."""
    script = folder / "hook.py"
    script.write_text(f"#!{sys.executable}\n" + HOOK)
    script.chmod(0o700)
    out = folder / name
    argv = [str(script), str(out)]
    return ([*argv, str(exit_code)] if exit_code else argv), out


def received(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def set_alerts(store: Path, rules: list[dict[str, Any]], commit: bool = True) -> None:
    """Put `rules` under `alerts:` in the store's policy and commit it (as a lead would)."""
    path = store / "cbtrack.yaml"
    data = yaml.safe_load(path.read_text())
    data["alerts"] = json.loads(json.dumps(rules))  # (no shared lists: YAML anchors)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if commit:
        ident = ["-c", "user.name=Test Lead", "-c", "user.email=lead@example.invalid"]
        subprocess.run(
            ["git", *ident, "commit", "-q", "--no-verify", "-m", "policy", "--", "cbtrack.yaml"],
            cwd=store,
            check=True,
            capture_output=True,
        )


EMERGENCY_ADD = [
    "add", "--patient", PATIENT, "--phone", PHONE, "--category", "clinical_concern",
    "--reason", REASON, "--detail", "concern_summary=pain", "--detail", "onset=today",
    "--symptoms", "yes",
]  # fmt: skip


def alerted_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in record["events"] if e["type"] == "alerted"]
