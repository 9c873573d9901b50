"""Building the app prepares its routes, so the first request after a start is not the one
that pays for it (about 0.3 s with FastAPI's lazy route preparation)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from querydeck.api import create_app
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
