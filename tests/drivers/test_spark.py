"""The Spark driver against a real Spark Connect server (pyspark's own jars on Java 17,
started by the tests): the compliance suite, the layers that keep a statement reading
(subquery wrapping, the analyzer's plan check, session settings), types, the catalog and
error messages. The server starts once for the module; the module reports its own time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers import registry
from querydeck.drivers.base import Driver
from querydeck.drivers.spark.driver import SparkDriver, SparkOptions
from querydeck.drivers.spark.session import SESSION_CONF, SparkEngineSession, wrap
from querydeck.errors import (
    CatalogNotFound,
    ConnectionFailed,
    ConnectionOptionsInvalid,
    ConnectionUrlInvalid,
    DatabaseNotFound,
    DriverClientMissing,
    QueryFailed,
    ResultTypeMismatch,
    SqlForbiddenFunction,
    SqlForbiddenSyntax,
    SqlParseError,
    UpstreamUnavailable,
)
from querydeck.sql.guard import guard
from tests.drivers.suite import (
    ARRAY,
    BIG_INT,
    BINARY,
    DATE,
    EXACT_DECIMAL,
    FIXTURE_ROWS,
    FIXTURE_TABLE,
    INSTANT,
    INSTANT_TEXT,
    JSON_TEXT,
    JSON_VALUE,
    MIN_INT64,
    NUL_TEXT,
    UNICODE_TEXT,
    DriverSuite,
    ExtremeCase,
    ExtremeValueSuite,
    TypeCase,
    is_utc_timestamp,
    json_loads,
    read_table,
)
from tests.services import unique_name
from tests.spark_server import SparkServer
from tests.test_chinese_text import FULL_TEXT, check

pytestmark = pytest.mark.services

SLEEP_SQL = "SELECT count(*) FROM range(1000000000000)"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, spark_connect: SparkServer) -> Iterator[SparkServer]:
    started = time.monotonic()
    yield spark_connect
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"test_spark: the Spark Connect server started in {spark_connect.started_in_s} s "
            f"(shared by the process); the module took {time.monotonic() - started:.1f} s"
        )


@pytest.fixture(scope="module")
def database(server: SparkServer) -> Iterator[str]:
    from pyspark.sql.connect.session import SparkSession

    admin = SparkSession.builder.remote(server.url).create()
    name = unique_name("qd_test")
    admin.sql(f"CREATE DATABASE {name}")
    admin.sql(f"CREATE TABLE {name}.{FIXTURE_TABLE} (id INT, name STRING) USING parquet")
    values = ", ".join(f"({i}, '{n}')" for i, n in FIXTURE_ROWS)
    admin.sql(f"INSERT INTO {name}.{FIXTURE_TABLE} VALUES {values}")
    admin.sql(
        f"CREATE TABLE {name}.events (id BIGINT, at TIMESTAMP, tags ARRAY<STRING>) "
        "USING parquet COMMENT 'the events'"
    )
    admin.sql(f"CREATE VIEW {name}.recent AS SELECT id FROM {name}.events WHERE id > 1")
    admin.sql(
        f"CREATE VIEW {name}.qd_home AS "
        "SELECT reflect('java.lang.System', 'getProperty', 'user.home') AS home"
    )
    yield name
    admin.sql(f"DROP DATABASE {name} CASCADE")
    admin.stop()


def make_driver(server: SparkServer, **changes: Any) -> SparkDriver:
    return SparkDriver(SparkOptions(**{"host": "127.0.0.1", "port": server.port, **changes}))


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class TestSparkSuite(ExtremeValueSuite, DriverSuite):
    driver_cls = SparkDriver
    sleep_sql = SLEEP_SQL
    fixture_arrow_types = (pa.int32(), pa.string())
    good_urls = (
        ("sc://spark.example:15002", {"host": "spark.example", "port": 15002}),
        (
            "sc://10.0.0.5/?database=sales&sslmode=verify-full",
            {"host": "10.0.0.5", "database": "sales", "sslmode": "verify-full"},
        ),
    )
    forbidden_urls = (
        "sc://h:15002/?token=x",
        "sc://h:15002/?use_ssl=true",
        "sc://h:15002/?spark.sql.runSQLOnFiles=true",
    )

    @pytest.fixture
    def driver(self, server: SparkServer, database: str) -> SparkDriver:
        return make_driver(server, database=database)

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT id + 1 AS n FROM range({n})"

    def fixture_schema(self, driver: Driver[Any]) -> str:
        return str(driver.options.database)

    def type_cases(self) -> list[TypeCase]:
        return [
            TypeCase("int_above_2_53", f"SELECT CAST({BIG_INT} AS BIGINT)", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT CAST('{MIN_INT64}' AS BIGINT)", MIN_INT64, pa.int64()),
            TypeCase(
                "decimal",
                f"SELECT CAST('{EXACT_DECIMAL}' AS DECIMAL(29,9))",
                EXACT_DECIMAL,
                pa.decimal128(29, 9),
            ),
            TypeCase("date", f"SELECT DATE '{DATE.isoformat()}'", DATE, pa.date32()),
            TypeCase(
                "timestamp_tz", f"SELECT TIMESTAMP '{INSTANT_TEXT}'", INSTANT, is_utc_timestamp
            ),
            TypeCase("boolean", "SELECT true", True, pa.bool_()),
            TypeCase("text_unicode", f"SELECT {quoted(UNICODE_TEXT)}", UNICODE_TEXT, pa.string()),
            TypeCase("text_nul", "SELECT concat('a', char(0), 'b')", NUL_TEXT, pa.string()),
            TypeCase("binary", f"SELECT X'{BINARY.hex()}'", BINARY, pa.binary()),
            TypeCase("json", f"SELECT {quoted(JSON_TEXT)}", JSON_VALUE, pa.string(), json_loads),
            TypeCase("array", f"SELECT array{tuple(ARRAY)}", ARRAY, pa.list_(pa.int32())),
        ]

    def extreme_cases(self) -> list[ExtremeCase]:
        """Year-month intervals are refused with a clear error (test_spark_types below)."""
        return [
            ExtremeCase(
                "floats",
                "SELECT double('NaN') AS a, double('-Infinity') AS b, -0.0D AS c, "
                "float('Infinity') AS d",
                ["NaN", "-Infinity", -0.0, "Infinity"],
            ),
            ExtremeCase(
                "integers and decimals",
                "SELECT CAST('-99999999999999999999999999999999999999' AS DECIMAL(38,0)) AS a, "
                "CAST('-9223372036854775808' AS BIGINT) AS b, "
                "CAST('0.00000000000000000000000000000000000001' AS DECIMAL(38,38)) AS c",
                [
                    "-99999999999999999999999999999999999999",
                    "-9223372036854775808",  # past 2^53: text, as every engine's
                    "0.00000000000000000000000000000000000001",
                ],
            ),
            ExtremeCase(
                "far dates and timestamps",
                "SELECT DATE'0001-01-01' AS a, date_add(DATE'9999-12-31', 1) AS b, "
                "date_add(DATE'0001-01-01', -1) AS c, TIMESTAMP'9999-12-31 23:59:59.999999' AS d, "
                "timestamp_seconds(253402300800) AS e, TIMESTAMP_NTZ'0001-01-01 00:00:00' AS f",
                [
                    "0001-01-01",
                    "+10000-01-01",
                    "0000-12-31",
                    "9999-12-31T23:59:59.999999Z",
                    "+10000-01-01T00:00:00Z",
                    "0001-01-01T00:00:00",
                ],
            ),
            ExtremeCase(
                "day-time intervals, exact durations: days as 24 hours",
                "SELECT INTERVAL '1 02:03:04.5' DAY TO SECOND AS a, INTERVAL '-3' HOUR AS b, "
                "INTERVAL '106751991' DAY AS c",
                ["PT26H3M4.5S", "PT-3H", "PT2562047784H"],
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        server = SparkServer(self._port, tmp_path, 0.0)
        return [
            ("closed port", make_driver(server, port=1), UpstreamUnavailable),
            ("missing database", make_driver(server, database="qd_missing"), DatabaseNotFound),
        ]

    @pytest.fixture(autouse=True)
    def _remember_port(self, server: SparkServer) -> None:
        type(self)._port = server.port

    _port: ClassVar[int] = 0


@pytest.fixture
def conn(server: SparkServer, database: str) -> Iterator[SparkEngineSession]:
    session = make_driver(server, database=database).connect(timeout_s=30)
    assert isinstance(session, SparkEngineSession)
    yield session
    session.close()


def rows(session: SparkEngineSession, sql: str) -> list[dict[str, Any]]:
    return read_table(session.execute(sql, timeout_s=30)).to_pylist()


def test_registered() -> None:
    assert registry.load("spark") is SparkDriver
    assert not SparkDriver.capabilities.server_timeout
    assert not SparkDriver.capabilities.read_only_session


def test_a_token_needs_tls() -> None:
    with pytest.raises(ConnectionOptionsInvalid):
        SparkOptions(host="h", token="t")
    assert SparkOptions(host="h", token="t", sslmode="verify-full").token is not None


@pytest.mark.parametrize(
    "url", ["sc://h:15002/;token=abc", "sc://u:p@h:15002", "sc://h/path", "sc://", "http://h"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        SparkDriver.options_from_url(url)


def test_wrap_keeps_one_query() -> None:
    assert wrap("SELECT 1 ;; \n") == "SELECT * FROM (\nSELECT 1\n) AS querydeck_statement"
    assert wrap("SELECT '--' -- comment") == (
        "SELECT * FROM (\nSELECT '--' -- comment\n) AS querydeck_statement"
    )


def test_commands_never_run(conn: SparkEngineSession, database: str) -> None:
    """Every command is a syntax error inside the subquery the statement is sent as (or,
    like ``USE db``, reads as a table named ``USE``): nothing is written, cached, loaded,
    added or set."""
    for sql in (
        f"INSERT INTO {FIXTURE_TABLE} VALUES (9, 'x')",
        "CREATE TABLE qd_evil USING parquet AS SELECT 1 AS a",
        f"CACHE TABLE {FIXTURE_TABLE}",
        "SET spark.sql.runSQLOnFiles = true",
        "ADD JAR '/tmp/qd-nothing.jar'",
        f"USE {database}",
        "BEGIN SELECT 1; END",
        "SELECT 1; DROP TABLE qd_items",
    ):
        with pytest.raises(SqlParseError if not sql.startswith("USE") else QueryFailed):
            rows(conn, sql)
    assert rows(conn, "SELECT count(*) AS n FROM qd_items") == [{"n": 3}]
    assert rows(conn, "SELECT current_database() AS d") == [{"d": database}]


def test_the_analyzer_refuses_reflection_and_programs(conn: SparkEngineSession) -> None:
    with pytest.raises(SqlForbiddenFunction, match="reflect"):
        rows(conn, "SELECT reflect('java.lang.System', 'getProperty', 'user.home') AS r")
    with pytest.raises(SqlForbiddenFunction, match="java_method"):
        rows(conn, "SELECT upper(java_method('java.lang.System', 'getProperty', 'user.dir'))")
    with pytest.raises(SqlForbiddenSyntax, match="TRANSFORM"):
        rows(conn, "SELECT TRANSFORM(a) USING 'cat' AS (b) FROM (SELECT 'x' AS a)")
    # transform() the higher-order function is not the clause
    assert rows(conn, "SELECT transform(array(1, 2), x -> x + 1) AS t") == [{"t": [2, 3]}]


def test_the_analyzer_sees_reflection_inside_a_view(conn: SparkEngineSession) -> None:
    """A view that calls reflect() passes the guard (the statement names no function);
    Spark's analyzed plan holds the call, and the driver refuses it."""
    sql = "SELECT home FROM qd_home"
    guard(sql, rules=SparkDriver.sql_rules())
    with pytest.raises(SqlForbiddenFunction, match="reflect"):
        rows(conn, sql)


def test_files_cannot_be_read_as_tables(conn: SparkEngineSession, server: SparkServer) -> None:
    target = server.directory / "warehouse"
    with pytest.raises(QueryFailed, match="TABLE_OR_VIEW_NOT_FOUND"):
        rows(conn, f"SELECT * FROM parquet.`{target}`")
    assert SESSION_CONF["spark.sql.runSQLOnFiles"] == "false"


def test_types(conn: SparkEngineSession) -> None:
    table = read_table(
        conn.execute(
            "SELECT map('a', 1) AS m, named_struct('x', 1, 'y', array('p')) AS s, "
            "INTERVAL 1 DAY AS d, TIMESTAMP_NTZ '2024-01-01 00:00:00' AS ntz, "
            "CAST(NULL AS STRING) AS n, CAST(1.5 AS FLOAT) AS f",
            timeout_s=30,
        )
    )
    schema = table.schema
    assert schema.field("m").type == pa.map_(pa.string(), pa.int32())
    assert schema.field("s").type == pa.struct([("x", pa.int32()), ("y", pa.list_(pa.string()))])
    assert schema.field("d").type == pa.duration("us")
    assert schema.field("ntz").type == pa.timestamp("us")
    assert schema.field("s").metadata[b"querydeck.native_type"] == b"struct<x:int,y:array<string>>"
    assert table.to_pylist()[0]["s"] == {"x": 1, "y": ["p"]}
    with pytest.raises(ResultTypeMismatch, match="STRING"):
        rows(conn, "SELECT INTERVAL '1-2' YEAR TO MONTH AS ym")
    assert rows(conn, "SELECT 1 AS one") == [{"one": 1}]


def test_errors_name_no_stack_trace(conn: SparkEngineSession) -> None:
    with pytest.raises(QueryFailed) as caught:
        rows(conn, "SELECT nope FROM qd_items")
    message = caught.value.message
    assert "nope" in message
    for leak in ("JVM stacktrace", "\tat org.apache", "SQLSTATE", "\n"):
        assert leak not in message
    assert caught.value.detail["condition"] == "UNRESOLVED_COLUMN.WITH_SUGGESTION"


def test_privileges_say_spark_cannot_be_read_only(conn: SparkEngineSession) -> None:
    assert conn.privileges()


def test_catalog(conn: SparkEngineSession, database: str) -> None:
    meta = conn.describe_schema(database, timeout_s=30)
    tables = {t.name: t for t in meta.tables}
    assert set(tables) == {FIXTURE_TABLE, "events", "recent", "qd_home"}
    events = tables["events"]
    assert events.comment == "the events"
    assert [(c.name, c.native_type, c.family) for c in events.columns] == [
        ("id", "long", "other"),
        ("at", "timestamp", "timestamp"),
        ("tags", "array", "array"),
    ]
    recent = tables["recent"]
    assert recent.kind == "view"
    assert recent.definition is not None
    assert "id > 1" in recent.definition
    with pytest.raises(CatalogNotFound):
        conn.describe_schema("qd_no_such_database", timeout_s=30)


def test_a_missing_client_is_a_connection_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspark is an optional dependency (querydeck[spark]): without it, connecting says
    what to install."""
    import querydeck.drivers.spark

    monkeypatch.delitem(sys.modules, "querydeck.drivers.spark.session", raising=False)
    monkeypatch.delattr(querydeck.drivers.spark, "session", raising=False)
    monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", None)
    driver = SparkDriver(SparkOptions(host="127.0.0.1", port=1))
    with pytest.raises(DriverClientMissing, match=r"querydeck\[spark\]"):
        driver.connect(timeout_s=5)


def test_chinese_text_through_pages_and_every_export(
    workbench: Workbench, server: SparkServer
) -> None:
    options = {"host": "127.0.0.1", "port": server.port}
    workbench.connections.create("spark", driver="spark", options=options, allow_privileged=True)
    sql = (
        f"SELECT * FROM VALUES (1, {quoted(FULL_TEXT)}), (2, {quoted(FULL_TEXT[::-1])}) "
        "AS v(id, city) ORDER BY id"
    )
    check(workbench, "spark", sql, FULL_TEXT)
