"""Size is bounded, not only rows (issue 16, item 3): one value's size when a result is
stored (max_value_bytes), a page's bytes (max_page_bytes), SQLite's own value limit, and
every cut reported (value_truncated), never silent."""

from __future__ import annotations

import csv
import io
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings
from tests.apiauth import api_client


def _client(data_dir: Path, demo_files: Path, **settings: Any) -> Iterator[TestClient]:
    shutil.copytree(demo_files, data_dir / "demo")
    with Workbench(load_settings(data_dir=data_dir, **settings)).open() as wb:
        wb.admin.create_demo()
        with api_client(wb) as client:
            yield client


@pytest.fixture
def client(data_dir: Path, demo_files: Path) -> Iterator[TestClient]:
    yield from _client(data_dir, demo_files, max_value_bytes=1024, max_page_bytes=64 * 1024)


def run(client: TestClient, connection: str, sql: str, status: int = 200) -> dict[str, Any]:
    response = client.post(
        "/api/v1/runs", json={"connection": connection, "sql": sql, "wait_ms": 60_000}
    )
    assert response.status_code == status, response.text
    return dict(response.json())


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_a_gigabyte_blob_on_sqlite_ends_at_once_in_bounded_memory(
    data_dir: Path, demo_files: Path
) -> None:
    """randomblob(1e9) ran 26 s past a 5 s timeout, stored 1 GB and built a 1.3 GB page:
    SQLite now refuses to build a value beyond its limit, at once."""
    for client in _client(data_dir, demo_files):
        before = _rss_mb()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.monotonic()
        answer = run(client, "chinook", "SELECT randomblob(1000000000) AS b", status=422)
        took = time.monotonic() - started
        error = answer["error"]
        assert error["code"] == "RESOURCE_LIMIT", error
        assert "substr" in error["message"]
        assert took < 5, took
        grown = _rss_mb() - before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert grown < 200, (grown, before)
        assert peak - peak_before < 300, (peak, peak_before)
        # a large value under the limit is stored, cut to max_value_bytes (4 MiB)
        big = run(client, "chinook", "SELECT zeroblob(10000000) AS b, 1 AS n")
        assert big["run"]["value_truncated"] is True
        assert big["run"]["columns"][0]["truncated_values"] == 1
        assert big["page"]["truncated_columns"] == ["b"]
        assert len(big["page"]["rows"][0][0]) == 4 * -(-4 * 1024 * 1024 // 3)  # base64


def test_values_are_cut_when_stored_and_reported(client: TestClient) -> None:
    sql = (
        "SELECT repeat('x', 5000) AS a, 'short' AS b, repeat('é', 3000) AS c, "
        "repeat('y', 1024) AS d"
    )
    answer = run(client, "demo", sql)
    run_info, page = answer["run"], answer["page"]
    assert run_info["value_truncated"] is True
    assert [c["truncated_values"] for c in run_info["columns"]] == [1, 0, 1, 0]
    assert page["value_truncated"] is True
    assert page["truncated_columns"] == ["a", "c"]
    a, b, c, d = page["rows"][0]
    assert a == "x" * 1024
    assert b == "short"
    assert d == "y" * 1024
    assert c == "é" * 512  # whole characters: 1,024 bytes of UTF-8
    # read again from the stored file: the same
    again = client.get(f"/api/v1/runs/{run_info['id']}").json()
    assert again["page"]["rows"] == page["rows"]
    assert again["run"]["value_truncated"] is True
    # exports say so in a header, and hold the stored (cut) values
    for fmt in ("csv", "json", "ndjson", "parquet", "tsv", "excel"):
        response = client.get(f"/api/v1/runs/{run_info['id']}/export", params={"format": fmt})
        assert response.status_code == 200
        assert response.headers["x-querydeck-value-truncated"] == "a,c"
    exported = client.get(f"/api/v1/runs/{run_info['id']}/export", params={"format": "csv"})
    cells = list(csv.reader(io.StringIO(exported.text)))[1]
    assert [len(cell.encode()) for cell in cells] == [1024, 5, 1024, 1024]
    # a run without long values says nothing
    plain = run(client, "demo", "SELECT 'x' AS a")
    assert plain["run"]["value_truncated"] is False
    assert plain["page"]["value_truncated"] is False
    assert (
        "x-querydeck-value-truncated"
        not in client.get(f"/api/v1/runs/{plain['run']['id']}/export").headers
    )


def test_a_page_stays_under_the_byte_cap(client: TestClient) -> None:
    """200 values of 1,000 bytes (200 KB) in a 64 KB page: every row is there, the values
    are cut to the same length and listed; the JSON body stays under the cap."""
    sql = "SELECT i, repeat('x', 1000) AS t, 'ok' AS s FROM range(200) r(i) ORDER BY i"
    answer = run(client, "demo", sql)
    run_id = answer["run"]["id"]
    for page in (
        answer["page"],
        client.get(f"/api/v1/runs/{run_id}/rows", params={"limit": 200}).json(),
    ):
        assert len(page["rows"]) == 200
        assert page["value_truncated"] is True
        assert page["truncated_columns"] == []  # nothing was cut when stored
        assert page["truncated_cells"] == [[row, 1] for row in range(200)]
        assert sum(len(row[1]) + len(row[2]) for row in page["rows"]) <= 64 * 1024
        assert {len(row[1]) for row in page["rows"]} == {(64 * 1024 - 400) // 200}
        assert len(orjson.dumps(page)) < 64 * 1024 + 200 * 64
    small = client.get(f"/api/v1/runs/{run_id}/rows", params={"limit": 10}).json()
    assert small["value_truncated"] is False
    assert small["truncated_cells"] == []
    assert all(len(row[1]) == 1000 for row in small["rows"])
