"""Makes cbtrack/data/near_words.txt: the English words that a prefix of the built-in
triage rules stands for (`+numbness` for `numb*`: slips of them are read too), then the
English words one slip away from any word of the rules or of those, which `cbtrack.typos`
must never read as a slip ("cooking" is not "choking"). The English words come from
pyspellchecker's word list (a test dependency); cbtrack itself ships only this file.

    python tests/triage/near_words.py      # after changing cbtrack/data/triage.yaml
"""

from __future__ import annotations

from pathlib import Path

from cbtrack import typos

OUT = Path(__file__).resolve().parents[2] / "cbtrack" / "data" / "near_words.txt"
HEADER = "# English words one slip from a built-in triage word (tests/triage/near_words.py)\n"


def near_words() -> str:
    from spellchecker import SpellChecker

    english = SpellChecker().word_frequency.dictionary
    words, prefixes = typos.builtin_vocabulary()
    by_start = tuple(sorted(prefixes))
    extra = {
        w for w in english if len(w) >= typos.MIN_LENGTH and w.isalpha() and w.startswith(by_start)
    } - words
    targets = words | extra
    near = {
        e
        for word in targets
        for e in typos.edits1(word)
        if len(e) >= typos.MIN_LENGTH and e in english and e not in targets
    }
    return (
        HEADER + "".join(f"+{w}\n" for w in sorted(extra)) + "".join(f"{w}\n" for w in sorted(near))
    )


if __name__ == "__main__":
    OUT.write_text(near_words(), encoding="utf-8")
    print(f"wrote {OUT}")
