"""JSON Schemas of the record and the policy, generated from the pydantic models.

Regenerate after changing a model: `python -m cbtrack.schema schemas/`
(a test fails while `schemas/` is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cbtrack.model import Callback
from cbtrack.policy import Policy

SCHEMAS: dict[str, type[Callback] | type[Policy]] = {
    "callback.schema.json": Callback,
    "policy.schema.json": Policy,
}


def schema_text(model: type[Callback] | type[Policy]) -> str:
    schema: dict[str, Any] = model.model_json_schema(mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, model in SCHEMAS.items():
        path = folder / name
        path.write_text(schema_text(model), encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
