"""Callback IDs as text: `cb-YYYYMMDD-xxxxx`, the last five from Crockford's base32 alphabet.

Kept apart from the models (no pydantic), for the commands that answer from the local
index alone (cbtrack/cli/quick.py).
"""

from __future__ import annotations

import re

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_RE = re.compile(r"^cb-(\d{8})-([0-9a-hjkmnp-tv-z]{5})$")
