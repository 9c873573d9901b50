"""Exports and pages through the API and the CLI, from the stored result (real DuckDB and
SQLite files underneath)."""

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
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.settings import load_settings
from tests.apiauth import api_client

LONG = "SELECT count(*) FROM range(100000000) a, range(100000) b"
MIXED = """SELECT i, i * 9007199254740 AS big, i / 3 AS f,
    CASE WHEN i % 5 = 0 THEN NULL ELSE 'v,' || i || '"q"' END AS s,
    (i * 1.25)::DECIMAL(12, 2) AS d,
    TIMESTAMPTZ '2024-01-02 03:04:05+00' + INTERVAL (i) SECOND AS ts,
    i % 2 = 0 AS b, CASE WHEN i % 4 = 0 THEN '' ELSE 'x' END AS e, [i, i + 1] AS l
    FROM range(20000) t(i) ORDER BY i"""


@pytest.fixture
def wb(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    shutil.copytree(demo_files, data_dir / "demo")
    workbench = Workbench(load_settings(data_dir=data_dir, max_rows_limit=50_000)).open()
    workbench.admin.create_demo()
    try:
        yield workbench
    finally:
        workbench.close()


@pytest.fixture
def client(wb: Workbench) -> Iterator[TestClient]:
    with api_client(wb) as test_client:
        yield test_client


def start(client: TestClient, sql: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/runs", json={"connection": "demo", "sql": sql, **extra})
    assert response.status_code in (200, 202), response.text
    return dict(response.json()["run"])


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_csv_export_is_rfc4180_and_matches_the_rows(client: TestClient) -> None:
    run = start(client, MIXED, max_rows=50_000)
    assert run["row_count"] == 20_000
    response = client.get(f"/api/v1/runs/{run['id']}/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="querydeck-{run["id"]}.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(b"i,big,f,s,d,ts,b,e,l\r\n")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert len(rows) == 20_001
    assert rows[2] == [
        "1",
        "9007199254740",
        "0.3333333333333333",
        'v,1"q"',
        "1.25",
        "2024-01-02T03:04:06Z",
        "false",
        "x",
        "[1,2]",
    ]
    assert rows[1][3] == ""  # NULL is an empty field
    assert rows[1][7] == ""  # so is an empty string (quoted in the file)
    assert b'\r\n0,0,0,,0.00,"2024-01-02T03:04:05Z",true,"",' in response.content
    # the export never ran the query again
    assert client.get("/api/v1/runs").json()["total"] == 1


def test_tsv_json_ndjson_parquet(client: TestClient, tmp_path: Path) -> None:
    run = start(client, MIXED, max_rows=50_000)
    url = f"/api/v1/runs/{run['id']}/export"
    page = client.get(f"/api/v1/runs/{run['id']}/rows", params={"limit": 3}).json()
    keys = [c["name"] for c in page["columns"]]
    first = [dict(zip(keys, row, strict=True)) for row in page["rows"]]

    tsv = client.get(url, params={"format": "tsv"})
    assert tsv.headers["content-type"].startswith("text/tab-separated-values")
    lines = tsv.content.split(b"\n")
    assert lines[0] == b"i\tbig\tf\ts\td\tts\tb\te\tl"
    assert len(lines) == 20_002  # header, rows, and the final newline

    body = client.get(url, params={"format": "json"})
    assert body.headers["content-type"] == "application/json"
    objects = orjson.loads(body.content)
    assert len(objects) == 20_000
    assert objects[:3] == first
    assert objects[1]["d"] == "1.25"
    assert objects[1]["ts"] == "2024-01-02T03:04:06Z"

    ndjson = client.get(url, params={"format": "ndjson"})
    lines = ndjson.content.splitlines()
    assert len(lines) == 20_000
    assert [orjson.loads(x) for x in lines[:3]] == first

    parquet = client.get(url, params={"format": "parquet"})
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    (tmp_path / "x.parquet").write_bytes(parquet.content)
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.num_rows == 20_000
    assert table.column("i").to_pylist() == list(range(20_000))
    assert table.column("s").null_count == 4000


def test_export_of_runs_without_rows(client: TestClient, wb: Workbench) -> None:
    failed = client.post("/api/v1/runs", json={"connection": "demo", "sql": "SELECT nope"})
    run_id = failed.json()["error"]["detail"]["run_id"]
    assert code(client.get(f"/api/v1/runs/{run_id}/export")) == (409, "EXPORT_UNAVAILABLE")
    running = start(client, LONG, wait_ms=0)
    assert code(client.get(f"/api/v1/runs/{running['id']}/export")) == (409, "RUN_NOT_FINISHED")
    client.post(f"/api/v1/runs/{running['id']}/cancel")
    assert code(client.get(f"/api/v1/runs/{running['id']}/export")) == (409, "EXPORT_UNAVAILABLE")
    assert code(client.get("/api/v1/runs/nope/export")) == (404, "RUN_NOT_FOUND")
    ok = start(client, "SELECT 1 AS n")
    assert code(client.get(f"/api/v1/runs/{ok['id']}/export", params={"format": "xls"}))[0] == 422
    wb.retention.sweep(now=10**12)
    assert code(client.get(f"/api/v1/runs/{ok['id']}/export")) == (410, "RESULT_EXPIRED")


def test_page_limits_and_offsets(client: TestClient) -> None:
    run = start(client, "SELECT * FROM range(30000) t(i)", max_rows=50_000)
    rows = f"/api/v1/runs/{run['id']}/rows"
    assert len(client.get(rows).json()["rows"]) == 500  # the default
    page = client.get(rows, params={"offset": 29_990, "limit": 10_000}).json()
    assert page["rows"] == [[i] for i in range(29_990, 30_000)]
    assert (page["total"], page["complete"]) == (30_000, True)
    assert client.get(rows, params={"offset": 30_000}).json()["rows"] == []
    assert client.get(rows, params={"offset": 2**40}).json()["rows"] == []
    for params in ({"limit": 10_001}, {"limit": 0}, {"limit": -1}, {"offset": -1}):
        assert code(client.get(rows, params=params)) == (422, "INVALID_INPUT")


def test_export_all_takes_the_larger_cap(client: TestClient, wb: Workbench) -> None:
    sql = "SELECT * FROM range(60000) t(i)"
    capped = start(client, sql, max_rows=10**9)
    assert (capped["row_count"], capped["truncated"], capped["max_rows"]) == (50_000, True, 50_000)
    everything = start(client, sql, export_all=True)
    assert (everything["row_count"], everything["truncated"]) == (60_000, False)
    assert everything["max_rows"] == wb.settings.export_max_rows


def test_cli_query_parquet_and_export_csv(
    wb: Workbench, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QUERYDECK_MAX_ROWS_LIMIT", "1000")
    monkeypatch.setenv("QUERYDECK_DEFAULT_MAX_ROWS", "1000")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    sql = "SELECT i, 'n' || i AS name FROM range(5000) t(i) ORDER BY i"
    done = runner.invoke(cli_app, ["query", "demo", sql, "--format", "parquet", "-o", "f.parquet"])
    assert done.exit_code == 0, done.output
    assert "5,000 rows" in done.stderr  # --output is an "export all" run: not capped at 1000
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.column("name").to_pylist()[:2] == ["n0", "n1"]
    history = orjson.loads(runner.invoke(cli_app, ["history", "-f", "json"]).stdout)
    run_id = history["items"][0]["id"]
    exported = runner.invoke(cli_app, ["export", run_id, "--format", "csv", "--output", "f.csv"])
    assert exported.exit_code == 0, exported.output
    assert "5,000 rows written to f.csv" in exported.stderr
    assert (tmp_path / "f.csv").read_bytes().startswith(b"i,name\r\n0,n0\r\n1,n1\r\n")
    to_stdout = runner.invoke(cli_app, ["export", run_id, "-f", "ndjson"])
    assert to_stdout.stdout_bytes.count(b"\n") == 5000
    tsv = runner.invoke(cli_app, ["query", "demo", "SELECT 1 AS a, 'x' AS b", "-f", "tsv"])
    assert tsv.stdout_bytes == b"a\tb\n1\tx\n"
    missing = runner.invoke(cli_app, ["export", "no-such-run", "-o", "g.csv"])
    assert missing.exit_code == 1
    assert "Error [RUN_NOT_FOUND]" in missing.stderr
    assert not (tmp_path / "g.csv").exists()
    nowhere = runner.invoke(cli_app, ["export", run_id, "-o", "no/dir/g.csv"])
    assert nowhere.exit_code == 2
