"""Reading without models: views of indexed data (cbtrack/views.py), the queue's screen from
the local index alone (cbtrack/quick.py), and the duplicate check's phone/MRN index. Each
must answer exactly as the models and the full path do; nothing here is timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cbtrack import localindex, quick
from cbtrack.cli import reading
from cbtrack.cli.app import State
from cbtrack.enums import Status, Urgency
from cbtrack.errors import Refused
from cbtrack.store import Store
from cbtrack.views import CallbackView
from cbtrack.yamlio import record_data
from tests.conftest import git, settle_index
from tests.helpers_report import STAFF, Staff, day, init_store
from tests.test_speed import _pty_run

MORNING, EVENING = day(25, "09:30"), day(25, "17:00")
SENT = "Sent the open times by text; waiting for the patient to pick one"
REACHED = "Reached the patient and answered the question fully; ready to close"
NO_ANSWER = "No answer and no voicemail box; try again later"
WRONG = "Wrong number: the person who answered does not know the patient"


def build_varied(cli: Staff) -> dict[str, str]:
    """Open callbacks in every state the queue and the review tell apart."""
    r: dict[str, str] = {}
    r["plain"] = cli.add(day(19, "09:00"), "Rowena Quist", "5557320402", "general", "Asks a thing")
    r["wide"] = cli.add(
        day(20, "10:00"), "王小明 Ōtake", "5557320403", "scheduling", "Wants a visit\x1b[2J now"
    )
    r["window"] = cli.add(
        day(23, "08:30"), "Tamsin Orrell", "5557320401", "scheduling", "Evening visit",
        "--window", "18:00-19:30", "--method", "text", "--mrn", "MRN-77",
    )  # fmt: skip
    cli.attempt(
        r["window"],
        day(23, "09:00"),
        "text",
        "message_sent",
        SENT,
    )
    r["blocked"] = cli.add(
        day(23, "09:00"), "Ulric Brannagh", "5557320404", "referral_status", "Referral"
    )
    cli.ok("block", r["blocked"], "--on", "referral_documents", "--note", "Letter awaited",
           now=day(23, "09:05"))  # fmt: skip
    r["late_dep"] = cli.add(day(16, "09:00"), "Ada Late", "5557320410", "billing", "Copay")
    cli.ok("block", r["late_dep"], "--on", "insurance_eligibility", "--note", "Checking",
           "--until", "2026-11-18", now=day(16, "09:10"))  # fmt: skip
    r["unblocked"] = cli.add(day(17, "09:00"), "Bo Free", "5557320411", "billing", "Statement")
    cli.ok("block", r["unblocked"], "--on", "provider_review", "--note", "Doctor to look",
           now=day(17, "09:10"))  # fmt: skip
    cli.ok("unblock", r["unblocked"], "--on", "provider_review", "--note", "Doctor looked",
           now=day(18, "09:10"))  # fmt: skip
    r["reached"] = cli.add(day(23, "09:30"), "Vesna Holloway", "5557320405", "general", "Lot")
    cli.attempt(
        r["reached"],
        day(23, "10:00"),
        "phone",
        "reached",
        REACHED,
    )
    r["clinical"] = cli.add(
        day(23, "11:00"), "Wystan Caddell", "5557320406", "clinical_concern", "Lab letter"
    )
    r["user_owned"] = cli.add(
        day(23, "12:00"), "Xanthe Morrow", "5557320407", "scheduling", "Visit", "--owner", "mkhan"
    )
    cli.attempt(
        r["user_owned"],
        day(23, "13:00"),
        "phone",
        "no_answer",
        NO_ANSWER,
        user="mkhan",
    )
    r["wrong"] = cli.add(day(24, "09:00"), "Yara Wrong", "5557320408", "general", "Hours")
    cli.attempt(
        r["wrong"],
        day(24, "09:30"),
        "phone",
        "wrong_number",
        WRONG,
    )
    r["fixed"] = cli.add(day(24, "09:00"), "Zed Fixed", "5557320409", "general", "Hours too")
    cli.attempt(
        r["fixed"],
        day(24, "09:30"),
        "phone",
        "wrong_number",
        WRONG,
    )
    cli.ok("edit", r["fixed"], "--phone", "5557320499", "--why", "Patient corrected it",
           now=day(24, "10:00"))  # fmt: skip
    r["deadline"] = cli.add(
        day(24, "11:00"), "Di Deadline", "5557320412", "general", "Form before surgery",
        "--deadline", "2026-11-30 07:00",
    )  # fmt: skip
    r["exhausted"] = cli.add(day(18, "09:00"), "Ed Tries", "5557320413", "general", "Hours")
    for d in (19, 20, 23):
        cli.attempt(
            r["exhausted"],
            day(d, "09:10"),
            "phone",
            "no_answer",
            NO_ANSWER,
        )
    r["reopened"] = cli.add(day(18, "10:00"), "Flo Again", "5557320414", "general", "Parking")
    cli.attempt(
        r["reopened"],
        day(18, "10:30"),
        "phone",
        "reached",
        REACHED,
    )
    cli.close(
        r["reopened"],
        day(18, "10:40"),
        "reached",
        REACHED,
    )
    cli.ok("reopen", r["reopened"], "--why", "Called back with more", now=day(19, "09:00"))
    r["closed"] = cli.add(day(18, "11:00"), "Gil Gone", "5557320415", "general", "Parking")
    cli.close(r["closed"], day(18, "11:10"), "resolved", "Answered on the spot")
    return r


@pytest.fixture(scope="module")
def varied_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The varied store, built once for this file through the CLI."""
    root = tmp_path_factory.mktemp("varied")
    cli = init_store(root, staff=STAFF)
    return root, build_varied(cli)


@pytest.fixture
def varied(
    tmp_path: Path, varied_store: tuple[Path, dict[str, str]]
) -> tuple[Staff, dict[str, str]]:
    """A copy of the varied store (git and all) for one test to read and change."""
    root, ids = varied_store
    shutil.copytree(root, tmp_path / "copy", symlinks=True)
    copy = tmp_path / "copy"
    return Staff(copy / "store", copy / "home"), ids


FIELDS = ("id", "status", "urgency", "owner", "category", "reason", "next_action", "due_at",
          "created_at", "deadline_at", "next_attempt_at", "is_open", "was_reached",
          "reopened_at", "reached_since_reopen", "number_is_wrong")  # fmt: skip


def _items(items: list[Any], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(i, n) for n in names) for i in items]


def test_a_view_answers_as_the_model(varied: tuple[Staff, dict[str, str]]) -> None:
    cli, _ = varied
    store = Store(cli.store)
    records = store.open_records()
    assert len(records) == 14
    for cb in records:
        view = CallbackView(record_data(cb))
        for name in FIELDS:
            assert getattr(view, name) == getattr(cb, name), (cb.id, name)
        for name in ("name", "phone", "preferred_method", "contact_window", "mrn"):
            assert getattr(view.patient, name) == getattr(cb.patient, name), (cb.id, name)
        assert _items(view.attempts, ("at", "method", "result")) == _items(
            cb.attempts, ("at", "method", "result")
        )
        assert _items(view.events, ("at", "type", "set")) == _items(
            cb.events, ("at", "type", "set")
        )
        deps = ("kind", "since", "until", "resolved_at")
        assert _items(view.depends_on, deps) == _items(cb.depends_on, deps)
        for name in ("outbound_attempts", "current_attempts", "open_dependencies"):
            assert len(getattr(view, name)) == len(getattr(cb, name)), (cb.id, name)
        last, model_last = view.last_attempt, cb.last_attempt
        assert (last and last.at) == (model_last and model_last.at)


def test_review_from_views_is_the_review_from_models(
    varied: tuple[Staff, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, _ = varied
    runs = [("review",), ("review", "--json"), ("review", "--check")]
    for now in (MORNING, EVENING):
        (cli.store / ".cbtrack" / localindex.FILE_NAME).unlink(missing_ok=True)
        cold = [cli(*argv, now=now) for argv in runs]
        warm = [cli(*argv, now=now) for argv in runs]
        with monkeypatch.context() as m:  # the model path, as before views
            m.setattr(Store, "open_views", Store.open_records)
            models = [cli(*argv, now=now) for argv in runs]
        for a, b, c in zip(cold, warm, models, strict=True):
            assert (a.exit_code, a.stdout, a.stderr) == (c.exit_code, c.stdout, c.stderr)
            assert (b.exit_code, b.stdout, b.stderr) == (c.exit_code, c.stdout, c.stderr)
        assert "End-of-day review" in models[0].stdout and "王小明" in models[0].stdout
        assert len(json.loads(models[1].stdout)["needs_escalation"]) >= 2


def _settle(store: Path) -> None:
    settle_index(store)


def _screens(
    store: Path, capsys: pytest.CaptureFixture[str], whole: bool = False, **f: Any
) -> tuple[bool, str, str]:
    """(quick path used, its output, the full path's output) for one set of filters: the
    first screen, or with `whole` every callback (piped, or --all)."""
    args = dict(owner=None, mine=False, category=None, urgency=None, status=None,
                overdue=False, limit=None)  # fmt: skip
    args.update(f)
    capsys.readouterr()
    used = quick.queue_screen(str(store), "jlee", **args, whole=whole)
    fast = capsys.readouterr().out
    st = State(store_dir=str(store), user_opt="jlee")
    full = dict(args)
    full["urgency"] = Urgency(args["urgency"]) if args["urgency"] else None
    full["status"] = Status(args["status"]) if args["status"] else None
    try:
        reading._full_queue(st, **full, whole=whole, as_json=False)
    except Refused as exc:  # (what the command says on stderr)
        return used, fast, f"refused: {exc}"
    return used, fast, capsys.readouterr().out


@pytest.mark.parametrize("color", [False, True])
def test_the_quick_screen_is_the_full_screen(
    varied: tuple[Staff, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    color: bool,
) -> None:
    cli, _ = varied
    cli.ok("queue", now=EVENING)  # fills the index and the policy digest
    _settle(cli.store)
    monkeypatch.setenv("CBTRACK_NOW", EVENING)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "12")
    monkeypatch.setattr(sys.modules["cbtrack.cli.app"], "color_ok", lambda: color)
    cases: list[dict[str, Any]] = [
        {}, {"limit": 3}, {"limit": 50}, {"overdue": True}, {"category": "general"},
        {"urgency": "clinical"}, {"status": "waiting_internal"}, {"owner": "front_desk"},
        {"mine": True}, {"owner": "mkhan"}, {"category": "billing", "overdue": True},
    ]  # fmt: skip
    for whole in (False, True):
        for f in cases:
            used, fast, full = _screens(cli.store, capsys, whole, **f)
            assert used, f
            assert fast == full, f
    assert "not shown" in _screens(cli.store, capsys)[1]
    assert "not shown" not in _screens(cli.store, capsys, True)[1]


def test_the_quick_screen_steps_aside(
    varied: tuple[Staff, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anything not exactly as cached sends the queue down the full path."""
    cli, r = varied
    cli.ok("queue", now=EVENING)
    _settle(cli.store)
    monkeypatch.setenv("CBTRACK_NOW", EVENING)
    assert _screens(cli.store, capsys)[0]
    assert not _screens(cli.store, capsys, category="no_such_category")[0]
    assert not _screens(cli.store, capsys, owner="nobody")[0]  # (the full path refuses it)
    monkeypatch.setenv("CBTRACK_NOW", "tomorrow 9:00")
    assert not _screens(cli.store, capsys)[0]
    monkeypatch.setenv("CBTRACK_NOW", EVENING)
    path = cli.store / "callbacks" / "open" / f"{r['plain']}.yaml"
    before = path.stat()
    path.write_text(path.read_text().replace("Asks a thing", "Asks b thing"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime
    used, _, full = _screens(cli.store, capsys, limit=50)
    assert not used and "Asks b" in full
    _settle(cli.store)
    assert _screens(cli.store, capsys)[0]  # the full path indexed the edit
    policy = cli.store / "cbtrack.yaml"
    policy.write_text(policy.read_text() + "\n# an uncommitted edit\n")
    assert not _screens(cli.store, capsys)[0]


def _terminal(cli: Staff) -> str:
    exe = shutil.which("cbtrack") or str(Path(sys.executable).parent / "cbtrack")
    env = dict(os.environ, LINES="40", COLUMNS="100", NO_COLOR="1", CBTRACK_NOW=EVENING,
               HOME=str(cli.home))  # fmt: skip
    env.pop("CBTRACK_STORE", None)
    return _pty_run([exe, "--store", str(cli.store), "queue"], env)


def test_a_checkout_a_pull_and_a_damaged_index_on_the_terminal(
    varied: tuple[Staff, dict[str, str]], tmp_path: Path
) -> None:
    cli, r = varied
    first = _terminal(cli)
    _settle(cli.store)
    assert _terminal(cli) == first
    cid = r["plain"]
    cli.attempt(
        cid,
        day(25, "10:00"),
        "phone",
        "no_answer",
        NO_ANSWER,
    )
    _settle(cli.store)
    assert f"{cid[-5:]}" in _terminal(cli) and "1 no answer" in _terminal(cli)
    git(cli.store, "checkout", "-q", "HEAD~1", "--", f"callbacks/open/{cid}.yaml")
    line = next(ln for ln in _terminal(cli).splitlines() if ln.startswith(cid[-5:]))
    assert "none yet" in line
    git(cli.store, "checkout", "-q", "HEAD", "--", f"callbacks/open/{cid}.yaml")
    # a second desk pulls the attempt
    clone = tmp_path / "desk2"
    subprocess.run(["git", "clone", "-q", str(cli.store), str(clone)], check=True)
    desk2 = Staff(clone, cli.home)
    before = _terminal(desk2)
    _settle(clone)
    cli.attempt(
        cid,
        day(25, "14:30"),
        "phone",
        "no_answer",
        NO_ANSWER,
    )
    git(clone, "pull", "-q", "--ff-only")
    after = next(ln for ln in _terminal(desk2).splitlines() if ln.startswith(cid[-5:]))
    assert "2 no answer" in after and before != _terminal(desk2)
    # a damaged index is rebuilt
    (cli.store / ".cbtrack" / localindex.FILE_NAME).write_bytes(b"\x00garbage" * 300)
    expected = _terminal(cli)
    _settle(cli.store)
    assert _terminal(cli) == expected


# --- the duplicate check on add ---------------------------------------------------------------


def _warned(result: Any) -> list[str]:
    return [ln.split()[3] for ln in result.stderr.splitlines() if "same phone number" in ln]


def test_the_duplicate_check_sees_hand_edits(varied: tuple[Staff, dict[str, str]]) -> None:
    cli, r = varied
    args = ["--category", "general", "--reason", "Again", "--detail", "topic=x"]
    added: list[str] = []

    def add(phone: str, *extra: str) -> list[str]:
        argv = ["add", "--patient", "New Caller", "--phone", phone, *args, *extra]
        result = cli.ok(*argv, now=EVENING)
        added.append(result.stdout.strip())
        return _warned(result)

    assert add("+1 555 732 0402") == [r["plain"]]  # the index is made by now
    _settle(cli.store)
    assert add("(555) 732-0401") == [r["window"]]
    assert add("5550000000", "--mrn", "mrn-77") == [r["window"]]
    # a phone changed by hand, to the same size and modification time, is seen, also
    # after the queue found every open file fresh and kept the folder's digest
    cli.ok("queue", "--all", now=EVENING)
    path = cli.store / "callbacks" / "open" / f"{r['wrong']}.yaml"
    before = path.stat()
    path.write_text(path.read_text().replace("5557320408", "5557320666"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert add("5557320666") == [r["wrong"]]
    assert add("5557320408") == []
    # a damaged index, or none: the same answer, from the records themselves
    (cli.store / ".cbtrack" / localindex.FILE_NAME).write_bytes(b"\x00garbage" * 300)
    assert add("5557320402") == sorted([r["plain"], added[0]])
    (cli.store / ".cbtrack" / localindex.FILE_NAME).unlink()
    last = added[-1]
    assert add("555 732 0402") == sorted([r["plain"], added[0], last])
