"""The excel flavour of CSV (querydeck.runs.excel): a byte-order mark, formula-like text
neutralised with a leading quote, everything else exactly as the CSV export."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.runs.export.excel import BOM, neutralise, neutralise_name
from querydeck.settings import load_settings
from tests.apiauth import api_client

RISKY = """SELECT * FROM (VALUES
    (1, '=1+2', -5, 'plain', [1, 2]),
    (2, '+SUM(A1)', 3, '@cmd', [3]),
    (3, '-2+3', 0, E'\\tTab', NULL),
    (4, E'\\rCR', 7, '', [4]),
    (5, NULL, -1, 'a "quoted", value', [5])
) AS t(id, formula, n, "=evil", l) ORDER BY id"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, demo_files: Path) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("excel-data")
    shutil.copytree(demo_files, data_dir / "demo")
    wb = Workbench(load_settings(data_dir=data_dir)).open()
    wb.admin.create_demo()
    try:
        with api_client(wb) as test_client:
            yield test_client
    finally:
        wb.close()


def export(client: TestClient, sql: str, fmt: str) -> bytes:
    run = client.post("/api/v1/runs", json={"connection": "demo", "sql": sql}).json()["run"]
    response = client.get(f"/api/v1/runs/{run['id']}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    if fmt == "excel":
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert (
            f'filename="querydeck-{run["id"]}-excel.csv"' in response.headers["content-disposition"]
        )
    return response.content


def test_excel_csv_has_a_bom_and_neutralises_formulas(client: TestClient) -> None:
    body = export(client, RISKY, "excel")
    assert body.startswith(BOM)
    rows = list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))
    assert rows == [
        ["id", "formula", "n", "'=evil", "l"],
        ["1", "'=1+2", "-5", "plain", "[1,2]"],
        ["2", "'+SUM(A1)", "3", "'@cmd", "[3]"],
        ["3", "'-2+3", "0", "'\tTab", ""],
        ["4", "'\rCR", "7", "", "[4]"],
        ["5", "", "-1", 'a "quoted", value', "[5]"],
    ]


def test_exact_csv_is_unchanged(client: TestClient) -> None:
    body = export(client, RISKY, "csv")
    assert not body.startswith(BOM)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["id", "formula", "n", "=evil", "l"]
    assert rows[1][:2] == ["1", "=1+2"]


def test_excel_csv_of_plain_data_is_the_csv_with_a_bom(client: TestClient) -> None:
    sql = "SELECT i, 'v' || i AS s, i * 0.5 AS f FROM range(70000) t(i)"
    assert export(client, sql, "excel") == BOM + export(client, sql, "csv")


def test_neutralise() -> None:
    column = pa.array(["=a", "+b", "-c", "@d", "\te", "\rf", "g=", None, "", " =h"])
    assert neutralise(column).to_pylist() == [
        "'=a",
        "'+b",
        "'-c",
        "'@d",
        "'\te",
        "'\rf",
        "g=",
        None,
        "",
        " =h",
    ]
    assert (neutralise_name("=x"), neutralise_name("x")) == ("'=x", "x")
