"""cbtrack: patient callback tracking for small medical practices.

The library works without the CLI:

    from cbtrack import Store, service
    store = Store.find("~/callbacks")
    for cb in service.queue(store, now):
        ...

Importing the package is cheap: the names below are loaded on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# cbtrack uses no pydantic plugins; skipping their entry-point scan saves ~0.1 s per command.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    from cbtrack.errors import CbtrackError, NotFound, Refused, StoreError
    from cbtrack.model import Attempt, Callback, Event, Patient
    from cbtrack.policy import Policy
    from cbtrack.store import Store

__version__ = "0.1.0"
__all__ = [
    "Attempt",
    "Callback",
    "CbtrackError",
    "Event",
    "NotFound",
    "Patient",
    "Policy",
    "Refused",
    "Store",
    "StoreError",
    "__version__",
]

_HOMES = {
    "CbtrackError": "errors",
    "NotFound": "errors",
    "Refused": "errors",
    "StoreError": "errors",
    "Attempt": "model",
    "Callback": "model",
    "Event": "model",
    "Patient": "model",
    "Policy": "policy",
    "Store": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cbtrack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"cbtrack.{home}"), name)
    globals()[name] = value
    return value
