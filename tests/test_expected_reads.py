"""Reads people expect to work (issue 17): each passes the guard and answers what the
engine itself answers, on the real engine; what cannot be proven a read stays refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pymysql
import pytest

from querydeck.app.workbench import Workbench
from querydeck.errors import QueryRejected
from querydeck.runs.models import RunRequest, RunStatus
from tests.security.harness import workbench
from tests.services import mysql_connect_args, mysql_database, mysql_reader


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    with mysql_database() as admin_url:
        conn = pymysql.connect(autocommit=True, **mysql_connect_args(admin_url))  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20))")
            cur.execute("INSERT INTO orders VALUES (1, '值'), (2, NULL)")
        conn.close()
        with mysql_reader(admin_url) as url:
            wb = workbench(tmp_path_factory.mktemp("reads"), raw=False)
            try:
                wb.connections.create("maria", url=url)
                yield wb
            finally:
                wb.close()


def rows(wb: Workbench, connection: str, sql: str) -> list[dict[str, Any]]:
    info = wb.runs.run(RunRequest(connection=connection, sql=sql))
    assert info.status is RunStatus.succeeded, info.error_message
    return wb.results.read(info.id, 0, 1000).to_pylist()


def test_json_object_on_mariadb(mariadb: Workbench) -> None:
    [row] = rows(mariadb, "maria", "SELECT JSON_OBJECT('k', '值') AS j")
    assert row["j"].replace(" ", "") == '{"k":"值"}'
    [row] = rows(
        mariadb, "maria", "SELECT JSON_OBJECT('id', id, 'note', note) AS j FROM orders WHERE id = 2"
    )
    assert row["j"].replace(" ", "") == '{"id":2,"note":null}'


def test_show_and_describe_on_mariadb(mariadb: Workbench) -> None:
    assert [list(r.values()) for r in rows(mariadb, "maria", "SHOW TABLES")] == [["orders"]]
    described = rows(mariadb, "maria", "DESCRIBE orders")
    assert [(r["Field"], r["Type"]) for r in described] == [
        ("id", "int(11)"),
        ("note", "varchar(20)"),
    ]
    columns = rows(mariadb, "maria", "SHOW FULL COLUMNS FROM orders LIKE 'n%'")
    assert [r["Field"] for r in columns] == ["note"]
    [create] = rows(mariadb, "maria", "SHOW CREATE TABLE orders")
    assert "CREATE TABLE `orders`" in create["Create Table"]


@pytest.mark.parametrize(
    "sql",
    [
        "SHOW PROCESSLIST",
        "SHOW GRANTS",
        "SHOW TABLES WHERE sleep(2) = 0",
        "SHOW VARIABLES",
        "DESCRIBE FOR CONNECTION 1",
    ],
)
def test_what_cannot_be_proven_stays_refused_on_mariadb(mariadb: Workbench, sql: str) -> None:
    with pytest.raises(QueryRejected):
        mariadb.runs.run(RunRequest(connection="maria", sql=sql))


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root = tmp_path_factory.mktemp("duck")
    path = root / "files" / "shop.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE orders AS SELECT range AS id, range * 2 AS total FROM range(10)")
    wb = workbench(root / "data", raw=False, file_roots=[path.parent])
    try:
        wb.connections.create("duck", driver="duckdb", options={"path": str(path)})
        yield wb
    finally:
        wb.close()


def test_describe_summarize_and_show_on_duckdb(duck: Workbench) -> None:
    described = rows(duck, "duck", "DESCRIBE orders")
    assert [(r["column_name"], r["column_type"]) for r in described] == [
        ("id", "BIGINT"),
        ("total", "BIGINT"),
    ]
    summary = {r["column_name"]: r for r in rows(duck, "duck", "SUMMARIZE orders")}
    assert (summary["total"]["min"], summary["total"]["max"]) == ("0", "18")
    assert [r["name"] for r in rows(duck, "duck", "SHOW TABLES")] == ["orders"]
    assert [r["name"] for r in rows(duck, "duck", "SHOW ALL TABLES")] == ["orders"]
    assert [r["column_name"] for r in rows(duck, "duck", "SHOW orders")] == ["id", "total"]


@pytest.mark.parametrize(
    "sql", ['SUMMARIZE "/etc/passwd"', "DESCRIBE 'shop.csv'", 'SHOW "x.parquet"', "SET threads = 1"]
)
def test_files_and_settings_stay_refused_on_duckdb(duck: Workbench, sql: str) -> None:
    with pytest.raises(QueryRejected):
        duck.runs.run(RunRequest(connection="duck", sql=sql))
