"""The web UI's copy of the OpenAPI document (web/openapi.json) is the server's current
one: the UI's API types are generated from it (``web/src/api/schema.test.ts`` checks them
against it). Regenerate with ``make web-api``."""

from __future__ import annotations

from pathlib import Path

import orjson

from querydeck.api.document import document, main, render

WEB = Path(__file__).resolve().parent.parent / "web"


def test_the_ui_copy_of_the_openapi_document_is_current() -> None:
    committed = (WEB / "openapi.json").read_bytes()
    current = render(document())
    assert orjson.loads(committed) == orjson.loads(current), (
        "web/openapi.json is stale: run `make web-api` and commit it with web/src/api/schema.d.ts"
    )
    assert committed == current  # the same bytes too (sorted keys, two-space indent)


def test_main_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    assert main([str(target)]) == 0
    assert orjson.loads(target.read_bytes())["info"]["title"] == "querydeck"
    assert main([]) == 2
