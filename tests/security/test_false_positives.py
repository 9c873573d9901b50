"""The false-positive corpus (A9): reads that must pass the guard and give the engine's
own answer — the 22 TPC-H queries on the demo DuckDB, and the constructs a careless
deny-list trips on (keywords in literals and identifiers, window functions, LATERAL,
recursive CTEs, GROUPING SETS) on DuckDB and PostgreSQL. The Chinook analytics queries
run the same way in tests/test_chinook_engines.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.duckdb.engine import load_packaged_extension
from querydeck.runs.models import RunRequest, RunStatus
from tests.security.harness import workbench
from tests.services import postgres_database


def tpch_queries() -> list[str]:
    with duckdb.connect() as conn:
        load_packaged_extension(conn, "tpch")
        rows = conn.execute("SELECT query FROM tpch_queries() ORDER BY query_nr").fetchall()
    return [str(q) for (q,) in rows]


TPCH = tpch_queries()

CONTROLS = {
    "keywords in a string": "SELECT 'DELETE FROM t; DROP TABLE x' AS s, 'COMMIT; COPY' AS c",
    "keyword identifiers": 'SELECT "delete" FROM (SELECT 1 AS "delete") AS "select"',
    "window functions": """
        SELECT n_regionkey, n_name,
               rank() OVER (PARTITION BY n_regionkey ORDER BY n_name) AS r,
               sum(n_nationkey) OVER (ORDER BY n_nationkey
                                      ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s
        FROM nation ORDER BY n_nationkey""",
    "lateral": """
        SELECT r.r_name, top.n_name FROM region r,
               LATERAL (SELECT n_name FROM nation n WHERE n.n_regionkey = r.r_regionkey
                        ORDER BY n_name LIMIT 2) top
        ORDER BY r.r_name, top.n_name""",
    "recursive cte": """
        WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100)
        SELECT count(*), sum(n) FROM r""",
    "grouping sets": """
        SELECT o_orderstatus, o_orderpriority, count(*) AS n FROM orders
        GROUP BY GROUPING SETS ((o_orderstatus), (o_orderstatus, o_orderpriority), ())
        ORDER BY o_orderstatus NULLS FIRST, o_orderpriority NULLS FIRST""",
    "rollup and filter": """
        SELECT l_returnflag, l_linestatus, count(*) FILTER (WHERE l_quantity > 25) AS big
        FROM lineitem GROUP BY ROLLUP (l_returnflag, l_linestatus)
        ORDER BY l_returnflag NULLS FIRST, l_linestatus NULLS FIRST""",
    "explain": "EXPLAIN SELECT count(*) FROM lineitem",
}


def normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Floats rounded (parallel sums differ in the last bits); everything else as is."""

    def one(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        return value

    return [tuple(one(v) for v in row) for row in rows]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workbench, Path]]:
    wb = workbench(tmp_path_factory.mktemp("false-positives"), raw=False)
    try:
        wb.admin.create_demo()
        yield wb, wb.settings.data_dir / "demo" / "tpch.duckdb"
    finally:
        wb.close()


def through_workbench(wb: Workbench, connection: str, sql: str) -> list[tuple[Any, ...]]:
    info = wb.runs.run(RunRequest(connection=connection, sql=sql, max_rows=100_000))
    assert info.status is RunStatus.succeeded, (info.error_code, info.error_message)
    assert info.truncated is False
    table = wb.results.read(info.id, 0, 100_000)
    return [tuple(row.values()) for row in table.to_pylist()]


def duckdb_answer(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_the_corpus_is_complete() -> None:
    assert len(TPCH) == 22


@pytest.mark.parametrize("number", range(1, 23), ids=lambda n: f"q{n:02d}")
def test_tpch_query_gives_duckdbs_answer(demo: tuple[Workbench, Path], number: int) -> None:
    wb, path = demo
    sql = TPCH[number - 1]
    assert normalise(through_workbench(wb, "demo", sql)) == normalise(duckdb_answer(path, sql))


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_duckdb_control_gives_duckdbs_answer(demo: tuple[Workbench, Path], name: str) -> None:
    wb, path = demo
    sql = CONTROLS[name]
    got = through_workbench(wb, "demo", sql)
    expected = duckdb_answer(path, sql)
    if name == "explain":  # the plan text; its first column names the plan kind
        assert [row[0] for row in got] == [row[0] for row in expected]
    else:
        assert normalise(got) == normalise(expected)


POSTGRES_CONTROLS = {
    "keywords in a string": "SELECT 'DELETE FROM t; DROP TABLE x' AS s",
    "dollar quoted": 'SELECT $$;DELETE FROM "select"$$ AS s, $tag$ COMMIT; $tag$ AS t',
    "keyword identifiers": 'SELECT "delete", "from" FROM "select" ORDER BY "delete"',
    "keyword identifier as a column of a CTE named like a write": (
        'WITH "update" AS (SELECT "delete" * 2 AS "insert" FROM "select") '
        'SELECT sum("insert") FROM "update"'
    ),
    "window functions": (
        'SELECT "delete", lag("delete") OVER w, sum("delete") OVER w FROM "select" '
        'WINDOW w AS (ORDER BY "delete") ORDER BY 1'
    ),
    "lateral": (
        'SELECT s."delete", l.x FROM "select" s, '
        'LATERAL (SELECT s."delete" * g AS x FROM generate_series(1, 2) g) l ORDER BY 1, 2'
    ),
    "recursive cte": (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 50) "
        "SELECT count(*), sum(n) FROM r"
    ),
    "grouping sets": (
        'SELECT "from", count(*), sum("delete") FROM "select" '
        'GROUP BY GROUPING SETS (("from"), ()) ORDER BY 1 NULLS FIRST'
    ),
    "json, arrays, casts, intervals": (
        "SELECT '{\"a\": {\"b\": 1}}'::jsonb #>> '{a,b}' AS j, (ARRAY[3, 1, 2])[2] AS a, "
        "date '2024-02-28' + interval '1 day' AS d, 7::numeric(5, 2) AS n"
    ),
    "explain": 'EXPLAIN SELECT * FROM "select"',
    "values": "VALUES (1, 'update'), (2, 'delete') ORDER BY 1",
    "table": 'TABLE "select"',
}


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workbench, str]]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                'CREATE TABLE "select" ("delete" int, "from" text);'
                "INSERT INTO \"select\" VALUES (1, 'a'), (2, 'a'), (3, 'b')"
            )
        wb = workbench(tmp_path_factory.mktemp("false-positives-pg"), raw=False)
        try:
            wb.connections.create("pg", url=url, allow_privileged=True)
            yield wb, url
        finally:
            wb.close()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    return value


@pytest.mark.parametrize("name", sorted(POSTGRES_CONTROLS))
def test_postgres_control_gives_the_servers_answer(
    postgres: tuple[Workbench, str], name: str
) -> None:
    wb, url = postgres
    sql = POSTGRES_CONTROLS[name]
    got = through_workbench(wb, "pg", sql)
    with psycopg.connect(url) as conn:
        expected = conn.execute(sql).fetchall()
    if name == "explain":
        assert len(got) == len(expected)
        assert str(got[0][0]).split("(")[0] == str(expected[0][0]).split("(")[0]
        return
    assert [tuple(_plain(v) for v in row) for row in got] == [
        tuple(_plain(v) for v in row) for row in expected
    ]
