"""The 3-second view: ranking, relative times, what was tried, 100 columns, filters, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbtrack.queuefmt import line_of, queue_lines
from cbtrack.store import Store
from tests.conftest import STAFF, Cli, attempt_args, set_policy


def fill(cli: Cli) -> dict[str, str]:
    ids = {
        "routine": cli.add(category="billing", reason="Copay question on October bill"),
        "sched": cli.add(),
        "emergency": cli.add(category="general", reason="Husband has chest pain now"),
        "clinical": cli.add(category="general", reason="Rash spreading on both arms"),
    }
    cli.ok(
        *attempt_args(
            ids["sched"],
            "phone",
            "left_voicemail",
            "Left voicemail asking patient to call scheduling line; retry tomorrow",
        ),
    )
    return ids


def test_ranked_by_urgency_then_due_then_age(cli: Cli) -> None:
    ids = fill(cli)
    older = cli.add(
        category="billing", reason="Second billing question", now="2026-11-27T09:00:00-05:00"
    )
    data = json.loads(cli.ok("queue", "--json").stdout)
    order = [cb["id"] for cb in data]
    assert order == [ids["emergency"], ids["clinical"], ids["sched"], older, ids["routine"]]


def test_lines_say_who_why_urgency_due_tried_owner_next(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # wide: one line per callback
    ids = fill(cli)
    out = cli.ok("queue", now="2026-11-27T12:00:00-05:00").stdout
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "URG", "DUE", "PATIENT"]
    top = lines[1]
    assert top.startswith(ids["emergency"][-5:]) and "EMERG" in top
    assert "overdue 2h" in top and "Ada Example ph" in top and "clinical" in top
    sched = next(line for line in lines if line.startswith(ids["sched"][-5:]))
    assert "1 vm 2h" in sched and "sched: New patient" in sched and "scheduling" in sched
    assert "in 2d" in sched or "in 3d" in sched
    assert all(len(line) <= 160 for line in lines)
    assert "\033[" not in out  # no color when not a terminal
    assert lines[-1].startswith("4 open, ")


def test_lines_fit_100_columns_with_long_values(cli: Cli, store_dir: Path) -> None:
    cli.ok(
        "add",
        "--patient",
        "Bartholomew Maximilian Longname-Example",
        "--phone",
        "5550100123",
        "--category",
        "general",
        "--reason",
        "x" * 300,
        "--detail",
        "topic=" + "y" * 100,
        "--next",
        "z" * 200,
        "--owner",
        "front_desk_lead",
    )
    out = cli.ok("queue").stdout
    assert all(len(line) <= 100 for line in out.splitlines())


def test_color_only_on_a_terminal_without_no_color(cli: Cli, store_dir: Path) -> None:
    fill(cli)
    store = Store(store_dir)
    records = store.open_records()
    from datetime import datetime

    now = datetime.fromisoformat("2026-11-27T12:00:00-05:00")
    lines = [line_of(store.policy, cb) for cb in records]
    painted = queue_lines(lines, now.timestamp(), color=True)
    assert any("\033[" in line for line in painted)
    plain = queue_lines(lines, now.timestamp(), color=False)
    assert not any("\033[" in line for line in plain)


def test_filters(cli: Cli, store_dir: Path) -> None:
    ids = fill(cli)

    def ids_of(*args: str, user: str | None = "jlee", now: str | None = None) -> list[str]:
        out = cli.ok("queue", "--json", *args, user=user, now=now).stdout
        return [cb["id"] for cb in json.loads(out)]

    assert ids_of("--owner", "billing") == [ids["routine"]]
    assert ids_of("--category", "scheduling") == [ids["sched"]]
    assert ids_of("--urgency", "emergency") == [ids["emergency"]]
    assert ids_of("--status", "waiting_patient") == [ids["sched"]]
    assert ids_of("--overdue") == []
    later = "2026-11-27T12:00:00-05:00"
    assert ids_of("--overdue", now=later) == [ids["emergency"], ids["clinical"]]
    cli.refused("queue", "--category", "nope")
    cli.refused("queue", "--urgency", "nope", code=2)
    set_policy(store_dir, staff=STAFF)
    assert ids_of("--mine", user="mkhan") == [ids["sched"]]
    assert set(ids_of("--mine", user="rnpatel")) == {ids["emergency"], ids["clinical"]}
    cli.refused("queue", "--mine", user=None)


def test_owner_keeps_that_owner_alone_and_mine_adds_the_users_roles(
    cli: Cli, store_dir: Path
) -> None:
    """`--owner mkhan` is mkhan's own callbacks; `--mine` as mkhan adds those of mkhan's
    role (scheduling), on the quick path and the full one alike."""
    set_policy(store_dir, staff=STAFF)
    role = cli.add()  # scheduling: the scheduling role owns it
    own = cli.add("--owner", "mkhan")

    def ids(*args: str) -> list[str]:
        quick = cli.ok("queue", "--all", *args, user="mkhan").stdout
        full = [
            cb["id"] for cb in json.loads(cli.ok("queue", "--json", *args, user="mkhan").stdout)
        ]
        assert [cid[-5:] in quick for cid in full] == [True] * len(full)
        assert len(quick.strip().splitlines()) == len(full) + 2  # heading and summary
        return full

    assert ids("--owner", "mkhan") == [own]
    assert ids("--owner", "scheduling") == [role]
    assert set(ids("--mine")) == {role, own}


def test_empty_queue(cli: Cli) -> None:
    assert "clear" in cli.ok("queue").stdout
    assert json.loads(cli.ok("queue", "--json").stdout) == []


def test_queue_reads_only_open_records(cli: Cli, store_dir: Path) -> None:
    cid = cli.add()
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered on the earlier call")
    month = store_dir / "callbacks" / "closed" / "2026-11"
    (month / "cb-20261127-zzzzz.yaml").write_text("not: [valid")
    assert cli.ok("queue").exit_code == 0


LONG_NAME = "Maximiliana Bartholomew-Featherstonehaugh"
LONG_REASON = "Asks whether the October statement includes the lab work from the visit"


@pytest.mark.parametrize("columns", ["80", "100"])
def test_at_80_columns_each_callback_is_readable_on_two_lines(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    ids = fill(cli)
    cid = cli.add(
        "--patient", LONG_NAME, "--owner", "front_desk_lead", "--next", "n" * 80,
        category="general", reason=LONG_REASON, now="2026-11-13T10:00:00-05:00",
    )  # fmt: skip
    for phone in ("5550100998", "5550100999"):  # a corrected number may be tried at once
        cli.ok(*attempt_args(cid, "phone", "wrong_number", "A stranger answered; wrong number"))
        cli.ok("edit", cid, "--phone", phone, "--why", "the right number")
    out = cli.ok("queue", now="2026-11-27T12:00:00-05:00").stdout
    lines = out.splitlines()
    assert all(len(line) <= int(columns) for line in lines), lines
    assert lines[0].split() == ["ID", "URG", "DUE", "PATIENT", "TRIED", "OWNER"]
    assert lines[1].split() == ["WHY", "NEXT"]
    first = lines.index(next(ln for ln in lines if ln.startswith(cid[-5:])))
    top, under = lines[first], lines[first + 1]
    assert LONG_NAME[:20] in top and "overdue 10d" in top and "2 wrong no. 2h" in top
    assert under.startswith(" " * 6) and LONG_REASON[:20] in under
    assert "…" not in top.split(LONG_NAME[:20])[1].split("ph")[1]  # due, tried never cut
    emergency = lines[lines.index(next(ln for ln in lines if ln.startswith(ids["emergency"][-5:])))]
    assert "EMERG" in emergency and "Ada Example ph" in emergency
    assert len(lines) == 2 + 2 * 5 + 1
    assert lines[-1].startswith("5 open, ")


def test_wide_terminals_keep_one_line_per_callback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "150")
    fill(cli)
    cli.add("--patient", LONG_NAME, category="general", reason=LONG_REASON)
    lines = cli.ok("queue").stdout.splitlines()
    assert len(lines) == 1 + 5 + 1
    row = next(ln for ln in lines if LONG_NAME[:20] in ln)
    assert LONG_REASON[:20] in row
    assert all(len(line) <= 150 for line in lines)


def test_the_footer_fits_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    fill(cli)
    lines = cli.ok("queue", "--limit", "1").stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].startswith("4 open (3 not shown: raise --limit)")


def test_a_mistyped_owner_is_refused_not_an_empty_queue(cli: Cli, store_dir: Path) -> None:
    """With a roster, an owner that is neither a role nor a staff user is a typo: saying
    "no open callbacks match" would read as nothing to do (the quick path and the full one)."""
    set_policy(store_dir, staff=STAFF)
    cli.add()
    for args in (["queue", "--owner", "ghost"], ["queue", "--owner", "ghost", "--json"]):
        err = cli.refused(*args)
        assert "'ghost' is not a role or staff user in the policy" in err
    assert cli("queue", "--owner", "front_desk").exit_code == 0
    err = cli.refused("queue", "--mine", user="ghost")
    assert "ghost" in err


def test_one_line_at_100_columns_keeps_20_characters_of_reason_besides_the_cut_mark(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where one line per callback would leave fewer than 20 characters of a reason before
    its "…" (two overdue emergencies at 100 columns), the queue takes two lines."""
    monkeypatch.setenv("COLUMNS", "100")
    reasons = ["Crushing chest pain and sweating", "Trouble breathing since lunch"]
    people = zip(["Kim Emergent", "Mo Urgent"], reasons, ["09:30", "10:20"], strict=True)
    for name, reason, at in people:
        cli.add("--patient", name, "--urgency", "emergency", "--symptoms", "yes",
                "--red-flags", "yes", category="general", reason=reason,
                now=f"2026-11-27T{at}:00-05:00")  # fmt: skip
    lines = cli.ok("queue", now="2026-11-27T10:36:00-05:00").stdout.splitlines()
    assert all(len(line) <= 100 for line in lines)
    shown = "\n".join(lines)
    for reason in reasons:
        assert reason[:20] in shown and f"{reason[:19]}…" not in shown, shown
