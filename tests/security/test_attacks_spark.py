"""Groups A and E of SECURITY_TESTS.md against Spark through Spark Connect (pyspark's own
server, started by the tests), guarded and guard-bypassed.

Spark Connect has no read-only mode: with the guard bypassed, what holds is the driver's —
the statement sent as a subquery (Spark's parser then accepts only a query, so no command
ever runs), the analyzer's plan checked for reflection and programs, and the session's
``runSQLOnFiles=false``. Afterwards the victim rows, the tables of every database, the
warehouse directory and the outside directory are checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from querydeck.runs.models import RunStatus
from tests.security.harness import (
    Attack,
    Bench,
    Listener,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
    common_attacks,
)
from tests.spark_server import SparkServer

pytestmark = pytest.mark.services

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"
FILES = "FILE_ACCESS_DENIED"
FUNC = "SQL_FORBIDDEN_FUNCTION"
SYNTAX = "SQL_FORBIDDEN_SYNTAX"
FAILED = "QUERY_FAILED"


def row(name: str, sql: str, guarded: tuple[str, ...], engine: tuple[str, ...] | None) -> Attack:
    return Attack(row=name, sql=sql, guarded=guarded, engine=engine)


ATTACKS = [
    *common_attacks(),
    row("A1", "SELECT 1; INSERT INTO victim VALUES (9, 'x')", (MULTI,), (PARSE,)),
    row("A1", "SELECT 1;\nDROP TABLE victim", (MULTI,), (PARSE,)),
    row("A4", "INSERT INTO victim VALUES (9, 'x')", (NOT_READ,), (PARSE,)),
    row("A4", "/* c */ INSERT OVERWRITE TABLE victim SELECT * FROM victim", (NOT_READ,), (PARSE,)),
    row(
        "A4",
        "WITH x AS (SELECT 9, 'x') INSERT INTO victim SELECT * FROM x",
        (NOT_READ, PARSE),
        (PARSE,),
    ),
    row("A4", "FROM victim INSERT INTO victim SELECT *", (NOT_READ, PARSE), (PARSE,)),
    row("A4", "DELETE FROM victim", (NOT_READ,), (PARSE,)),
    row("A5", "SET spark.sql.runSQLOnFiles = true", (NOT_READ,), (PARSE,)),
    row("A5", "RESET", (NOT_READ, PARSE), (FAILED,)),
    row("A5", "USE default", (NOT_READ,), (FAILED,)),
    row("A6", "CREATE TABLE qd_x USING parquet AS SELECT * FROM victim", (NOT_READ,), (PARSE,)),
    row("A6", "CREATE TABLE qd_x AS SELECT 1 AS a", (NOT_READ,), (PARSE,)),
    row("A6", "CREATE OR REPLACE TEMP VIEW qd_v AS SELECT 1", (NOT_READ,), (PARSE,)),
    row("A6", "CREATE TEMPORARY FUNCTION f AS 'java.lang.String'", (NOT_READ, PARSE), (PARSE,)),
    row("A6", "DROP TABLE victim", (NOT_READ,), (PARSE,)),
    row("A6", "TRUNCATE TABLE victim", (NOT_READ,), (PARSE,)),
    row("A6", "ALTER TABLE victim ADD COLUMNS (z INT)", (NOT_READ,), (PARSE,)),
    row("A6", "CACHE TABLE victim", (NOT_READ,), (PARSE,)),
    row("A6", "REFRESH TABLE victim", (NOT_READ, PARSE), (PARSE,)),
    row("A6", "EXPLAIN INSERT INTO victim VALUES (9, 'x')", (NOT_READ, PARSE), (PARSE,)),
    row("A6", "BEGIN INSERT INTO victim VALUES (9, 'x'); END", (MULTI, NOT_READ), (PARSE,)),
    row("A7", "SELECT reflect('java.lang.System', 'getProperty', 'user.home')", (FUNC,), (FUNC,)),
    row("A7", "SELECT java_method('java.lang.System', 'getenv', 'HOME')", (FUNC,), (FUNC,)),
    row("A8", "SELECT upper(REFLECT('java.lang.System', 'getProperty', 'x'))", (FUNC,), (FUNC,)),
    row("A8", "SELECT `java_method`('java.lang.System', 'getenv', 'HOME')", (FUNC,), (FUNC,)),
    row("E1", "SELECT * FROM text.`/etc/passwd`", (FILES,), (FAILED,)),
    row("E1", "SELECT * FROM csv.`/etc/passwd`", (FILES,), (FAILED,)),
    row("E1", "SELECT * FROM json.`/etc/hostname`", (FILES,), (FAILED,)),
    row("E1", "SELECT * FROM binaryFile.`/etc/hostname`", (FILES,), (FAILED,)),
    row("E1", "SELECT * FROM parquet.`{outside}`", (FILES,), (FAILED,)),
    row("E1", "SELECT * FROM read_files('/etc/passwd')", (FILES,), (FAILED,)),
    row("E1", "LOAD DATA LOCAL INPATH '/etc/passwd' INTO TABLE victim", (NOT_READ,), (PARSE,)),
    row(
        "E3",
        "INSERT OVERWRITE DIRECTORY '{outside}/d' USING parquet SELECT * FROM victim",
        (NOT_READ, PARSE),
        (PARSE,),
    ),
    row(
        "E3",
        "INSERT OVERWRITE LOCAL DIRECTORY '{outside}/d' SELECT * FROM victim",
        (NOT_READ, PARSE),
        (PARSE,),
    ),
    row("E4", "ADD JAR '{outside}/evil.jar'", (NOT_READ,), (PARSE,)),
    row("E4", "ADD FILE '/etc/passwd'", (NOT_READ, PARSE), (PARSE,)),
    row(
        "E4",
        "SELECT TRANSFORM(name) USING 'touch {outside}/pwned' AS (x) FROM victim",
        (SYNTAX,),
        (SYNTAX,),
    ),
    row(
        "E4",
        "SELECT * FROM (SELECT TRANSFORM(name) USING 'sh -c \"id > {outside}/id\"' AS (x) "
        "FROM victim) t",
        (SYNTAX,),
        (SYNTAX,),
    ),
]


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, spark_connect: SparkServer) -> Iterator[SparkServer]:
    started = time.monotonic()
    yield spark_connect
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"test_attacks_spark: the module took {time.monotonic() - started:.1f} s"
        )


@pytest.fixture(scope="module")
def admin(server: SparkServer) -> Iterator[Any]:
    from pyspark.sql.connect.session import SparkSession

    session = SparkSession.builder.remote(server.url).create()
    session.sql("CREATE DATABASE qd_attacks")
    session.sql("CREATE TABLE qd_attacks.victim (id INT, name STRING) USING parquet")
    session.sql("INSERT INTO qd_attacks.victim VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma')")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_bench(
    server: SparkServer, admin: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bench]:
    options = {"host": "127.0.0.1", "port": server.port, "database": "qd_attacks"}
    with bench(tmp_path_factory.mktemp("spark-attacks"), "spark", options) as b:
        yield b


def engine_state(server: SparkServer, admin: Any) -> tuple[Any, ...]:
    """Every database's tables and views (the catalog API, one call per database) and
    every file of the warehouse with its size (the victim's rows are its parquet files)."""
    warehouse = server.directory / "warehouse"
    return (
        sorted(
            (str(t.name), bool(t.isTemporary))
            for db in ("default", "qd_attacks")
            for t in admin.catalog.listTables(db)
        ),
        sorted(
            (str(p.relative_to(warehouse)), p.stat().st_size if p.is_file() else -1)
            for p in warehouse.rglob("*")
        ),
    )


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(spark_bench: Bench, server: SparkServer, admin: Any, attack: Attack) -> None:
    before = engine_state(server, admin)
    check_guarded(spark_bench, attack)
    assert engine_state(server, admin) == before
    assert_nothing_outside(spark_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(spark_bench: Bench, server: SparkServer, admin: Any, attack: Attack) -> None:
    before = engine_state(server, admin)
    check_bypassed(spark_bench, attack)
    assert engine_state(server, admin) == before
    assert_nothing_outside(spark_bench)


SSRF = [
    "SELECT * FROM csv.`http://127.0.0.1:{port}/x.csv`",
    "SELECT * FROM parquet.`hdfs://127.0.0.1:{port}/x`",
    "SELECT * FROM read_files('http://127.0.0.1:{port}/x')",
]


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e6_file_sources_never_reach_a_listener(spark_bench: Bench, raw: bool) -> None:
    listener = Listener()
    wb = spark_bench.raw if raw else spark_bench.guarded
    try:
        for text in SSRF:
            info = attempt(wb, "victim", text.format(port=listener.port))
            assert info.status in (RunStatus.rejected, RunStatus.failed), text
            assert info.error_code in (FILES, FUNC, FAILED), info.error_message
    finally:
        listener.close()
    assert listener.accepted == 0


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e7_a_runaway_query_is_interrupted(spark_bench: Bench, raw: bool) -> None:
    wb = spark_bench.raw if raw else spark_bench.guarded
    info = attempt(wb, "victim", "SELECT count(*) FROM range(1000000000000)", timeout_s=2.0)
    assert (info.status, info.error_code) == (RunStatus.timed_out, "QUERY_TIMEOUT")
    assert attempt(wb, "victim", "SELECT count(*) AS n FROM victim").status is RunStatus.succeeded
