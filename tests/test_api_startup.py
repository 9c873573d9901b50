"""A server prepares its app's routes before it listens, so the first request after a start
is not the one that pays for it (about 0.2 s with FastAPI's lazy route preparation), while
an app built for a few requests (a test's) prepares only what they reach; and the error
answers the document gives every operation refer to one schema."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import routing
from fastapi.testclient import TestClient

from querydeck.api import create_app, prepare_routes
from querydeck.api.schemas import ERROR_RESPONSES, ERROR_SCHEMA_REF
from querydeck.app.workbench import Workbench
from querydeck.cli import serve as serve_command
from querydeck.runs.results import arrowpool
from querydeck.settings import Settings
from tests.apiauth import bearer_token


def _prepared_by_requests(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch, *, served: bool
) -> list[Any]:
    """The routes the first requests to a new app prepare (with ``served``: after
    :func:`prepare_routes`, as ``querydeck serve`` calls it)."""
    context = getattr(routing, "_EffectiveRouteContext", None)
    if context is None:
        pytest.skip("this FastAPI prepares routes when they are included")
    app = create_app(workbench)
    if served:
        prepare_routes(app)
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
    return prepared


def test_a_served_app_answers_its_first_request_with_its_routes_prepared(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _prepared_by_requests(workbench, monkeypatch, served=True) == []


def test_an_app_not_served_prepares_only_the_routers_its_requests_reach(
    workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs router comes first: its routes are prepared, the later routers' are not."""
    prepared = _prepared_by_requests(workbench, monkeypatch, served=False)
    paths = {route.path for route in prepared}
    assert "/runs" in paths
    assert not any(path.startswith(("/connections", "/assistant")) for path in paths), paths


def test_serve_prepares_the_routes_before_it_listens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``querydeck serve``'s app has every router prepared when uvicorn is handed it."""
    handed: list[Any] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        handed.append(server.config.app)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(arrowpool, "make_default", lambda: None)  # the test process's pool
    with Workbench(settings) as workbench:  # a connection: serve registers no demo
        workbench.connections.create("one", driver="sqlite", options={"path": "one.db"})
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        serve_command._serve(settings, listening, "127.0.0.1", listening.getsockname()[1])
    [app] = handed
    included = [r for r in app.router.routes if hasattr(r, "effective_candidates")]
    assert len(included) > 10
    for router in included:  # FastAPI's cache of the router's prepared routes is filled
        assert router._effective_candidates_version is not None, router


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
