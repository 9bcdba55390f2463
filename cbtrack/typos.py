"""A word typed one slip away from a triage word is read as that word: a letter dropped,
doubled, swapped with the next or mistyped ("brething", "sezure", "bleeeding"), unless what
was typed is itself an English word ("cooking" is not "choking", "breeding" is not
"bleeding").

The targets are the words of the built-in rules (cbtrack/data/triage.yaml) and the English
words their prefixes stand for ("numbness" for `numb*`). Those, and the English words one
slip away from any target, ship in cbtrack/data/near_words.txt, made from a general English
word list by tests/triage/near_words.py (a test checks that the file matches the rules).
A practice's own words are matched as typed: no list says which words near them are English.

Pure: the matcher (`cbtrack.matcher`) asks `meant` for each word it does not know.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cbtrack.words import normalise, stem

MIN_LENGTH = 5  # shorter words are too close to too many others
TARGET_LENGTH = 4  # triage words shorter than this are never a target
LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[a-z]+\*?")


def edits1(word: str) -> set[str]:
    """Every word one slip away: a letter dropped, swapped with the next, changed or added."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    out |= {a + c + b for a, b in splits for c in LETTERS}
    out.discard(word)
    return out


def vocabulary(
    concepts: Mapping[str, Iterable[str]], patterns: Iterable[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """The words a set of rules is written in, as typed in them, of at least
    `TARGET_LENGTH` letters; and the prefixes it names (`suicid*`, `numb*`)."""
    words: set[str] = set()
    prefixes: set[str] = set()
    for text in [*(t for terms in concepts.values() for t in terms), *patterns]:
        for w in _WORD.findall(normalise(str(text))):
            if w.endswith("*"):
                if len(w) > TARGET_LENGTH:
                    prefixes.add(w[:-1])
            elif len(w) >= TARGET_LENGTH:
                words.add(w)
    return frozenset(words), frozenset(prefixes)


class Typos:
    """The triage words to read slips as, and the English words never to read as slips.
    Kept with the matcher (`rulecache`) packed by `marshal`, unpacked on first use."""

    def __init__(
        self, words: frozenset[str], english: frozenset[str], extra: frozenset[str] = frozenset()
    ) -> None:
        self.words = words  # written in the rules
        self.targets = words | extra  # and those their prefixes stand for
        self.english = english
        self.stems = frozenset(stem(w) for w in self.targets)

    def __getstate__(self) -> dict[str, Any]:
        packed = (self.words, self.targets, self.english, self.stems)
        return {"packed": marshal.dumps(packed)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        """The word sets of a kept one, unpacked when first asked for."""
        packed = self.__dict__.get("packed")
        if packed is None or name not in ("words", "targets", "english", "stems"):
            raise AttributeError(name)
        self.words, self.targets, self.english, self.stems = marshal.loads(packed)
        del self.__dict__["packed"]
        return getattr(self, name)

    def meant(self, word: str) -> str | None:
        """The triage word `word` is a slip for, or None: it is short, known, English or
        one slip from no triage word. Of two or more: a word of the rules before one a
        prefix stands for, then the one that starts most like it ("numbnes": "numbness",
        not "numbles"), then the first in alphabetical order."""
        if len(word) < MIN_LENGTH or not word.isalpha():
            return None
        if word in self.targets or word in self.english or stem(word) in self.stems:
            return None
        found = edits1(word) & self.targets
        if not found:
            return None

        def likeness(target: str) -> tuple[bool, int, str]:
            pairs = zip(word, target, strict=False)  # (of different lengths)
            same = next((i for i, (a, b) in enumerate(pairs) if a != b), len(word))
            return (target not in self.words, -same, target)

        return min(found, key=likeness)


def builtin_vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """The words and prefixes of the built-in rules (cbtrack/data/triage.yaml): its
    concepts, patterns and requirements."""
    from cbtrack import packaged

    data = packaged.load("triage.yaml")
    rules = data["rules"]
    patterns = [p for r in rules for p in [*r.get("patterns", []), *r.get("requires", [])]]
    return vocabulary(data["concepts"], patterns)


def builtin() -> Typos:
    """The built-in rules' words, the English words their prefixes stand for (`+numbness`
    for `numb*`) and the English words near them all, as cbtrack/data/near_words.txt
    ships them."""
    from cbtrack import packaged

    words, _ = builtin_vocabulary()
    lines = [x.strip() for x in packaged.text("near_words.txt").splitlines()]
    english = frozenset(x for x in lines if x and x[0] not in "#+")
    return Typos(words, english, frozenset(x[1:] for x in lines if x.startswith("+")))
