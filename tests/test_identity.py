"""Who did it: signed changes with real SSH keys (made with ssh-keygen in tmp_path), a real
bare repository made by `cbtrack server init`, and real `git push`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cbtrack.cli import app
from tests.helpers_git import git

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

NOW = "2026-11-27T09:00:00-05:00"
USERS = {
    "rn": "Riya Nurse:clinical",
    "fd": "Frank Desk:front_desk",
    "lead": "Lee Admin:front_desk_lead,admin",
}


def keygen(folder: Path, user: str, passphrase: str = "") -> Path:
    path = folder / f"{user}_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", user, "-f", str(path)],
        check=True,
    )
    return path


def hand_git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return git(cwd, *args, author="rn", check=check)


class Practice:
    def __init__(self, tmp: Path, signing: bool = True) -> None:
        self.tmp = tmp
        self.keys = {u: keygen(tmp, u) for u in USERS}
        self.store = tmp / "store"
        self.runner = CliRunner()
        staff = [a for u, spec in USERS.items() for a in ("--staff", f"{u}={spec}")]
        keys = [a for u, k in self.keys.items() for a in ("--key", f"{u}={k}.pub")]
        result = self.run(
            None if signing else "lead",
            "init",
            str(self.store),
            *staff,
            *keys,
            *(["--signing", "required"] if signing else []),
            key="lead",
            store=False,
        )
        assert result.exit_code == 0, result.stderr

    def run(
        self,
        user: str | None,
        *args: str,
        key: str | None = None,
        now: str = NOW,
        store: bool = True,
    ) -> Any:
        argv = (["--store", str(self.store)] if store else []) + (["--as", user] if user else [])
        env = {"CBTRACK_NOW": now}
        if key:
            env["CBTRACK_SIGNING_KEY"] = str(self.keys[key])
        return self.runner.invoke(app, [*argv, *args], env=env)

    def add(self, key: str, now: str = NOW) -> str:
        result = self.run(
            None,
            "add",
            "--patient",
            "Ada Example",
            "--phone",
            "+15550100123",
            "--category",
            "general",
            "--reason",
            "Question about parking",
            "--detail",
            "topic=parking",
            key=key,
            now=now,
        )
        assert result.exit_code == 0, result.stderr
        return str(result.stdout.strip())

    def findings(self, *extra: str) -> list[dict[str, Any]]:
        result = self.runner.invoke(app, ["--store", str(self.store), "verify", "--json", *extra])
        found: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
        return found


@pytest.fixture
def practice(tmp_path: Path) -> Practice:
    return Practice(tmp_path)


def test_the_signer_is_the_acting_user_and_as_someone_else_is_refused(practice: Practice) -> None:
    cid = practice.add("rn")
    author = hand_git(practice.store, "log", "-1", "--format=%an").stdout.strip()
    assert author == "rn"
    assert "gpgsig" in hand_git(practice.store, "cat-file", "commit", "HEAD").stdout
    result = practice.run(
        "fd", "note", cid, "I am the nurse", key="rn", now="2026-11-27T09:05:00-05:00"
    )
    assert result.exit_code == 1
    assert "This desk signs with rn's key, so it cannot act as fd" in result.stderr
    assert practice.findings("--full") == []


def test_no_key_or_an_unknown_key_is_refused_before_anything_is_written(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CBTRACK_SIGNING_KEY", raising=False)
    head = hand_git(practice.store, "rev-parse", "HEAD").stdout
    result = practice.run(
        "rn",
        "add",
        "--patient",
        "A B",
        "--phone",
        "5550100123",
        "--category",
        "general",
        "--reason",
        "x",
        "--detail",
        "topic=x",
    )
    assert result.exit_code == 1 and "ssh-keygen -t ed25519" in result.stderr
    stranger = keygen(tmp_path, "stranger")
    result = practice.runner.invoke(
        app,
        [
            "--store",
            str(practice.store),
            "add",
            "--patient",
            "A B",
            "--phone",
            "5550100123",
            "--category",
            "general",
            "--reason",
            "x",
            "--detail",
            "topic=x",
        ],
        env={"CBTRACK_NOW": NOW, "CBTRACK_SIGNING_KEY": str(stranger)},
    )
    assert result.exit_code == 1 and "not any staff member's key" in result.stderr
    assert hand_git(practice.store, "rev-parse", "HEAD").stdout == head


def test_unsigned_and_wrongly_signed_commits_are_findings(practice: Practice) -> None:
    cid = practice.add("rn")
    path = next(practice.store.glob(f"callbacks/open/{cid}.yaml"))
    data = yaml.safe_load(path.read_text())
    data["events"].append(
        {
            "id": "n0te07",
            "at": "2026-11-27T09:20:00-05:00",
            "by": "rn",
            "type": "note",
            "note": "called",
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    hand_git(practice.store, "commit", "-q", "-am", "by hand")
    found = practice.findings()
    assert [f["kind"] for f in found] == ["signature"] and "not signed" in found[0]["message"]
    hand_git(practice.store, "reset", "-q", "--hard", "HEAD~1")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    hand_git(
        practice.store,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={practice.keys['fd']}",
        "commit",
        "-S",
        "-q",
        "-am",
        "x",
    )
    found = practice.findings("--full")
    assert any("signed with fd's key but names rn" in f["message"] for f in found)


def test_a_revoked_key_can_no_longer_sign(practice: Practice) -> None:
    cid = practice.add("fd")
    result = practice.run(None, "keys", "revoke", "fd", key="lead", now="2026-11-27T09:10:00-05:00")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(practice.run(None, "keys", "list", "--json").stdout)
    assert [k["user"] for k in listed["keys"]] == ["rn", "lead"]
    result = practice.run(
        None, "note", cid, "still here", key="fd", now="2026-11-27T09:20:00-05:00"
    )
    assert result.exit_code == 1 and "revoked" in result.stderr
    # a commit signed by hand with the revoked key is a finding
    hand_git(
        practice.store,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={practice.keys['fd']}",
        "commit",
        "-S",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    assert any(f["kind"] == "signature" for f in practice.findings())


def test_a_key_change_by_a_non_admin_is_refused(practice: Practice) -> None:
    result = practice.run(None, "keys", "revoke", "lead", key="fd", now="2026-11-27T09:10:00-05:00")
    assert result.exit_code == 1 and "admin role" in result.stderr


def test_the_server_rejects_a_bad_push_and_takes_a_good_one(practice: Practice) -> None:
    remote = practice.tmp / "shared.git"
    result = practice.runner.invoke(app, ["server", "init", str(remote)])
    assert result.exit_code == 0, result.stderr
    hand_git(practice.store, "remote", "add", "origin", str(remote))
    result = practice.run(None, "sync", key="lead", now="2026-11-27T09:01:00-05:00")
    assert result.exit_code == 0, result.stderr
    practice.add("rn", now="2026-11-27T09:10:00-05:00")
    hand_git(practice.store, "commit", "-q", "--allow-empty", "-m", "unsigned")
    pushed = hand_git(practice.store, "push", "origin", "HEAD", check=False)
    assert pushed.returncode != 0 and "not signed" in pushed.stderr
    hand_git(practice.store, "reset", "-q", "--hard", "HEAD~1")
    result = practice.run(None, "sync", key="rn", now="2026-11-27T09:20:00-05:00")
    assert result.exit_code == 0, result.stderr
    checked = practice.runner.invoke(app, ["server", "check", str(remote), "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True


def test_a_passphrase_key_signs_through_ssh_agent(practice: Practice, tmp_path: Path) -> None:
    if shutil.which("ssh-agent") is None:
        pytest.skip("needs ssh-agent")
    cid = practice.add("rn")
    locked = keygen(tmp_path, "rn2", passphrase="s3cret phrase")
    result = practice.run(
        None, "keys", "add", "rn", f"{locked}.pub", key="lead", now="2026-11-27T09:05:00-05:00"
    )
    assert result.exit_code == 0, result.stderr
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for part in agent.split(";"):
        if "=" in part and part.strip().startswith("SSH_"):
            k, v = part.strip().split("=", 1)
            env[k] = v
    try:
        subprocess.run(
            ["ssh-add", "-q", str(locked)],
            env={
                **env,
                "SSH_ASKPASS_REQUIRE": "force",
                "SSH_ASKPASS": str(_askpass(tmp_path)),
                "DISPLAY": ":0",
            },
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        os.environ.update({k: env[k] for k in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")})
        result = practice.runner.invoke(
            app,
            ["--store", str(practice.store), "note", cid, "Called back"],
            env={
                "CBTRACK_NOW": "2026-11-27T10:00:00-05:00",
                "CBTRACK_SIGNING_KEY": f"{locked}.pub",
            },
        )
        assert result.exit_code == 0, result.stderr
        assert practice.findings("--full") == []
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True)
        for k in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
            os.environ.pop(k, None)


def _askpass(folder: Path) -> Path:
    script = folder / "askpass.sh"
    script.write_text("#!/bin/sh\necho 's3cret phrase'\n")
    script.chmod(0o700)
    return script


def test_doctor_says_when_this_desk_has_no_usable_key(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CBTRACK_SIGNING_KEY", raising=False)
    result = practice.runner.invoke(app, ["--store", str(practice.store), "doctor", "--json"])
    assert "no_signing_key" in result.stdout and "ssh-keygen -t ed25519" in result.stdout
    result = practice.run(None, "doctor", "--json", key="rn")
    assert "no_signing_key" not in result.stdout


def test_a_revoked_key_stays_revoked_for_work_merged_from_an_older_branch(
    practice: Practice,
) -> None:
    """fd's key is revoked; fd signs work on a branch started before that and merges it
    back: each commit passes at its own parent, but the merge carries in work signed with a
    key the other side revoked, so verify reports it."""
    cid = practice.add("fd")
    before = hand_git(practice.store, "rev-parse", "HEAD").stdout.strip()
    main = hand_git(practice.store, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    result = practice.run(None, "keys", "revoke", "fd", key="lead", now="2026-11-27T09:10:00-05:00")
    assert result.exit_code == 0, result.stderr
    assert practice.findings("--full") == []
    hand_git(practice.store, "checkout", "-q", "-b", "stale", before)
    result = practice.run(None, "note", cid, "from the old branch", key="fd",
                          now="2026-11-27T09:20:00-05:00")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    signed = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={practice.keys['fd']}"]
    git(practice.store, *signed, "merge", "-S", "-q", "--no-edit", "--no-verify", main,
        author="fd")  # fmt: skip
    hand_git(practice.store, "checkout", "-q", main)
    hand_git(practice.store, "merge", "-q", "--ff-only", "stale")
    found = practice.findings()
    assert any(
        f["kind"] == "signature" and "revoked since the two branches parted" in f["message"]
        for f in found
    ), found


def test_a_merge_cannot_bring_back_the_unsigned_policy_from_before_signing(
    tmp_path: Path,
) -> None:
    """Signing was turned on after the store began. fd makes a merge of the commit before
    that with today's, keeping the old `signing: off`, and names the admin as its author
    without a signature: a merge is judged by the signing side's keys, so verify reports
    it (and the close fd forges on top of it)."""
    practice = Practice(tmp_path, signing=False)
    added = practice.run("fd", "add", "--patient", "Ada Example", "--phone", "+15550100123",
                         "--category", "general", "--reason", "Parking", "--detail", "topic=p",
                         "--symptoms", "no")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    before = hand_git(practice.store, "rev-parse", "HEAD").stdout.strip()
    policy = practice.store / "cbtrack.yaml"
    old = policy.read_text()
    policy.write_text(old.replace('signing: "off"', "signing: required"))
    assert policy.read_text() != old
    result = practice.run("lead", "validate", "--commit", key="lead",
                          now="2026-11-27T09:10:00-05:00")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert practice.findings("--full") == []
    now = hand_git(practice.store, "rev-parse", "HEAD").stdout.strip()
    policy.write_text(old)
    hand_git(practice.store, "add", "cbtrack.yaml")
    tree = hand_git(practice.store, "write-tree").stdout.strip()
    merge = git(practice.store, "commit-tree", tree, "-p", before, "-p", now, "-m", "merge",
                author="lead").stdout.strip()  # fmt: skip
    hand_git(practice.store, "reset", "-q", "--hard", merge)
    found = practice.findings()
    assert any(f["kind"] == "signature" and f["commit"] == merge for f in found), found


def test_server_init_on_a_file_is_one_sentence(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("not a folder\n")
    result = CliRunner().invoke(app, ["server", "init", str(target)])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and "is a file, not a folder" in result.stderr
    assert target.read_text() == "not a folder\n"
