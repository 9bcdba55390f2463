"""Readings a caller quotes (temperature, sugar, blood pressure, oxygen, heart and
breathing rate): found in a reason's words with their units and context, and compared
with the bands the triage rules give."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cbtrack.words import PatternError, Token, normalise, stem

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
#: Words after "heart" that make it the name of a thing (a medicine, a doctor, a test), so a
#: number near it is not a pulse ("90 days of her heart meds instead of 30").
_HEART_THINGS = {
    stem(w)
    for w in ("med", "meds", "medicine", "medication", "medications", "pill", "pills", "doctor",
              "dr", "surgery", "specialist", "clinic", "condition", "failure", "valve", "test",
              "tests", "cath", "procedure", "appointment", "appt", "visit", "program")
}  # fmt: skip
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
        "refills", "lb", "lbs", "pound", "pounds", "kg", "ml", "oz", "cc", "mg", "mcg", "step",
        "steps", "test", "lancet", "lancets", "needle", "needles", "pen", "pens", "sensor",
        "sensors", "supply", "supplies", "pack", "packs", "box", "boxes",
    )
}  # fmt: skip
#: A breathing word typed right before its number is a rate without "a minute" ("RR 32").
_RATE_SHORT = {"rr", "resp", "resps", "respirations"}
#: Words right before a number that make it a name or an ID, not a measure ("room 104",
#: "model 150", "account 45", "job 35").
_AN_ID = {
    stem(w)
    for w in (
        "room", "suite", "model", "account", "acct", "order", "invoice", "member", "id",
        "bus", "route", "ext", "extension", "apt", "apartment", "lot", "case",
        "ticket", "claim", "policy", "ref", "reference", "version", "item", "floor",
        "building", "gate", "door", "seat", "flight", "job", "code", "pin", "zip", "exit",
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
        before = tokens[i - 1].raw if i else ""
        per_minute = _per_minute(tokens, i) or before in _RATE_SHORT
        if per_minute and _context_words(tokens, i) & _CONTEXT["breathing_rate"]:
            if 6 <= value <= 90:
                found.append(Measured("breathing_rate", value))  # "breathing 32 times a minute"
            continue
        if not unit and after and stem(after) in _NOT_A_READING:
            continue
        if i and tokens[i - 1].stem in _AN_ID:
            continue
        nearby = _context_words(tokens, i)
        if unit or "degre" in nearby or nearby & _CONTEXT["temperature"] or before == "t":
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
        if not (tokens[j].stem == "heart" and j + 1 < i and tokens[j + 1].stem in _HEART_THINGS):
            before.append(tokens[j].stem)  # "heart meds ... 30" names a medicine, not a pulse
        j -= 1
    if _RATE in before and "heart" not in before:
        before.remove(_RATE)  # "rate" alone is not a pulse ("rated it 8")
    return bool(set(before) & _CONTEXT["heart_rate"])
