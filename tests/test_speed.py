"""Speed by construction (nothing here is timed): cheap start-up, the read cache behind the
store, and a queue that fits one screen."""

from __future__ import annotations

import subprocess
import sys


def test_help_loads_neither_pydantic_nor_the_store() -> None:
    """`cbtrack --help` builds the command tree from plain enums: no models, no YAML."""
    code = (
        "import sys, types\n"
        "from cbtrack.cli import app\n"
        "import typer.main\n"
        "typer.main.get_command(app)\n"
        "heavy = ('pydantic', 'yaml', 'cbtrack.model', 'cbtrack.store', 'cbtrack.service',\n"
        "         'cbtrack.render', 'tabulate', 'dateutil')\n"
        "# a module waiting behind a lazy loader is not a plain ModuleType until first use\n"
        "loaded = [m for m in heavy if type(sys.modules.get(m)) is types.ModuleType]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_import_is_lazy_but_complete() -> None:
    code = (
        "import sys, cbtrack\n"
        "assert 'cbtrack.model' not in sys.modules\n"
        "from cbtrack import Store, Callback, Policy, StoreError, service\n"
        "assert Store.__module__ == 'cbtrack.store' and Callback.__module__ == 'cbtrack.model'\n"
        "assert hasattr(service, 'queue')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
