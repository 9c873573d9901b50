"""Building the app prepares its routes, so the first request after a start is not the one
that pays for it (about 0.3 s with FastAPI's lazy route preparation), and the error answers
its document gives every operation refer to one schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.api.schemas import ERROR_RESPONSES, ERROR_SCHEMA_REF
from querydeck.app.workbench import Workbench
from tests.apiauth import bearer_token


def test_the_first_request_finds_its_routes_prepared(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = getattr(routing, "_EffectiveRouteContext", None)
    if context is None:
        pytest.skip("this FastAPI prepares routes when they are included")
    app = create_app(workbench)
    prepared: list[Any] = []
    original = context.from_api_route

    def counted(*args: Any, **kwargs: Any) -> Any:
        prepared.append(kwargs.get("original_route"))
        return original(*args, **kwargs)

    monkeypatch.setattr(context, "from_api_route", counted)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {bearer_token(workbench)}"}
        assert client.get("/api/v1/runs", headers=headers).status_code == 200
        assert client.get("/healthz").status_code == 200
    assert prepared == []


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_the_error_answers_name_a_schema_the_document_holds(workbench: Workbench) -> None:
    """The error answers refer to ErrorBody's schema instead of carrying a model each
    (building a model field per route and status was most of create_app's time): every
    reference of the document resolves."""
    spec = create_app(workbench).openapi()
    schemas = spec["components"]["schemas"]
    references = set(_references(spec))
    assert ERROR_SCHEMA_REF in references
    for reference in references:
        assert reference.startswith("#/components/schemas/"), reference
        assert reference.rsplit("/", 1)[1] in schemas, reference
    assert set(schemas["ErrorBody"]["properties"]) == {"error"}
    responses = spec["paths"]["/api/v1/connections"]["get"]["responses"]
    for status in ERROR_RESPONSES:
        content = responses[str(status)]["content"]
        assert content == {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}
