"""Extreme values never make a page or an export fail (issue 16, item 7): infinite dates
and timestamps, years 0 and beyond 9999, NaN and infinite floats, -0.0, huge decimals and
intervals, through the API's pages and every export format, on DuckDB, SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.runs.results.extremes import iso_duration, iso_timestamp
from querydeck.settings import load_settings
from tests.apiauth import api_client
from tests.services import postgres_database

DUCKDB_EXTREMES = """
SELECT * FROM (
  SELECT 1 AS k, 'infinity'::timestamp AS ts, 'infinity'::date AS d,
         'infinity'::timestamptz AS tz, '10000-01-01 12:00:00'::timestamp AS y10k,
         '0001-01-01'::timestamp - INTERVAL 1 day AS y0, 'nan'::double AS f,
         '-0.0'::double AS z, 99999999999999999999999999999999999999::decimal(38,0) AS big,
         INTERVAL '1 day 2 hours' AS iv
  UNION ALL
  SELECT 2, '-infinity'::timestamp, '-infinity'::date, '-infinity'::timestamptz,
         '294247-01-10 04:00:54'::timestamp, '-0290308-12-22'::timestamp, 'inf'::double,
         '-inf'::double, -99999999999999999999999999999999999999::decimal(38,0),
         INTERVAL '-1 year 3 days -4 seconds'
  UNION ALL
  SELECT 3, '2024-01-02 03:04:05.5'::timestamp, '2024-01-02'::date,
         '2024-01-02 03:04:05+00'::timestamptz, '9999-12-31 23:59:59'::timestamp,
         '0001-01-01'::timestamp, 1.5, 0.0, 1.25::decimal(38,0), INTERVAL '0 seconds'
) ORDER BY k
"""
DUCKDB_ROWS = [
    [1, "infinity", "infinity", "infinity", "+10000-01-01T12:00:00", "0000-12-31T00:00:00",
     "NaN", -0.0, "99999999999999999999999999999999999999", "P1DT2H"],
    [2, "-infinity", "-infinity", "-infinity", "+294247-01-10T04:00:54",
     "-290308-12-22T00:00:00", "Infinity", "-Infinity",
     "-99999999999999999999999999999999999999", "P-1Y3DT-4S"],
    [3, "2024-01-02T03:04:05.500000", "2024-01-02", "2024-01-02T03:04:05Z",
     "9999-12-31T23:59:59", "0001-01-01T00:00:00", 1.5, 0.0, "1", "PT0S"],
]  # fmt: skip
FORMATS = ("csv", "tsv", "excel", "json", "ndjson", "parquet")


@pytest.fixture
def wb(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    shutil.copytree(demo_files, data_dir / "demo")
    with Workbench(load_settings(data_dir=data_dir)).open() as workbench:
        workbench.admin.create_demo()
        yield workbench


@pytest.fixture
def client(wb: Workbench) -> Iterator[TestClient]:
    with api_client(wb) as test_client:
        yield test_client


def run(client: TestClient, connection: str, sql: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/runs", json={"connection": connection, "sql": sql, "wait_ms": 30_000}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def exports(client: TestClient, run_id: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for fmt in FORMATS:
        response = client.get(f"/api/v1/runs/{run_id}/export", params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text)
        out[fmt] = response.content
    return out


def check_everywhere(
    client: TestClient, connection: str, sql: str, expected: list[list[Any]]
) -> dict[str, bytes]:
    """The first page (POST), the run read again (GET, from the stored file), a rows page
    and every export agree with ``expected`` (JSON values)."""
    started = run(client, connection, sql)
    assert started["page"]["rows"] == expected
    run_id = started["run"]["id"]
    for _ in range(2):  # every later read of the run, not only the first
        again = client.get(f"/api/v1/runs/{run_id}")
        assert again.status_code == 200, again.text
        assert again.json()["page"]["rows"] == expected
        page = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 1, "limit": 5})
        assert page.status_code == 200, page.text
        assert page.json()["rows"] == expected[1:]
    names = [c["name"] for c in started["run"]["columns"]]
    files = exports(client, run_id)
    assert orjson.loads(files["json"]) == [dict(zip(names, row, strict=True)) for row in expected]
    lines = files["ndjson"].decode().splitlines()
    assert [orjson.loads(line) for line in lines] == [
        dict(zip(names, row, strict=True)) for row in expected
    ]
    for fmt, delimiter in (("csv", ","), ("tsv", "\t"), ("excel", ",")):
        text = files[fmt].decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        assert rows[0] == names
        assert len(rows) == len(expected) + 1
        assert "out of range" not in text
        assert "MonthDayNano" not in text
    table = pq.read_table(io.BytesIO(files["parquet"]))
    assert table.num_rows == len(expected)
    assert table.column_names == names
    return files


def test_duckdb_extremes_through_pages_and_every_export(client: TestClient) -> None:
    files = check_everywhere(client, "demo", DUCKDB_EXTREMES, DUCKDB_ROWS)
    rows = list(csv.reader(io.StringIO(files["csv"].decode())))
    assert rows[1][1:4] == ["infinity", "infinity", "infinity"]
    assert rows[2][1:4] == ["-infinity", "-infinity", "-infinity"]
    # the ordinary values of a batch with infinities are written as in any other batch
    plain = run(client, "demo", "SELECT '2024-01-02 03:04:05.5'::timestamp AS ts")
    alone = client.get(f"/api/v1/runs/{plain['run']['id']}/export", params={"format": "csv"})
    assert rows[3][1] == alone.text.splitlines()[1]
    assert rows[2][9] == "P-1Y3DT-4S"
    parquet = pq.read_table(io.BytesIO(files["parquet"])).select(["iv", "z"]).to_pydict()
    assert parquet["iv"] == ["P1DT2H", "P-1Y3DT-4S", "PT0S"]  # Parquet has no such interval
    assert parquet["z"][0] == 0.0
    assert str(parquet["z"][0]) == "-0.0"
    # the integers behind the dates and timestamps are kept exactly
    raw = pq.read_table(io.BytesIO(files["parquet"])).column("ts").cast("int64").to_pylist()
    assert raw[0] == 2**63 - 1


def test_sqlite_extremes_through_pages_and_every_export(client: TestClient) -> None:
    sql = (
        "SELECT 9e999 AS pinf, -9e999 AS ninf, -0.0 AS z, 9223372036854775807 AS big, "
        "'0000-00-00 00:00:00' AS zero_date, x'00ff' AS blob"
    )
    check_everywhere(
        client,
        "chinook",
        sql,
        [["Infinity", "-Infinity", -0.0, "9223372036854775807", "0000-00-00 00:00:00", "AP8="]],
    )


def test_postgres_intervals_are_iso_durations_and_extremes_do_not_fail(
    wb: Workbench, client: TestClient
) -> None:
    with postgres_database() as url:
        wb.connections.create("pg", url=url, allow_privileged=True)
        sql = (
            "SELECT interval '1 day 2 hours' AS a, interval '-1 year 2 mons 3 days' AS b, "
            "interval '1.5 seconds' AS c, interval '0' AS d, "
            "'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf, '-0'::float8 AS z, "
            "(10::numeric ^ 100)::numeric(120, 0) AS huge, "
            "'4713-01-01 BC'::date AS bc, '294276-12-31'::date AS far"
        )
        files = check_everywhere(
            client,
            "pg",
            sql,
            [["P1DT2H", "P-10M3D", "PT1.5S", "PT0S", "NaN", "-Infinity", -0.0,
              "1" + "0" * 100, "-4712-01-01", "+294276-12-31"]],
        )  # fmt: skip
        rows = list(csv.reader(io.StringIO(files["csv"].decode())))
        assert rows[1][:4] == ["P1DT2H", "P-10M3D", "PT1.5S", "PT0S"]
        infinite = check_everywhere(
            client,
            "pg",
            "SELECT 'infinity'::timestamp AS a, '-infinity'::timestamptz AS b, "
            "'infinity'::date AS c, '-infinity'::date AS d",
            [["infinity", "-infinity", "infinity", "-infinity"]],
        )
        rows = list(csv.reader(io.StringIO(infinite["csv"].decode())))
        assert rows[1] == ["infinity", "-infinity", "infinity", "-infinity"]


def test_iso_helpers() -> None:
    assert iso_duration(0, 1, 2 * 3600 * 10**9) == "P1DT2H"
    assert iso_duration(-14, 3, -(3600 * 10**9 + 500_000_000)) == "P-1Y-2M3DT-1H-0.5S"
    assert iso_duration(13, 0, 1) == "P1Y1MT0.000000001S"
    assert iso_timestamp(-62_135_596_800_000_000 - 86_400_000_000, "us", True) == (
        "0000-12-31T00:00:00Z"
    )
    assert iso_timestamp(253_402_300_800, "s", False) == "+10000-01-01T00:00:00"
