"""Hostile and broken input: every bad file is refused quickly, in bounded memory, with
one sentence that names the file and never repeats what is in it (exit 3, nothing
written); the YAML 1.1 traps keep their exact text through the CLI.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from typing import Any

import pytest
import yaml
from helpers_robust import add_args, attempt_args

from cbtrack.store import MAX_RECORD_BYTES, Store
from cbtrack.yamlio import dump_record

SECRET = "Zelda Quartermaine 555-0199"  # must never show up in an error
BAD_ID = "cb-20261127-aaaaa"
BAD_REL = f"callbacks/open/{BAD_ID}.yaml"


def valid_record(cli: Any) -> str:
    """The YAML text of a real, valid record (made by the CLI), with its ID as BAD_ID."""
    cid = cli.add()
    path = Store(cli.store).open_path(cid)
    text = path.read_text().replace(cid, BAD_ID)
    return text


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nreason: {SECRET}\n"


def _replace_line(text: str, key: str, new: str) -> str:
    out = []
    for line in text.splitlines():
        out.append(new if line.startswith(f"{key}:") else line)
    return "\n".join(out) + "\n"


def hostile_records(valid: str) -> dict[str, tuple[bytes, str]]:
    """name -> (file content, a fragment the error must contain)."""
    reason = f"reason: {SECRET}"
    return {
        "alias bomb": (billion_laughs().encode(), "anchors (&name) are not allowed"),
        "alias": (f"{reason}\nnote: *x\n".encode(), "aliases (*name) are not allowed"),
        "anchor": (_replace_line(valid, "reason", f"reason: &r {SECRET}").encode(), "anchors"),
        "python tag": (
            f"{reason}\nx: !!python/object/apply:os.system ['echo {SECRET}']\n".encode(),
            "tags (!name) are not allowed",
        ),
        "local tag": (f"reason: !secret {SECRET}\n".encode(), "tags (!name) are not allowed"),
        "duplicate key": (
            (valid + f"reason: {SECRET}\n").encode(),
            "a key appears twice in one mapping",
        ),
        "oversized": (
            (valid + f"# {SECRET}\n" * (MAX_RECORD_BYTES // 20)).encode(),
            "is larger than 256 KB",
        ),
        "invalid utf-8": (
            _replace_line(valid, "reason", f"reason: {SECRET}").encode() + b"x: \xff\xfe\n",
            "is not valid UTF-8 (byte",
        ),
        "deep nesting": (f"{reason}\nx: {'[' * 60}{']' * 60}\n".encode(), "nesting deeper than"),
        "very deep nesting": (f"{reason}\nx: {'[' * 200_000}\n".encode(), "not valid YAML"),
        "control character": (f"{reason}\x00\n".encode(), "not valid YAML"),
        "two documents": (f"{valid}---\n{reason}\n".encode(), "only one YAML document"),
        "not a mapping": (f"- {SECRET}\n".encode(), "expected a mapping of keys"),
        "empty": (b"", "expected a mapping of keys"),
        "syntax error": (f'reason: "{SECRET}\n'.encode(), "not valid YAML"),
        "wrong type": (
            _replace_line(valid, "attempts", f"attempts: {SECRET}").encode(),
            "field attempts:",
        ),
        "wrong enum": (_replace_line(valid, "urgency", f"urgency: {SECRET}").encode(), "urgency"),
        "mapping key": (
            (valid + "? [a, b]\n: c\n").encode(),
            "a mapping key is not plain text",
        ),
        "unknown key": (
            (valid + f"nickname: {SECRET}\n").encode(),
            "holds a key that is not allowed here",
        ),
        "unknown nested key": (
            valid.replace("patient:\n", f"patient:\n  Zelda_Q: {SECRET}\n").encode(),
            "field patient: holds a key that is not allowed here",
        ),
        "bad details key": (
            valid.replace("details:\n", f"details:\n  {SECRET}: x\n").encode(),
            "field details: a key in it is not valid",
        ),
        "id with dots": (
            _replace_line(valid, "id", "id: ../../etc/passwd").encode(),
            "field id:",
        ),
        "id with slash": (
            _replace_line(valid, "id", "id: cb-20261127-aaaaa/x").encode(),
            "field id:",
        ),
        "id of another file": (
            _replace_line(valid, "id", "id: cb-20261127-bbbbb").encode(),
            "field id does not match the file name",
        ),
    }


def refused_quickly(cli: Any, *args: str) -> str:
    started = time.monotonic()
    err: str = cli.refused(*args, code=3)
    assert time.monotonic() - started < 2.0
    return err


def test_every_hostile_record_is_refused_with_its_name_and_no_content(cli: Any) -> None:
    valid = valid_record(cli)
    path = cli.store / BAD_REL
    cases = hostile_records(valid)
    for name, (content, fragment) in cases.items():
        path.write_bytes(content)
        for args in (
            ("show", BAD_ID),
            ("queue",),
            (*attempt_args(BAD_ID, "Called, no answer, retry"),),
        ):
            err = refused_quickly(cli, *args)
            assert err.startswith(f"Error: {BAD_REL}"), (name, err)
            assert fragment in err, (name, err)
            for word in SECRET.split():
                assert word not in err, (name, err)
        path.unlink()
    assert len(cases) >= 20


def test_validate_lists_every_bad_file_without_content(cli: Any) -> None:
    valid = valid_record(cli)
    for i, (content, _) in enumerate(list(hostile_records(valid).values())[:8]):
        cid = f"cb-20261127-{'abcdefgh'[i]}aaaa"
        (cli.store / f"callbacks/open/{cid}.yaml").write_bytes(content.replace(b"aaaaa", b"x"))
    result = cli("validate")
    assert result.exit_code == 1
    assert SECRET.split()[0] not in result.stdout + result.stderr
    assert (
        result.stdout.count("callbacks/open/cb-20261127-")
        + result.stderr.count("callbacks/open/cb-20261127-")
        >= 8
    )


def test_the_alias_bomb_costs_no_time_and_no_memory(cli: Any) -> None:
    (cli.store / BAD_REL).write_text(billion_laughs(levels=30))
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = cli("queue")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 3
    assert elapsed < 2.0
    assert peak < 30_000_000, peak  # fully expanded, 9**30 strings
    print(
        f"\nalias bomb (9**30 nodes) refused in {elapsed * 1000:.1f} ms, peak {peak / 1e6:.1f} MB"
    )


def test_a_huge_file_is_refused_without_reading_it(cli: Any) -> None:
    path = cli.store / BAD_REL
    with path.open("wb") as fh:
        fh.truncate(8 * 1024**3)  # sparse: 8 GB that take no disk
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = cli("show", BAD_ID)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        path.unlink()
    assert result.exit_code == 3
    assert result.stderr == f"Error: {BAD_REL} is larger than 256 KB; it cannot be a valid file.\n"
    assert elapsed < 2.0 and peak < 30_000_000


def test_special_files_are_refused_without_hanging(cli: Any) -> None:
    path = cli.store / BAD_REL
    os.mkfifo(path)  # a reader that opened it normally would wait forever
    err = refused_quickly(cli, "show", BAD_ID)
    assert err == f"Error: {BAD_REL} is not a regular file; it cannot be a cbtrack file.\n"
    path.unlink()
    path.symlink_to("/dev/zero")
    err = refused_quickly(cli, "queue")
    assert "symbolic link" in err
    path.unlink()
    path.mkdir()
    err = refused_quickly(cli, "show", BAD_ID)
    assert "is not a regular file" in err


@pytest.mark.parametrize(
    "typed", ["../../etc/passwd", "cb-20261127-aaaaa/../x", "/etc/passwd", "..", "a/b", "cb-x"]
)
def test_ids_with_slashes_or_dots_are_refused(cli: Any, typed: str) -> None:
    for args in (("show", typed), ("assign", typed, "billing"), ("close", typed, "--reason",
                 "resolved", "--summary", "Done and dusted")):  # fmt: skip
        err = cli.refused(*args, code=1)
        assert "is not a callback ID" in err


def broken_policies(text: str) -> dict[str, tuple[str | bytes, str]]:
    return {
        "alias": (text + "extra: &x 1\nmore: *x\n", "anchors (&name) are not allowed"),
        "tag": (text + "extra: !!python/name:os.system x\n", "tags (!name) are not allowed"),
        "duplicate key": (text + f"practice: {SECRET}\n", "a key appears twice"),
        "wrong type": (
            text.replace("\n  max: 3\n", f"\n  max: {SECRET}\n"),
            "attempts.max must be a whole number",
        ),
        "unknown key": (text + f"nickname: {SECRET}\n", "nickname is not a key cbtrack knows"),
        "invalid utf-8": (text.encode() + b"x: \xc3\x28\n", "not valid UTF-8"),
        "oversized": (text + f"# {SECRET}\n" * 20_000, "is larger than 256 KB"),
        "not a mapping": (f"- {SECRET}\n", "expected a mapping of keys"),
    }


def test_a_broken_policy_stops_every_command_with_its_name(cli: Any) -> None:
    cid = cli.add()
    policy = cli.store / "cbtrack.yaml"
    text = policy.read_text()
    assert "\n  max: 3\n" in text
    for name, (content, fragment) in broken_policies(text).items():
        if isinstance(content, str):
            policy.write_text(content)
        else:
            policy.write_bytes(content)
        for args in (("queue",), ("show", cid), ("assign", cid, "billing"), ("add",
                     *add_args("Ada")[1:])):  # fmt: skip
            err = refused_quickly(cli, *args)
            assert err.startswith("Error: cbtrack.yaml"), (name, err)
            assert fragment in err, (name, err)
            assert SECRET.split()[0] not in err
    policy.write_text(text)
    cli.ok("queue")


def test_a_missing_policy_is_exit_3(cli: Any) -> None:
    (cli.store / "cbtrack.yaml").unlink()
    err = cli.refused("queue", code=3)
    assert "No cbtrack store at" in err


# --- the YAML 1.1 traps ---------------------------------------------------------------

TRAPS = ["NO", "no", "Yes", "on", "OFF", "Null", "null", "~", "0123", "00123", "0x1F", "0o17",
         "10:45", "1:30:00", "2024-01-05", "2024-01-05 10:00", "+44", "1e3", ".inf", "-.NaN",
         "1_000", "=", "<<", "true", "y", "n"]  # fmt: skip


def test_yaml_11_traps_keep_their_text_through_the_cli(cli: Any) -> None:
    cid = cli.ok(
        "add", "--patient", "NO", "--phone", "+441234567890", "--mrn", "0123",
        "--category", "general", "--reason", "Null", "--detail", "topic=10:45",
        "--language", "Null", "--window", "09:00-12:00", "--next", "2024-01-05",
    ).stdout.strip()  # fmt: skip
    for trap in TRAPS[:6]:
        cli.ok("note", cid, trap)
    cli.ok("attempt", cid, "--method", "phone", "--result", "reached",
           "--note", "Reached patient, answered the question", "--response", "0x1F")  # fmt: skip
    cli.ok("close", cid, "--reason", "reached", "--summary", "2024-01-05")
    data = cli.record(cid)
    assert data["patient"]["name"] == "NO"
    assert data["patient"]["phone"] == "+441234567890"
    assert data["patient"]["mrn"] == "0123"
    assert data["patient"]["language"] == "Null"
    assert data["patient"]["contact_window"] == "09:00-12:00"
    assert data["reason"] == "Null"
    assert data["details"] == {"topic": "10:45"}
    assert data["next_action"] == "2024-01-05"
    assert data["attempts"][0]["patient_response"] == "0x1F"
    assert data["closure"]["summary"] == "2024-01-05"
    assert [e.get("note") for e in data["events"] if e["type"] == "note"] == TRAPS[:6]
    # any YAML 1.1 reader (PyYAML's safe_load) gets the same strings from the file
    raw = yaml.safe_load(Store(cli.store).closed_path(cid).read_text())
    assert raw["patient"]["name"] == "NO" and raw["patient"]["mrn"] == "0123"
    assert raw["reason"] == "Null" and raw["details"]["topic"] == "10:45"


@pytest.mark.parametrize("trap", TRAPS)
def test_each_trap_survives_as_a_name_a_detail_and_an_mrn(cli: Any, trap: str) -> None:
    args = ["add", "--patient", trap, "--phone", "0123 456 789", "--category", "general",
            "--reason", trap, "--detail", f"topic={trap}", "--json"]  # fmt: skip
    mrn_ok = all(c.isalnum() or c == "-" for c in trap)
    if mrn_ok:
        args += ["--mrn", trap]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    stored = Store(cli.store).load(record["id"])
    assert stored.patient.name == trap
    assert stored.reason == trap
    assert stored.details == {"topic": trap}
    assert stored.patient.phone == "0123 456 789"
    if mrn_ok:
        assert stored.patient.mrn == trap
    assert dump_record(stored) == Store(cli.store).open_path(stored.id).read_text()


def test_a_symlinked_record_is_not_followed(tmp_path: Any) -> None:
    from tests.conftest import Cli

    store = tmp_path / "store"
    cli = Cli(store)
    assert cli("init", str(store), store=False).exit_code == 0
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text("id: cb-20261127-sssss\n")
    (store / "callbacks" / "open" / "cb-20261127-sssss.yaml").symlink_to(secret)
    result = cli("show", "cb-20261127-sssss")
    assert result.exit_code == 3 and "symbolic link" in result.stderr


def test_a_store_this_login_may_not_read_is_named_in_one_sentence(
    cli: Any, store_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another login on a shared workstation meets an owner-only store: one sentence and
    exit 3 from the quick paths and the full one alike, never a traceback."""
    from pathlib import Path

    cid = cli.add()
    real = Path.is_file

    def denied(self: Path) -> bool:
        if str(self).startswith(str(store_dir)):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", denied)
    for args in (["queue"], ["find", "555"], ["show", cid], ["report"], ["validate"]):
        result = cli(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert result.stderr.startswith("Error: Cannot read the store at"), args
        assert "permission denied" in result.stderr and "Traceback" not in result.stderr
