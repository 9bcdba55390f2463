"""The words of a callback reason as the triage matcher reads them: normalised, stemmed,
respelled (the practice's spellings), numbers said in words turned into digits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

# --- words ----------------------------------------------------------------------------

_IRREGULAR = {
    "dying": "die",
    "died": "die",
    "dies": "die",
    "bled": "bleed",
    "swollen": "swell",
    "took": "take",
    "taken": "take",
    "taking": "take",
    "threw": "throw",
    "thrown": "throw",
    "felt": "feel",
    "worst": "worse",
    "tighter": "tight",
    "heavier": "heavy",
    "heavily": "heavy",
    "lying": "lie",
    "ate": "eat",
    "eaten": "eat",
    "drank": "drink",
    "drunk": "drink",
    "gave": "give",
    "given": "give",
    "thoughts": "thought",
    "children": "child",
    "wasnt": "was",
    "said": "say",
    "told": "tell",
    "wrote": "write",
    "written": "write",
    "bought": "buy",
    "sold": "sell",
    "hid": "hide",
    "hidden": "hide",
    "began": "begin",
    "begun": "begin",
    "spoke": "speak",
    "spoken": "speak",
}

_SUFFIXES = (
    ("iness", "y"),
    ("ness", ""),
    ("fully", ""),
    ("ful", ""),
    ("ingly", ""),
    ("ing", ""),
    ("edly", ""),
    ("ied", "y"),
    ("ies", "y"),
    ("ed", ""),
    ("es", ""),
    ("ish", ""),
    ("ly", ""),
    ("s", ""),
)


#: Words whose stem would be a negation or a word that ends one ("noted" would read as
#: "not", "freely" as "free"): "nurse noted chest pain" and "bleeding freely" are findings.
_OWN_STEM = {
    "note": "note",
    "notes": "note",
    "noted": "note",
    "noting": "note",
    "freely": "freely",
    "stilled": "stilled",
    "stillness": "stilled",
    # -ly words whose base is another word: "early" is not the ear, "carefully" not a car
    "early": "early",
    "carefully": "careful",
    "hopefully": "hopeful",
    "closely": "closely",
}


@cache
def stem(word: str) -> str:
    """A light stemmer: the same stem for the usual forms of a word (not a dictionary)."""
    if word in _OWN_STEM:
        return _OWN_STEM[word]
    word = _IRREGULAR.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in _SUFFIXES:
        if not word.endswith(suffix) or len(word) - len(suffix) < 3:
            continue
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            break
        if suffix == "ed" and word.endswith("eed"):
            break  # bleed, need, feed: not past tenses
        word = word[: len(word) - len(suffix)] + replacement
        if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]  # stopped -> stop, slurred -> slur
        break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # breathe -> breath, pressure -> pressur
    return word


#: Words between a match and a past time that make it a problem still going on ("pain since
#: last month", "cough that started last year"), not a past event.
_ONGOING = {
    stem(w)
    for w in ("since", "for", "start", "started", "began", "begun", "until", "till", "through",
              "still", "again", "ever", "every", "worse", "getting", "on", "off")
}  # fmt: skip

#: Words inside a match that make it a problem now, whatever names it as a document or a
#: service ("the referral for his chest pain, and now it is crushing").
_CURRENT = {stem(w) for w in ("now", "currently", "tonight", "worse", "worsening")}

#: Words that may stand between a context phrase and the match it names.
_DETERMINERS = {"the", "a", "an", "his", "her", "their", "my", "your", "our", "its", "this", "that"}

#: A word right after one of these is a name, never a sign ("Dr Gray", "Mrs Ashen"),
#: unless it is a word no surname is: what a doctor did or said ("dr ordered 2.5").
_TITLES = {"mr", "mrs", "ms", "mx", "dr"}
_NOT_SURNAMES = {
    stem(w)
    for w in ("ordered", "prescribed", "said", "says", "told", "wants", "wanted", "wrote",
              "called", "sent", "changed", "increased", "decreased", "lowered", "raised",
              "stopped", "started", "recommended", "advised", "thinks", "thought", "is", "was",
              "has", "had", "and", "or", "to", "at", "office", "visit", "appointment", "appt")
}  # fmt: skip

_PUNCT = set(".,;:!?()[]")
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|[.,;:!?()\[\]]")
_SHORT_FORMS = (
    (re.compile(r"\bw/o\b"), " without "),
    (re.compile(r"\bc/o\b"), " complains of "),
    (re.compile(r"\bn/v\b"), " nausea vomiting "),
    (re.compile(r"\bh/a\b"), " headache "),
    (re.compile(r"\bs/p\b"), " after "),
    (re.compile(r"\bw/"), " with "),
)


# a dose or an age glued to its number: "10mg", "2mo", "34wk"
_UNIT_RE = re.compile(r"\b(\d+(?:\.\d+)?)(mg|mcg|ml|mls|cc|iu|units?|mos?|mths?|wks?)\b")
_INNER_APOSTROPHE = re.compile(r"(?<=[a-z])'(?=[a-z])")
# "I'll", "she'll": the will, before the apostrophe goes ("ill", "shell" are other words)
_WILL = re.compile(r"(?<=[a-z])'ll\b")


def normalise(text: str) -> str:
    """Lower case, compatibility forms folded, apostrophes inside words dropped, numbers
    said in words written as numbers ("a hundred and two" -> "102")."""
    out = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()
    if "'" in out or "`" in out or not out.isascii():
        out = out.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        out = _INNER_APOSTROPHE.sub("", _WILL.sub(" will", out))
    if "/" in out:
        for pattern, replacement in _SHORT_FORMS:
            out = pattern.sub(replacement, out)
    if _UNIT_RE.search(out):
        out = _UNIT_RE.sub(r"\1 \2", out)  # "10mg" -> "10 mg": its unit a word
    if _NUMBER_WORD.search(out):
        out = _NUMBER_RUN.sub(_spoken_number, out)
    return out


# --- numbers said in words: readings quoted the way people say them -------------------

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_VALUE = {
    **{w: i for i, w in enumerate(_UNITS)},
    **{w: 10 + i for i, w in enumerate(_TEENS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    **{w[:-1] + "ies": 20 + 10 * i for i, w in enumerate(_TENS)},  # "the eighties"
    "a": 1,
    "oh": 0,
    "hundred": 100,
}
_NUMBER_WORD = re.compile(r"\b(?:hundred|twent|thirt|fort|fift|sixt|sevent|eight|ninet)")
_W = r"(?:" + "|".join(sorted(_VALUE, key=len, reverse=True)) + r")"
_NUMBER_RUN = re.compile(rf"\b{_W}(?:[\s-]+(?:and[\s-]+)?{_W})*(?:\s+point\s+{_W}(?:\s+{_W})*)?\b")


def _spoken_number(m: re.Match[str]) -> str:
    """One run of number words as digits, when it is a reading-sized number ("three
    hundred", "one sixty", "ninety two", "a hundred and two point five", "the high
    eighties" -> "80s"); any other run (one, a, two) is left as it was."""
    words, _, decimals = m.group(0).partition(" point ")
    parts = [w for w in re.split(r"[\s-]+", words) if w != "and"]
    if not any(p == "hundred" or p in _TENS or p.endswith("ies") for p in parts):
        return m.group(0)
    lead = ""
    while parts and parts[0] == "a" and len(parts) > 1 and parts[1] != "hundred":
        lead += "a "  # "a fever of ..." keeps its article
        parts = parts[1:]
    numbers: list[int] = []
    current, decade = 0, False
    for i, part in enumerate(parts):
        value = _VALUE[part]
        if part == "hundred":
            current = max(current, 1) * 100
        elif part.endswith("ies"):
            current += value
            decade = True
        elif i and value >= 20 and 0 < current < 10:
            current = current * 100 + value  # "one sixty" -> 160
        elif i and value < 10 and current >= 20 and current % 10 == 0:
            current += value  # "ninety two"
        elif i and value < 20 and current >= 100 and current % 100 == 0:
            current += value  # "a hundred and two"
        elif i:
            numbers.append(current)  # a second number
            current = value
        else:
            current = value
    number = " ".join(str(n) for n in [*numbers, current])
    if decimals:
        number += "." + "".join(str(_VALUE[w] % 10) for w in decimals.split())
    return lead + number + ("s" if decade else "")


@dataclass(frozen=True)
class Token:
    raw: str  # the word as typed (normalised, spelling fixed)
    stem: str  # "" for punctuation and for words masked as neutral
    punct: bool = False


class Spelling(dict[tuple[str, ...], tuple[str, ...]]):
    """Typed forms (one or more words) -> what was meant; `longest`: the most words of
    a typed form, worked out once rather than for every text and pattern."""

    def __init__(self, forms: Mapping[tuple[str, ...], tuple[str, ...]]) -> None:
        super().__init__(forms)
        self.longest = max((len(k) for k in self), default=1)
        # a word that no typed form starts with is kept as it is, without trying each length
        self.starts = frozenset(k[0] for k in self)


def _respell(raw: list[str], spelling: Spelling) -> list[str]:
    """Replace typed forms (one or more words) by what was meant, longest first."""
    words: list[str] = []
    i = 0
    longest = spelling.longest
    starts = spelling.starts
    while i < len(raw):
        if raw[i] not in starts:
            words.append(raw[i])
            i += 1
            continue
        for size in range(min(longest, len(raw) - i), 0, -1):
            key = tuple(raw[i : i + size])
            if key in spelling:
                words.extend(spelling[key])
                i += size
                break
        else:
            words.append(raw[i])
            i += 1
    return words


def tokenize(text: str, spelling: Spelling) -> list[Token]:
    words = _respell(_TOKEN_RE.findall(normalise(text).replace("-", " ")), spelling)
    return [
        Token(w, "", True) if w in _PUNCT else Token(w, stem(w) if w.isalpha() else w)
        for w in words
    ]


class PatternError(ValueError):
    """A pattern or concept the matcher cannot read; the message says which and why."""
