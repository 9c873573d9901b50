"""One ISO-8601 timestamp form in every export (CSV, TSV, JSON, NDJSON and the API's rows),
and JSON/JSONB values as nested JSON in the JSON and NDJSON exports. Real PostgreSQL
(timestamptz, timestamp, json, jsonb) and DuckDB (millisecond and nanosecond timestamps)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunRequest, RunStatus
from tests.services import postgres_database, postgres_reader

STAMPS = [
    ("2025-01-01 00:00:01+00", "2025-01-01 00:00:01", '{"k": "值", "n": [1, 2]}'),
    ("2025-06-30 23:59:59.5+02", "2025-06-30 23:59:59.123456", '{"a": null}'),
    (None, None, None),
]
EXPECTED = [
    ("2025-01-01T00:00:01Z", "2025-01-01T00:00:01", {"k": "值", "n": [1, 2]}),
    ("2025-06-30T21:59:59.500000Z", "2025-06-30T23:59:59.123456", {"a": None}),
    (None, None, None),
]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE t (id int, tz timestamptz, naive timestamp, j json, jb jsonb)"
            )
            for i, (tz, naive, doc) in enumerate(STAMPS):
                conn.execute("INSERT INTO t VALUES (%s, %s, %s, %s, %s)", (i, tz, naive, doc, doc))
        with postgres_reader(url) as reader:
            yield reader


def export_text(wb: Workbench, run_id: str, fmt: ExportFormat) -> str:
    return b"".join(wb.runs.export(run_id, fmt).chunks()).decode("utf-8")


def run_id(wb: Workbench, connection: str, sql: str) -> str:
    run = wb.runs.run(RunRequest(connection=connection, sql=sql))
    assert run.status is RunStatus.succeeded, run.error_message
    return run.id


def test_postgres_timestamps_and_json_agree_across_formats(
    workbench: Workbench, pg_url: str
) -> None:
    workbench.connections.create("pg", url=pg_url)
    rid = run_id(workbench, "pg", "SELECT tz, naive, j, jb FROM t ORDER BY id")

    rows = list(csv.reader(io.StringIO(export_text(workbench, rid, ExportFormat.csv))))
    assert rows[0] == ["tz", "naive", "j", "jb"]
    for got, (tz, naive, _) in zip(rows[1:], EXPECTED, strict=True):
        assert got[:2] == [tz or "", naive or ""]
    tsv = export_text(workbench, rid, ExportFormat.tsv)
    tsv_rows = list(csv.reader(io.StringIO(tsv), delimiter="\t"))
    assert tsv_rows[1][:2] == ["2025-01-01T00:00:01Z", "2025-01-01T00:00:01"]

    as_json = orjson.loads(export_text(workbench, rid, ExportFormat.json))
    as_ndjson = [
        orjson.loads(line)
        for line in export_text(workbench, rid, ExportFormat.ndjson).split("\n")
        if line
    ]
    expected: list[dict[str, Any]] = [
        {"tz": tz, "naive": naive, "j": doc, "jb": doc} for tz, naive, doc in EXPECTED
    ]
    assert as_json == expected
    assert as_ndjson == expected

    page = workbench.runs.rows(rid, offset=0, limit=10)
    assert [row[:2] for row in page.rows] == [[tz, naive] for tz, naive, _ in EXPECTED]


def test_duckdb_millisecond_and_nanosecond_timestamps(demo_workbench: Workbench) -> None:
    sql = (
        "SELECT TIMESTAMP_MS '2025-01-01 00:00:01.250' AS ms, "
        "TIMESTAMP_NS '2025-01-01 00:00:01.123456' AS ns, "
        "TIMESTAMP_S '2025-01-01 00:00:01' AS s, "
        "TIMESTAMPTZ '2025-01-01 00:00:01.5+00' AS tz"
    )
    rid = run_id(demo_workbench, "demo", sql)
    rows = list(csv.reader(io.StringIO(export_text(demo_workbench, rid, ExportFormat.csv))))
    as_json = orjson.loads(export_text(demo_workbench, rid, ExportFormat.json))[0]
    assert rows[1] == [as_json["ms"], as_json["ns"], as_json["s"], as_json["tz"]]
    assert rows[1][0] == "2025-01-01T00:00:01.250"
    assert rows[1][2] == "2025-01-01T00:00:01"
    assert rows[1][3] == "2025-01-01T00:00:01.500000Z"
