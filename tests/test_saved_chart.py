"""A saved query keeps the chart of its results (querydeck.runs.charts): a Vega-Lite spec
without inline data, at most 64 KB, stored with the query and seen by those who see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.errors import SavedQueryChartInvalid
from querydeck.runs.charts import MAX_CHART_BYTES, checked_chart
from tests.apiauth import api_client

SPEC: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "data": {"name": "result"},
    "mark": {"type": "bar"},
    "encoding": {
        "x": {"field": "x", "type": "nominal", "title": "Name"},
        "y": {"field": "y", "type": "quantitative", "title": "count"},
    },
    "usermeta": {"querydeck": {"mark": "bar", "x": "Name", "aggregate": "count"}},
}


@pytest.fixture
def client(demo_workbench: Workbench) -> Iterator[TestClient]:
    with api_client(demo_workbench, username="charter", role=Role.analyst) as test_client:
        demo_workbench.grants.grant("chinook", "user", "charter", ["query"])
        yield test_client


def test_a_chart_is_saved_replaced_and_removed(
    client: TestClient, demo_workbench: Workbench
) -> None:
    created = client.post(
        "/api/v1/saved-queries",
        json={
            "name": "Artists chart",
            "sql": 'SELECT "Name" FROM "Artist"',
            "connection": "chinook",
            "shared": True,
            "chart": SPEC,
        },
    )
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["chart"] == SPEC
    assert client.get(f"/api/v1/saved-queries/{saved['id']}").json()["chart"] == SPEC
    line = {**SPEC, "mark": {"type": "line"}}
    changed = client.patch(f"/api/v1/saved-queries/{saved['id']}", json={"chart": line})
    assert changed.json()["chart"]["mark"] == {"type": "line"}
    renamed = client.patch(f"/api/v1/saved-queries/{saved['id']}", json={"name": "Artists"})
    assert renamed.json()["chart"]["mark"] == {"type": "line"}  # absent: kept
    with api_client(demo_workbench, username="looker", role=Role.viewer) as viewer:
        demo_workbench.grants.grant("chinook", "user", "looker", ["query"])
        shared = viewer.get(f"/api/v1/saved-queries/{saved['id']}").json()
        assert shared["chart"]["mark"] == {"type": "line"}
    removed = client.patch(f"/api/v1/saved-queries/{saved['id']}", json={"chart": None})
    assert removed.json()["chart"] is None
    plain = client.post("/api/v1/saved-queries", json={"name": "No chart", "sql": "SELECT 1"})
    assert plain.json()["chart"] is None


@pytest.mark.parametrize(
    "chart",
    [
        {**SPEC, "data": {"values": [{"x": "a", "y": 1}]}},
        {**SPEC, "layer": [{"data": {"values": []}, "mark": "point"}]},
        {**SPEC, "$schema": "https://vega.github.io/schema/vega/v5.json"},
        {**SPEC, "description": "x" * MAX_CHART_BYTES},
    ],
)
def test_charts_querydeck_does_not_keep_are_refused(
    client: TestClient, chart: dict[str, Any]
) -> None:
    response = client.post(
        "/api/v1/saved-queries", json={"name": "Bad chart", "sql": "SELECT 1", "chart": chart}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "SAVED_QUERY_CHART_INVALID"


def test_a_chart_must_be_an_object(client: TestClient) -> None:
    response = client.post(
        "/api/v1/saved-queries", json={"name": "Bad", "sql": "SELECT 1", "chart": [1, 2]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_INPUT"


def test_checked_chart_keeps_what_it_may() -> None:
    assert checked_chart(None) is None
    assert checked_chart(SPEC) is SPEC
    with pytest.raises(SavedQueryChartInvalid):
        checked_chart({"$schema": 5})
