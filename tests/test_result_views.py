"""Sorted and filtered views, column statistics and chart aggregations of stored results
(querydeck.runs.views, querydeck.runs.insights; /runs/{id}/view, /stats, /aggregate): real
runs on the demo DuckDB, answered from their stored Arrow files, never re-run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.errors import ResultViewInvalid
from querydeck.runs.results.views import Filter, ResultViews, SortKey, parse_spec
from querydeck.settings import load_settings
from tests.apiauth import api_client

ROWS = 5000
DATA = f"""SELECT i, i % 7 AS m, 'Row ' || i AS label,
    CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 1.5)::DECIMAL(12, 2) END AS amount,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL (i) MINUTE AS at,
    [i, i + 1] AS l
    FROM range({ROWS}) t(i)"""


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory, demo_files: Path) -> Iterator[Workbench]:
    data_dir = tmp_path_factory.mktemp("views-data")
    shutil.copytree(demo_files, data_dir / "demo")
    workbench = Workbench(load_settings(data_dir=data_dir)).open()
    workbench.admin.create_demo()
    try:
        yield workbench
    finally:
        workbench.close()


def analyst(wb: Workbench, username: str) -> TestClient:
    """A client of an analyst who may query and export the demo connection."""
    client = api_client(wb, username=username, role=Role.analyst)
    wb.grants.grant("demo", "user", username, ["query", "export"])
    return client


@pytest.fixture(scope="module")
def client(wb: Workbench) -> Iterator[TestClient]:
    with analyst(wb, "viewsowner") as test_client:
        yield test_client


def start(client: TestClient, sql: str) -> str:
    response = client.post(
        "/api/v1/runs", json={"connection": "demo", "sql": sql, "wait_ms": 30_000}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["run"]["id"])


@pytest.fixture(scope="module")
def run_id(client: TestClient) -> str:
    return start(client, DATA)


def view(client: TestClient, run_id: str, **params: Any) -> Any:
    query = {
        k: orjson.dumps(v).decode() if k in ("sort", "filter") else v for k, v in params.items()
    }
    return client.get(f"/api/v1/runs/{run_id}/view", params=query)


def error_code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_sort_by_one_column_descending_pages_like_the_result(
    client: TestClient, run_id: str
) -> None:
    first = view(client, run_id, sort=[{"column": "i", "desc": True}], limit=3)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["total"] == ROWS
    assert [r[0] for r in page["rows"]] == [4999, 4998, 4997]
    assert [c["name"] for c in page["columns"]] == ["i", "m", "label", "amount", "at", "l"]
    deep = view(client, run_id, sort=[{"column": "i", "desc": True}], offset=4500, limit=600)
    assert [r[0] for r in deep.json()["rows"]] == list(range(499, -1, -1))


def test_sort_by_several_columns_with_nulls_last(client: TestClient, run_id: str) -> None:
    page = view(
        client,
        run_id,
        sort=[{"column": "m"}, {"column": "amount", "desc": True}],
        limit=ROWS,
    ).json()
    # Rows tied on both keys (the NULLs of a group) may come in any order.
    got = [(r[1], r[3]) for r in page["rows"]]
    order = sorted(range(ROWS), key=lambda i: (i % 7, i % 10 == 0, -i))
    assert got == [(i % 7, None if i % 10 == 0 else f"{i * 1.5:.2f}") for i in order]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([{"column": "m", "op": "eq", "value": 3}], [i for i in range(ROWS) if i % 7 == 3]),
        ([{"column": "i", "op": "between", "value": [10, 20]}], list(range(10, 21))),
        (
            [{"column": "label", "op": "contains", "value": "ROW 49"}],
            [i for i in range(ROWS) if str(i).startswith("49")],
        ),
        ([{"column": "amount", "op": "is_null"}], list(range(0, ROWS, 10))),
        (
            [{"column": "amount", "op": "not_null"}, {"column": "i", "op": "lt", "value": 12}],
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 11],
        ),
        ([{"column": "amount", "op": "ge", "value": "7497"}], [4998, 4999]),
        ([{"column": "at", "op": "le", "value": "2024-01-01 00:01:00+00"}], [0, 1]),
        ([{"column": "at", "op": "gt", "value": "2024-01-04T11:15:00Z"}], list(range(4996, ROWS))),
    ],
)
def test_filters_by_value_range_substring_and_null(
    client: TestClient, run_id: str, filters: list[dict[str, Any]], expected: list[int]
) -> None:
    response = view(client, run_id, filter=filters, limit=10_000)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(expected)
    assert [r[0] for r in page["rows"]] == expected


def test_a_view_is_computed_once_then_paged(wb: Workbench, client: TestClient, run_id: str) -> None:
    spec = [{"column": "label", "desc": False}]
    view(client, run_id, sort=spec, limit=1)
    files = sorted((wb.results.directory / "views").glob(f"{run_id}-*.arrow"))
    before = {f: f.stat().st_mtime_ns for f in files}
    again = view(client, run_id, sort=spec, offset=2500, limit=2).json()
    assert again["rows"][0][2] == sorted(f"Row {i}" for i in range(ROWS))[2500]
    assert {f: f.stat().st_mtime_ns for f in files} == before  # read, not written again


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"sort": [{"column": "nope"}]}, 422, "RESULT_COLUMN_UNKNOWN"),
        ({"filter": [{"column": "i", "op": "like", "value": 1}]}, 422, "RESULT_VIEW_INVALID"),
        ({"filter": [{"column": "i", "op": "eq"}]}, 422, "RESULT_VIEW_INVALID"),
        ({"filter": [{"column": "i", "op": "between", "value": [1]}]}, 422, "RESULT_VIEW_INVALID"),
        ({"filter": [{"column": "i", "op": "eq", "value": "abc"}]}, 422, "RESULT_VIEW_INVALID"),
        ({"filter": [{"column": "i", "op": "contains", "value": 5}]}, 422, "RESULT_VIEW_INVALID"),
        ({"sort": [{"column": "i"}, {"column": "i", "desc": True}]}, 422, "RESULT_VIEW_INVALID"),
    ],
)
def test_bad_views_are_refused_with_stable_codes(
    client: TestClient, run_id: str, params: dict[str, Any], status: int, code: str
) -> None:
    assert error_code(view(client, run_id, **params)) == (status, code)


def test_malformed_json_is_refused(client: TestClient, run_id: str) -> None:
    response = client.get(f"/api/v1/runs/{run_id}/view", params={"sort": "[{"})
    assert error_code(response) == (422, "RESULT_VIEW_INVALID")
    response = client.get(f"/api/v1/runs/{run_id}/view", params={"filter": '{"a": 1}'})
    assert error_code(response) == (422, "RESULT_VIEW_INVALID")


def test_no_sort_or_filter_is_the_result_itself(client: TestClient, run_id: str) -> None:
    plain = client.get(f"/api/v1/runs/{run_id}/view", params={"offset": 10, "limit": 2}).json()
    rows = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 10, "limit": 2}).json()
    assert plain == rows


def test_column_statistics(client: TestClient, run_id: str) -> None:
    stats = client.get(f"/api/v1/runs/{run_id}/stats", params={"column": "amount"}).json()
    assert stats == {
        "column": "amount",
        "rows": ROWS,
        "nulls": ROWS // 10,
        "distinct": ROWS - ROWS // 10,
        "min": "1.50",
        "max": "7498.50",
        "top": stats["top"],
    }
    assert stats["top"][0] == {"value": None, "count": 500}
    assert all(t["count"] == 1 for t in stats["top"][1:])
    m = client.get(f"/api/v1/runs/{run_id}/stats", params={"column": "m"}).json()
    assert (m["min"], m["max"], m["distinct"]) == (0, 6, 7)
    assert m["top"][:3] == [
        {"value": 0, "count": 715},
        {"value": 1, "count": 715},
        {"value": 2, "count": 714},
    ]
    at = client.get(f"/api/v1/runs/{run_id}/stats", params={"column": "at"}).json()
    assert at["min"] == "2024-01-01T00:00:00Z"
    lists = client.get(f"/api/v1/runs/{run_id}/stats", params={"column": "l"}).json()
    assert (lists["min"], lists["max"], lists["distinct"]) == (None, None, ROWS)
    missing = client.get(f"/api/v1/runs/{run_id}/stats", params={"column": "zz"})
    assert error_code(missing) == (422, "RESULT_COLUMN_UNKNOWN")


def test_aggregate_groups_a_category(client: TestClient, run_id: str) -> None:
    found = client.get(f"/api/v1/runs/{run_id}/aggregate", params={"x": "m", "agg": "count"}).json()
    assert found["binned"] is False
    assert [(r["x"], r["y"]) for r in found["rows"]] == [
        (m, len([i for i in range(ROWS) if i % 7 == m])) for m in range(7)
    ]
    summed = client.get(
        f"/api/v1/runs/{run_id}/aggregate",
        params={"x": "label", "y": "i", "agg": "max"},
    ).json()
    assert summed["groups"] == 1000
    assert summed["truncated"] is True
    assert summed["rows"][0] == {"x": "Row 4999", "x_end": None, "color": None, "y": 4999}


def test_aggregate_bins_numbers_and_times(client: TestClient, run_id: str) -> None:
    numbers = client.get(
        f"/api/v1/runs/{run_id}/aggregate", params={"x": "i", "agg": "count", "bins": 10}
    ).json()
    assert numbers["binned"] is True
    assert numbers["groups"] == 10
    assert sum(r["y"] for r in numbers["rows"]) == ROWS
    assert numbers["rows"][0]["x"] == 0
    assert numbers["rows"][0]["x_end"] == pytest.approx(499.9)
    times = client.get(
        f"/api/v1/runs/{run_id}/aggregate",
        params={"x": "at", "y": "amount", "agg": "sum", "bins": 5, "color": "m"},
    ).json()
    assert times["binned"] is True
    assert times["rows"][0]["x"] == "2024-01-01T00:00:00"
    assert {r["color"] for r in times["rows"]} == set(range(7))
    total = sum(float(r["y"]) for r in times["rows"] if r["y"] is not None)
    assert total == pytest.approx(sum(i * 1.5 for i in range(ROWS) if i % 10))


def test_aggregate_refuses_what_it_cannot_compute(client: TestClient, run_id: str) -> None:
    url = f"/api/v1/runs/{run_id}/aggregate"
    assert error_code(client.get(url, params={"x": "m", "agg": "sum"})) == (
        422,
        "RESULT_VIEW_INVALID",
    )
    assert error_code(client.get(url, params={"x": "m", "agg": "avg", "y": "label"})) == (
        422,
        "RESULT_VIEW_INVALID",
    )
    assert error_code(client.get(url, params={"x": "nope"})) == (422, "RESULT_COLUMN_UNKNOWN")


def test_only_the_run_owner_reads_its_views(wb: Workbench, run_id: str) -> None:
    with analyst(wb, "viewsother") as other:
        for path, params in (
            ("view", {"sort": orjson.dumps([{"column": "i"}]).decode()}),
            ("stats", {"column": "i"}),
            ("aggregate", {"x": "m"}),
        ):
            response = other.get(f"/api/v1/runs/{run_id}/{path}", params=params)
            assert error_code(response) == (404, "RUN_NOT_FOUND")


def test_views_of_an_expired_result_answer_410(wb: Workbench, client: TestClient) -> None:
    gone = start(client, "SELECT i FROM range(100) t(i)")
    assert view(client, gone, sort=[{"column": "i", "desc": True}]).status_code == 200
    wb.results.delete(gone)
    response = view(client, gone, sort=[{"column": "i", "desc": True}])
    assert error_code(response) == (410, "RESULT_MISSING")


def test_least_recently_used_views_are_dropped(
    wb: Workbench, client: TestClient, run_id: str
) -> None:
    views = ResultViews(wb.results, max_views=2)
    _, stored = wb.history.stored(run_id)
    ids = [
        views.open(run_id, stored, parse_spec(orjson.dumps([{"column": c}]).decode(), None))[0]
        for c in ("m", "label", "at")
    ]
    assert [views.store.exists(v) for v in ids] == [False, True, True]


@pytest.mark.parametrize(
    ("sort", "filters"),
    [
        ('["i"]', None),
        ('[{"column": "i", "desc": "yes"}]', None),
        (orjson.dumps([{"column": f"c{n}"} for n in range(9)]).decode(), None),
        (None, orjson.dumps([{"column": "i", "op": "eq", "value": "x" * 1001}]).decode()),
        (None, '[{"column": "i", "op": "eq", "value": {"a": 1}}]'),
        (None, '[{"column": "i", "op": "between", "value": [1, null]}]'),
        (None, '[{"column": "i", "op": "eq", "value": 1, "extra": 2}]'),
    ],
)
def test_parse_spec_refuses_malformed_views(sort: str | None, filters: str | None) -> None:
    with pytest.raises(ResultViewInvalid):
        parse_spec(sort, filters)


def test_parse_spec_reads_a_view() -> None:
    spec = parse_spec(
        '[{"column": "a", "desc": true}]',
        '[{"column": "b", "op": "between", "value": [1, 2.5]}, {"column": "c", "op": "eq",'
        ' "value": true}]',
    )
    assert spec.sort == (SortKey("a", True),)
    assert spec.filters == (Filter("b", "between", (1, 2.5)), Filter("c", "eq", True))
    assert spec.key() != parse_spec('[{"column": "a", "desc": true}]', None).key()
    assert parse_spec("", None).plain


def test_a_view_dropped_by_a_trim_is_computed_again(wb: Workbench, run_id: str) -> None:
    views = ResultViews(wb.results)
    _, stored = wb.history.stored(run_id)
    spec = parse_spec(orjson.dumps([{"column": "i", "desc": True}]).decode(), None)
    view_id, _ = views.open(run_id, stored, spec)
    views.store.delete(view_id)  # as another request's trim does
    table, total = views.page(run_id, stored, spec, 0, 2)
    assert total == ROWS
    assert table.column("i").to_pylist() == [ROWS - 1, ROWS - 2]
