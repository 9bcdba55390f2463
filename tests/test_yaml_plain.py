"""The quick reader of the plain block YAML cbtrack writes (`yamlio._plain_block`) gives
exactly what libyaml's events give, or nothing (then libyaml reads the text, and refuses it
with the same problem): over records as `dump_yaml` writes them, tricky text, and many
small damages to them."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from cbtrack import yamlio
from cbtrack.yamlio import dump_yaml, parse_yaml

TEXTS = [
    "Avery Sample", "O'Leary", "De La Cruz", "13:00-17:00", "0123456789", "1e5", "yes", "no",
    "null", "~", "-", "- a", "a: b", "a #b", "#a", "@a", "`a", "&a", "*a", "!a", "%a", "?",
    "[a]", "{a}", "a, b", "'q'", '"q"', "", " lead", "trail ", "two  spaces", "Zoë", "日本",
    "tab\there", "line\nbreak", "x\x85y", "x\u2028y", "2026-11-27T10:00:00-05:00", "true",
    "1.5", ".inf", "0x1f", "+1 555 010 0123", "(555) 010-0123", "a:b", "a:", "a: ", "é:é",
    "=", "<<", "...", "---", "a'b'c", "''", "\ufeffbom", "ctl\x01",
]  # fmt: skip


def _libyaml(text: str) -> Any:
    loader = yaml.CBaseLoader(text)
    try:
        return yamlio._build(loader.get_event)
    finally:
        loader.dispose()


def _outcome(read: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("ok", read(text))
    except yamlio._YamlProblem as exc:
        return ("problem", exc.what, exc.line)
    except yaml.YAMLError as exc:
        return ("error", str(exc))


def _record(rng: random.Random) -> dict[str, Any]:
    def text() -> str:
        return rng.choice(TEXTS) if rng.random() < 0.5 else f"Plain words {rng.randrange(99)}"

    return {
        "id": "cb-20261127-k7m2q",
        "created_at": "2026-11-27T10:00:00-05:00",
        "patient": {"name": text(), "phone": "+15550100123", "contact_window": text()},
        "details": {text(): text() for _ in range(rng.randrange(3))},
        "reason": text(),
        "message_left": rng.choice([True, False]),
        "depends_on": [],
        "meta": {},
        "attempts": [
            {"id": "8pe723", "at": "2026-11-06T14:13:48-05:00", "note": text()}
            for _ in range(rng.randrange(3))
        ],
        "events": [
            {"id": "9ks4yz", "type": "routed", "set": {"owner": text()}, "tags": [text(), []]}
            for _ in range(rng.randrange(2))
        ],
    }


def _damaged(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    choice = rng.randrange(5)
    if choice == 0:
        lines[i] = " " + lines[i]
    elif choice == 1:
        lines[i] = lines[i][1:]
    elif choice == 2:
        lines.insert(i, lines[j])
    elif choice == 3:
        del lines[i]
    else:
        at = rng.randrange(len(text) + 1)
        bits = "".join(rng.choice(":- '\"#[]{}&*!?\t\n\x85é0a") for _ in range(rng.randrange(1, 4)))
        return text[:at] + bits + text[at + rng.randrange(3) :]
    return "\n".join(lines)


def test_the_quick_reader_agrees_with_libyaml() -> None:
    rng = random.Random(7)
    quick = 0
    for _ in range(400):
        text = dump_yaml(_record(rng))
        for case in [text, *(_damaged(rng, text) for _ in range(10))]:
            assert _outcome(parse_yaml, case) == _outcome(_libyaml, case), repr(case)
            quick += yamlio._plain_block(case) is not None
    assert quick > 200  # (what has no tricky text takes the quick way)


@pytest.mark.parametrize(
    "text",
    [
        "a: b\n",
        "a:\n- b\n- c: d\n  e:\n  - f\n  g:\n    h: i\n",
        "a: []\nb: {}\nc: ''\nd: 'it''s'\n",
        "a: b\n c\n",  # a plain scalar over two lines
        "a:\n  b: c\n d: e\n",
        "a: 1\na: 2\n",
        "a: b #note\n",
        "a: b\n---\nc: d\n",
        "a: &x b\nc: *x\n",
        "a: !t b\n",
        "a:\n\n  b: c\n",
        "a: 'x\x85y'\n",
        "".join("  " * d + "k:\n" for d in range(33)) + "  " * 33 + "z: 1\n",
    ],
)
def test_shapes_beside_libyaml(text: str) -> None:
    assert _outcome(parse_yaml, text) == _outcome(_libyaml, text)
