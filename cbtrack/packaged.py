"""Data files shipped inside the package (cbtrack/data/), read with importlib.resources.

They are ours and trusted, but read like the store's files: every scalar stays text."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


def text(name: str) -> str:
    """The text of cbtrack/data/<name>, comments and all."""
    return resources.files("cbtrack").joinpath("data", name).read_text(encoding="utf-8")


@cache
def load(name: str) -> Any:
    """The parsed content of cbtrack/data/<name> (cached: read once per process)."""
    return yaml.load(text(name), Loader=yaml.CBaseLoader)
