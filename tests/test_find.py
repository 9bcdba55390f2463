"""Finding a patient's callbacks (open and closed), the duplicate warning on add,
`add --related` and `close --reason duplicate --of`; the find index behind the store."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cbtrack import localindex
from cbtrack.store import Store
from tests.conftest import Cli, git, settle_index

MARIA = ["--patient", "Maria Gonzalez", "--phone", "+1 (617) 555-0140"]


def add(cli: Cli, who: list[str], *extra: str, now: str | None = None) -> str:
    args = ["add", *who, "--category", "general", "--reason", "Question about parking"]
    result = cli.ok(*args, "--detail", "topic=parking", *extra, now=now)
    return str(result.stdout.strip())


def found_ids(cli: Cli, text: str) -> list[str]:
    return [r["id"] for r in json.loads(cli.ok("find", text, "--json").stdout)]


@pytest.fixture
def three(cli: Cli) -> dict[str, str]:
    """Maria twice (one closed), and someone else."""
    first = add(cli, MARIA, "--mrn", "00123", now="2026-11-20T09:00:00-05:00")
    cli.ok(
        "close",
        first,
        "--reason",
        "resolved",
        "--summary",
        "Answered at the desk",
        now="2026-11-20T11:00:00-05:00",
    )
    second = add(cli, MARIA, now="2026-11-27T09:00:00-05:00")
    other = add(
        cli,
        ["--patient", "Oscar Fieldstone", "--phone", "555-0199-123"],
        now="2026-11-26T09:00:00-05:00",
    )
    return {"first": first, "second": second, "other": other}


@pytest.mark.parametrize(
    "text",
    ["617.555.0140", "+16175550140", "(617) 555 0140", "555-0140", "gonzalez maria", "MARIA"],
)
def test_find_by_phone_in_any_format_and_name_in_any_order(
    cli: Cli, three: dict[str, str], text: str
) -> None:
    # Newest first: the open one (created on the 27th), then the closed one.
    assert found_ids(cli, text) == [three["second"], three["first"]]


def test_find_by_mrn_and_by_id(cli: Cli, three: dict[str, str]) -> None:
    assert found_ids(cli, "00123") == [three["first"]]
    assert found_ids(cli, three["first"]) == [three["first"]]
    assert found_ids(cli, three["other"][-5:]) == [three["other"]]
    assert found_ids(cli, "fieldst") == [three["other"]]  # the start of a name word
    assert found_ids(cli, "555-0141") == []
    assert found_ids(cli, "Maria Fieldstone") == []


def test_find_text_lists_open_and_closed(cli: Cli, three: dict[str, str]) -> None:
    out = cli.ok("find", "617 555 0140").stdout
    lines = out.splitlines()  # (at 100 columns, two lines a callback: the why under it)
    assert lines[0].startswith(f"{three['second']} new ") and lines[0].endswith("| front desk")
    assert lines[2].startswith(f"{three['first']} closed ") and lines[2].endswith("| resolved")
    assert lines[1].startswith("    ") and lines[3].startswith("    ")
    assert lines[-1] == "2 found, 1 open."
    assert all(len(line) <= 100 for line in lines)
    assert cli.ok("find", "Nobody Here").stdout.strip() == "No callback matches."
    assert "Give a phone number" in cli.refused("find", "  ")


def test_add_warns_about_an_open_callback_with_the_same_phone(
    cli: Cli, three: dict[str, str], store_dir: Path
) -> None:
    result = cli.ok(
        "add",
        "--patient",
        "M. Gonzalez",
        "--phone",
        "617-555-0140",
        "--category",
        "general",
        "--reason",
        "Parking again",
        "--detail",
        "topic=p",
    )
    new = result.stdout.strip()
    assert new.startswith("cb-")
    # Names the open one (not the closed one), and never the patient's data.
    assert three["second"] in result.stderr and three["first"] not in result.stderr
    assert "--reason duplicate --of" in result.stderr
    assert "617" not in result.stderr and "Gonzalez" not in result.stderr
    # Same MRN, different phone: warned too.
    by_mrn = cli.ok(
        "add",
        "--patient",
        "Maria G",
        "--phone",
        "5550100999",
        "--mrn",
        "00123",
        "--category",
        "general",
        "--reason",
        "x",
        "--detail",
        "topic=x",
    )
    assert "--reason duplicate" not in by_mrn.stderr  # the MRN's callback is closed
    # Close the new one as a duplicate of the original.
    cli.ok(
        "close",
        new,
        "--reason",
        "duplicate",
        "--summary",
        "Same request",
        "--of",
        three["second"][-5:],
    )
    rec = cli.record(new)
    assert rec["closure"]["duplicate_of"] == three["second"]
    assert rec["events"][-1]["set"]["duplicate_of"] == three["second"]
    assert f"| dup of {three['second'][-5:]}" in cli.ok("find", "5550140").stdout
    assert git(store_dir, "log", "-1", "--format=%s").strip() == f"close (duplicate) {new}"


def test_related_links_and_silences_the_warning(cli: Cli, three: dict[str, str]) -> None:
    result = cli.ok(
        "add",
        *MARIA,
        "--category",
        "general",
        "--reason",
        "Follow-up question",
        "--detail",
        "topic=parking",
        "--related",
        three["second"],
    )
    rec = cli.record(result.stdout.strip())
    assert rec["related_to"] == three["second"]
    assert rec["events"][0]["set"]["related_to"] == three["second"]
    assert "duplicate" not in result.stderr
    assert f"Related:    {three['second']}" in cli.ok("show", rec["id"]).stdout
    assert "No callback" in cli.refused(
        "add",
        *MARIA,
        "--category",
        "general",
        "--reason",
        "x",
        "--detail",
        "topic=x",
        "--related",
        "cb-20261127-zzzzz",
    )


def test_close_duplicate_rules(cli: Cli, three: dict[str, str]) -> None:
    cid = three["second"]
    assert "--of ID" in cli.refused("close", cid, "--reason", "duplicate", "--summary", "Same")
    assert "only for --reason duplicate" in cli.refused(
        "close", cid, "--reason", "resolved", "--summary", "Done", "--of", three["other"]
    )
    assert "itself" in cli.refused(
        "close", cid, "--reason", "duplicate", "--summary", "Same", "--of", cid
    )
    assert "No callback" in cli.refused(
        "close", cid, "--reason", "duplicate", "--summary", "Same", "--of", "cb-20261127-zzzzz"
    )


# --- the index -------------------------------------------------------------------------


def test_index_is_private_local_and_rebuilt_when_folders_change(
    cli: Cli, three: dict[str, str], store_dir: Path
) -> None:
    found_ids(cli, "5550140")
    path = store_dir / ".cbtrack" / localindex.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert git(store_dir, "status", "--porcelain") == ""  # never committed
    # A closed record arriving another way (a pull, a restore) is found on the next call.
    month = store_dir / "callbacks" / "closed" / "2026-11"
    text = (month / f"{three['first']}.yaml").read_text()
    copy_id = "cb-20261103-abcde"
    (month / f"{copy_id}.yaml").write_text(text.replace(three["first"], copy_id))
    assert copy_id in found_ids(cli, "5550140")
    # A damaged index is rebuilt, never trusted.
    path.write_bytes(b"not a database" * 100)
    # (the copy has the same creation time, so the larger ID comes first)
    assert found_ids(cli, "00123") == [three["first"], copy_id]
    # An index row that says another phone: the record itself decides.
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE rec SET phone = '9999999999' WHERE name = ?", (f"{three['first']}.yaml",)
        )
    assert three["first"] not in found_ids(cli, "9999999")


def test_find_reads_only_closed_records_that_can_match(
    cli: Cli, three: dict[str, str], store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = store_dir / "callbacks" / "closed" / "2026-10"
    month.mkdir()
    source = (store_dir / "callbacks" / "closed" / "2026-11" / f"{three['first']}.yaml").read_text()
    for i in range(40):
        cid = f"cb-202610{i % 28 + 1:02d}-x{i:04d}"
        text = source.replace(three["first"], cid).replace("Maria Gonzalez", f"Pat Person{i}")
        text = text.replace("+1 (617) 555-0140", f"555-01{i:02d}-777").replace("'00123'", "m1")
        (month / f"{cid}.yaml").write_text(text)
    store = Store(store_dir)
    store.find_callbacks("anything")  # builds the index
    # (files written within a clock tick of being indexed would be read once more: racy;
    # a second find need not come a tick later when the first is quick)
    settle_index(store_dir)
    loaded: list[str] = []
    real = Store.load_path

    def counting(self: Store, path: Path, text: str | None = None) -> object:
        loaded.append(path.stem)
        return real(self, path, text)

    monkeypatch.setattr(Store, "load_path", counting)
    hits, problems = Store(store_dir).find_callbacks("Pat Person7")
    assert [cb.patient.name for cb in hits] == ["Pat Person7"] and not problems
    # the index answers for the others: only the hit is read, to confirm it
    closed_loaded = [i for i in loaded if i != three["second"] and i != three["other"]]
    assert len(closed_loaded) == 1


def test_an_unreadable_closed_record_is_reported_not_hidden(
    cli: Cli, three: dict[str, str], store_dir: Path
) -> None:
    month = store_dir / "callbacks" / "closed" / "2026-11"
    (month / "cb-20261102-zzzzz.yaml").write_text("patient: [broken")
    result = cli.ok("find", "5550140")
    assert "1 record(s) could not be read" in result.stderr
    assert three["first"] in result.stdout


def test_installed_cbtrack_finds(cli: Cli, three: dict[str, str], store_dir: Path) -> None:
    exe = str(Path(sys.executable).parent / "cbtrack")
    env = {**os.environ, "CBTRACK_STORE": str(store_dir)}
    out = subprocess.run(
        [exe, "find", "gonzalez", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert [r["id"] for r in json.loads(out.stdout)] == [three["second"], three["first"]]


def test_find_ignores_case_accents_and_apostrophes_and_sees_edits_in_place(
    cli: Cli, store_dir: Path
) -> None:
    import yaml as _yaml

    ids = {}
    for name in ("María Núñez", "Seán O'Leary", "Zoë Fernández", "Rory OLeary", "Ana De La Cruz"):
        result = cli.ok(
            "add",
            "--patient",
            name,
            "--phone",
            "+15550100123",
            "--category",
            "general",
            "--reason",
            "x",
            "--detail",
            "topic=x",
        )
        ids[name] = result.stdout.strip()
    for query, name in (
        ("nunez", "María Núñez"),
        ("maria nunez", "María Núñez"),
        ("oleary", "Seán O'Leary"),
        ("o leary", "Seán O'Leary"),
        ("O\u2019Leary", "Seán O'Leary"),
        ("fernandez", "Zoë Fernández"),
        ("ZOE", "Zoë Fernández"),
        ("o leary rory", "Rory OLeary"),  # stored without the apostrophe
        ("o'leary", "Rory OLeary"),
        ("delacruz", "Ana De La Cruz"),
        ("de la cruz", "Ana De La Cruz"),
    ):
        found = json.loads(cli.ok("find", query, "--json").stdout)
        assert ids[name] in [r["id"] for r in found], query
    cid = ids["Zoë Fernández"]
    cli.ok("close", cid, "--reason", "resolved", "--summary", "Answered")
    cli.ok("find", "fernandez", "--json")  # builds the index
    path = next(store_dir.glob(f"callbacks/closed/*/{cid}.yaml"))
    data = _yaml.safe_load(path.read_text())
    data["patient"]["name"] = "Zoe Quartermain"
    path.write_text(_yaml.safe_dump(data, sort_keys=False))
    found = json.loads(cli.ok("find", "quartermain", "--json").stdout)
    assert [r["id"] for r in found] == [cid]


def test_find_from_the_index_alone_prints_what_the_full_path_prints(
    cli: Cli, three: dict[str, str], store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`find` answers from the index without reading any file when every record file is as
    indexed; its text is the full path's, for every kind of hit and miss."""
    from cbtrack import quick
    from tests.conftest import settle_index

    zoe = add(cli, ["--patient", "Zoë O'Fernández", "--phone", "555 010 0177"])
    dup = add(cli, MARIA, "--related", three["second"])
    cli.ok("close", dup, "--reason", "duplicate", "--of", three["second"], "--summary", "Same")
    routed = add(cli, ["--patient", "Ruth Router", "--phone", "555 010 0188"])
    cli.ok("close", routed, "--reason", "routed", "--to", "billing", "--summary", "To billing")
    queries = ["5550140", "maria", "fernandez", "ofernandez", "zoe o'fernandez", "00123",
               three["other"], three["first"][-5:], "router", "nobody here",
               "555 010 0188"]  # fmt: skip
    cli.ok("find", "x")  # notes the policy's digest and every entry
    settle_index(store_dir)
    used: list[bool] = []
    real = quick.find_screen

    def watched(store: str | None, text: str) -> bool:
        used.append(real(store, text))
        return used[-1]

    for width in ("80", "140"):
        monkeypatch.setenv("COLUMNS", width)
        for q in queries:
            with monkeypatch.context() as m:
                m.setattr(quick, "find_screen", watched)
                fast = cli.ok("find", q).stdout
            with monkeypatch.context() as m:
                m.setattr(quick, "find_screen", lambda store, text: False)
                full = cli.ok("find", q).stdout
            assert used[-1], q
            assert fast == full, q
    assert f"dup of {three['second'][-5:]}" in cli.ok("find", "maria").stdout
    assert "routed billing" in cli.ok("find", "router").stdout
    assert zoe in cli.ok("find", "zoe").stdout
    # A record edited in place (same size and times) sends find down the full path.
    path = store_dir / "callbacks" / "open" / f"{zoe}.yaml"
    before = path.stat()
    path.write_text(path.read_text().replace("Zoë O'Fernández", "Zoë O'Fernándey"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with monkeypatch.context() as m:
        m.setattr(quick, "find_screen", watched)
        out = cli.ok("find", "fernandey").stdout
    assert not used[-1] and zoe in out
    # A closed record edited in place after its folder was found all fresh (the folder's
    # digest kept): the digest no longer matches, and the edit is found.
    settle_index(store_dir)
    assert routed in cli.ok("find", "router").stdout
    assert routed in cli.ok("find", "router").stdout  # (now from the kept digest)
    closed = next(store_dir.glob(f"callbacks/closed/*/{routed}.yaml"))
    with closed.open("r+") as fh:  # in place: same inode, folder untouched
        text = fh.read().replace("Ruth Router", "Ruth Rooter")
        fh.seek(0)
        fh.write(text)
    out = cli.ok("find", "rooter").stdout
    assert routed in out and "Rooter" in out
    assert routed not in cli.ok("find", "router").stdout


def test_find_never_cuts_the_name_or_the_phone_at_80_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff confirm who is calling by the name and the phone: at 80 columns they get a
    line each (the phone leads the second line, before the reason), the owner in words."""
    monkeypatch.setenv("COLUMNS", "80")
    name = "Alexandria Montgomery-Fakename"
    cli.ok("add", "--patient", name, "--phone", "+1 (555) 010-0131", "--category", "general",
           "--reason", "Asks about parking for the new building", "--detail", "topic=parking",
           "--symptoms", "no")  # fmt: skip
    out = cli.ok("find", "montgomery").stdout.splitlines()
    assert name in out[0] and out[0].endswith("| front desk")
    assert out[1].lstrip().startswith("+1 (555) 010-0131 · ")
    assert all(len(line) <= 80 for line in out)
