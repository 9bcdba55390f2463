"""The find index: what `cbtrack find` needs to know about closed callbacks, kept small.

Pure: `store` does every read and write (the index lives in `.cbtrack/find-index.json`,
local to one clone, owner-only, never committed). This module decides what a row holds,
whether a month's rows are still current, and whether a query matches.

A row is only a hint: `find` loads every record a row points at and checks the query
against the record itself, so a stale or damaged index can cost time but never a wrong
answer. A month folder's rows are reused only while the folder's stat signature is
unchanged; otherwise each file is checked by its own size and modification time and only
new or changed files are read again. A file that cannot be read leaves a row without
fields, which always counts as a candidate (so its problem is reported, not hidden).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from cbtrack.model import ALPHABET, ID_RE, Callback, phone_digits

VERSION = 3  # 3: names folded for accents and apostrophes
FILE_NAME = "find-index.json"
MIN_PHONE_DIGITS = 7
_PHONE_TEXT = re.compile(r"\+?[0-9 ().-]+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

# One file's row: [mtime_ns, size, created_at, phone digits, name words joined by spaces,
# MRN case-folded] (fields None when the file could not be read).
Row = list[Any]
Month = dict[str, Any]  # {"sig": [...], "files": {file name: Row}}


# --- matching ------------------------------------------------------------------------------


_APOSTROPHES = str.maketrans({c: "'" for c in "\u2019\u2018\u02bc`\u00b4"})


def fold(text: str) -> str:
    """Text as find compares it: case folded, accents dropped ("Núñez" -> "nunez"), every
    kind of apostrophe made one."""
    plain = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """A query's words, folded; an apostrophe inside a word is dropped ("o'leary" ->
    "oleary")."""
    return [w.replace("'", "") for w in _WORD.findall(fold(text))]


def name_words(name: str) -> list[str]:
    """A name's words, folded: each word, and for one with an apostrophe also its parts,
    so "O'Leary" is found by "oleary", "o'leary" and "o leary"."""
    out: list[str] = []
    for w in _WORD.findall(fold(name)):
        out.append(w.replace("'", ""))
        if "'" in w:
            out += [part for part in w.split("'") if part]
    return out


def phone_match(a: str, b: str) -> bool:
    """Two phone numbers match when their last 7 or more digits agree: as many as the
    shorter one has (so `+1 (617) 555-0140` matches `617.555.0140`)."""
    da, db = phone_digits(a), phone_digits(b)
    n = min(len(da), len(db))
    return n >= MIN_PHONE_DIGITS and da[-n:] == db[-n:]


def same_patient(phone_a: str, mrn_a: str | None, phone_b: str, mrn_b: str | None) -> bool:
    """The duplicate check on `add`: same phone digits, or the same MRN."""
    if mrn_a and mrn_b and mrn_a.casefold() == mrn_b.casefold():
        return True
    return phone_match(phone_a, phone_b)


@dataclass(frozen=True)
class Query:
    text: str
    digits: str  # when the text reads as a phone number
    name_words: tuple[str, ...]  # when every word holds a letter
    callback_id: str  # a full ID, or the 5-character end of one

    @classmethod
    def parse(cls, text: str) -> Query:
        raw = " ".join(text.split())
        low = raw.casefold()
        digits = ""
        if _PHONE_TEXT.fullmatch(raw) and len(phone_digits(raw)) >= MIN_PHONE_DIGITS:
            digits = phone_digits(raw)
        found = words(raw)
        name_words = tuple(found) if found and all(re.search(r"[^\W\d_]", w) for w in found) else ()
        is_id = bool(ID_RE.match(low)) or (len(low) == 5 and all(c in ALPHABET for c in low))
        return cls(raw, digits, name_words, low if is_id else "")

    @property
    def usable(self) -> bool:
        return bool(self.text)

    def matches(self, callback_id: str, phone: str, name: str, mrn: str | None) -> bool:
        if self.callback_id and (
            callback_id == self.callback_id or callback_id.endswith("-" + self.callback_id)
        ):
            return True
        if mrn and mrn.casefold() == self.text.casefold():
            return True
        if self.digits and phone_match(self.digits, phone):
            return True
        return bool(self.name_words) and name_matches(self.name_words, name_words(name))

    def matches_record(self, cb: Callback) -> bool:
        p = cb.patient
        return self.matches(cb.id, p.phone, p.name, p.mrn)

    def matches_row(self, callback_id: str, row: Row) -> bool:
        """The same test as `matches`, on a row's prepared fields (cheap for many rows)."""
        if row[2] is None:
            return True  # unreadable when indexed: let the record speak for itself
        if self.callback_id and (
            callback_id == self.callback_id or callback_id.endswith("-" + self.callback_id)
        ):
            return True
        if row[5] is not None and row[5] == self.text.casefold():
            return True
        if self.digits:
            n = min(len(self.digits), len(row[3]))
            if n >= MIN_PHONE_DIGITS and self.digits[-n:] == row[3][-n:]:
                return True
        return bool(self.name_words) and name_matches(self.name_words, row[4].split())


def name_matches(wanted: tuple[str, ...], have: list[str]) -> bool:
    """Every query word is one of the name's words, in any order and case; a query word
    of three letters or more also matches the start of a name word ("gonz")."""
    pool = list(have)
    for w in wanted:
        hit = next((h for h in pool if h == w), None)
        if hit is None and len(w) >= 3:
            hit = next((h for h in pool if h.startswith(w)), None)
        if hit is None:
            return False
        pool.remove(hit)
    return True


# --- rows and months -------------------------------------------------------------------------


def row_of(mtime_ns: int, size: int, data: Any) -> Row:
    """A row from a record's parsed (not yet validated) YAML; fields None if unusable."""
    patient = data.get("patient") if isinstance(data, dict) else None
    if not isinstance(patient, dict):
        return [mtime_ns, size, None, None, None, None]
    fields = (data.get("created_at"), patient.get("phone"), patient.get("name"))
    if not all(isinstance(v, str) for v in fields):
        return [mtime_ns, size, None, None, None, None]
    created, phone, name = fields
    mrn = patient.get("mrn")
    return [
        mtime_ns,
        size,
        created,
        phone_digits(str(phone)),
        " ".join(name_words(str(name))),
        mrn.casefold() if isinstance(mrn, str) else None,
    ]


_CREATED = re.compile(r"^created_at: ('?)([0-9T:+.Z-]+)\1$", re.MULTILINE)
_PATIENT = re.compile(r"^patient:\n((?:  .*\n)+)", re.MULTILINE)
_PLAIN_START = set("&*!|>{}[]%@`'\",#?:-")


def row_from_text(mtime_ns: int, size: int, text: str) -> Row | None:
    """A row read straight from the text of a record as cbtrack writes it (about ten times
    faster than parsing); None when the text is not in that simple shape, and the caller
    parses it instead. Any doubt (double quotes, a nested or continued line, a comment)
    means None, never a guess."""
    created = _CREATED.search(text)
    block = _PATIENT.search(text)
    if not created or not block:
        return None
    fields: dict[str, str] = {}
    for line in block.group(1).splitlines():
        if line.startswith("   "):
            return None
        key, sep, raw = line[2:].partition(": ")
        if not sep or not raw:
            return None
        value = _scalar(raw)
        if value is None:
            return None
        fields[key] = value
    if "name" not in fields or "phone" not in fields:
        return None
    data = {"created_at": created.group(2), "patient": fields}
    return row_of(mtime_ns, size, data)


def _scalar(raw: str) -> str | None:
    if raw.startswith("'"):
        inner = raw[1:-1] if len(raw) >= 2 and raw.endswith("'") else None
        if inner is None or "'" in inner.replace("''", ""):
            return None
        return inner.replace("''", "'")
    if raw[0] in _PLAIN_START or " #" in raw or raw != raw.strip():
        return None
    return raw


def unreadable_row(mtime_ns: int, size: int) -> Row:
    return [mtime_ns, size, None, None, None, None]


def row_current(row: Row, mtime_ns: int, size: int) -> bool:
    return isinstance(row, list) and len(row) == 6 and row[0] == mtime_ns and row[1] == size


def decode(text: str) -> dict[str, Month]:
    """The months of an index file; an empty mapping if it is damaged or of another version."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    months = data.get("months")
    if not isinstance(months, dict):
        return {}
    return {
        k: v
        for k, v in months.items()
        if isinstance(v, dict) and isinstance(v.get("files"), dict) and "sig" in v
    }


def encode(months: dict[str, Month]) -> str:
    return json.dumps({"version": VERSION, "months": months}, separators=(",", ":"))


def newest_first(records: list[Callback]) -> list[Callback]:
    return sorted(records, key=lambda cb: (cb.created_at, cb.id), reverse=True)
