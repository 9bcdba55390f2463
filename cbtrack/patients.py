"""Who a callback is for, as find and the duplicate check compare it: folding names
(case, accents, apostrophes), phone digits, MRNs, and the query `cbtrack find` reads.

Pure: the store's index (`cbtrack.localindex`) keeps the prepared keys; this module decides
what matches. A hit found through the index is always confirmed on the record itself.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, NamedTuple

from cbtrack.ids import ALPHABET, ID_RE, phone_digits

if TYPE_CHECKING:
    from cbtrack.model import Callback

MIN_PHONE_DIGITS = 7
_PHONE_TEXT = re.compile(r"\+?[0-9 ().-]+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


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


JOIN_RUN = 3  # words of a name also read joined, up to this many ("De La Cruz": "delacruz")


def name_words(name: str) -> list[str]:
    """A name's words, folded: each word, for one with an apostrophe also its parts, and
    runs of neighbouring words joined, so "O'Leary" is found by "oleary", "o'leary" and
    "o leary", and "De La Cruz" by "delacruz"."""
    out: list[str] = []
    plain: list[str] = []
    for w in _WORD.findall(fold(name)):
        plain.append(w.replace("'", ""))
        out.append(plain[-1])
        if "'" in w:
            out += [part for part in w.split("'") if part]
    for size in range(2, JOIN_RUN + 1):
        out += ["".join(plain[i : i + size]) for i in range(len(plain) - size + 1)]
    return out


def readings(wanted: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A query's words as typed, and with neighbouring words joined in every way ("o leary"
    is also "oleary", so it finds a name stored as "OLeary"); a long query only as typed."""
    if not 1 < len(wanted) <= 4:
        return [wanted]
    out = []
    for cuts in range(2 ** (len(wanted) - 1)):
        words, current = [], wanted[0]
        for i, w in enumerate(wanted[1:]):
            if cuts >> i & 1:
                current += w
            else:
                words.append(current)
                current = w
        out.append((*words, current))
    return out


def phone_match(a: str, b: str) -> bool:
    """Two phone numbers match when their last 7 or more digits agree: as many as the
    shorter one has (so `+1 (617) 555-0140` matches `617.555.0140`)."""
    da, db = phone_digits(a), phone_digits(b)
    n = min(len(da), len(db))
    return n >= MIN_PHONE_DIGITS and da[-n:] == db[-n:]


def same_patient(phone_a: str, mrn_a: str | None, phone_b: str, mrn_b: str | None) -> bool:
    """The one rule: two callbacks are for the same patient when their MRNs are equal
    (case folded) or their phone numbers match (`phone_match`). The duplicate check on `add`
    and `find` use it as it is; the two below are keys derived from it."""
    if mrn_a and mrn_b and mrn_a.casefold() == mrn_b.casefold():
        return True
    return phone_match(phone_a, phone_b)


def lookup_keys(phone: str, mrn: str | None) -> tuple[str | None, str | None]:
    """Keys the index looks candidates up by: the last 7 digits of the phone (numbers that
    match agree on at least those) and the folded MRN. Every pair `same_patient` accepts
    shares one; each candidate is then confirmed with `same_patient`."""
    digits = phone_digits(phone)
    return (
        digits[-7:] if len(digits) >= MIN_PHONE_DIGITS else None,
        mrn.casefold() if mrn else None,
    )


def group_keys(phone: str, mrn: str | None) -> list[str]:
    """Exact keys for counting repeat patients in a report (records sharing a key are one
    patient): the phone's last 10 digits (a whole North American number) and the folded
    MRN. Stricter than `same_patient` for short numbers, which a report cannot confirm."""
    keys = [f"phone:{phone_digits(phone)[-10:]}"]
    return [*keys, f"mrn:{mrn.casefold()}"] if mrn else keys


class Query(NamedTuple):
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
    def index_keys(self) -> tuple[str, str, str | None, list[tuple[str, ...]]]:
        """What the local index looks candidates up by (`LocalIndex.candidates`): the ID or
        its end, the folded text as an MRN, the phone's last 7 digits, each reading of the
        name words."""
        return (self.callback_id, self.text.casefold(), self.digits[-7:] or None,
                readings(self.name_words) if self.name_words else [])  # fmt: skip

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
        if not self.name_words:
            return False
        have = name_words(name)
        return any(name_matches(r, have) for r in readings(self.name_words))

    def matches_record(self, cb: Callback) -> bool:
        p = cb.patient
        return self.matches(cb.id, p.phone, p.name, p.mrn)


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


def newest_first(records: list[Callback]) -> list[Callback]:
    return sorted(records, key=lambda cb: (cb.created_at, cb.id), reverse=True)
