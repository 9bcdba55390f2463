"""Reads free text the way front-desk staff write it and finds triage rules that apply.

Pure and self-contained: text in, matches out. The rules and word groups (concepts) come
from the policy (cbtrack/data/triage.yaml plus the practice's own); this module only knows
how to read them:

- normalisation: case, apostrophes optional ("cant" = "can't"), punctuation, typed
  misspellings and short forms from the policy's `spelling` map ("sob", "cp", "bs"), and
  any other word one slip from a built-in triage word (`cbtrack.typos`: "brething");
- word forms: a light stemmer, so "breathing", "breathed" and "breathe" compare equal;
- patterns: words, `prefix*`, `*ending` (a class of names: `*olol`, `*sartan`), `(a|b)`,
  `{concept}`, joined in order with a small gap (`a b`, `a ..N b`) or near each other in
  either order (`a ~N b`); a pattern may end `!word` or `!(a|b)`: not when one of those
  words comes right after it;
- readings: temperature, sugar, blood pressure, oxygen, heart-rate and breathing-rate numbers
  (also said in words: "a hundred and two", "one sixty over one hundred") compared with
  a rule's thresholds ("temp 103.5", "39.6C", "sugar over 400", "190/110", "o2 sat 88",
  "pulse 150");
- negation: "no", "denies", "without" govern the next few words up to a comma or "but";
  a negated match counts only as a negated match, which the caller sets aside when
  something else matches (and may ignore entirely); a rule no negation sets aside
  (self-harm) is only lowered by an explicit denial ("denies suicidal thoughts": `denied`);
- context: a match that names a document, a service, a lesson or a past time rather than a
  current problem ("records of his stroke", "seizure meds", "heart attack last year") is
  set aside the same way, for every rule: the words of the `context_before` and
  `context_after` concepts, right before or after it in the same clause.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from cbtrack.readings import Measured, Reading, parse_reading, readings_in
from cbtrack.typos import Typos
from cbtrack.words import (
    _CURRENT,
    _DETERMINERS,
    _NOT_SURNAMES,
    _ONGOING,
    _TITLES,
    PatternError,
    Spelling,
    Token,
    _respell,
    normalise,
    stem,
    tokenize,
)

DEFAULT_GAP = 1
NEGATION_REACH = 5
CONTEXT_REACH = 2
MATERIAL_REACH = 6
PAST_REACH = 3
MAX_NEAR = 12
ANSWER_GAP = 2  # words of a screening question after the sign it asks about

# --- patterns -------------------------------------------------------------------------


# Items, joins and patterns are named tuples, not dataclasses: a compiled matcher holds
# thousands of them, and a new process reads them from the kept matcher (`rulecache`)
# about three times faster as tuples (about 9 ms against 25 for the built-in rules).


class Item(NamedTuple):
    """One place in a pattern: a concept, or any of some word stems and word prefixes."""

    concept: str | None = None
    stems: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()  # `*olol`: any word ending so (a class of drug names)


class Join(NamedTuple):
    near: bool  # either order
    gap: int  # at most this many words between


class Pattern(NamedTuple):
    text: str
    items: tuple[Item, ...]
    joins: tuple[Join, ...]
    #: for each item that is plain words only, its stems, and for each concept whose every
    #: term needs one of a few words, those words: a text with none of one of them cannot
    #: match, which is known before any placing (most patterns stop here)
    words: tuple[tuple[str, ...] | frozenset[str], ...] = ()
    #: `!(a|b)` at the end: stems of words that may not come right after the match ("he is
    #: confused" but not "confused about the bill")
    unless: tuple[str, ...] = ()


def _plain(p: Pattern) -> tuple[Any, ...]:
    items = tuple(tuple(i) for i in p.items)
    return (p.text, items, tuple(tuple(j) for j in p.joins), p.words, p.unless)


def _pack(patterns: list[Pattern]) -> bytes:
    """A concept's patterns as `Matcher._reached` reads them: an index from each word to
    the patterns that need it (by each pattern's fewest needed words), the patterns that
    need no known word, and each pattern packed on its own (`marshal`)."""
    index: dict[str, list[int]] = {}
    always = []
    for i, p in enumerate(patterns):
        if not p.words:
            always.append(i)
            continue
        for word in min(p.words, key=len):
            index.setdefault(word, []).append(i)
    blobs = [marshal.dumps(_plain(p)) for p in patterns]
    return marshal.dumps(({w: tuple(v) for w, v in index.items()}, tuple(always), blobs))


def _unplain(t: tuple[Any, ...]) -> Pattern:
    text, items, joins, words, unless = t
    return Pattern(
        text, tuple(Item(*i) for i in items), tuple(Join(*j) for j in joins), words, unless
    )


_JOIN_RE = re.compile(r"^(~|\.\.)(\d{1,2})$")
_WORD_RE = re.compile(r"^[a-z0-9]+(\.[0-9]+)?\*?$|^\*[a-z]{3,}$")


def _item(part: str, pattern: str) -> Item:
    item = _read_item(part)
    if item is None:
        raise PatternError(
            f"'{pattern}': '{part}' is not a word, word*, *ending, (a|b), {{concept}}, ..N or ~N"
        )
    return item


@cache
def _read_item(part: str) -> Item | None:
    """One place in a pattern, read once however many patterns share it ("{med}",
    "(his|her)"); None when it is not a word, a group or a concept."""
    if part.startswith("{") and part.endswith("}"):
        return Item(concept=part[1:-1])
    words = part[1:-1].split("|") if part.startswith("(") and part.endswith(")") else [part]
    if not all(_WORD_RE.match(w) for w in words):
        return None
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


#: `!.` at the end of a pattern: any word right after the match refuses it.
END_OF_CLAUSE = "!."


def _refused(tok: Token, unless: tuple[str, ...]) -> bool:
    return tok.stem in unless or (unless == (END_OF_CLAUSE,) and not tok.punct)


def parse_pattern(text: str, spelling: Spelling) -> Pattern:
    """`text` -> items and joins. Plain words go through the same spelling map and
    stemmer as the text they are matched against."""
    parts = _respell(normalise(text).replace("-", " ").replace("'", " ").split(), spelling)
    unless: tuple[str, ...] = ()
    if parts and parts[-1] == "!.":
        parts.pop()  # only at the end of a clause: before punctuation or the text's end
        unless = (END_OF_CLAUSE,)
    elif parts and parts[-1].startswith("!"):
        guard = _read_item(parts.pop()[1:])
        if guard is None or guard.concept or guard.prefixes or guard.suffixes or not parts:
            raise PatternError(f"'{text}': ! must end a pattern, before a word or (a|b) of words")
        unless = guard.stems
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
    words = tuple(i.stems for i in items if i.concept is None and not i.prefixes and not i.suffixes)
    return Pattern(text, tuple(items), tuple(joins), words, unless)


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
    #: a rule no negation sets aside (self-harm) whose only match an explicit denial
    #: governs ("denies suicidal thoughts"): the caller lowers it, but not to nothing
    denied: bool = False


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
    #: the same text before the `neutral` names were masked, where `context_after` is
    #: looked for ("the stroke discharge summary": a document named right after the sign)
    unmasked: _Text | None = None

    def __post_init__(self) -> None:
        if not self.fields:
            self.fields = [0] * len(self.tokens)
        for i, t in enumerate(self.tokens):
            if t.stem:
                self.at.setdefault(t.stem, []).append(i)


_CAPITALISED = re.compile(r"\b[A-Z][a-z]{3,}\b")


def _names_in(text: str) -> set[str]:
    """Words written with a capital inside a sentence ("her daughter Stroker called"): most
    likely names, which are never read as slips of a triage word."""
    out = set()
    for m in _CAPITALISED.finditer(text):
        before = text[: m.start()].rstrip()
        if before and before[-1] not in ".!?:;-(\"'":
            out.add(m.group(0).lower())
    return out


class Matcher:
    """Compiled rules and concepts; `match` reads texts and lists the rules that apply."""

    def __init__(
        self,
        concepts: Mapping[str, Iterable[str]],
        rules: Iterable[RuleSpec],
        spelling: Mapping[str, str] | None = None,
        typos: Typos | None = None,
    ) -> None:
        self.typos = typos
        self.spelling = Spelling(
            {
                tuple(normalise(k).split()): tuple(normalise(v).split())
                for k, v in (spelling or {}).items()
            }
        )
        self._groups: dict[str, str] = {}  # the text of a phrase group -> its concept
        self.concepts: dict[str, list[Pattern]] = {}
        self._packed: dict[str, bytes] = {}  # concepts not yet unpacked (`__setstate__`)
        #: a packed concept read: (word -> its patterns that need it, patterns that need
        #: no known word, each pattern packed); each made a Pattern when a text first
        #: holds its words (`_reached`, `_made`)
        self._plain: dict[str, tuple[dict[str, tuple[int, ...]], tuple[int, ...], list[bytes]]] = {}
        self._made: dict[str, dict[int, Pattern]] = {}
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
        self._anchors: dict[str, frozenset[str] | None] = {}
        for name in self.concepts:
            self._anchor(name)
        for name, patterns in self.concepts.items():
            self.concepts[name] = [self._with_needs(p) for p in patterns]
        for rule in self.rules:
            rule.patterns = [self._with_needs(p) for p in rule.patterns]
            rule.requires = [self._with_needs(p) for p in rule.requires]

    # --- kept between commands (`rulecache`) -------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Each concept's patterns packed as plain values (`marshal`): a command that reads
        the kept matcher unpacks only the concepts its texts reach (most are skipped by
        their anchor words), instead of building thousands of patterns it never uses."""
        state = dict(self.__dict__)
        packed = dict(self._packed)
        for name, patterns in self.concepts.items():
            packed[name] = _pack(patterns)
        state["concepts"] = {}
        state["_packed"] = packed
        state["_plain"], state["_made"] = {}, {}
        state["_groups"] = {}  # (only for reading patterns, all read by now)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_plain", {})
        self.__dict__.setdefault("_made", {})

    def _reached(self, text: _Text, name: str) -> list[Pattern]:
        """The concept's patterns that may match `text`: of a packed concept, only those
        whose needed words the text holds are read and made Patterns (the big concepts,
        whose anchor is unknown, hold hundreds; a text reaches a few)."""
        found = self.concepts.get(name)
        if found is not None:
            return found
        index, always, blobs = self._kept(name)
        present = text.at.keys()
        reached = set(always)
        for word in present & index.keys():
            reached.update(index[word])
        out = []
        made = self._made.setdefault(name, {})
        for i in sorted(reached):
            pattern = made.get(i)
            if pattern is None:
                pattern = made[i] = _unplain(marshal.loads(blobs[i]))
            if not any(present.isdisjoint(words) for words in pattern.words):
                out.append(pattern)
        return out

    def _kept(self, name: str) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...], list[bytes]]:
        """A packed concept as `_pack` wrote it, read once."""
        kept = self._plain.get(name)
        if kept is None:
            blob = self._packed.get(name)
            kept = self._plain[name] = marshal.loads(blob) if blob else ({}, (), [])
        return kept

    def _has(self, name: str) -> bool:
        """The concept has patterns (known without making any of them)."""
        found = self.concepts.get(name)
        return bool(found) if found is not None else bool(self._kept(name)[2])

    def _needs(self, pattern: Pattern) -> list[frozenset[str]]:
        """For each item of the pattern that is known to need one of some words, those
        words (its stems, or a concept's anchor)."""
        out = []
        for item in pattern.items:
            if item.concept is not None:
                anchor = self._anchor(item.concept)
                if anchor is not None:
                    out.append(anchor)
            elif not item.prefixes and not item.suffixes:
                out.append(frozenset(item.stems))
        return out

    def _anchor(self, name: str) -> frozenset[str] | None:
        """Words one of which any match of the concept holds (each term's fewest), or None
        when a term may match without any known word (`suicid*`, `*olol`)."""
        if name in self._anchors:
            return self._anchors[name]
        self._anchors[name] = None  # a cycle was refused above; this only guards
        words: set[str] = set()
        for pattern in self.concepts.get(name, []):
            needs = self._needs(pattern)
            if not needs:
                return None
            words |= min(needs, key=len)
        self._anchors[name] = frozenset(words)
        return self._anchors[name]

    def _with_needs(self, pattern: Pattern) -> Pattern:
        return pattern._replace(words=tuple(self._needs(pattern)))

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
            anchor = self._anchors.get(name)
            if anchor is not None and text.at.keys().isdisjoint(anchor):
                return []
            spans: set[Span] = set()
            for pattern in self._reached(text, name):
                spans.update(self._pattern_spans(text, pattern))
            text.spans[name] = sorted(spans)
        return text.spans[name]

    def _pattern_spans(self, text: _Text, pattern: Pattern) -> list[Span]:
        """Where the pattern matches. Each item is placed relative to the item before it
        (not to the whole match so far: in `a ~6 b ..2 c`, c follows b), and all of a
        match lies in one text (a reason and a detail are not read as one phrase)."""
        present = text.at.keys()
        for stems in pattern.words:
            if present.isdisjoint(stems):
                return []
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
        toks = text.tokens
        return sorted(
            {
                (s, e)
                for s, e, _, _ in current
                if not (pattern.unless and e < len(toks) and _refused(toks[e], pattern.unless))
            }
        )

    def _negated(self, text: _Text, span: Span) -> bool:
        """Governed by a negation before it ("no", "denies"; "not" only right before it),
        or by one just after it ("pain free", "fever gone", "rash all better") that is not
        itself negated ("lump has not gone away" goes on)."""
        start, end = span
        toks = text.tokens
        breaks = {s for s, _ in self._concept_spans(text, "scope_break")}
        for ns, ne in self._concept_spans(text, "negation"):
            if (
                start < ns
                and ne < end <= ne + NEGATION_REACH
                and toks[ns - 1].punct
                and not any(i in breaks for i in range(ne, end))
            ):
                return True  # "heart races after coffee, no dizziness": a clause inside the
                # match denies its last part, so the two parts do not make the sign together
        if any(i in breaks for i in range(start + 1, end)):
            return False  # "denies chest pain but has crushing pressure": the match reaches
            # past the end of what the negation governs
        ends = breaks | self._subjects(text)  # (what a negation before the match governs)
        for concept, reach in (("negation", NEGATION_REACH), ("negation_near", 1)):
            for _, ne in self._concept_spans(text, concept):
                if (
                    ne <= start
                    and start - ne <= reach
                    and not any(toks[i].punct or i in ends for i in range(ne, start))
                ):
                    return True
        if self._answered_no(text, span):
            return True
        nots = {s for s, _ in self._concept_spans(text, "negation_near")}
        for ns, ne in self._concept_spans(text, "negation_after"):
            if end <= ns and ns - end <= 3:
                if any(i in nots for i in range(ns - 1, ne)):
                    continue  # "not gone", "has not gone away": the problem goes on
                between = range(end, ns)
                if not any(i in breaks or toks[i].raw in ".;!?" for i in between):
                    return True
        return False

    def _subjects(self, text: _Text) -> set[int]:
        """Where a new subject starts a clause (`subject_break`): what a negation or a
        denial before it governs ends there."""
        return {s for s, _ in self._concept_spans(text, "subject_break")}

    def _answered_no(self, text: _Text, span: Span) -> bool:
        """Asked and answered no, as a screening note writes it: the match (and at most
        `ANSWER_GAP` more words of the question), then at most a ':', '?' or ',' and a
        `negation_answer` ("no", "none", "denies", "pt says no") that ends its clause
        ("chest pain? no.", "SOB: none", "suicidal thoughts? denies"). "chest pain, no
        relief" goes on: the answer must end the clause."""
        if not self._has("negation_answer"):
            return False
        toks = text.tokens
        end = span[1]
        for ans, ane in self._concept_spans(text, "negation_answer"):
            if not (ane == len(toks) or toks[ane].punct) or ans < end:
                continue
            between = toks[end:ans]
            if between and between[-1].raw in ":?,":
                between = between[:-1]
            if len(between) <= ANSWER_GAP and not any(t.punct for t in between):
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
        if any(t.stem in _CURRENT for t in toks[start:end]):
            return False  # the sign goes on into the present ("... and now it is crushing")
        while start > 0 and toks[start - 1].raw in _DETERMINERS:
            start -= 1  # "records of his overdose" is next to "records of"
        material = MATERIAL_REACH if reach else 0
        for concept, near in (("context_before", reach), ("context_material", material)):
            before = self._has(concept) and self._concept_spans(text, concept)
            for _, ce in before or ():
                if ce <= start and start - ce <= near and not any(t.punct for t in toks[ce:start]):
                    return True
        named = text.unmasked or text
        after = self._has("context_after") and self._concept_spans(named, "context_after")
        if any(cs == end for cs, _ in after or ()):
            return True
        past = self._has("context_past") and self._concept_spans(text, "context_past")
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

    def _denied(self, text: _Text, span: Span) -> bool:
        """Governed by an explicit denial (the `denial` concept: "denies", "negative for"),
        a few words before it in the same clause, or by one that starts before it and names
        its first words ("no suicidal thoughts", "not suicidal"), or answered no right after
        it (`_answered_no`: "SI: denies")."""
        if not self._has("denial"):
            return False
        if self._answered_no(text, span):
            return True  # "SI: denies", "suicidal thoughts? no."
        toks = text.tokens
        start = span[0]
        breaks = {s for s, _ in self._concept_spans(text, "denial_break")} | self._subjects(text)
        return any(
            ds < start
            and start - de <= NEGATION_REACH
            and not any(toks[i].punct or i in breaks for i in range(min(de, start), start))
            for ds, de in self._concept_spans(text, "denial")
        )  # ("denies suicidal thoughts but wants to die": the "but" ends what it denies)

    def prepare(self, texts: Iterable[str]) -> tuple[_Text, list[Measured]]:
        tokens: list[Token] = []
        fields: list[int] = []
        measured: list[Measured] = []
        for t in texts:
            if not t or not t.strip():
                continue
            toks = tokenize(t, self.spelling)
            if self.typos is not None:
                names = _names_in(t)
                toks = [tok if tok.raw in names else self._meant(tok) for tok in toks]
            found = readings_in(t, toks)
            measured += found
            if any(m.kind == "temperature" and m.fever for m in found):
                toks.append(Token("fever", "fever"))  # so fever rules see "temp 101.5"
            fields += [len(fields) and fields[-1] + 1] * (len(toks) + 1)
            tokens += [*toks, Token(".", "", True)]  # a field ends like a sentence
        for i, tok in enumerate(tokens[:-1]):
            after = tokens[i + 1].stem
            if tok.raw in _TITLES and after and after not in _NOT_SURNAMES:
                tokens[i + 1] = Token(tokens[i + 1].raw, "")  # a name: "Dr Gray", "Mrs Payne"
        text = _Text(tokens, fields)
        neutral = self._concept_spans(text, "neutral") if self._has("neutral") else []
        if neutral:
            masked: set[int] = set()
            for s, e in neutral:
                masked.update(range(s, e))
            text = _Text(
                [Token(t.raw, "", t.punct) if i in masked else t for i, t in enumerate(tokens)],
                fields,
                unmasked=text,
            )
        return text, measured

    def _meant(self, tok: Token) -> Token:
        """The token as the triage word it is a slip for ("brething" read as "breathing",
        and shown so in the evidence), if it is one."""
        meant = self.typos.meant(tok.raw) if self.typos and tok.stem else None
        return tok if meant is None else Token(meant, stem(meant))

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
        denied: Span | None = None
        for pattern in rule.patterns:
            for span in self._pattern_spans(text, pattern):
                if self._set_aside(text, span, negatable):
                    negated = negated or span
                    continue
                if not negatable and self._denied(text, span):
                    denied = denied or span
                    continue
                return Match(rule.spec.name, False, self._words(text, span))
        if denied:
            return Match(rule.spec.name, True, self._words(text, denied), denied=True)
        if negated:
            return Match(rule.spec.name, True, self._words(text, negated))
        return None

    @staticmethod
    def _words(text: _Text, span: Span) -> str:
        return " ".join(t.raw for t in text.tokens[span[0] : span[1]])
