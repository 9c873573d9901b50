"""The ClickHouse driver against a real server (Debian's clickhouse-server 18.16, started by
the tests): the compliance suite, the engine's read-only layer, profiles, privileges,
types the old server has, the catalog and error messages. The types it lacks (DateTime64,
Decimal256, Map, Bool, IPv4/IPv6…) are read from chDB in test_clickhouse_chdb.py."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers import registry
from querydeck.drivers.base import Driver, Sandbox
from querydeck.drivers.clickhouse import privileges
from querydeck.drivers.clickhouse.driver import ClickHouseDriver, ClickHouseOptions
from querydeck.drivers.clickhouse.session import ClickHouseSession
from querydeck.errors import (
    AuthenticationFailed,
    CatalogNotFound,
    ConnectionFailed,
    ConnectionTargetForbidden,
    DatabaseNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryRejected,
    QueryTimeout,
    UpstreamUnavailable,
)
from querydeck.sandbox.addresses import AddressPolicy
from tests.clickhouse_server import READER_PASSWORD, ClickHouseServer, clickhouse_server
from tests.drivers.suite import (
    ARRAY,
    BIG_INT,
    BINARY,
    DATE,
    EXACT_DECIMAL,
    FIXTURE_ROWS,
    FIXTURE_TABLE,
    INSTANT,
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
    read_rows,
    read_table,
)
from tests.services import unique_name
from tests.test_chinese_text import FULL_TEXT, check
from tests.tlsfakes import Issued, make_ca, make_server

pytestmark = pytest.mark.services

SLEEP_SQL = "SELECT count() FROM system.numbers WHERE NOT ignore(sipHash64(number))"


@pytest.fixture(scope="module")
def server(clickhouse: ClickHouseServer) -> ClickHouseServer:
    return clickhouse


@pytest.fixture(scope="module")
def database(server: ClickHouseServer) -> Iterator[str]:
    name = unique_name("qd_test")
    server.sql(f"CREATE DATABASE {name}")
    server.sql(f"CREATE TABLE {name}.{FIXTURE_TABLE} (id Int32, name String) ENGINE = TinyLog")
    values = ", ".join(f"({i}, '{n}')" for i, n in FIXTURE_ROWS)
    server.sql(f"INSERT INTO {name}.{FIXTURE_TABLE} VALUES {values}")
    server.sql(
        f"CREATE TABLE {name}.events (id UInt64 COMMENT 'the key', at DateTime, "
        "tags Array(String), kind LowCardinality(String), note Nullable(String)) "
        "ENGINE = MergeTree ORDER BY (id, at)"
    )
    server.sql(f"CREATE VIEW {name}.recent AS SELECT id FROM {name}.events WHERE id > 1")
    yield name
    server.sql(f"DROP DATABASE IF EXISTS {name}")


def make_driver(server: ClickHouseServer, **changes: Any) -> ClickHouseDriver:
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": "qd_reader",
        "password": READER_PASSWORD,
        **changes,
    }
    return ClickHouseDriver(ClickHouseOptions(**values))


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class TestClickHouseSuite(ExtremeValueSuite, DriverSuite):
    driver_cls = ClickHouseDriver
    sleep_sql = SLEEP_SQL
    fixture_arrow_types = (pa.int32(), pa.string())
    unsupported_types: ClassVar[dict[str, str]] = {
        "boolean": "ClickHouse 18.16 has no Bool type (UInt8 stands for it); Bool is read "
        "from chDB in test_clickhouse_chdb.py"
    }
    good_urls = (
        (
            "clickhouse://ann:s%20cret@ch.example:8443/sales?sslmode=verify-full",
            {
                "host": "ch.example",
                "port": 8443,
                "database": "sales",
                "user": "ann",
                "password": "s cret",
                "sslmode": "verify-full",
            },
        ),
        (
            "clickhouses://bob@10.0.0.5/x",
            {"host": "10.0.0.5", "database": "x", "user": "bob", "sslmode": "verify-full"},
        ),
        ("clickhouse://u@[::1]:8123", {"host": "::1", "port": 8123, "user": "u"}),
    )
    forbidden_urls = (
        "clickhouse://u@h/d?readonly=0",
        "clickhouse://u@h/d?session_id=x",
        "clickhouse://u@h/d?max_execution_time=0",
        "clickhouse://u@h/d?query=DROP%20TABLE%20x",
    )

    @pytest.fixture
    def driver(self, server: ClickHouseServer, database: str) -> ClickHouseDriver:
        return make_driver(server, database=database)

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT toInt64(number + 1) AS n FROM system.numbers LIMIT {n}"

    def fixture_schema(self, driver: Driver[Any]) -> str:
        return str(driver.options.database)

    def type_cases(self) -> list[TypeCase]:
        # 18.16 has DateTime (seconds) only: the instant without its microseconds.
        instant = INSTANT.replace(microsecond=0)
        local = instant.astimezone(dt.timezone(dt.timedelta(hours=2)))
        return [
            TypeCase("int_above_2_53", f"SELECT toInt64({BIG_INT})", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT toInt64('{MIN_INT64}')", MIN_INT64, pa.int64()),
            TypeCase(
                "decimal",
                f"SELECT toDecimal128('{EXACT_DECIMAL}', 9)",
                EXACT_DECIMAL,
                pa.decimal128(38, 9),
            ),
            TypeCase("date", f"SELECT toDate('{DATE.isoformat()}')", DATE, pa.date32()),
            TypeCase(
                "timestamp_tz",
                f"SELECT toDateTime('{local:%Y-%m-%d %H:%M:%S}', 'Etc/GMT-2')",
                instant,
                is_utc_timestamp,
            ),
            TypeCase("text_unicode", f"SELECT {quoted(UNICODE_TEXT)}", UNICODE_TEXT, pa.string()),
            TypeCase("text_nul", "SELECT 'a\\0b'", NUL_TEXT, pa.string()),
            TypeCase(
                "binary",
                f"SELECT toFixedString(unhex('{BINARY.hex()}'), {len(BINARY)})",
                BINARY,
                pa.binary(),
            ),
            TypeCase("json", f"SELECT {quoted(JSON_TEXT)}", JSON_VALUE, pa.string(), json_loads),
            TypeCase(
                "array",
                f"SELECT CAST({ARRAY} AS Array(Int64))",
                ARRAY,
                pa.list_(pa.int64()),
            ),
        ]

    def extreme_cases(self) -> list[ExtremeCase]:
        """What 18.16 holds; the newer types' extremes are read from chDB
        (test_clickhouse_chdb.py)."""
        return [
            ExtremeCase(
                "floats",
                "SELECT inf AS a, -inf AS b, nan AS c, -0. AS d, toFloat32('-inf') AS e",
                ["Infinity", "-Infinity", "NaN", -0.0, "-Infinity"],
            ),
            ExtremeCase(
                "integers and decimals",
                "SELECT toUInt64('18446744073709551615') AS a, toInt64('-9223372036854775808') "
                "AS b, toDecimal128('-99999999999999999999999999999999999999', 0) AS c, "
                "toDecimal64('0.000000000000000001', 18) AS d",
                [
                    "18446744073709551615",
                    "-9223372036854775808",
                    "-99999999999999999999999999999999999999",
                    "0.000000000000000001",
                ],
            ),
            ExtremeCase(
                "dates at the ends of their ranges",
                "SELECT toDate('1970-01-01') AS a, toDate('2105-12-31') AS b, "
                "toDateTime(0, 'UTC') AS c, toDateTime(4294967295, 'UTC') AS d",
                ["1970-01-01", "2105-12-31", "1970-01-01T00:00:00Z", "2106-02-07T06:28:15Z"],
            ),
            ExtremeCase(
                "intervals",
                "SELECT INTERVAL 1 DAY AS a, INTERVAL -3 MONTH AS b, toIntervalSecond(90) AS c, "
                "toIntervalWeek(2) AS d, toIntervalYear(1) AS e",
                ["P1D", "P-3M", "PT1M30S", "P14D", "P1Y"],
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        server = ClickHouseServer(self._port, tmp_path)
        return [
            ("closed port", make_driver(server, port=1), UpstreamUnavailable),
            ("wrong password", make_driver(server, password="nope"), AuthenticationFailed),
            ("unknown user", make_driver(server, user="qd_nobody"), AuthenticationFailed),
            ("missing database", make_driver(server, database="qd_missing"), DatabaseNotFound),
        ]

    @pytest.fixture(autouse=True)
    def _remember_port(self, server: ClickHouseServer) -> None:
        type(self)._port = server.port

    _port: ClassVar[int] = 0


@pytest.fixture
def conn(server: ClickHouseServer, database: str) -> Iterator[ClickHouseSession]:
    connection = make_driver(server, database=database).connect(timeout_s=10)
    assert isinstance(connection, ClickHouseSession)
    yield connection
    connection.close()


def rows(connection: ClickHouseSession, sql: str) -> list[dict[str, Any]]:
    return read_table(connection.execute(sql, timeout_s=10)).to_pylist()


def test_registered() -> None:
    assert registry.load("clickhouse") is ClickHouseDriver
    assert ClickHouseDriver.capabilities.arrays


@pytest.mark.parametrize("host", ["/tmp/ch.sock", "a,b", "h?x=1", ""])
def test_hosts_that_are_not_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConnectionTargetForbidden):
        ClickHouseOptions(host=host)


def test_the_address_policy_applies(server: ClickHouseServer) -> None:
    loopback = AddressPolicy(deny=(ipaddress.ip_network("127.0.0.0/8"),))
    driver = ClickHouseDriver(
        ClickHouseOptions(host="127.0.0.1", port=server.port), sandbox=Sandbox(addresses=loopback)
    )
    with pytest.raises(ConnectionTargetForbidden):
        driver.connect(timeout_s=5)


def test_only_queries_are_sent(conn: ClickHouseSession) -> None:
    """KILL QUERY runs in readonly mode (and stops other sessions' queries): the driver
    sends nothing but queries and EXPLAIN, whatever the guard let through."""
    for sql in (
        "KILL QUERY WHERE 1",
        f"INSERT INTO {FIXTURE_TABLE} VALUES (9, 'x')",
        "SYSTEM DROP DNS CACHE",
        "SET max_threads = 1",
        "OPTIMIZE TABLE qd_items",
    ):
        with pytest.raises(QueryRejected) as caught:
            conn.execute(sql, timeout_s=10)
        assert caught.value.detail["construct"] == sql.split()[0]
    assert rows(conn, "/* a */ -- b\n (SELECT 1 AS x)") == [{"x": 1}]


def test_the_server_refuses_writes_with_the_sessions_settings(conn: ClickHouseSession) -> None:
    """Every statement carries readonly=1: writes, DDL, SET, SYSTEM, settings in the query
    and table functions are the server's refusals too (sent here without the driver's
    statement filter)."""
    refused = (
        f"INSERT INTO {FIXTURE_TABLE} VALUES (9, 'x')",
        "CREATE TABLE qd_evil (a UInt8) ENGINE = Memory",
        f"DROP TABLE {FIXTURE_TABLE}",
        "SET max_threads = 1",
        "SYSTEM DROP DNS CACHE",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT * FROM numbers(3)",
        "SELECT * FROM file('/etc/passwd', 'CSV', 'a String')",
        "SELECT * FROM url('http://127.0.0.1:1/x', CSV, 'a String')",
    )
    for sql in refused:
        with pytest.raises(QueryFailed) as caught:
            conn.rows(sql)
        assert "readonly" in caught.value.message, (sql, caught.value.message)
    for sql in refused[-4:]:
        with pytest.raises(QueryFailed, match="readonly"):
            read_table(conn.execute(sql, timeout_s=10))
    assert rows(conn, f"SELECT count() AS n FROM {FIXTURE_TABLE}") == [{"n": 3}]


def test_error_messages_name_no_url_version_or_stack(conn: ClickHouseSession) -> None:
    with pytest.raises(QueryFailed) as caught:
        read_table(conn.execute("SELECT nope FROM qd_items", timeout_s=10))
    message = caught.value.message
    assert "nope" in message
    for leak in ("http://", "e.what()", "Stack trace", "version 18", "DB::Exception"):
        assert leak not in message
    assert caught.value.detail["code"] == 47


def test_privileges_of_a_login_that_may_write(conn: ClickHouseSession) -> None:
    assert conn.privileges() == ["the login's settings profile is not read-only (readonly = 0)"]


def test_a_read_only_profile_gets_no_settings_and_still_reads(
    server: ClickHouseServer, database: str
) -> None:
    """readonly=1 in the profile forbids changing any setting, the time limit included:
    nothing is sent, the server refuses writes on its own, the watchdog's KILL QUERY
    is what stops a long statement."""
    driver = make_driver(server, database=database, user="qd_profile_ro", password=None)
    with driver.connect(timeout_s=10) as connection:
        assert isinstance(connection, ClickHouseSession)
        assert connection.profile_readonly == 1
        assert connection.settings(5.0) == {}
        assert connection.privileges() == []
        assert read_rows(connection.execute(f"SELECT * FROM {FIXTURE_TABLE}", timeout_s=5)) == [
            *FIXTURE_ROWS
        ]
        with pytest.raises(QueryFailed, match="readonly"):
            connection.rows(f"INSERT INTO {FIXTURE_TABLE} VALUES (9, 'x')")
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                read_table(connection.execute(SLEEP_SQL, timeout_s=60))
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        time.sleep(0.3)
        while worker.is_alive():
            connection.cancel()
            worker.join(0.2)
        assert isinstance(outcome[0], QueryCancelled)


def test_types_of_the_old_server(conn: ClickHouseSession) -> None:
    table = read_table(
        conn.execute(
            "SELECT CAST('b' AS Enum8('a' = 1, 'b' = 2)) AS e, "
            "toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0') AS u, "
            "CAST('x' AS LowCardinality(String)) AS lc, toNullable(toInt32(7)) AS n, "
            "CAST(NULL AS Nullable(String)) AS nothing, "
            "[['a', NULL], []] AS nested, tuple(1, 'x', [toDecimal32('1.50', 2)]) AS t, "
            "toUInt64(18446744073709551615) AS big, unhex('ff') AS not_utf8, "
            "[toDateTime(0, 'Asia/Shanghai')] AS times, toFloat32(1.5) AS f",
            timeout_s=10,
        )
    )
    schema = table.schema
    assert schema.field("e").type == pa.string()
    assert schema.field("u").type == pa.string()
    assert schema.field("lc").type == pa.string()
    assert schema.field("lc").metadata[b"querydeck.native_type"] == b"LowCardinality(String)"
    assert schema.field("n").type == pa.int32()
    assert schema.field("nested").type == pa.list_(pa.list_(pa.string()))
    assert schema.field("t").type == pa.struct(
        [("1", pa.uint8()), ("2", pa.string()), ("3", pa.list_(pa.decimal128(9, 2)))]
    )
    assert schema.field("big").type == pa.uint64()
    assert schema.field("times").type == pa.list_(pa.timestamp("s", tz="UTC"))
    assert table.to_pylist() == [
        {
            "e": "b",
            "u": "61f0c404-5cb3-11e7-907b-a6006ad3dba0",
            "lc": "x",
            "n": 7,
            "nothing": None,
            "nested": [["a", None], []],
            "t": {"1": 1, "2": "x", "3": [Decimal("1.50")]},
            "big": 18446744073709551615,
            "not_utf8": "\\xff",
            "times": [dt.datetime(1970, 1, 1, tzinfo=dt.UTC)],
            "f": 1.5,
        }
    ]


def test_catalog(conn: ClickHouseSession, database: str) -> None:
    assert database in conn.schemas()
    assert "system" not in conn.schemas()
    meta = conn.describe_schema(database, timeout_s=10)
    assert not meta.problems
    tables = {t.name: t for t in meta.tables}
    assert set(tables) == {FIXTURE_TABLE, "events", "recent"}
    events = tables["events"]
    assert events.kind == "table"
    assert [c.name for c in events.columns] == ["id", "at", "tags", "kind", "note"]
    assert [c.family for c in events.columns] == ["integer", "timestamp", "array", "text", "text"]
    assert events.columns[0].comment == "the key"
    assert [c.nullable for c in events.columns] == [False, False, False, False, True]
    assert events.primary_key == ["id", "at"]
    view = tables["recent"]
    assert view.kind == "view"
    assert view.definition is not None
    assert "id > 1" in view.definition
    with pytest.raises(CatalogNotFound):
        conn.describe_schema("qd_no_such_database", timeout_s=10)


def test_timeout_is_the_servers(conn: ClickHouseSession) -> None:
    assert conn.settings(0.2)["max_execution_time"] == 1
    with pytest.raises(QueryTimeout):
        read_table(conn.execute(SLEEP_SQL, timeout_s=1))


def test_grants_of_servers_with_access_control() -> None:
    """SHOW GRANTS lines as servers with access control (20.5+) print them."""
    lines = [
        "GRANT SELECT, SHOW TABLES ON sales.* TO reader",
        "GRANT dictGet ON sales.d TO reader",
        "GRANT analysts TO reader",
    ]
    assert privileges.reasons_from_grants(lines) == []
    lines += [
        "GRANT INSERT, ALTER UPDATE(price) ON sales.orders TO reader",
        "GRANT SELECT ON logs.* TO reader WITH GRANT OPTION",
    ]
    assert privileges.reasons_from_grants(lines) == [
        "INSERT on sales.orders",
        "ALTER UPDATE on sales.orders",
        "GRANT OPTION on logs.*",
    ]
    assert privileges.probe(1, lambda: lines) == []
    assert privileges.probe(0, lambda: None) == [
        "the login's settings profile is not read-only (readonly = 0)"
    ]


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    ca = make_ca()
    return {
        "ca": ca,
        "other_ca": make_ca("another CA"),
        "localhost": make_server(ca, ["localhost"]),
        "elsewhere": make_server(ca, ["db.example.test"]),
    }


@pytest.mark.parametrize("served", ["localhost", "elsewhere"])
def test_https_with_an_uploaded_ca(
    workbench: Workbench, pki: dict[str, Issued], served: str
) -> None:
    """The certificate chains to the uploaded CA and names the host given (localhost,
    pinned to 127.0.0.1): verify-full gets through; a wrong CA or another name fails the
    handshake before any login; verify-ca checks the chain only."""
    issued = pki[served]
    with clickhouse_server((issued.pem, issued.key_pem)) as server:
        good = workbench.admin.add_certificate("test CA", pki["ca"].pem)
        bad = workbench.admin.add_certificate("another CA", pki["other_ca"].pem)
        options = {
            "host": "localhost",
            "port": server.https_port,
            "user": "qd_reader",
            "password": READER_PASSWORD,
        }

        def test(name: str, **extra: Any) -> str:
            workbench.connections.create(
                name, driver="clickhouse", options={**options, **extra}, allow_privileged=True
            )
            try:
                workbench.connections.test(name)
            except QueryDeckError as exc:
                return exc.code
            return "ok"

        expected = "ok" if served == "localhost" else "CONNECTION_TLS_UNTRUSTED"
        assert test("good", ssl_ca_certificate=good.id) == expected
        assert test("bad", ssl_ca_certificate=bad.id) == "CONNECTION_TLS_UNTRUSTED"
        assert test("chain", ssl_ca_certificate=good.id, sslmode="verify-ca") == "ok"
        assert test("encrypted", sslmode="require") == "ok"  # encrypted, not verified
        assert test("system-cas", sslmode="verify-full") == "CONNECTION_TLS_UNTRUSTED"


def test_chinese_text_through_pages_and_every_export(
    workbench: Workbench, server: ClickHouseServer
) -> None:
    options = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": "qd_reader",
        "password": READER_PASSWORD,
    }
    workbench.connections.create("ch", driver="clickhouse", options=options, allow_privileged=True)
    sql = (
        f"SELECT id, city FROM (SELECT 1 AS id, {quoted(FULL_TEXT)} AS city UNION ALL "
        f"SELECT 2, {quoted(FULL_TEXT[::-1])}) ORDER BY id"
    )
    check(workbench, "ch", sql, FULL_TEXT)
