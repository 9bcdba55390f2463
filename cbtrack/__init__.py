"""cbtrack: patient callback tracking for small medical practices.

The library works without the CLI:

    from cbtrack import Store, service
    store = Store.find("~/callbacks")
    for cb in service.queue(store, now):
        ...
"""

import os

# cbtrack uses no pydantic plugins; skipping their entry-point scan saves ~0.1 s per command.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

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
