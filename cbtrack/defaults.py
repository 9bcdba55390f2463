"""The default policy shipped inside the package: `cbtrack/data/policy.yaml`, read with
importlib.resources and parsed by the store's strict YAML loader.

Kept apart from `cbtrack.policy` so that the policy module stays pure (no file reads, no
YAML): it asks this module for the default data when it needs it.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

#: Where the default policy lives inside the package.
RESOURCE = ("data", "policy.yaml")


def policy_text() -> str:
    """The commented default policy, exactly as `cbtrack init` writes it."""
    from importlib.resources import files

    return files("cbtrack").joinpath(*RESOURCE).read_text(encoding="utf-8")


@functools.cache
def _shipped() -> dict[str, Any]:
    from cbtrack.store import parse_yaml

    data = parse_yaml(policy_text())
    if not isinstance(data, dict):
        raise TypeError("the packaged default policy is not a mapping")
    return data


def policy_data() -> dict[str, Any]:
    """The default policy's data: a fresh copy, every scalar as the text written."""
    return copy.deepcopy(_shipped())
