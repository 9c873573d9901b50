"""Reads people expect to work (issue 17): each passes the guard and answers what the
engine itself answers, on the real engine; what cannot be proven a read stays refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from querydeck.app.workbench import Workbench
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
