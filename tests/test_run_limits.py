"""Concurrency limits (429), live progress, pages while running and a connection dropped
mid-stream, against real DuckDB and PostgreSQL."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal, Role
from querydeck.cli.query import progress_line
from querydeck.runs.models import RunInfo, RunRequest, RunStatus
from querydeck.settings import load_settings
from tests.apiauth import api_client
from tests.services import POSTGRES_URL, postgres_database

#: A SQLite statement that runs until cancelled (SQLite: concurrent DuckDB connects to one
#: file in one process can race in the DuckDB driver; see the report).
LONG = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
#: Rows PostgreSQL produces slowly (an md5 over a long text per row): a run that streams.
SLOW_PG = "SELECT g, md5(repeat(g::text, 4000)) AS h FROM generate_series(1, 50000) g"

BOB = Principal("bob", Role.admin)
CAROL = Principal("carol", Role.admin)


def register_postgres(workbench: Workbench, name: str, url: str) -> None:
    """The one place these tests register a server connection."""
    workbench.connections.create(name, url=url, allow_privileged=True)


@pytest.fixture
def wb(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    shutil.copytree(demo_files, data_dir / "demo")
    workbench = Workbench(
        load_settings(data_dir=data_dir, max_runs_per_user=2, max_runs_per_connection=3)
    ).open()
    workbench.admin.create_demo()
    try:
        yield workbench
    finally:
        workbench.close()


def test_over_the_limit_is_429_quickly_and_others_go_on(wb: Workbench) -> None:
    with api_client(wb) as client:
        mine = [
            client.post("/api/v1/runs", json={"connection": "chinook", "sql": LONG, "wait_ms": 0})
            for _ in range(2)
        ]
        assert [r.status_code for r in mine] == [202, 202]
        started = time.perf_counter()
        refused = client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT 1"})
        assert time.perf_counter() - started < 1
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        body = refused.json()["error"]
        assert (body["code"], body["detail"]["scope"], body["detail"]["limit"]) == (
            "TOO_MANY_RUNS",
            "user",
            2,
        )
        assert client.get("/api/v1/runs").json()["total"] == 2  # a refusal is not a run
        # another user still runs, on another connection and on the busy one
        other = wb.runs.run(RunRequest(connection="demo", sql="SELECT 5 AS n"), actor=BOB)
        assert wb.runs.rows(other.id).rows == [[5]]
        bob = wb.runs.start(RunRequest(connection="chinook", sql=LONG), actor=BOB)
        states = [wb.runs.get(r.json()["run"]["id"]) for r in mine] + [wb.runs.get(bob)]
        assert all(not s.status.finished for s in states), [
            (s.status, s.error_message) for s in states
        ]
        # ...until the connection's own limit is reached
        with pytest.raises(Exception) as info:
            wb.runs.start(
                RunRequest(connection="chinook", sql="SELECT 1"),
                actor=Principal("carol", Role.admin),
            )
        assert getattr(info.value, "code", None) == "TOO_MANY_RUNS"
        assert info.value.detail["scope"] == "connection"  # type: ignore[attr-defined]
        for response in mine:
            client.post(f"/api/v1/runs/{response.json()['run']['id']}/cancel")
        wb.runs.cancel(bob)
        again = client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT 1"})
        assert again.status_code == 200


def test_api_runs_start_on_a_free_worker_else_queue(data_dir: Path, demo_files: Path) -> None:
    """POST /runs starts its run on a free worker (no request thread); with every worker
    busy the run is recorded as queued and answered 202 like before. Refused and failed
    statements give their worker back."""
    shutil.copytree(demo_files, data_dir / "demo")
    workbench = Workbench(load_settings(data_dir=data_dir, run_workers=1)).open()
    workbench.admin.create_demo()
    try:
        with api_client(workbench) as client:
            for sql, status in (("DELETE FROM Track", 422), ("SELECT * FROM nope", 400)):
                refused = client.post("/api/v1/runs", json={"connection": "chinook", "sql": sql})
                assert refused.status_code == status, refused.text
            claim = workbench.run_manager.claim()  # the one worker is free again
            assert claim is not None
            claim.release()
            busy = client.post(
                "/api/v1/runs", json={"connection": "chinook", "sql": LONG, "wait_ms": 0}
            )
            assert busy.status_code == 202
            assert busy.json()["run"]["status"] == "running"
            assert workbench.run_manager.claim() is None
            waiting = client.post(
                "/api/v1/runs", json={"connection": "demo", "sql": "SELECT 7 AS n", "wait_ms": 100}
            )
            assert waiting.status_code == 202
            assert waiting.json()["run"]["status"] == "queued"
            cancelled = client.post(f"/api/v1/runs/{busy.json()['run']['id']}/cancel").json()
            assert cancelled["status"] == "cancelled"
            run_id = waiting.json()["run"]["id"]
            assert workbench.runs.wait(run_id, 30).status is RunStatus.succeeded
            assert client.get(f"/api/v1/runs/{run_id}").json()["page"]["rows"] == [[7]]
            done = client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT 8 AS n"})
            assert (done.status_code, done.json()["page"]["rows"]) == (200, [[8]])
    finally:
        workbench.close()


def test_progress_line() -> None:
    now = datetime.now(UTC)
    run = RunInfo(
        id="r",
        user="local",
        connection="pg",
        connection_id=None,
        driver="postgres",
        sql="SELECT 1",
        executed_sql=None,
        status=RunStatus.running,
        max_rows=10,
        timeout_s=1,
        row_count=120_000,
        truncated=False,
        columns=None,
        error_code=None,
        error_message=None,
        error_detail=None,
        created_at=now,
        started_at=now,
        finished_at=None,
        duration_ms=None,
    )
    assert progress_line(run, "pg", 3.2) == "running on pg: 120,000 rows, 3 s (Ctrl-C cancels)"
    queued = run.model_copy(update={"status": RunStatus.queued})
    assert progress_line(queued, "pg", 0) == "queued on pg: 0 s (Ctrl-C cancels)"


@pytest.fixture
def pg(data_dir: Path) -> Iterator[tuple[Workbench, str]]:
    with postgres_database() as url:
        workbench = Workbench(load_settings(data_dir=data_dir, max_rows_limit=1_000_000)).open()
        register_postgres(workbench, "pg", url)
        try:
            yield workbench, url.rsplit("/", 1)[1]
        finally:
            workbench.close()


def wait_until(check: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_rows_and_progress_while_postgres_streams(pg: tuple[Workbench, str]) -> None:
    wb, _ = pg
    with api_client(wb) as client:
        started = client.post(
            "/api/v1/runs",
            json={"connection": "pg", "sql": SLOW_PG, "wait_ms": 0, "max_rows": 1_000_000},
        )
        assert started.status_code == 202
        run_id = started.json()["run"]["id"]
        wait_until(lambda: (wb.runs.get(run_id).row_count or 0) > 0)
        live = client.get(f"/api/v1/runs/{run_id}").json()
        assert live["run"]["status"] == "running"
        assert live["run"]["elapsed_ms"] > 0
        assert 0 < live["run"]["row_count"] < 50_000
        page = client.get(f"/api/v1/runs/{run_id}/rows", params={"limit": 5}).json()
        assert page["complete"] is False
        assert [r[0] for r in page["rows"]] == [1, 2, 3, 4, 5]
        assert live["run"]["row_count"] <= page["total"] < 50_000
        done = wb.runs.wait(run_id, 60)
        assert done.status is RunStatus.succeeded, done.error_message
        page = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 49_999}).json()
        assert (page["total"], page["complete"], page["rows"][0][0]) == (50_000, True, 50_000)


def test_connection_dropped_mid_stream(pg: tuple[Workbench, str]) -> None:
    wb, database = pg
    run_id = wb.runs.start(RunRequest(connection="pg", sql=SLOW_PG, max_rows=1_000_000))
    wait_until(lambda: wb.runs.get(run_id).result_state == "writing")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'querydeck'",
            (database,),
        )
    run = wb.runs.wait(run_id, 30)
    assert run.status is RunStatus.failed
    assert (run.error_code, run.error_status) == ("UPSTREAM_UNAVAILABLE", 503)
    assert run.result_state is None
    assert not list(wb.results.directory.glob(f"{run_id}*"))  # partial result removed
    with pytest.raises(Exception) as info:
        wb.runs.rows(run_id)
    assert getattr(info.value, "code", None) == "RESULT_UNAVAILABLE"
    after = wb.runs.run(RunRequest(connection="pg", sql="SELECT 1 AS ok"))
    assert wb.runs.rows(after.id).rows == [[1]]
