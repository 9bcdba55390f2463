"""What a record is looked up by, as plain text: callback IDs (`cb-YYYYMMDD-xxxxx`, the last
five from Crockford's base32 alphabet), record file names, and the digits of a phone number.

Kept apart from the models (no pydantic), for the commands that answer from the local
index alone (cbtrack/quick.py) and for `patients`.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_RE = re.compile(r"^cb-(\d{8})-([0-9a-hjkmnp-tv-z]{5})$")


def is_record_name(name: str) -> bool:
    """Whether a file name in a records folder is a record's (`cb-....yaml`, not a hidden
    or temporary file)."""
    return name.endswith(".yaml") and not name.startswith(".")


def phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)
