"""Runs through the Workbench against real engines: caps, history, timeouts, cancel."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.errors import QueryDeckError, QueryRejected
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import Settings, load_settings
from tests.services import postgres_database, postgres_reader

LONG_DUCKDB = "SELECT count(*) FROM range(100000000) a, range(100000) b"


@pytest.fixture
def demo(workbench: Workbench, demo_files: Path) -> Workbench:
    shutil.copytree(demo_files, workbench.settings.data_dir / "demo")  # built once per process
    workbench.admin.create_demo()
    return workbench


def run(wb: Workbench, sql: str, connection: str = "demo", **kw: object) -> object:
    return wb.runs.run(RunRequest(connection=connection, sql=sql, **kw))  # type: ignore[arg-type]


def test_demo_count_matches_duckdb(demo: Workbench) -> None:
    result = demo.runs.run(RunRequest(connection="demo", sql="SELECT count(*) FROM lineitem"))
    assert result.status is RunStatus.succeeded
    assert (result.row_count, result.truncated) == (1, False)
    assert demo.runs.rows(result.id).rows == [[60175]]
    path = demo.settings.data_dir / "demo" / "tpch.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        expected = conn.execute(
            "SELECT l_returnflag, l_linestatus, sum(l_quantity)::VARCHAR, count(*) FROM lineitem "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    result = demo.runs.run(
        RunRequest(
            connection="demo",
            sql=(
                "SELECT l_returnflag, l_linestatus, sum(l_quantity), count(*) FROM lineitem "
                "GROUP BY ALL ORDER BY ALL"
            ),
        )
    )
    assert [tuple(r) for r in demo.runs.rows(result.id).rows] == [tuple(r) for r in expected]


def test_demo_is_idempotent(demo: Workbench) -> None:
    again = demo.admin.create_demo()
    assert [c.name for c in again] == ["demo", "chinook"]
    assert demo.connections.listing().total == 2


def test_auto_limit_truncates_and_reports_the_cap(demo: Workbench) -> None:
    result = demo.runs.run(
        RunRequest(connection="demo", sql="SELECT * FROM lineitem", max_rows=100)
    )
    assert (result.status, result.row_count, result.truncated, result.max_rows) == (
        RunStatus.succeeded,
        100,
        True,
        100,
    )
    assert result.executed_sql == "SELECT * FROM lineitem\nLIMIT 101"
    exact = demo.runs.run(RunRequest(connection="demo", sql="SELECT * FROM nation", max_rows=25))
    assert (exact.row_count, exact.truncated) == (25, False)
    own = demo.runs.run(
        RunRequest(connection="demo", sql="SELECT * FROM lineitem LIMIT 5000", max_rows=10)
    )
    assert (own.row_count, own.truncated) == (10, True)
    assert own.executed_sql == "SELECT * FROM lineitem LIMIT 5000"


def test_caps_are_clamped_by_settings(demo: Workbench) -> None:
    result = demo.runs.run(
        RunRequest(connection="demo", sql="SELECT 1", max_rows=10**9, timeout_s=10**6)
    )
    assert result.max_rows == demo.settings.max_rows_limit
    assert result.timeout_s == demo.settings.max_timeout_s


def test_pages_read_back_the_stored_rows(demo: Workbench) -> None:
    result = demo.runs.run(
        RunRequest(connection="chinook", sql="SELECT TrackId, Name FROM Track ORDER BY TrackId")
    )
    assert result.row_count == 3503
    page = demo.runs.rows(result.id, offset=3500, limit=10)
    assert [r[0] for r in page.rows] == [3501, 3502, 3503]
    assert page.total == 3503
    assert [c.name for c in page.columns] == ["TrackId", "Name"]
    assert demo.runs.rows(result.id, offset=10_000, limit=10).rows == []


def test_pages_across_batch_boundaries(demo: Workbench) -> None:
    sql = "SELECT l_orderkey, l_linenumber FROM lineitem ORDER BY 1, 2"
    result = demo.runs.run(RunRequest(connection="demo", sql=sql, max_rows=30_000))
    assert (result.row_count, result.truncated) == (30_000, True)
    with duckdb.connect(
        str(demo.settings.data_dir / "demo" / "tpch.duckdb"), read_only=True
    ) as conn:
        for offset in (0, 8190, 16_383, 29_998):
            expected = conn.execute(f"{sql} LIMIT 5 OFFSET {offset}").fetchall()
            page = demo.runs.rows(result.id, offset=offset, limit=5)
            assert [tuple(r) for r in page.rows] == expected[: 30_000 - offset]


def test_rejected_runs_are_history_rows(demo: Workbench) -> None:
    with pytest.raises(QueryRejected) as info:
        demo.runs.run(RunRequest(connection="demo", sql="DELETE FROM lineitem"))
    run_id = info.value.detail["run_id"]
    rejected = demo.runs.get(run_id)
    assert rejected.status is RunStatus.rejected
    assert rejected.error_code == "SQL_NOT_READ_ONLY"
    assert rejected.executed_sql is None
    with pytest.raises(QueryDeckError) as info2:
        demo.runs.rows(run_id)
    assert info2.value.code == "RESULT_UNAVAILABLE"
    count = demo.runs.run(RunRequest(connection="demo", sql="SELECT count(*) FROM lineitem"))
    assert demo.runs.rows(count.id).rows == [[60175]]


def test_failed_run_keeps_the_engine_message(demo: Workbench) -> None:
    result = demo.runs.run(RunRequest(connection="demo", sql="SELECT * FROM no_such_table"))
    assert result.status is RunStatus.failed
    assert result.error_code == "QUERY_FAILED"
    assert "no_such_table" in (result.error_message or "")
    assert not list(demo.results.directory.glob(f"{result.id}*"))


def test_timeout_stops_the_engine(demo: Workbench) -> None:
    started = time.perf_counter()
    result = demo.runs.run(RunRequest(connection="demo", sql=LONG_DUCKDB, timeout_s=1))
    elapsed = time.perf_counter() - started
    assert result.status is RunStatus.timed_out
    assert result.error_code == "QUERY_TIMEOUT"
    assert elapsed < 5
    again = demo.runs.run(RunRequest(connection="demo", sql="SELECT 42"))
    assert demo.runs.rows(again.id).rows == [[42]]


def test_cancel_from_another_thread(demo: Workbench) -> None:
    run_id = demo.runs.start(RunRequest(connection="demo", sql=LONG_DUCKDB))
    time.sleep(0.3)
    started = time.perf_counter()
    cancelled = demo.runs.cancel(run_id)
    assert cancelled.status is RunStatus.cancelled
    assert cancelled.error_code == "QUERY_CANCELLED"
    assert time.perf_counter() - started < 2
    with pytest.raises(QueryDeckError) as info:
        demo.runs.cancel(run_id)
    assert info.value.code == "RUN_NOT_RUNNING"
    with pytest.raises(QueryDeckError) as info:
        demo.runs.cancel("00000000-0000-0000-0000-000000000000")
    assert info.value.code == "RUN_NOT_FOUND"


def test_unfinished_run_has_no_rows_yet(demo: Workbench) -> None:
    run_id = demo.runs.start(RunRequest(connection="demo", sql=LONG_DUCKDB))
    try:
        running = demo.runs.wait(run_id, 0.2)
        assert running.status in (RunStatus.queued, RunStatus.running)
        with pytest.raises(QueryDeckError) as info:
            demo.runs.rows(run_id)
        assert info.value.code == "RUN_NOT_FINISHED"
    finally:
        demo.runs.cancel(run_id)


def test_deleted_result_file_is_reported_and_marked(demo: Workbench) -> None:
    result = demo.runs.run(RunRequest(connection="demo", sql="SELECT 1"))
    assert result.result_state == "stored"
    demo.results.delete(result.id)
    with pytest.raises(QueryDeckError) as info:
        demo.runs.rows(result.id)
    assert (info.value.code, info.value.http_status) == ("RESULT_MISSING", 410)
    assert demo.runs.get(result.id).result_state == "missing"


def test_corrupt_result_file_is_reported(demo: Workbench) -> None:
    result = demo.runs.run(RunRequest(connection="demo", sql="SELECT 1"))
    demo.results.path(result.id).write_bytes(b"not arrow at all")
    with pytest.raises(QueryDeckError) as info:
        demo.runs.rows(result.id)
    assert info.value.code == "RESULT_CORRUPT"
    assert demo.runs.get(result.id).result_state == "corrupt"


def test_json_values_follow_the_documented_rules(demo: Workbench) -> None:
    sql = """SELECT 9007199254740993::BIGINT AS big, 42::BIGINT AS small,
        12345678901234567890.123456789::DECIMAL(38, 9) AS dec, 'nan'::DOUBLE AS nan,
        TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' AS ts, DATE '2024-02-29' AS d,
        '\\xAA\\x00'::BLOB AS bin, NULL::INTEGER AS nothing, [1, NULL, 3] AS list,
        {'k': 1.5::DOUBLE} AS obj, 'naïve ✓' AS txt,
        MAP {'a': 1, 'b': NULL} AS text_keys, MAP {2: 'x'} AS int_keys"""
    result = demo.runs.run(RunRequest(connection="demo", sql=sql))
    assert result.status is RunStatus.succeeded, result.error_message
    page = demo.runs.rows(result.id)
    assert page.rows == [
        [
            "9007199254740993",
            42,
            "12345678901234567890.123456789",
            "NaN",
            "2024-01-02T03:04:05.123456Z",
            "2024-02-29",
            "qgA=",
            None,
            [1, None, 3],
            {"k": 1.5},
            "naïve ✓",
            {"a": 1, "b": None},
            {"2": "x"},
        ]
    ]
    types = {c.name: c.json_type for c in page.columns}
    assert types["dec"] == "string"
    assert types["bin"] == "base64"
    assert types["text_keys"] == "object"


def test_history_lists_newest_first_with_filters(demo: Workbench) -> None:
    demo.runs.run(RunRequest(connection="demo", sql="SELECT 1"))
    demo.runs.run(RunRequest(connection="chinook", sql="SELECT 2"))
    with pytest.raises(QueryRejected):
        demo.runs.run(RunRequest(connection="chinook", sql="DROP TABLE Track"))
    everything = demo.runs.listing()
    assert everything.total == 3
    assert [r.sql for r in everything.items] == ["DROP TABLE Track", "SELECT 2", "SELECT 1"]
    assert demo.runs.listing(connection="chinook").total == 2
    assert [r.sql for r in demo.runs.listing(status=RunStatus.rejected).items] == [
        "DROP TABLE Track"
    ]
    paged = [r.id for o in range(3) for r in demo.runs.listing(limit=1, offset=o).items]
    assert paged == [r.id for r in everything.items]


def test_unknown_connection(demo: Workbench) -> None:
    with pytest.raises(QueryDeckError) as info:
        demo.runs.run(RunRequest(connection="nope", sql="SELECT 1"))
    assert info.value.code == "CONNECTION_NOT_FOUND"


def test_shutdown_cancels_runs_in_flight(settings: Settings, demo_files: Path) -> None:
    shutil.copytree(demo_files, settings.data_dir / "demo")
    wb = Workbench(settings).open()
    wb.admin.create_demo()
    run_id = wb.runs.start(RunRequest(connection="demo", sql=LONG_DUCKDB))
    time.sleep(0.3)
    started = time.perf_counter()
    wb.close()
    assert time.perf_counter() - started < 3
    reopened = Workbench(settings).open()  # type: ignore[arg-type]
    try:
        assert reopened.runs.get(run_id).status is RunStatus.cancelled
    finally:
        reopened.close()


@pytest.fixture
def postgres_connection(workbench: Workbench) -> Iterator[tuple[Workbench, str]]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
        with postgres_reader(url) as reader:
            workbench.connections.create("pg", url=reader)
            assert workbench.connections.get("pg").privileges.can_write is False
            yield workbench, url


def test_postgres_cancel_leaves_no_backend(postgres_connection: tuple[Workbench, str]) -> None:
    wb, url = postgres_connection
    heavy = "SELECT count(*) FROM generate_series(1, 2000000000) a"
    run_id = wb.runs.start(RunRequest(connection="pg", sql=heavy))
    deadline = time.monotonic() + 5
    while wb.runs.get(run_id).status is not RunStatus.running and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.perf_counter()
    assert wb.runs.cancel(run_id).status is RunStatus.cancelled
    assert time.perf_counter() - started < 2
    with psycopg.connect(url, autocommit=True) as conn:
        active = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND state = 'active'",
            ("%generate_series(1, 2000000000)%",),
        ).fetchone()
    assert active == (0,)


def test_postgres_timeout(postgres_connection: tuple[Workbench, str]) -> None:
    wb, _ = postgres_connection
    heavy = "SELECT count(*) FROM generate_series(1, 2000000000) a"
    started = time.perf_counter()
    result = wb.runs.run(RunRequest(connection="pg", sql=heavy, timeout_s=1))
    assert result.status is RunStatus.timed_out
    assert time.perf_counter() - started < 4
    counted = wb.runs.run(RunRequest(connection="pg", sql="SELECT count(*) FROM t"))
    assert wb.runs.rows(counted.id).rows == [[1000]]


def test_concurrent_runs(data_dir: Path, demo_files: Path) -> None:
    results: list[object] = []
    shutil.copytree(demo_files, data_dir / "demo")
    demo = Workbench(
        load_settings(data_dir=data_dir, max_runs_per_user=12, max_runs_per_connection=12)
    ).open()
    demo.admin.create_demo()

    def worker(i: int) -> None:
        results.append(
            demo.runs.run(
                RunRequest(connection="chinook", sql=f"SELECT {i} AS i, count(*) FROM Track")
            )
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status is RunStatus.succeeded for r in results)  # type: ignore[attr-defined]
    assert demo.runs.listing().total == 12
    demo.close()


def test_settings_fixture_uses_tmp(settings: object, tmp_path: Path) -> None:
    assert str(tmp_path) in str(settings.data_dir)  # type: ignore[attr-defined]
