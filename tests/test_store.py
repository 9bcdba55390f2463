"""The store as a library: strict YAML round trips, atomic owner-only writes, the lock,
the journal, and a Hypothesis state machine of add/attempt/close/reopen sequences."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers_robust import commit_count, git_clean
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cbtrack import service
from cbtrack.errors import StoreError
from cbtrack.files import write_atomic
from cbtrack.model import AttemptMethod, AttemptResult, Callback, CloseReason
from cbtrack.store import Store
from cbtrack.yamlio import dump_record, dump_yaml, load_model, parse_yaml

NOW = datetime.fromisoformat("2026-11-27T10:00:00-05:00")

# Any text a person could type or paste: every code point but lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
NONBLANK = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: any(c.isalnum() for c in s)  # something left after any stripping
)
DATA = st.recursive(
    TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


# --- strict YAML ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(TEXT, DATA, max_size=6))
def test_dump_then_parse_gives_back_the_same_text(data: dict[str, Any]) -> None:
    assert parse_yaml(dump_yaml(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=5))
def test_scalars_never_change_type(values: list[str]) -> None:
    """Whatever the text (NO, 0123, 10:45, 2024-01-05, ...), it comes back as that text."""
    assert parse_yaml(dump_yaml({"v": values})) == {"v": values}


def a_record(name: str, reason: str, detail: str, note: str) -> Callback:
    return Callback.model_validate(
        {
            "id": "cb-20261127-k7m2q",
            "created_at": NOW,
            "created_by": "jlee",
            "patient": {"name": name, "phone": "+15550100123", "mrn": "0123"},
            "category": "general",
            "reason": reason,
            "details": {"topic": detail},
            "urgency": "routine",
            "owner": "front_desk",
            "due_at": NOW,
            "next_action": note,
            "events": [{"at": NOW, "by": "jlee", "type": "note", "note": note}],
        }
    )


@settings(max_examples=200, deadline=None)
@given(NONBLANK, NONBLANK, NONBLANK, NONBLANK)
def test_a_record_survives_dump_and_load(name: str, reason: str, detail: str, note: str) -> None:
    cb = a_record(name, reason, detail, note)
    again = Callback.model_validate(parse_yaml(dump_record(cb)))
    assert again == cb
    assert dump_record(again) == dump_record(cb)  # stable: a rewrite changes nothing


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(st.sampled_from("ZQXJVWKzqxjvwk"), min_size=8, max_size=12),
    st.sampled_from(
        [
            ("patient",),
            ("patient", "phone"),
            ("patient", "voicemail"),
            ("urgency",),
            ("created_at",),
            ("details",),
            ("attempts",),
            ("events", 0, "type"),
            ("events", 0),
        ]
    ),
    st.booleans(),
)
def test_errors_never_repeat_a_value_or_an_unknown_key(
    secret: str, where: tuple[Any, ...], as_key: bool
) -> None:
    data = a_record("Ada", "Question", "parking", "Call back soon").model_dump(mode="json")
    target: Any = data
    for part in where[:-1]:
        target = target[part]
    if as_key:
        node = target[where[-1]]
        if isinstance(node, dict):
            node[secret] = secret
        else:
            target[where[-1]] = {secret: secret}
    else:
        target[where[-1]] = secret
    path = Path(tempfile.mkdtemp()) / "cb-20261127-k7m2q.yaml"
    try:
        path.write_text(dump_yaml(data))
        with pytest.raises(StoreError) as info:
            load_model(Callback, path, "callbacks/open/cb-20261127-k7m2q.yaml", 100_000)
    finally:
        shutil.rmtree(path.parent)
    assert secret not in info.value.message
    assert info.value.message.startswith("callbacks/open/cb-20261127-k7m2q.yaml")


# --- atomic writes, the lock, the journal -----------------------------------------------


def test_write_atomic_makes_owner_only_files_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new" / "a.yaml", "a: b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "a.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["a.yaml"]


def test_the_lock_is_reentrant_in_one_store(store_dir: Path) -> None:
    store = Store(store_dir)
    with store.lock(), store.lock():
        assert store.locked
    assert not store.locked


def test_a_second_store_object_waits_and_times_out(store_dir: Path) -> None:
    from cbtrack.errors import LockTimeout

    told: list[str] = []
    with Store(store_dir).lock():
        other = Store(store_dir)
        with pytest.raises(LockTimeout), other.lock(timeout=0.1, on_wait=lambda: told.append("w")):
            pass
    assert told == ["w"]


def test_a_change_is_journalled_only_until_its_commit(store_dir: Path) -> None:
    store = Store(store_dir)
    seen: list[list[str] | None] = []
    real = service.gitlog.commit

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(store.journal_ids())
        real(*args, **kwargs)

    service.gitlog.commit = spy  # type: ignore[assignment]
    try:
        out = service.add(
            store, "jlee", NOW, patient="Ada", phone="+15550100123", category="general",
            reason="Question", details={"topic": "parking"},
        )  # fmt: skip
    finally:
        service.gitlog.commit = real  # type: ignore[assignment]
    assert seen == [[out.record.id]]
    assert store.journal_ids() is None
    assert git_clean(store_dir) == ""


# --- a state machine: any sequence of changes keeps the store's invariants ------------

NOTE = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


class StoreMachine(RuleBasedStateMachine):
    """Adds, attempts, closes and reopens through the library; after every step each
    record is in exactly one file, in the folder its status names, equal to what the
    library returned, and git holds one commit per change with nothing uncommitted."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.root = self.tmp / "store"
        service.init_store(self.root, "jlee", NOW)
        self.store = Store(self.root)
        self.records: dict[str, Callback] = {}
        self.changes = 0
        self.base = commit_count(self.root)

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _ids(self, is_open: bool) -> list[str]:
        return sorted(i for i, cb in self.records.items() if cb.is_open == is_open)

    def _keep(self, cb: Callback) -> None:
        self.records[cb.id] = cb.model_copy(deep=True)
        self.changes += 1

    @rule(name=NONBLANK, reason=NONBLANK, topic=NONBLANK)
    def add(self, name: str, reason: str, topic: str) -> None:
        out = service.add(
            self.store, "jlee", NOW, patient=name, phone="+15550100123",
            category="general", reason=reason, details={"topic": topic},
        )  # fmt: skip
        self._keep(out.record)

    @precondition(lambda self: bool(self._ids(True)))
    @rule(data=st.data(), note=NOTE, result=st.sampled_from(list(AttemptResult)))
    def attempt(self, data: st.DataObject, note: str, result: AttemptResult) -> None:
        cid = data.draw(st.sampled_from(self._ids(True)))
        method = AttemptMethod.text if result == AttemptResult.message_sent else AttemptMethod.phone
        out = service.attempt(
            self.store, "jlee", NOW, cid, method=method, result=result,
            note=f"Call outcome noted: {note}", force=True, why="state machine",
        )  # fmt: skip
        self._keep(out.record)

    @precondition(lambda self: bool(self._ids(True)))
    @rule(data=st.data(), summary=NONBLANK)
    def close(self, data: st.DataObject, summary: str) -> None:
        cid = data.draw(st.sampled_from(self._ids(True)))
        out = service.close(
            self.store, "jlee", NOW, cid, reason=CloseReason.resolved, summary=summary
        )
        self._keep(out.record)

    @precondition(lambda self: bool(self._ids(False)))
    @rule(data=st.data(), why=NONBLANK)
    def reopen(self, data: st.DataObject, why: str) -> None:
        cid = data.draw(st.sampled_from(self._ids(False)))
        self._keep(service.reopen(self.store, "jlee", NOW, cid, why=why).record)

    @invariant()
    def disk_and_git_agree_with_the_library(self) -> None:
        store = Store(self.root)
        opened = {p.stem: p for p in store.open_paths()}
        closed = {p.stem: p for p in store.closed_paths()}
        assert not set(opened) & set(closed)
        assert set(opened) | set(closed) == set(self.records)
        for cid, cb in self.records.items():
            path = opened.get(cid) or closed[cid]
            assert path == store.path_of(cb)
            assert store.load_path(path) == cb
            assert path.read_text() == dump_record(cb)
        assert commit_count(self.root) == self.base + self.changes
        assert git_clean(self.root) == ""


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(
    max_examples=6,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_git_is_available() -> None:
    assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0
