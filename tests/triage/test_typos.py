"""Slips of the keyboard: a built-in triage word typed one letter off is read as meant,
an English word one letter off is not, and the shipped list of those English words matches
the rules (regenerate it with `python tests/triage/near_words.py`)."""

from __future__ import annotations

import pytest

from cbtrack import typos
from cbtrack.matcher import Matcher, RuleSpec
from cbtrack.policy import Policy
from tests.triage.near_words import OUT, near_words

MATCHER = Policy.default().matcher


def rules(text: str) -> list[str]:
    return [m.rule for m in MATCHER.match([text]) if not m.negated]


def test_the_shipped_english_words_match_the_rules() -> None:
    pytest.importorskip("spellchecker")
    assert OUT.read_text(encoding="utf-8") == near_words(), (
        "cbtrack/data/near_words.txt is out of date: run python tests/triage/near_words.py"
    )


def test_one_slip_is_every_kind_of_slip() -> None:
    near = typos.edits1("seizure")
    assert {"sezure", "siezure", "seizzure", "seizuer", "seixure"} <= near
    assert "seizure" not in near and "sizur" not in near


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("husband says she is brething really fast and lips look blue", "breathing"),
        ("had a sezure in the kitchen, still confused", "collapse"),
        ("cut his hand, the bleeeding will not stop", "severe_bleeding"),
        ("says he feels sucidal tonight", "self_harm"),
        ("her face is droopng on one side", "stroke"),
        # a word a prefix of the rules stands for (numb*), typed one slip off
        ("sudden numbnes on the left side of her face", "stroke"),
    ],
)
def test_a_triage_word_typed_one_letter_off_is_read_as_meant(text: str, rule: str) -> None:
    assert rule in rules(text)


@pytest.mark.parametrize(
    "text",
    [
        "wants the dog breeding form signed for the clinic cat",  # breeding, not bleeding
        "signed up for the cooking class handout",  # cooking, not choking
        "her daughter Stroker called about the bill",  # a name, not a stroke
        "pt wheeling her mother in for the visit",
    ],
)
def test_english_words_and_names_are_never_read_as_slips(text: str) -> None:
    assert rules(text) == []


def test_a_practices_own_words_are_matched_as_typed() -> None:
    own = Matcher({}, [RuleSpec("own", patterns=("frostbite",))], None, MATCHER.typos)
    assert [m.rule for m in own.match(["frostbite on two toes"])] == ["own"]
    assert own.match(["frostbyte on two toes"]) == []


def test_the_corpora_with_a_slip_in_every_phrasing_hold_their_floors() -> None:
    """Each tuned phrasing of both corpora with one slip (a letter dropped, swapped or
    doubled) in one of its words of six letters or more, chosen by a fixed seed: measured
    at 279/340, 226/251 and 3 false alarms in 241 without the slip reading, 321, 245 and
    1 with it (README, Triage)."""
    import random
    import re

    from tests.triage.test_corpus import load, outcome

    policy = Policy.default()
    rng = random.Random(1)

    def slip(text: str) -> str:
        words = re.findall(r"[A-Za-z]{6,}", text)
        if not words:
            return text
        w = rng.choice(words)
        i = rng.randrange(1, len(w) - 1)
        kind = rng.choice(["drop", "swap", "double"])
        typed = {
            "drop": w[:i] + w[i + 1 :],
            "swap": w[:i] + w[i + 1] + w[i] + w[i + 2 :],
            "double": w[:i] + w[i] + w[i:],
        }[kind]
        return text.replace(w, typed, 1)

    got = {"emergency": 0, "clinical": 0, "admin": 0}
    cases = [c for n in ("corpus.yaml", "corpus2.yaml") for c in load(n) if not c["holdout"]]
    for case in cases:
        level = outcome(policy, dict(case, text=slip(str(case["text"]))))
        want = str(case["expect"])
        got[want] += (
            level == "emergency"
            if want == "emergency"
            else level != "admin"
            if want == "clinical"
            else level == "admin"
        )
    assert got["emergency"] >= 321 and got["clinical"] >= 245 and got["admin"] >= 240, got
