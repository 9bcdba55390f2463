"""The record merge: pure rules (cbtrack.merge) and the merge-driver command on files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from cbtrack.cli import app
from cbtrack.merge import MERGE_USER, merge_records
from cbtrack.model import (
    Attempt,
    AttemptMethod,
    AttemptResult,
    Callback,
    CloseReason,
    Closure,
    Dependency,
    DependencyKind,
    EventType,
    Patient,
    Status,
    Urgency,
)
from cbtrack.yamlio import dump_record

TZ = timezone(timedelta(hours=-5))
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def base_record() -> Callback:
    cb = Callback(
        id="cb-20261127-abcde",
        created_at=T0,
        created_by="jlee",
        patient=Patient(name="Ada Example", phone="+15550100123"),
        category="general",
        reason="Question about parking",
        details={"topic": "parking"},
        urgency=Urgency.routine,
        owner="front_desk",
        due_at=t(600),
        next_action="Answer the question",
    )
    cb.log(T0, "jlee", EventType.created)
    return cb


def copy(cb: Callback) -> Callback:
    return Callback.model_validate(cb.model_dump())


def attempt(cb: Callback, minutes: int, by: str, result: str = "no_answer") -> Attempt:
    a = Attempt(
        at=t(minutes),
        by=by,
        method=AttemptMethod.phone,
        result=AttemptResult(result),
        note="Tried the mobile number, will call again",
    )
    cb.add_attempt(a)
    return a


def close(cb: Callback, minutes: int, by: str) -> None:
    cb.closure = Closure(at=t(minutes), by=by, reason=CloseReason.resolved, summary="Answered")
    cb.status = Status.closed
    cb.log(t(minutes), by, EventType.closed, note="Answered")


def both_ways(base: Callback | None, ours: Callback, theirs: Callback) -> Callback:
    """Merge in both directions; the rules must give the same record either way."""
    one = merge_records(base, ours, theirs)
    two = merge_records(base, theirs, ours)
    assert not one.conflicts and not two.conflicts, one.conflicts + two.conflicts
    assert one.record is not None and two.record is not None
    assert dump_record(one.record) == dump_record(two.record)
    return one.record


def test_attempts_and_events_are_the_union_in_time_order() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    a1 = attempt(ours, 30, "jlee")
    a2 = attempt(theirs, 20, "kim", "left_voicemail")
    ours.log(t(31), "jlee", EventType.note, note="Spoke to reception")
    merged = both_ways(base, ours, theirs)
    assert [a.id for a in merged.attempts] == [a2.id, a1.id]
    assert [e.type for e in merged.events] == [EventType.created, EventType.note]
    assert merged.status == Status.in_progress  # the latest attempt was no_answer


def test_no_base_still_unions_everything() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    attempt(ours, 30, "jlee")
    attempt(theirs, 40, "kim")
    merged = both_ways(None, ours, theirs)
    assert len(merged.attempts) == 2


def test_a_field_changed_on_one_side_takes_that_side() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    ours.change(t(5), "jlee", EventType.assigned, None, owner="scheduling")
    attempt(theirs, 50, "kim")  # newer, but did not touch the owner
    merged = both_ways(base, ours, theirs)
    assert merged.owner == "scheduling"
    assert len(merged.attempts) == 1


def test_a_field_changed_on_both_sides_takes_the_newer_side() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    ours.change(t(5), "jlee", EventType.assigned, None, owner="scheduling")
    theirs.change(t(9), "kim", EventType.assigned, None, owner="billing")
    assert both_ways(base, ours, theirs).owner == "billing"


def test_equal_times_break_ties_the_same_way_on_both_desks() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    ours.change(t(5), "jlee", EventType.assigned, None, owner="scheduling")
    theirs.change(t(5), "kim", EventType.assigned, None, owner="billing")
    assert both_ways(base, ours, theirs).owner in ("scheduling", "billing")


def test_patient_and_details_merge_key_by_key() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    ours.patient.language = "Spanish"
    ours.log(t(1), "jlee", EventType.note, note="language")
    theirs.details = {**theirs.details, "follow_up": "yes"}
    theirs.log(t(2), "kim", EventType.note, note="details")
    merged = both_ways(base, ours, theirs)
    assert merged.patient.language == "Spanish"
    assert merged.details == {"topic": "parking", "follow_up": "yes"}


def test_dependencies_union_and_earliest_resolution() -> None:
    base = base_record()
    dep = Dependency(kind=DependencyKind.provider_review, note="Needs provider", since=t(1))
    base.depends_on = [dep]
    base.status = Status.waiting_internal
    ours, theirs = copy(base), copy(base)
    ours.depends_on = [ours.depends_on[0].model_copy(update={"resolved_at": t(40)})]
    ours.log(t(40), "jlee", EventType.unblocked)
    theirs.depends_on = [theirs.depends_on[0].model_copy(update={"resolved_at": t(30)})]
    extra = Dependency(kind=DependencyKind.patient_form, note="Form missing", since=t(35))
    theirs.depends_on = [*theirs.depends_on, extra]
    theirs.log(t(35), "kim", EventType.blocked)
    merged = both_ways(base, ours, theirs)
    assert [d.id for d in merged.depends_on] == [dep.id, extra.id]
    assert merged.depends_on[0].resolved_at == t(30)
    assert merged.status == Status.waiting_internal  # the form is still missing


def test_close_with_earlier_attempts_elsewhere_stays_closed_and_keeps_them() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    attempt(ours, 10, "jlee", "reached")
    close(ours, 20, "jlee")
    attempt(theirs, 15, "kim")
    merged = both_ways(base, ours, theirs)
    assert merged.status == Status.closed and merged.closure is not None
    assert merged.closure.by == "jlee" and merged.next_attempt_at is None
    assert len(merged.attempts) == 2


def test_attempt_after_the_close_reopens_with_a_deterministic_event() -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    close(ours, 20, "jlee")
    attempt(theirs, 45, "kim", "left_voicemail")
    result = merge_records(base, ours, theirs)
    merged = result.record
    assert merged is not None and merged.closure is None
    assert merged.status == Status.waiting_patient
    last = merged.events[-1]
    assert last.type == EventType.reopened and last.by == MERGE_USER and last.at == t(45)
    assert "open again" in result.notes[0]
    again = both_ways(base, ours, theirs)
    assert again.events[-1].id == last.id
    # merging the merge with either side again changes nothing
    assert both_ways(ours, merged, ours) == merged
    assert both_ways(theirs, merged, theirs) == merged


def test_reopen_then_close_again_on_one_side() -> None:
    base = base_record()
    close(base, 10, "jlee")
    ours, theirs = copy(base), copy(base)
    ours.closure = None
    ours.status = Status.new
    ours.log(t(20), "jlee", EventType.reopened)
    merged = both_ways(base, ours, theirs)
    assert merged.status == Status.new and merged.closure is None


def test_a_rewritten_attempt_goes_back_to_the_original() -> None:
    base = base_record()
    original = attempt(base, 10, "jlee")
    ours, theirs = copy(base), copy(base)
    theirs.attempts[0].note = "Reached the patient, all sorted out"
    merged = merge_records(base, ours, theirs)
    assert merged.record is not None and not merged.conflicts
    assert merged.record.attempts[0].note == original.note
    assert "rewritten" in merged.notes[0]


def test_an_attempt_rewritten_on_both_sides_is_a_conflict_with_everything_kept() -> None:
    base = base_record()
    attempt(base, 10, "jlee")
    ours, theirs = copy(base), copy(base)
    ours.attempts[0].note = "One version of what happened on the call"
    theirs.attempts[0].note = "Another version of what happened on the call"
    attempt(theirs, 30, "kim")
    merged = merge_records(base, ours, theirs)
    assert merged.conflicts and "decide which version is right" in merged.conflicts[0]
    assert merged.record is not None and len(merged.record.attempts) == 2


def test_different_callbacks_are_a_conflict() -> None:
    ours = base_record()
    theirs = copy(ours)
    theirs.id = "cb-20261127-zzzzz"
    assert merge_records(None, ours, theirs).record is None


items = st.lists(st.tuples(st.integers(0, 600), st.sampled_from(["jlee", "kim"])), max_size=6)


@settings(max_examples=100, deadline=None)
@given(
    common=items, mine=items, theirs_new=items, close_at=st.one_of(st.none(), st.integers(0, 600))
)
def test_union_is_complete_and_symmetric(
    common: list[tuple[int, str]],
    mine: list[tuple[int, str]],
    theirs_new: list[tuple[int, str]],
    close_at: int | None,
) -> None:
    base = base_record()
    for minutes, by in common:
        attempt(base, minutes, by)
    ours, theirs = copy(base), copy(base)
    for minutes, by in mine:
        attempt(ours, minutes, by)
    for minutes, by in theirs_new:
        attempt(theirs, minutes, by)
    if close_at is not None:
        close(ours, close_at, "jlee")
    merged = both_ways(base, ours, theirs)
    want = {a.id for a in ours.attempts} | {a.id for a in theirs.attempts}
    assert {a.id for a in merged.attempts} == want
    assert merged.attempts == sorted(merged.attempts, key=lambda a: (a.at, a.id))
    late = close_at is not None and any(a.at > t(close_at) for a in merged.attempts)
    assert (merged.status == Status.closed) == (close_at is not None and not late)


# --- the merge-driver command -------------------------------------------------------


def write(path: Path, cb: Callback | None) -> Path:
    path.write_text(dump_record(cb) if cb else "")
    return path


def test_merge_driver_writes_the_merge_to_ours(tmp_path: Path) -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    attempt(ours, 10, "jlee")
    attempt(theirs, 20, "kim")
    o, a, b = (write(tmp_path / n, cb) for n, cb in (("O", base), ("A", ours), ("B", theirs)))
    result = CliRunner().invoke(
        app, ["merge-driver", str(o), str(a), str(b), "callbacks/open/cb-20261127-abcde.yaml"]
    )
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(a.read_text())
    assert [x["by"] for x in data["attempts"]] == ["jlee", "kim"]


def test_merge_driver_with_an_empty_base(tmp_path: Path) -> None:
    ours = base_record()
    theirs = copy(ours)
    attempt(theirs, 20, "kim")
    o, a, b = (
        write(tmp_path / "O", None),
        write(tmp_path / "A", ours),
        write(tmp_path / "B", theirs),
    )
    result = CliRunner().invoke(app, ["merge-driver", str(o), str(a), str(b)])
    assert result.exit_code == 0, result.stderr
    assert len(yaml.safe_load(a.read_text())["attempts"]) == 1


def test_merge_driver_conflict_says_what_to_decide(tmp_path: Path) -> None:
    base = base_record()
    attempt(base, 10, "jlee")
    ours, theirs = copy(base), copy(base)
    ours.attempts[0].note = "One version of what happened on the call"
    theirs.attempts[0].note = "Another version of what happened on the call"
    o, a, b = (write(tmp_path / n, cb) for n, cb in (("O", base), ("A", ours), ("B", theirs)))
    result = CliRunner().invoke(app, ["merge-driver", str(o), str(a), str(b), "rec.yaml"])
    assert result.exit_code == 1
    assert "rec.yaml: attempt" in result.stderr and "decide" in result.stderr
    assert "version of what happened" not in result.stderr  # no record contents


@pytest.mark.parametrize("broken", ["id: [unclosed", "id: cb-20261127-abcde\n"])
def test_merge_driver_refuses_a_side_that_does_not_validate(tmp_path: Path, broken: str) -> None:
    base = base_record()
    o, a = write(tmp_path / "O", base), write(tmp_path / "A", base)
    b = tmp_path / "B"
    b.write_text(broken)
    before = a.read_text()
    result = CliRunner().invoke(app, ["merge-driver", str(o), str(a), str(b), "rec.yaml"])
    assert result.exit_code == 1
    assert "does not validate" in result.stderr and "Traceback" not in result.stderr
    assert a.read_text() == before


def test_merge_driver_flags_a_record_in_the_wrong_folder(tmp_path: Path) -> None:
    base = base_record()
    ours, theirs = copy(base), copy(base)
    close(ours, 20, "jlee")
    attempt(theirs, 45, "kim")
    o, a, b = (write(tmp_path / n, cb) for n, cb in (("O", base), ("A", ours), ("B", theirs)))
    rel = "callbacks/closed/2026-11/cb-20261127-abcde.yaml"
    result = CliRunner().invoke(app, ["merge-driver", str(o), str(a), str(b), rel])
    assert result.exit_code == 1
    assert "belongs in callbacks/open/" in result.stderr
    assert len(yaml.safe_load(a.read_text())["attempts"]) == 1  # the merge is kept
