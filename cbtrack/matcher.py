"""Reads free text the way front-desk staff write it and finds triage rules that apply.

Pure and self-contained: text in, matches out. The rules and word groups (concepts) come
from the policy (cbtrack/data/triage.yaml plus the practice's own); this module only knows
how to read them:

- normalisation: case, apostrophes optional ("cant" = "can't"), punctuation, typed
  misspellings and short forms from the policy's `spelling` map ("sob", "cp", "bs");
- word forms: a light stemmer, so "breathing", "breathed" and "breathe" compare equal;
- patterns: words, `prefix*`, `*ending` (a class of names: `*olol`, `*sartan`), `(a|b)`,
  `{concept}`, joined in order with a small gap (`a b`, `a ..N b`) or near each other in
  either order (`a ~N b`);
- readings: temperature, sugar, blood pressure, oxygen, heart-rate and breathing-rate numbers
  (also said in words: "a hundred and two", "one sixty over one hundred") compared with
  a rule's thresholds ("temp 103.5", "39.6C", "sugar over 400", "190/110", "o2 sat 88",
  "pulse 150");
- negation: "no", "denies", "without" govern the next few words up to a comma or "but";
  a negated match counts only as a negated match, which the caller sets aside when
  something else matches (and may ignore entirely);
- context: a match that names a document, a service, a lesson or a past time rather than a
  current problem ("records of his stroke", "seizure meds", "heart attack last year") is
  set aside the same way, for every rule: the words of the `context_before` and
  `context_after` concepts, right before or after it in the same clause.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

DEFAULT_GAP = 1
NEGATION_REACH = 5
CONTEXT_REACH = 2
MATERIAL_REACH = 6
PAST_REACH = 3
MAX_NEAR = 12

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


@cache
def stem(word: str) -> str:
    """A light stemmer: the same stem for the usual forms of a word (not a dictionary)."""
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

#: Words that may stand between a context phrase and the match it names.
_DETERMINERS = {"the", "a", "an", "his", "her", "their", "my", "your", "our", "its", "this", "that"}

#: A word right after one of these is a name, never a sign ("Dr Gray", "Mrs Ashen").
_TITLES = {"mr", "mrs", "ms", "mx", "dr"}

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


_INNER_APOSTROPHE = re.compile(r"(?<=[a-z])'(?=[a-z])")


def normalise(text: str) -> str:
    """Lower case, compatibility forms folded, apostrophes inside words dropped, numbers
    said in words written as numbers ("a hundred and two" -> "102")."""
    out = unicodedata.normalize("NFKC", text).lower()
    out = out.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    out = _INNER_APOSTROPHE.sub("", out)
    if "/" in out:
        for pattern, replacement in _SHORT_FORMS:
            out = pattern.sub(replacement, out)
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


def _respell(raw: list[str], spelling: Spelling) -> list[str]:
    """Replace typed forms (one or more words) by what was meant, longest first."""
    words: list[str] = []
    i = 0
    longest = spelling.longest
    while i < len(raw):
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


# --- patterns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One place in a pattern: a concept, or any of some word stems and word prefixes."""

    concept: str | None = None
    stems: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()  # `*olol`: any word ending so (a class of drug names)


@dataclass(frozen=True)
class Join:
    near: bool  # either order
    gap: int  # at most this many words between


@dataclass(frozen=True)
class Pattern:
    text: str
    items: tuple[Item, ...]
    joins: tuple[Join, ...]


class PatternError(ValueError):
    """A pattern or concept the matcher cannot read; the message says which and why."""


_JOIN_RE = re.compile(r"^(~|\.\.)(\d{1,2})$")
_WORD_RE = re.compile(r"^[a-z0-9]+(\.[0-9]+)?\*?$|^\*[a-z]{3,}$")


def _item(part: str, pattern: str) -> Item:
    if part.startswith("{") and part.endswith("}"):
        return Item(concept=part[1:-1])
    words = part[1:-1].split("|") if part.startswith("(") and part.endswith(")") else [part]
    if not all(_WORD_RE.match(w) for w in words):
        raise PatternError(
            f"'{pattern}': '{part}' is not a word, word*, *ending, (a|b), {{concept}}, ..N or ~N"
        )
    return Item(
        stems=tuple(stem(w) for w in words if "*" not in w),
        prefixes=tuple(w[:-1] for w in words if w.endswith("*")),
        suffixes=tuple(w[1:] for w in words if w.startswith("*")),
    )


_GROUP_RE = re.compile(r"\(([^()]*[\s{][^()]*)\)")


_INNER_GROUP_RE = re.compile(r"\(([^()]*)\)")


def _lifted_group(text: str) -> re.Match[str] | None:
    """The first innermost (a|b) group that must be read as a concept: one that holds a
    phrase or a concept, or one inside another group ("(take (him|her)|die)")."""
    for m in _INNER_GROUP_RE.finditer(text):
        nested = text.count("(", 0, m.start()) > text.count(")", 0, m.start())
        if nested or _GROUP_RE.fullmatch(m.group(0)):
            return m
    return None


def expand(text: str) -> list[str]:
    """A pattern whose (a|b) group holds phrases or concepts, as one pattern per choice."""
    m = _GROUP_RE.search(text)
    if not m:
        return [text]
    out: list[str] = []
    for choice in m.group(1).split("|"):
        out += expand(text[: m.start()] + choice.strip() + text[m.end() :])
    return out


def parse_patterns(texts: Iterable[str], spelling: Spelling) -> list[Pattern]:
    return [parse_pattern(one, spelling) for text in texts for one in expand(text)]


def parse_pattern(text: str, spelling: Spelling) -> Pattern:
    """`text` -> items and joins. Plain words go through the same spelling map and
    stemmer as the text they are matched against."""
    parts = _respell(normalise(text).replace("-", " ").replace("'", " ").split(), spelling)
    items: list[Item] = []
    joins: list[Join] = []
    pending: Join | None = None
    for part in parts:
        joined = _JOIN_RE.match(part)
        if joined:
            if not items or pending is not None:
                raise PatternError(f"'{text}': {part} must stand between two words")
            gap = int(joined.group(2))
            if gap > MAX_NEAR:
                raise PatternError(f"'{text}': {part} reaches too far; use at most {MAX_NEAR}")
            pending = Join(near=joined.group(1) == "~", gap=gap)
            continue
        if items:
            joins.append(pending or Join(near=False, gap=DEFAULT_GAP))
            pending = None
        items.append(_item(part, text))
    if not items or pending is not None:
        raise PatternError(f"'{text}': a pattern needs words on both sides of ..N or ~N")
    return Pattern(text, tuple(items), tuple(joins))


# --- readings -------------------------------------------------------------------------

READING_KINDS = (
    "temperature", "glucose", "systolic", "diastolic", "oxygen", "heart_rate", "breathing_rate"
)  # fmt: skip
_READING_RE = re.compile(
    r"^\s*(temperature|glucose|systolic|diastolic|oxygen|heart_rate|breathing_rate)\s*(>=|<=|>|<)"
    r"\s*(\d+(?:\.\d+)?)\s*$"
)
_CONTEXT = {
    "temperature": {
        "temperatur",
        "fever",
        "febrile",
        "tmax",
        "degre",
        "running",
        "thermometer",
        "rectal",
        "oral",
        "orally",
        "axillary",
        "armpit",
        "forehead",
        "temporal",
        "hot",
    },
    "systolic": {"systolic", "top"},
    "diastolic": {"diastolic", "bottom"},
    "glucose": {"sugar", "glucometer", "meter", "dexcom", "libre", "cgm"},
    "oxygen": {"o2", "oxygen", "sat", "spo2", "saturation", "oximeter", "ox", "pulseox"},
    # before the number only ("pulse 150", "heart rate of 38", "hr 160"), or "bpm" after
    "breathing_rate": {
        stem(w)
        for w in ("breathing", "breaths", "breath", "respiration", "respiratory", "resp", "rr")
    },
    "heart_rate": {
        stem(w) for w in ("pulse", "hr", "heartrate", "rate", "bpm", "heart", "heartbeat", "beat")
    },
}
_NOT_A_RATE = {stem(w) for w in ("min", "mins", "minutes", "hour", "hr", "day", "week", "year")}
_RATE = stem("rate")
_BP_RE = re.compile(r"(?<![\d.])(\d{2,3})s?\s*(?:/|\bover\b)\s*(\d{2,3})s?(?![\d.])")


@dataclass(frozen=True)
class Reading:
    kind: str
    op: str
    value: float

    def holds(self, kind: str, value: float, celsius: bool = False) -> bool:
        if kind != self.kind:
            return False
        limit = self.value
        if celsius:
            limit = round((limit - 32) * 5 / 9, 1)
        return {
            ">=": value >= limit,
            "<=": value <= limit,
            ">": value > limit,
            "<": value < limit,
        }[self.op]


def parse_reading(text: str) -> Reading:
    m = _READING_RE.match(text.lower())
    if not m:
        raise PatternError(
            f"'{text}': write a reading like 'temperature >= 103' ({', '.join(READING_KINDS)})"
        )
    return Reading(m.group(1), m.group(2), float(m.group(3)))


@dataclass(frozen=True)
class Measured:
    kind: str
    value: float
    celsius: bool = False

    @property
    def fever(self) -> bool:
        return self.value >= (38.0 if self.celsius else 100.4)


def _number(raw: str) -> tuple[float, str] | None:
    """A number as typed: "101.5", "39c", "104f"; a decade ("in the 80s") as its floor."""
    m = re.fullmatch(r"(\d{1,4}(?:\.\d+)?)(f|c|s)?", raw)
    if not m:
        return None
    unit = m.group(2) or ""
    return float(m.group(1)), ("" if unit == "s" else unit)


#: Words right after a number that make it a time, an amount or a count, not a reading.
_NOT_A_READING = {
    stem(w)
    for w in (
        "am", "pm", "oclock", "min", "mins", "minute", "minutes", "hour", "hours", "hrs",
        "day", "days", "week", "weeks", "wk", "wks", "month", "months", "year", "years",
        "yr", "yrs", "yo", "time", "times", "unit", "units", "tab", "tabs", "tablet",
        "tablets", "pill", "pills", "strip", "strips", "dollar", "dollars", "refill",
        "refills", "lb", "lbs", "pound", "pounds", "kg", "ml", "oz", "cc", "step", "steps",
    )
}  # fmt: skip
_BACK = 6  # how far before a number its context word may stand (same clause)
_AHEAD = 2


def _context_words(tokens: Sequence[Token], i: int) -> set[str]:
    """The words around the number at `i` that may say what it measures: up to `_BACK`
    words before it and `_AHEAD` after it, in the same clause and not past another number
    ("sugar has been in the 250s", "heart rate keeps showing 130", "o2 on her monitor says
    92 percent")."""
    words: set[str] = set()
    for step, reach in ((-1, _BACK), (1, _AHEAD)):
        j = i + step
        if step < 0 and j > 0 and tokens[j].raw == ",":
            j -= 1  # "low oxygen at night, 89": the number right after a comma
        while 0 <= j < len(tokens) and abs(j - i) <= reach:
            tok = tokens[j]
            if tok.punct or _number(tok.raw) is not None:
                break
            words.add(tok.stem)
            j += step
    return words


def _per_minute(tokens: Sequence[Token], i: int) -> bool:
    """The number at `i` is a count per minute ("32 times a minute", "30 a min", "28/min")."""
    after = [t.raw for t in tokens[i + 1 : i + 4]]
    if after[:1] in (["times"], ["breaths"]):
        after = after[1:]
    return bool(after) and (
        after[0] in ("min", "minute")
        or (after[0] in ("a", "per", "each") and after[1:2] in (["min"], ["minute"]))
    )


def readings_in(text: str, tokens: Sequence[Token]) -> list[Measured]:
    """Numbers that read as a temperature, a sugar, an oxygen level, a blood pressure or a
    heart rate."""
    found: list[Measured] = []
    pressures: set[float] = set()
    for m in _BP_RE.finditer(normalise(text)):
        high, low = int(m.group(1)), int(m.group(2))
        if 60 <= high <= 300 and 30 <= low <= 200 and high > low:
            found += [Measured("systolic", high), Measured("diastolic", low)]
            pressures.update((high, low))
    for i, tok in enumerate(tokens):
        number = _number(tok.raw)
        if number is None:
            continue
        value, unit = number
        after = tokens[i + 1].raw if i + 1 < len(tokens) else ""
        if unit == "" and after in ("f", "c"):
            unit = after
        if _per_minute(tokens, i) and _context_words(tokens, i) & _CONTEXT["breathing_rate"]:
            if 6 <= value <= 90:
                found.append(Measured("breathing_rate", value))  # "breathing 32 times a minute"
            continue
        if not unit and after and stem(after) in _NOT_A_READING:
            continue
        nearby = _context_words(tokens, i)
        if unit or "degre" in nearby or nearby & _CONTEXT["temperature"]:
            if 93 <= value <= 110 and unit != "c":
                found.append(Measured("temperature", value))
                continue
            if 34 <= value <= 43.5 and unit != "f":
                found.append(Measured("temperature", value, celsius=True))
                continue
        if value not in pressures:
            for kind in ("systolic", "diastolic"):
                if nearby & _CONTEXT[kind] and 30 <= value <= 300:
                    found.append(Measured(kind, value))
            if "bp" in nearby and not nearby & _CONTEXT["diastolic"] and 70 <= value <= 300:
                found.append(Measured("systolic", value))  # "bp was 190", "bp in the 160s"
        if nearby & _CONTEXT["glucose"] and 20 <= value <= 2000:
            found.append(Measured("glucose", value))
        if nearby & _CONTEXT["oxygen"] and 40 <= value <= 100:
            found.append(Measured("oxygen", value))
        if value not in pressures and _heart_rate(tokens, i) and 20 <= value <= 260:
            found.append(Measured("heart_rate", value))
    return found


def _heart_rate(tokens: Sequence[Token], i: int) -> bool:
    """The number at `i` is a heart rate: a pulse word shortly before it ("pulse is 150",
    "heart rate of 38"), or "bpm" right after it; never a number of minutes or hours."""
    after = tokens[i + 1].stem if i + 1 < len(tokens) else ""
    if after in _NOT_A_RATE:
        return False
    if after == "bpm":
        return True
    before: list[str] = []
    j = i - 1
    while j >= 0 and i - j <= _BACK and not tokens[j].punct and _number(tokens[j].raw) is None:
        before.append(tokens[j].stem)
        j -= 1
    if _RATE in before and "heart" not in before:
        before.remove(_RATE)  # "rate" alone is not a pulse ("rated it 8")
    return bool(set(before) & _CONTEXT["heart_rate"])


# --- rules and the matcher ------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """What the matcher needs of a triage rule (the policy model carries the rest)."""

    name: str
    patterns: tuple[str, ...] = ()
    readings: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    negatable: bool = True


@dataclass(frozen=True)
class Match:
    rule: str
    negated: bool
    evidence: str  # the words that matched, as typed


@dataclass
class _Compiled:
    spec: RuleSpec
    patterns: list[Pattern]
    readings: list[Reading]
    requires: list[Pattern]


Span = tuple[int, int]  # token positions, end exclusive


@dataclass
class _Text:
    tokens: list[Token]
    fields: list[int] = field(default_factory=list)  # which text (reason, detail, note)
    spans: dict[str, list[Span]] = field(default_factory=dict)
    at: dict[str, list[int]] = field(default_factory=dict)  # stem -> positions

    def __post_init__(self) -> None:
        if not self.fields:
            self.fields = [0] * len(self.tokens)
        for i, t in enumerate(self.tokens):
            if t.stem:
                self.at.setdefault(t.stem, []).append(i)


class Matcher:
    """Compiled rules and concepts; `match` reads texts and lists the rules that apply."""

    def __init__(
        self,
        concepts: Mapping[str, Iterable[str]],
        rules: Iterable[RuleSpec],
        spelling: Mapping[str, str] | None = None,
    ) -> None:
        self.spelling = Spelling(
            {
                tuple(normalise(k).split()): tuple(normalise(v).split())
                for k, v in (spelling or {}).items()
            }
        )
        self._groups: dict[str, str] = {}  # the text of a phrase group -> its concept
        self.concepts: dict[str, list[Pattern]] = {}
        for name, terms in concepts.items():
            self.concepts[name] = self._parse(terms)
        self.rules = [
            _Compiled(
                spec,
                self._parse(spec.patterns),
                [parse_reading(r) for r in spec.readings],
                self._parse(spec.requires),
            )
            for spec in rules
        ]
        self._check_references()

    def _parse(self, texts: Iterable[str]) -> list[Pattern]:
        """Patterns, each (a|b c|{d}) group that holds phrases or concepts read once as a
        concept of its own (not one pattern per choice: a few groups in a row would make
        thousands), shared by every pattern that has the same group."""
        out = []
        for text in texts:
            m = _lifted_group(text)
            while m:
                body = m.group(1)
                name = self._groups.get(body)
                if name is None:
                    name = self._groups[body] = f"_group{len(self._groups)}"
                    self.concepts[name] = self._parse(c.strip() for c in body.split("|"))
                text = f"{text[: m.start()]}{{{name}}}{text[m.end() :]}"
                m = _lifted_group(text)
            out.append(parse_pattern(text, self.spelling))
        return out

    def _check_references(self) -> None:
        def refs(patterns: list[Pattern]) -> set[str]:
            return {i.concept for p in patterns for i in p.items if i.concept is not None}

        for name, patterns in self.concepts.items():
            for ref in refs(patterns) - set(self.concepts):
                raise PatternError(f"concept {name} uses {{{ref}}}, which is not a concept")
        for rule in self.rules:
            for ref in refs(rule.patterns + rule.requires) - set(self.concepts):
                raise PatternError(f"triage rule {rule.spec.name} uses unknown concept {{{ref}}}")
            if not rule.patterns and not rule.readings:
                raise PatternError(f"triage rule {rule.spec.name} needs patterns or readings")
        # A concept that reaches itself would never finish matching.
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise PatternError(f"concept {name} refers back to itself ({' > '.join(path)})")
            state[name] = 1
            for ref in sorted(refs(self.concepts[name])):
                visit(ref, [*path, ref])
            state[name] = 2

        for name in self.concepts:
            visit(name, [name])

    # --- matching -----------------------------------------------------------------

    def _item_spans(self, text: _Text, item: Item) -> list[Span]:
        if item.concept is not None:
            return self._concept_spans(text, item.concept)
        found = {i for s in item.stems for i in text.at.get(s, ())}
        if item.prefixes:
            found.update(
                i for i, t in enumerate(text.tokens) if t.stem and t.raw.startswith(item.prefixes)
            )
        if item.suffixes:
            found.update(
                i
                for i, t in enumerate(text.tokens)
                if t.stem and len(t.raw) > 5 and t.raw.endswith(item.suffixes)
            )
        return [(i, i + 1) for i in sorted(found)]

    def _concept_spans(self, text: _Text, name: str) -> list[Span]:
        if name not in text.spans:
            text.spans[name] = []  # guards against a cycle the check missed
            spans: set[Span] = set()
            for pattern in self.concepts.get(name, []):
                spans.update(self._pattern_spans(text, pattern))
            text.spans[name] = sorted(spans)
        return text.spans[name]

    def _pattern_spans(self, text: _Text, pattern: Pattern) -> list[Span]:
        """Where the pattern matches. Each item is placed relative to the item before it
        (not to the whole match so far: in `a ~6 b ..2 c`, c follows b), and all of a
        match lies in one text (a reason and a detail are not read as one phrase)."""
        fields = text.fields
        # (start, end) of the match so far, and (start, end) of its last item
        current = [(s, e, s, e) for s, e in self._item_spans(text, pattern.items[0])]
        for join, item in zip(pattern.joins, pattern.items[1:], strict=True):
            if not current:
                return []
            following = self._item_spans(text, item)
            joined: set[tuple[int, int, int, int]] = set()
            for s, e, ls, le in current:
                for s2, e2 in following:
                    if fields[s2] != fields[ls]:
                        continue
                    if 0 <= s2 - le <= join.gap or (join.near and 0 <= ls - e2 <= join.gap):
                        joined.add((min(s, s2), max(e, e2), s2, e2))
            current = sorted(joined)
        return sorted({(s, e) for s, e, _, _ in current})

    def _negated(self, text: _Text, span: Span) -> bool:
        """Governed by a negation before it ("no", "denies"; "not" only right before it),
        or by one just after it ("pain free", "fever gone", "rash all better")."""
        start, end = span
        toks = text.tokens
        breaks = {s for s, _ in self._concept_spans(text, "scope_break")}
        if any(i in breaks for i in range(start + 1, end)):
            return False  # "denies chest pain but has crushing pressure": the match reaches
            # past the end of what the negation governs
        for concept, reach in (("negation", NEGATION_REACH), ("negation_near", 1)):
            for _, ne in self._concept_spans(text, concept):
                if (
                    ne <= start
                    and start - ne <= reach
                    and not any(toks[i].punct or i in breaks for i in range(ne, start))
                ):
                    return True
        for ns, _ in self._concept_spans(text, "negation_after"):
            if end <= ns and ns - end <= 3:
                between = range(end, ns)
                if not any(i in breaks or toks[i].raw in ".;!?" for i in between):
                    return True
        return False

    def _context(self, text: _Text, span: Span, reach: int) -> bool:
        """Named as a document, a service, a lesson or a past time, not a current problem:
        a `context_before` phrase ends at most `reach` words before the match (a
        `context_material` one, a handout or a class "on" something, at most six), or a
        `context_after` phrase starts right after it, or a `context_past` one (a past time) at
        most three words after it, with no punctuation between ("records of his stroke",
        "seizure meds", "heart attack in 2019", "a stroke two years ago")."""
        start, end = span
        toks = text.tokens
        while start > 0 and toks[start - 1].raw in _DETERMINERS:
            start -= 1  # "records of his overdose" is next to "records of"
        material = MATERIAL_REACH if reach else 0
        for concept, near in (("context_before", reach), ("context_material", material)):
            before = self.concepts.get(concept) and self._concept_spans(text, concept)
            for _, ce in before or ():
                if ce <= start and start - ce <= near and not any(t.punct for t in toks[ce:start]):
                    return True
        after = self.concepts.get("context_after") and self._concept_spans(text, "context_after")
        if any(cs == end for cs, _ in after or ()):
            return True
        past = self.concepts.get("context_past") and self._concept_spans(text, "context_past")
        return any(
            end <= cs <= end + (PAST_REACH if reach else 0)
            and not any(t.punct or t.stem in _ONGOING for t in toks[end:cs])
            for cs, _ in past or ()
        )

    def _set_aside(self, text: _Text, span: Span, negatable: bool) -> bool:
        """Negated, or named as context. A rule that no negation may set aside (self-harm,
        overdose) is set aside only by context right next to it ("suicide prevention")."""
        if negatable:
            return self._negated(text, span) or self._context(text, span, CONTEXT_REACH)
        return self._context(text, span, 0)

    def prepare(self, texts: Iterable[str]) -> tuple[_Text, list[Measured]]:
        tokens: list[Token] = []
        fields: list[int] = []
        measured: list[Measured] = []
        for t in texts:
            if not t or not t.strip():
                continue
            toks = tokenize(t, self.spelling)
            found = readings_in(t, toks)
            measured += found
            if any(m.kind == "temperature" and m.fever for m in found):
                toks.append(Token("fever", "fever"))  # so fever rules see "temp 101.5"
            fields += [len(fields) and fields[-1] + 1] * (len(toks) + 1)
            tokens += [*toks, Token(".", "", True)]  # a field ends like a sentence
        for i, tok in enumerate(tokens[:-1]):
            if tok.raw in _TITLES and tokens[i + 1].stem:
                tokens[i + 1] = Token(tokens[i + 1].raw, "")  # a name: "Dr Gray", "Mrs Payne"
        text = _Text(tokens, fields)
        neutral = self._concept_spans(text, "neutral") if "neutral" in self.concepts else []
        if neutral:
            masked: set[int] = set()
            for s, e in neutral:
                masked.update(range(s, e))
            text = _Text(
                [Token(t.raw, "", t.punct) if i in masked else t for i, t in enumerate(tokens)],
                fields,
            )
        return text, measured

    def match(self, texts: Iterable[str]) -> list[Match]:
        """Every rule that applies to `texts`, in rule order, negated or not."""
        text, measured = self.prepare(texts)
        out: list[Match] = []
        for rule in self.rules:
            found = self._rule_match(text, measured, rule)
            if found:
                out.append(found)
        return out

    def _rule_match(self, text: _Text, measured: list[Measured], rule: _Compiled) -> Match | None:
        negatable = rule.spec.negatable
        if rule.requires:
            context = [
                s
                for p in rule.requires
                for s in self._pattern_spans(text, p)
                if not self._set_aside(text, s, negatable)
            ]
            if not context:
                return None
        for r in rule.readings:
            for m in measured:
                if r.holds(m.kind, m.value, m.celsius):
                    return Match(rule.spec.name, False, f"{m.kind} {m.value:g}")
        negated: Span | None = None
        for pattern in rule.patterns:
            for span in self._pattern_spans(text, pattern):
                if self._set_aside(text, span, negatable):
                    negated = negated or span
                    continue
                return Match(rule.spec.name, False, self._words(text, span))
        if negated:
            return Match(rule.spec.name, True, self._words(text, negated))
        return None

    @staticmethod
    def _words(text: _Text, span: Span) -> str:
        return " ".join(t.raw for t in text.tokens[span[0] : span[1]])
