"""The ClickHouse driver's reading of the types Debian's 18.16 server lacks (DateTime64 with
zones, Decimal256, Map, Bool, IPv4/IPv6, Int128/UInt256, named tuples, Date32, JSON…),
against chDB: the current ClickHouse engine in-process, driven through clickhouse-connect
like the HTTP server, so the same session, settings, Native decoding and Arrow mapping
run. chDB has no second session to send ``KILL QUERY`` from, and no logins: cancel,
timeouts, privileges and connection failures are proven against the real server
(test_clickhouse.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from querydeck.drivers.clickhouse.session import ClickHouseSession
from querydeck.errors import QueryFailed
from tests.drivers.suite import (
    BIG_INT,
    BINARY,
    DATE,
    EXACT_DECIMAL,
    INSTANT,
    INSTANT_TEXT,
    JSON_TEXT,
    MIN_INT64,
    NUL_TEXT,
    UNICODE_TEXT,
    ExtremeCase,
    ExtremeValueSuite,
    is_utc_timestamp,
    read_table,
)

chdb = pytest.importorskip("chdb")


@pytest.fixture(scope="module")
def conn() -> Iterator[ClickHouseSession]:
    import clickhouse_connect

    # chDB keeps a statement's settings on its client: querydeck's readonly=1 would stick
    # to the tests' own client, so the tables are made (and dropped) by a second one.
    admin = clickhouse_connect.get_client(interface="chdb")
    connection = ClickHouseSession(clickhouse_connect.get_client(interface="chdb"))
    connection.setup()
    admin.command("CREATE DATABASE IF NOT EXISTS qd_chdb")
    admin.command(
        "CREATE TABLE IF NOT EXISTS qd_chdb.events (id UInt64 COMMENT 'the key', "
        "at DateTime64(3, 'Asia/Shanghai'), attrs Map(String, UInt32), ok Bool) "
        "ENGINE = MergeTree ORDER BY id COMMENT 'events table'"
    )
    admin.command("INSERT INTO qd_chdb.events VALUES (1, '2024-01-01 08:00:00.250', {'a': 1}, 1)")
    yield connection
    admin.command("DROP DATABASE IF EXISTS qd_chdb")
    admin.close()
    connection.close()


def one(connection: ClickHouseSession, sql: str) -> tuple[pa.Field, Any]:
    table = read_table(connection.execute(sql, timeout_s=30))
    assert (table.num_rows, table.num_columns) == (1, 1)
    return table.schema.field(0), table.column(0)[0].as_py()


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


CASES: list[tuple[str, str, Any, pa.DataType | Any]] = [
    ("int_above_2_53", f"SELECT toInt64({BIG_INT})", BIG_INT, pa.int64()),
    ("int64_min", f"SELECT toInt64('{MIN_INT64}')", MIN_INT64, pa.int64()),
    ("decimal", f"SELECT toDecimal128('{EXACT_DECIMAL}', 9)", EXACT_DECIMAL, pa.decimal128(38, 9)),
    (
        "decimal256",
        "SELECT toDecimal256('-123456789012345678901234567890123456789012345.123456789', 9)",
        Decimal("-123456789012345678901234567890123456789012345.123456789"),
        pa.decimal256(76, 9),
    ),
    ("date", f"SELECT toDate('{DATE.isoformat()}')", DATE, pa.date32()),
    ("date32", "SELECT toDate32('2200-01-01')", dt.date(2200, 1, 1), pa.date32()),
    (
        "timestamp_tz",
        f"SELECT toDateTime64('{INSTANT_TEXT[:26]}', 6, 'Etc/GMT-2')",
        INSTANT,
        pa.timestamp("us", tz="UTC"),
    ),
    (
        "datetime64_zone",
        "SELECT toDateTime64('2024-02-29 23:59:58.123', 3, 'Asia/Shanghai')",
        dt.datetime(2024, 2, 29, 15, 59, 58, 123000, tzinfo=dt.UTC),
        pa.timestamp("ms", tz="UTC"),
    ),
    (
        "datetime64_centiseconds",
        "SELECT toDateTime64('2024-02-29 23:59:58.12', 2, 'UTC')",
        dt.datetime(2024, 2, 29, 23, 59, 58, 120000, tzinfo=dt.UTC),
        pa.timestamp("ms", tz="UTC"),
    ),
    (
        "datetime64_nanoseconds",
        "SELECT toDateTime64('2024-02-29 23:59:58.123456789', 9, 'UTC')",
        "2024-02-29 23:59:58.123456789+00:00",
        pa.timestamp("ns", tz="UTC"),
    ),
    ("boolean", "SELECT true", True, pa.bool_()),
    ("text_unicode", f"SELECT {quoted(UNICODE_TEXT)}", UNICODE_TEXT, pa.string()),
    ("text_nul", "SELECT 'a\\0b'", NUL_TEXT, pa.string()),
    (
        "binary",
        f"SELECT toFixedString(unhex('{BINARY.hex()}'), {len(BINARY)})",
        BINARY,
        pa.binary(),
    ),
    ("json_text", f"SELECT {quoted(JSON_TEXT)}", JSON_TEXT, pa.string()),
    (
        "uuid",
        "SELECT toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')",
        "61f0c404-5cb3-11e7-907b-a6006ad3dba0",
        pa.string(),
    ),
    ("ipv4", "SELECT toIPv4('10.1.2.3')", "10.1.2.3", pa.string()),
    ("ipv6", "SELECT toIPv6('2001:db8::1')", "2001:db8::1", pa.string()),
    ("enum16", "SELECT CAST('b' AS Enum16('a' = 1, 'b' = 1000))", "b", pa.string()),
    (
        "int128",
        "SELECT toInt128('-170141183460469231731687303715884105728')",
        Decimal("-170141183460469231731687303715884105728"),
        pa.decimal256(39, 0),
    ),
    (
        "uint256",
        f"SELECT toUInt256('{2**256 - 1}')",
        str(2**256 - 1),
        pa.string(),
    ),
    (
        "map",
        "SELECT map('a', 1, 'b', 2)",
        [("a", 1), ("b", 2)],
        pa.map_(pa.string(), pa.uint8()),
    ),
    (
        "map_of_times",
        "SELECT map('k', [toDateTime64('2024-01-01 00:00:00.5', 1, 'UTC'), NULL])",
        [("k", [dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=dt.UTC), None])],
        pa.map_(pa.string(), pa.list_(pa.timestamp("ms", tz="UTC"))),
    ),
    (
        "named_tuple",
        "SELECT CAST((1, 'x'), 'Tuple(a Int32, b Nullable(String))')",
        {"a": 1, "b": "x"},
        pa.struct([("a", pa.int32()), ("b", pa.string())]),
    ),
    (
        "low_cardinality_array",
        "SELECT CAST(['x', NULL] AS Array(LowCardinality(Nullable(String))))",
        ["x", None],
        pa.list_(pa.string()),
    ),
    (
        "array",
        "SELECT [toInt64(1), 2, 3]",
        [1, 2, 3],
        pa.list_(pa.int64()),
    ),
    (
        "nested",
        "SELECT CAST([(1, 'a')] AS Nested(x Int32, y String))",
        [{"x": 1, "y": "a"}],
        pa.list_(pa.struct([("x", pa.int32()), ("y", pa.string())])),
    ),
    (
        "tuples_of_centiseconds",
        "SELECT [(toDateTime64('2024-01-01 00:00:00.12', 2, 'UTC'), 1)]",
        [{"1": dt.datetime(2024, 1, 1, 0, 0, 0, 120000, tzinfo=dt.UTC), "2": 1}],
        pa.list_(pa.struct([("1", pa.timestamp("ms", tz="UTC")), ("2", pa.uint8())])),
    ),
    (
        "map_of_wide_integers_as_json",
        "SELECT map('a', toInt256(1), 'b', toInt256(-2))",
        '{"a": 1, "b": -2}',
        pa.string(),
    ),
    (
        "tuple_with_a_wide_integer_as_json",
        "SELECT (1, toUInt256(2), 'x')",
        '[1, 2, "x"]',
        pa.string(),
    ),
]


@pytest.mark.parametrize(
    ("label", "sql", "expected", "arrow_type"), CASES, ids=[c[0] for c in CASES]
)
def test_types_of_the_current_engine(
    conn: ClickHouseSession, label: str, sql: str, expected: Any, arrow_type: pa.DataType
) -> None:
    arrow_field, value = one(conn, sql)
    assert arrow_field.type == arrow_type
    assert arrow_field.metadata[b"querydeck.native_type"]
    if label == "datetime64_nanoseconds":  # beyond Python's microseconds: check the Arrow value
        table = read_table(conn.execute(sql, timeout_s=30))
        assert str(table.column(0)[0]) == expected
        return
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, dt.datetime):
        assert is_utc_timestamp(arrow_field.type)


def test_privileges_from_show_grants(conn: ClickHouseSession) -> None:
    """The current engine has access control: SHOW GRANTS of its (all-powerful) default
    user lists what it may do beyond reading."""
    reasons = conn.privileges()
    assert "INSERT on *.*" in reasons
    assert "FILE on *.*" in reasons
    assert not {"SELECT on *.*", "SHOW on *.*", "DICTGET on *.*"} & set(reasons)


def test_json_type_is_text(conn: ClickHouseSession) -> None:
    arrow_field, value = one(conn, f"SELECT CAST({quoted(JSON_TEXT)} AS JSON)")
    assert arrow_field.type == pa.string()
    assert arrow_field.metadata[b"querydeck.native_type"].startswith(b"JSON")
    assert isinstance(value, str)
    assert value


def test_writes_and_table_functions_are_refused(conn: ClickHouseSession) -> None:
    """The current engine allows the table functions that read nothing outside it
    (``numbers()``) in readonly mode, and refuses the others; 18.16 refuses them all."""
    for sql in (
        "INSERT INTO qd_chdb.events (id) VALUES (2)",
        "CREATE TABLE qd_chdb.evil (a UInt8) ENGINE = Memory",
    ):
        with pytest.raises(QueryFailed, match="readonly"):
            conn.rows(sql)  # the session's settings, without the driver's statement filter
    for sql in (
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0",
    ):
        with pytest.raises(QueryFailed, match="readonly"):
            read_table(conn.execute(sql, timeout_s=30))
    table = read_table(conn.execute("SELECT count() AS n FROM qd_chdb.events", timeout_s=30))
    assert table.to_pylist() == [{"n": 1}]


def test_catalog_of_the_current_engine(conn: ClickHouseSession) -> None:
    meta = conn.describe_schema("qd_chdb", timeout_s=30)
    (events,) = meta.tables
    assert events.comment == "events table"
    assert events.row_estimate == 1
    assert [c.name for c in events.columns] == ["id", "at", "attrs", "ok"]
    assert [c.native_type for c in events.columns][1] == "DateTime64(3, 'Asia/Shanghai')"
    assert events.primary_key == ["id"]
    rows = read_table(conn.execute("SELECT * FROM qd_chdb.events", timeout_s=30)).to_pylist()
    assert rows == [
        {
            "id": 1,
            "at": dt.datetime(2024, 1, 1, 0, 0, 0, 250000, tzinfo=dt.UTC),
            "attrs": [("a", 1)],
            "ok": True,
        }
    ]


class _NoTypeCases:
    """What :class:`ExtremeValueSuite` extends in place of the compliance suite, whose other
    cases need a server (test_clickhouse.py)."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        return None


class TestChdbExtremes(ExtremeValueSuite, _NoTypeCases):
    """The extremes of the types 18.16 lacks, through the store, a page and every export."""

    @pytest.fixture
    def conn(self) -> Iterator[ClickHouseSession]:
        """A client of its own: chDB keeps a statement's settings (readonly, the suite's
        10 s max_execution_time) on its client, which may not change them afterwards."""
        import clickhouse_connect

        connection = ClickHouseSession(clickhouse_connect.get_client(interface="chdb"))
        connection.setup()
        yield connection
        connection.close()

    def extreme_cases(self) -> list[ExtremeCase]:
        return [
            ExtremeCase(
                "wide integers and decimals",
                "SELECT toInt128('-170141183460469231731687303715884105728') AS a, "
                "toUInt256('115792089237316195423570985008687907853269984665640564039457584007913"
                "129639935') AS b, toDecimal256('-99999999999999999999999999999999999999999999999"
                "99999999999999999999999999999', 0) AS c, toBFloat16('-inf') AS d",
                [
                    "-170141183460469231731687303715884105728",
                    "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                    "-9999999999999999999999999999999999999999999999999999999999999999999999999999",
                    "-Infinity",
                ],
            ),
            ExtremeCase(
                "dates at the ends of their ranges",
                "SELECT toDate32('1900-01-01') AS a, toDate32('2299-12-31') AS b, "
                "toDateTime64('2299-12-31 23:59:59.999999', 6, 'UTC') AS c, "
                "toDateTime64('1900-01-01 00:00:00', 9, 'UTC') AS d, toDate('2149-06-06') AS e",
                [
                    "1900-01-01",
                    "2299-12-31",
                    "2299-12-31T23:59:59.999999Z",
                    "1900-01-01T00:00:00Z",
                    "2149-06-06",
                ],
            ),
            ExtremeCase(
                "intervals",
                "SELECT toIntervalMillisecond(1500) AS a, toIntervalQuarter(-1) AS b, "
                "toIntervalNanosecond(1) AS c, [toIntervalDay(2)] AS d",
                ["PT1.5S", "P-3M", "PT0.000000001S", "[2]"],
            ),
        ]
