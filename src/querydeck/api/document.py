"""The OpenAPI document as a file: the web UI's API types are generated from it.

``python -m querydeck.api.document PATH`` writes the document of this server's API (keys
sorted, two-space indent, so that a change to the API shows as a small diff) to PATH. The
UI keeps a copy in ``web/openapi.json`` and generates ``web/src/api/schema.d.ts`` from it;
a test fails when either is stale.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson


def document() -> dict[str, Any]:
    """The OpenAPI document of the API, built on a throwaway data directory."""
    from querydeck.api import create_app
    from querydeck.app.workbench import Workbench
    from querydeck.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="querydeck-openapi-") as data_dir:
        workbench = Workbench(load_settings(data_dir=Path(data_dir)))
        try:
            return create_app(workbench).openapi()
        finally:
            workbench.close()


def render(spec: dict[str, Any]) -> bytes:
    return orjson.dumps(spec, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m querydeck.api.document PATH", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(render(document()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
