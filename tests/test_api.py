"""The HTTP API end to end (in-process ASGI client, real engines underneath)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from querydeck import logs
from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings
from tests.apiauth import api_client
from tests.services import POSTGRES_URL, postgres_database

SENTINEL = "S3ntinel-api-9d2e"
LONG = "SELECT count(*) FROM range(100000000) a, range(100000) b"


@pytest.fixture
def client(workbench: Workbench, demo_files: Path) -> Iterator[TestClient]:
    shutil.copytree(demo_files, workbench.settings.data_dir / "demo")  # built once per process
    workbench.admin.create_demo()
    with api_client(workbench) as test_client:
        yield test_client


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "detail", "request_id"}
    assert "Traceback" not in response.text
    return dict(body["error"])


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT 1"})
    metrics = client.get("/metrics").text
    assert 'querydeck_runs_total{driver="duckdb",status="succeeded"}' in metrics
    assert "querydeck_run_duration_seconds_bucket" in metrics
    assert "querydeck_http_request_duration_seconds_bucket" in metrics


def test_readyz_follows_the_app_database(data_dir: Path) -> None:
    """A PostgreSQL app database that stops accepting connections makes /readyz 503."""
    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        wb = Workbench(load_settings(data_dir=data_dir, database_url=url)).open()
        try:
            with api_client(wb) as test_client:
                assert test_client.get("/readyz").status_code == 200
                with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (name,),
                    )
                    try:
                        response = test_client.get("/readyz")
                        assert response.status_code == 503
                        assert error(response)["code"] == "APP_DB_UNAVAILABLE"
                        assert test_client.get("/healthz").status_code == 200
                    finally:
                        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                assert test_client.get("/readyz").status_code == 200
        finally:
            wb.close()


def test_openapi_document(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/rows",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/connections",
        "/api/v1/connections/{name}",
        "/api/v1/connections/{name}/test",
        "/api/v1/drivers",
        "/healthz",
        "/readyz",
    } <= paths
    assert client.get("/api/docs").status_code == 200
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyCookie"] == {
        **schemes["APIKeyCookie"],
        "in": "cookie",
        "name": "qd_session",
    }
    security = {
        (path, method): operation.get("security")
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    public = {("/api/v1/auth/login", "post"), ("/healthz", "get"), ("/readyz", "get")}
    assert {key for key, value in security.items() if not value} == public
    assert security[("/api/v1/runs", "post")] == [{"HTTPBearer": []}, {"APIKeyCookie": []}]


def test_run_answers_with_the_first_page(client: TestClient) -> None:
    response = client.post(
        "/api/v1/runs", json={"connection": "demo", "sql": "SELECT count(*) AS n FROM lineitem"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["run"]["status"] == "succeeded"
    assert body["run"]["created_at"].endswith("Z")
    assert body["page"]["rows"] == [[60175]]
    assert body["page"]["columns"][0]["name"] == "n"
    run_id = body["run"]["id"]
    again = client.get(f"/api/v1/runs/{run_id}").json()
    assert again["page"]["rows"] == [[60175]]
    rows = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 5, "limit": 5}).json()
    assert rows["rows"] == []
    assert rows["total"] == 1


MIXED = (
    "SELECT i, 9007199254740993 + i AS big, i / 3 AS ratio, (i / 7)::DECIMAL(18, 4) AS amount, "
    "'t' || i AS label, TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND AS at, "
    "DATE '2020-01-01' + i::INT AS day, i % 2 = 0 AS flag, "
    "CASE WHEN i % 5 = 0 THEN NULL ELSE i END AS maybe, "
    "('b' || i)::BLOB AS raw FROM range({n}) t(i)"
)


@pytest.mark.parametrize("n", [40, 20_000], ids=["kept-in-memory", "read-back"])
def test_the_first_page_of_a_run_equals_the_stored_rows(
    client: TestClient, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer of POST /runs takes a small result's first page from memory (no read
    back): it is the page the stored result gives, value for value and type for type."""
    history = client.app.state.workbench.history  # type: ignore[attr-defined]
    reads: list[str] = []
    read = history.rows
    monkeypatch.setattr(
        history, "rows", lambda run_id, **kw: reads.append(run_id) or read(run_id, **kw)
    )
    body = client.post(
        "/api/v1/runs",
        json={"connection": "demo", "sql": MIXED.format(n=n), "page_size": 25},
    ).json()
    assert body["run"]["status"] == "succeeded", body
    assert body["run"]["row_count"] == min(n, 10_000)
    run_id = body["run"]["id"]
    assert reads == ([] if n < 100 else [run_id])
    stored = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 0, "limit": 25}).json()
    assert body["page"] == stored
    assert len(stored["rows"]) == 25
    assert stored["rows"][5][8] is None
    assert isinstance(stored["rows"][1][1], str)  # beyond 2**53: a string
    again = client.get(f"/api/v1/runs/{run_id}", params={"page_size": 25}).json()  # the file
    assert again["page"] == stored


def test_paging_through_a_truncated_result(client: TestClient) -> None:
    body = client.post(
        "/api/v1/runs",
        json={
            "connection": "chinook",
            "sql": "SELECT TrackId FROM Track ORDER BY TrackId",
            "max_rows": 1000,
            "page_size": 10,
        },
    ).json()
    assert (body["run"]["row_count"], body["run"]["truncated"]) == (1000, True)
    assert len(body["page"]["rows"]) == 10
    run_id = body["run"]["id"]
    ids = []
    for offset in range(0, 1000, 300):
        page = client.get(
            f"/api/v1/runs/{run_id}/rows", params={"offset": offset, "limit": 300}
        ).json()
        ids += [r[0] for r in page["rows"]]
    assert ids == list(range(1, 1001))
    for params in ({"limit": 0}, {"limit": 10_001}, {"offset": -1}):
        response = client.get(f"/api/v1/runs/{run_id}/rows", params=params)
        assert response.status_code == 422
        assert error(response)["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"connection": "demo", "sql": "DELETE FROM lineitem"}, 422, "SQL_NOT_READ_ONLY"),
        ({"connection": "demo", "sql": ""}, 422, "SQL_EMPTY"),
        ({"connection": "demo", "sql": "SELECT 1; SELECT 2"}, 422, "SQL_MULTIPLE_STATEMENTS"),
        ({"connection": "demo", "sql": "SELEC 1"}, 422, "SQL_PARSE_ERROR"),
        (
            {"connection": "demo", "sql": "SELECT * FROM read_csv('/etc/passwd')"},
            403,
            "FILE_ACCESS_DENIED",
        ),
        ({"connection": "demo", "sql": "SELECT * FROM nope"}, 400, "QUERY_FAILED"),
        ({"connection": "demo", "sql": LONG, "timeout_s": 1}, 504, "QUERY_TIMEOUT"),
        ({"connection": "nope", "sql": "SELECT 1"}, 404, "CONNECTION_NOT_FOUND"),
        ({"connection": "demo", "sql": "SELECT 1", "max_rows": 0}, 422, "INVALID_INPUT"),
        ({"connection": "demo", "sql": "SELECT 1", "extra": 1}, 422, "INVALID_INPUT"),
        ({"sql": "SELECT 1"}, 422, "INVALID_INPUT"),
    ],
)
def test_run_errors(client: TestClient, payload: dict[str, Any], status: int, code: str) -> None:
    response = client.post("/api/v1/runs", json=payload)
    assert response.status_code == status, response.text
    body = error(response)
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    if code.startswith("SQL_") or code.startswith("QUERY_") or code == "FILE_ACCESS_DENIED":
        run = client.get(f"/api/v1/runs/{body['detail']['run_id']}").json()["run"]
        assert run["error_code"] == code


def test_malformed_json_body(client: TestClient) -> None:
    response = client.post(
        "/api/v1/runs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert error(response)["code"] == "INVALID_INPUT"
    # Where it breaks, as a line and a column (never the offset shown as a field name).
    body = b'{\n  "connection": "demo",\n  "sql": "SELECT 1",\n  "max_rows": 10,\n}'
    response = client.post(
        "/api/v1/runs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    found = error(response)
    assert found["code"] == "INVALID_INPUT"
    assert found["message"] == (
        "The request body is not valid JSON: Expecting property name enclosed in double "
        "quotes at line 5, column 1."
    )
    assert (found["detail"]["line"], found["detail"]["column"]) == (5, 1)
    assert [p["field"] for p in found["detail"]["problems"]] == ["body"]
    response = client.post(
        "/api/v1/runs",
        content='{"connection": "démo", "sql": SELECT}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert (error(response)["detail"]["line"], error(response)["detail"]["column"]) == (1, 31)


def test_unknown_route_and_method(client: TestClient) -> None:
    assert error(client.get("/api/v1/nothing"))["code"] == "NOT_FOUND"
    response = client.delete("/api/v1/runs")
    assert response.status_code == 405
    assert error(response)["code"] == "METHOD_NOT_ALLOWED"


def test_async_run_then_cancel(client: TestClient) -> None:
    response = client.post("/api/v1/runs", json={"connection": "demo", "sql": LONG, "wait_ms": 0})
    assert response.status_code == 202
    run_id = response.json()["run"]["id"]
    assert response.json()["page"] is None
    time.sleep(0.2)
    started = time.perf_counter()
    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert time.perf_counter() - started < 2
    again = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert (again.status_code, error(again)["code"]) == (409, "RUN_NOT_RUNNING")
    rows = client.get(f"/api/v1/runs/{run_id}/rows")
    assert (rows.status_code, error(rows)["code"]) == (409, "RESULT_UNAVAILABLE")
    assert error(client.get("/api/v1/runs/unknown"))["code"] == "RUN_NOT_FOUND"


def test_history_endpoint(client: TestClient) -> None:
    client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT 1"})
    client.post("/api/v1/runs", json={"connection": "demo", "sql": "DROP TABLE x"})
    page = client.get("/api/v1/runs", params={"limit": 10}).json()
    assert page["total"] == 2
    assert [r["status"] for r in page["items"]] == ["rejected", "succeeded"]
    rejected = client.get("/api/v1/runs", params={"status": "rejected"}).json()
    assert [r["sql"] for r in rejected["items"]] == ["DROP TABLE x"]
    bad = client.get("/api/v1/runs", params={"status": "exploded"})
    assert error(bad)["code"] == "INVALID_INPUT"


def test_connection_crud(client: TestClient, files_dir: Path) -> None:
    db = files_dir / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
    created = client.post("/api/v1/connections", json={"name": "x", "url": f"sqlite:///{db}"})
    assert created.status_code == 201
    assert created.json()["options"] == {"path": str(db)}
    duplicate = client.post(
        "/api/v1/connections", json={"name": "X", "driver": "sqlite", "options": {"path": str(db)}}
    )
    assert (duplicate.status_code, error(duplicate)["code"]) == (409, "CONNECTION_NAME_TAKEN")
    tested = client.post("/api/v1/connections/x/test")
    assert tested.status_code == 200
    assert tested.json()["ok"] is True
    assert client.get("/api/v1/connections/x").json()["status"]["ok"] is True
    renamed = client.post("/api/v1/connections/x/rename", json={"name": "ünïcode"})
    assert renamed.json()["name"] == "ünïcode"
    patched = client.patch("/api/v1/connections/ünïcode", json={"options": {"path": "y.db"}})
    assert patched.json()["options"]["path"] == str(Path.cwd() / "y.db")
    missing = client.post("/api/v1/connections/ünïcode/test")
    assert (missing.status_code, error(missing)["code"]) == (422, "FILE_NOT_FOUND")
    listing = client.get("/api/v1/connections", params={"limit": 2, "offset": 0}).json()
    assert listing["total"] == 3
    assert len(listing["items"]) == 2
    assert client.delete("/api/v1/connections/ünïcode").status_code == 204
    gone = client.get("/api/v1/connections/ünïcode")
    assert (gone.status_code, error(gone)["code"]) == (404, "CONNECTION_NOT_FOUND")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"name": "a", "driver": "oracle"}, "UNKNOWN_DRIVER"),
        (
            {"name": "a", "driver": "sqlite", "options": {"path": "x", "mode": "rw"}},
            "CONNECTION_OPTION_UNKNOWN",
        ),
        ({"name": "a", "url": "postgresql://u@h/d?host=/tmp"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"name": "a", "url": "postgresql://u@h:99999/d"}, "CONNECTION_URL_INVALID"),
        ({"name": "a/b", "driver": "sqlite", "options": {"path": "x"}}, "CONNECTION_NAME_INVALID"),
    ],
)
def test_connection_errors(client: TestClient, payload: dict[str, Any], code: str) -> None:
    response = client.post("/api/v1/connections", json=payload)
    assert response.status_code == 422, response.text
    assert error(response)["code"] == code


def test_secrets_never_come_back(client: TestClient, capfd: pytest.CaptureFixture[str]) -> None:
    logs.configure("DEBUG")
    created = client.post(
        "/api/v1/connections",
        json={
            "name": "pg",
            "driver": "postgres",
            "options": {
                "host": "127.0.0.1",
                "port": 1,
                "database": "d",
                "user": "u",
                "password": SENTINEL,
            },
            "test": False,  # saved untested: nothing listens there
        },
    )
    assert created.status_code == 201
    responses = [
        created,
        client.get("/api/v1/connections"),
        client.get("/api/v1/connections/pg"),
        client.post("/api/v1/connections/pg/test"),
        client.post("/api/v1/runs", json={"connection": "pg", "sql": "SELECT 1"}),
        client.get("/api/v1/runs"),
        client.get("/metrics"),
        client.patch("/api/v1/connections/pg", json={"options": {"port": "x"}}),
        client.post(
            "/api/v1/connections",
            json={"name": "pg2", "driver": "postgres", "options": {"password": {"v": SENTINEL}}},
        ),
    ]
    assert responses[3].status_code == 503
    assert error(responses[3])["code"] == "UPSTREAM_UNAVAILABLE"
    assert responses[4].status_code == 503
    for response in responses:
        assert SENTINEL not in response.text
    out, err = capfd.readouterr()
    assert '"event": "http_request"' in err
    assert SENTINEL not in out + err
    logs.configure("WARNING")


def test_drivers_endpoint(client: TestClient) -> None:
    drivers = {d["name"]: d for d in client.get("/api/v1/drivers").json()}
    assert {"sqlite", "duckdb", "postgres", "mysql", "clickhouse", "spark"} <= set(drivers)
    assert drivers["spark"]["dialect"] == "spark"
    assert drivers["clickhouse"]["url_schemes"] == ["clickhouse", "clickhouses"]
    assert "properties" in drivers["mysql"]["options_schema"]
    assert client.get("/api/v1/drivers/duckdb").json()["dialect"] == "duckdb"
    assert error(client.get("/api/v1/drivers/nope"))["code"] == "UNKNOWN_DRIVER"


def test_request_id_is_echoed_when_safe(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    generated = client.get("/healthz", headers={"x-request-id": "bad id\n"}).headers["x-request-id"]
    assert generated != "bad id\n"
    assert len(generated) == 32
