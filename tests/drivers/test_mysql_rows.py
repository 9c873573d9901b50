"""The MySQL driver's wire reader against a real server.

Results whose columns Arrow parses from MySQL's text are read off the wire by
``drivers/mysql/rows.py``; the others through PyMySQL. Both must give the same Arrow table
for the same values (compared over 20,000 rows of every type the reader takes, NULLs and
edge values included), and the wire reader must keep what PyMySQL's path guarantees: the
time limit, cancel, an early close that leaves the session usable, errors mid-stream.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from querydeck.drivers.arrow_rows import DbApiResultStream
from querydeck.drivers.base import BATCH_ROWS
from querydeck.drivers.mysql import rows as mysql_rows
from querydeck.drivers.mysql.driver import MySQLDriver, MySQLOptions, MySQLSession
from querydeck.drivers.mysql.rows import TextResultStream
from querydeck.errors import (
    QueryCancelled,
    QueryFailed,
    QueryTimeout,
    ResultTypeMismatch,
    UpstreamUnavailable,
)
from tests.services import mysql_connect_args, mysql_database

pytestmark = pytest.mark.services

ROWS = 20_000


@pytest.fixture(scope="module")
def my_url() -> Iterator[str]:
    with mysql_database() as url:
        admin = pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]
        with admin, admin.cursor() as cur:
            for setting in ("max_recursive_iterations", "cte_max_recursion_depth"):
                try:  # MariaDB's name, then MySQL's
                    cur.execute(f"SET SESSION {setting} = {ROWS * 2}")
                except pymysql.err.OperationalError:
                    continue
            cur.execute(
                "CREATE TABLE zoo (id INT PRIMARY KEY, i8 TINYINT, u8 TINYINT UNSIGNED, "
                "i16 SMALLINT, i24 MEDIUMINT, i32 INT, u32 INT UNSIGNED, i64 BIGINT, "
                "u64 BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec2 DECIMAL(12,2), "
                "dec30 DECIMAL(30,10), dec65 DECIMAL(65,5), y YEAR, day DATE, dt DATETIME(6), "
                "ts TIMESTAMP(6) NULL, vc VARCHAR(40), txt TEXT, zh VARCHAR(20), "
                "vb VARBINARY(16), blb BLOB, js JSON, color ENUM('red','green'), "
                "tags SET('a','b')) CHARACTER SET utf8mb4"
            )
            cur.execute(
                "INSERT INTO zoo WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
                f"FROM g WHERE n < {ROWS}) SELECT n, "
                "IF(n % 7 = 0, NULL, n % 256 - 128), n % 256, n % 65536 - 32768, "
                "n * 419 - 4000000, n * 104729 - 1000000000, n * 214748, "
                "IF(n % 11 = 0, -9223372036854775808, n * 92233720368547), "
                "IF(n % 13 = 0, 18446744073709551615, n), "
                "IF(n % 17 = 0, NULL, n / 7), n * 1.000001e10, (n - 5000) / 3, "
                "n * 12345678901234.0123456789, n * 1e40 + 0.00001, 1901 + n % 255, "
                "IF(n % 19 = 0, NULL, DATE '1000-01-01' + INTERVAL n * 17 DAY), "
                "TIMESTAMP '1970-01-01 00:00:00' + INTERVAL n * 999999 SECOND "
                "+ INTERVAL n MICROSECOND, "
                "IF(n % 23 = 0, NULL, TIMESTAMP '1990-01-01 00:00:00' + INTERVAL n * 9999 SECOND), "
                "CONCAT('row ', n, REPEAT('x', n % 30)), "
                "IF(n % 29 = 0, '', REPEAT('long ', n % 300)), "
                "CONCAT('漢字', n, '😀'), UNHEX(MD5(n)), "
                "IF(n % 31 = 0, NULL, UNHEX(REPEAT('00ff', n % 9))), "
                "JSON_OBJECT('n', n, 's', '测试'), IF(n % 2 = 0, 'red', 'green'), "
                "IF(n % 3 = 0, 'a,b', 'b') FROM g"
            )
        yield url


@pytest.fixture
def conn(my_url: str) -> Iterator[MySQLSession]:
    session = MySQLDriver(MySQLOptions(**MySQLDriver.options_from_url(my_url))).connect(timeout_s=5)
    assert isinstance(session, MySQLSession)
    yield session
    session.close()


def table(conn: MySQLSession, text: str, path: type, timeout_s: float = 20) -> pa.Table:
    stream = conn.execute(text, timeout_s=timeout_s)
    assert isinstance(stream, path), type(stream)
    return pa.Table.from_batches(list(stream), schema=stream.schema)


def comparable(value: Any) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def test_every_read_type_reads_as_pymysql_reads_it(conn: MySQLSession) -> None:
    wire = table(conn, "SELECT * FROM zoo ORDER BY id", TextResultStream)
    # a TIME column is converted by PyMySQL: the same columns then come through it
    slow = table(
        conn, "SELECT *, TIME '01:02:03' AS forced FROM zoo ORDER BY id", DbApiResultStream
    )
    slow = slow.drop_columns(["forced"])
    assert wire.num_rows == ROWS
    assert wire.schema.equals(slow.schema, check_metadata=True)
    for name in wire.schema.names:
        left = [comparable(v) for v in wire.column(name).to_pylist()]
        right = [comparable(v) for v in slow.column(name).to_pylist()]
        assert left == right, name


def test_read_values_are_the_servers(conn: MySQLSession) -> None:
    (row,) = table(
        conn,
        "SELECT CAST(-1.5 AS DECIMAL(5,2)) AS d, 18446744073709551615 AS big, "
        "CAST('2024-02-29 10:11:12.345678' AS DATETIME(6)) AS dt, '漢字' AS zh, "
        "NULL AS nothing, X'00FF' AS raw, REPEAT('y', 300) AS long_text",
        TextResultStream,
    ).to_pylist()
    assert row["d"] == Decimal("-1.50")
    assert row["big"] == 18446744073709551615
    assert row["dt"].isoformat() == "2024-02-29T10:11:12.345678"
    assert row["zh"] == "漢字"
    assert row["nothing"] is None
    assert row["raw"] == b"\x00\xff"
    assert row["long_text"] == "y" * 300


def test_a_row_of_more_than_16_mb_spans_packets(conn: MySQLSession) -> None:
    size = 9 * 1024 * 1024  # two of them: the row is sent as two packets
    (row,) = table(
        conn,
        f"SELECT 1 AS a, REPEAT('z', {size}) AS big, REPEAT('w', {size}) AS more, 2 AS b",
        TextResultStream,
    ).to_pylist()
    assert (row["a"], row["b"]) == (1, 2)
    assert row["big"] == "z" * size
    assert row["more"] == "w" * size


def test_a_value_its_type_cannot_hold_fails_naming_the_column(conn: MySQLSession) -> None:
    with pytest.raises(ResultTypeMismatch) as caught:
        table(conn, "SELECT CAST('0000-00-00' AS DATE) AS zero_day", TextResultStream)
    assert caught.value.detail["column"] == "zero_day"


def test_rows_arrive_in_bounded_batches(conn: MySQLSession) -> None:
    stream = conn.execute("SELECT id, vc FROM zoo ORDER BY id", timeout_s=5)
    assert isinstance(stream, TextResultStream)
    assert [batch.num_rows for batch in stream] == [BATCH_ROWS, BATCH_ROWS, ROWS - 2 * BATCH_ROWS]
    assert stream.finished()


def test_an_error_after_the_first_rows_fails_the_stream_and_keeps_the_session(
    conn: MySQLSession,
) -> None:
    with pytest.raises(QueryFailed):
        table(
            conn,
            "SELECT id, IF(id = 15000, (SELECT 1 UNION SELECT 2), 0) AS boom FROM zoo ORDER BY id",
            TextResultStream,
        )
    assert table(conn, "SELECT 7 AS x", TextResultStream).to_pylist() == [{"x": 7}]


def test_early_close_stops_the_statement_and_keeps_the_session(conn: MySQLSession) -> None:
    stream = conn.execute("SELECT a.id, a.txt FROM zoo a, zoo b", timeout_s=20)
    assert isinstance(stream, TextResultStream)
    assert next(iter(stream)).num_rows == BATCH_ROWS
    started = time.monotonic()
    stream.close()
    stream.close()
    assert time.monotonic() - started < 5
    assert conn.reset() is True
    assert table(conn, "SELECT 8 AS x", TextResultStream).to_pylist() == [{"x": 8}]


#: A statement on the wire path that keeps the server busy, sending rows slowly.
SLOW = "SELECT id, SLEEP(0.05) AS s FROM zoo"


def test_timeout_ends_the_statement(conn: MySQLSession) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        table(conn, SLOW, TextResultStream, timeout_s=1)
    assert time.monotonic() - started < 4
    assert table(conn, "SELECT 9 AS x", TextResultStream).to_pylist() == [{"x": 9}]


def test_cancel_from_another_thread(conn: MySQLSession) -> None:
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        table(conn, SLOW, TextResultStream, timeout_s=20)
    timer.join()
    assert time.monotonic() - started < 4
    assert table(conn, "SELECT 10 AS x", TextResultStream).to_pylist() == [{"x": 10}]


def test_types_pymysql_converts_keep_its_path() -> None:
    bit = pa.schema([pa.field("b", pa.bool_())])
    assert not mysql_rows.readable(bit, [bool])
    duration = pa.schema([pa.field("t", pa.duration("us"))])
    assert not mysql_rows.readable(duration, [None])
    assert not mysql_rows.readable(pa.schema([]), [])
    assert mysql_rows.readable(pa.schema([pa.field("n", pa.int64())]), [None])


def test_a_killed_connection_during_the_rows_is_upstream_unavailable(
    my_url: str, conn: MySQLSession
) -> None:
    thread_id = conn.native.thread_id()  # type: ignore[no-untyped-call]

    def kill() -> None:
        time.sleep(0.5)
        admin = pymysql.connect(autocommit=True, **mysql_connect_args(my_url))  # type: ignore[arg-type]
        with admin, admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(thread_id)}")

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(UpstreamUnavailable):
        table(conn, SLOW, TextResultStream, timeout_s=20)
    killer.join()
    with pytest.raises(UpstreamUnavailable):
        conn.execute("SELECT 1", timeout_s=1)
