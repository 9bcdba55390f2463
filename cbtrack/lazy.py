"""Modules loaded on first use, so that `cbtrack --help` or a library import stays cheap.

    if TYPE_CHECKING:
        from cbtrack import service
    else:
        service = lazy_module("cbtrack.service")

Type checkers see the real module; at run time the module is executed the first time one of
its attributes is read (importlib's own `LazyLoader`).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`: the loaded one if any, else one that loads on first attribute use."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
