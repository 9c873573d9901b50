"""The PostgreSQL driver's binary COPY path against a real server.

Queries whose every column the numpy decoder reads come back through binary ``COPY``;
anything else goes through the cursor. The two must give the same Arrow table for the same
values (compared here over 20,000 rows of every type the decoder takes, NULLs and edge
values included), and the COPY path must keep what the cursor path guarantees: one
read-only statement, the timeout, cancel, an early close, a lost backend, error positions.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from querydeck.drivers import arrow_rows
from querydeck.drivers.base import BATCH_ROWS
from querydeck.drivers.postgres import binary
from querydeck.drivers.postgres.copy_stream import CopyResultStream
from querydeck.drivers.postgres.driver import (
    PostgresDriver,
    PostgresOptions,
    PostgresResultStream,
    PostgresSession,
)
from querydeck.errors import (
    QueryCancelled,
    QueryFailed,
    QueryTimeout,
    ResultTypeMismatch,
    UpstreamUnavailable,
)
from tests.services import postgres_database

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            admin.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 3) g")
        yield url


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def conn(pg_url: str) -> Iterator[PostgresSession]:
    options = PostgresOptions(**PostgresDriver.options_from_url(pg_url))
    with PostgresDriver(options).connect(timeout_s=5) as connection:
        assert isinstance(connection, PostgresSession)
        yield connection


def table(conn: PostgresSession, text: str, path: type, timeout_s: float = 10) -> pa.Table:
    stream = conn.execute(text, timeout_s=timeout_s)
    assert isinstance(stream, path), type(stream)
    return pa.Table.from_batches(list(stream), schema=stream.schema)


def nullable(expression: str, every: int) -> str:
    return f"CASE WHEN g % {every} = 0 THEN NULL ELSE {expression} END"


#: Every type the decoder reads, NULL in some rows, edge values in others.
COLUMNS = {
    "i2": nullable("(g % 600 - 300)::int2", 7),
    "i4": nullable("(g * 7919 - 40000000)::int4", 11),
    "i8": nullable("g::int8 * 1000000007 - 5000000000000", 13),
    "f4": nullable("CASE g % 5 WHEN 0 THEN '-Infinity'::float4 ELSE (g / 7.0)::float4 END", 17),
    "f8": nullable("CASE g % 9 WHEN 0 THEN 'NaN'::float8 ELSE g * 1.000001 END", 19),
    "dec": nullable("((g - 5000) / 3.0)::numeric(12,2)", 23),
    "dec18": nullable("((g - 9000) * 1234567.123456)::numeric(18,6)", 29),
    "dec38": nullable("(g * 12345678901234567.0123456789)::numeric(38,10)", 31),
    "dec40": nullable("((g - 7) * 1.5)::numeric(40,2)", 37),
    "dec_neg_scale": nullable("(g * 100)::numeric(8,-2)", 41),
    "free": nullable(
        "CASE g % 11 WHEN 0 THEN 'NaN'::numeric WHEN 1 THEN 'Infinity' WHEN 2 THEN "
        "'-Infinity' WHEN 3 THEN 1e30 WHEN 4 THEN 1e-20 WHEN 5 THEN 0.000 "
        "ELSE (g - 5000) / 7.0 END",
        43,
    ),
    "flag": nullable("g % 3 = 0", 47),
    "txt": nullable("'row ' || g || repeat('x', g % 50)", 53),
    "zh": nullable("'漢字客户' || g || '号，北京'", 59),
    "empty": "''::text",
    "vc": nullable("('v' || g)::varchar(10)", 61),
    "ch": nullable("('c' || (g % 100))::char(5)", 67),
    "nm": nullable("('n' || g)::name", 71),
    "chr": nullable('chr(65 + g % 26)::"char"', 73),
    "js": nullable("json_build_object('g', g, 's', '测试')", 79),
    "jsb": nullable("jsonb_build_object('g', g, 'a', ARRAY[g, g + 1])", 83),
    "id": nullable("md5(g::text)::uuid", 89),
    "raw": nullable("decode(md5(g::text), 'hex') || '\\x00'::bytea", 97),
    "d": nullable("date '2000-01-01' + (g - 10000) * 3", 101),
    "ts": nullable("timestamp '1999-12-31 23:59:59.5' + (g - 10000) * interval '37 min 1.25 s'", 3),
    "tstz": nullable(
        "timestamptz '1969-12-31 23:59:59.999999+05' + (g - 10000) * interval '1 day 1 us'", 103
    ),
    "tm": nullable("time '00:00' + g * interval '1.000001 s'", 107),
    "iv": nullable(
        "make_interval(years => g % 3, months => g % 13 - 6, days => g % 40 - 20, "
        "secs => (g - 10000) * 1.5)",
        109,
    ),
    "ints": nullable("CASE g % 4 WHEN 0 THEN '{}'::int4[] ELSE ARRAY[g, NULL, g + 1] END", 113),
    "texts": nullable("ARRAY['a' || g, NULL, '漢']", 127),
    "decs": nullable("ARRAY[(g / 3.0)::numeric(10,2)]::numeric(10,2)[]", 131),
    "frees": nullable("ARRAY[g / 7.0, 'NaN']::numeric[]", 137),
    "uuids": nullable("ARRAY[md5(g::text)::uuid]", 139),
    "dates": nullable("ARRAY[date '2020-01-01' + g]", 149),
    "tstzs": nullable("ARRAY[timestamptz '2020-01-01 00:00+00' + g * interval '1 s']", 151),
}
SELECT_ALL = ", ".join(f"{sql} AS {name}" for name, sql in COLUMNS.items())
ROWS = 10_000


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row with NaN floats made equal to each other."""
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def test_every_decoded_type_reads_as_the_cursor_path_reads_it(conn: PostgresSession) -> None:
    source = f"FROM generate_series(1, {ROWS}) g"
    fast = table(conn, f"SELECT {SELECT_ALL} {source}", CopyResultStream)
    # an inet column is not decoded: the same columns then come through the cursor
    slow = table(
        conn, f"SELECT {SELECT_ALL}, '10.0.0.1'::inet AS forced {source}", PostgresResultStream
    )
    slow = slow.drop_columns(["forced"])
    assert fast.num_rows == ROWS
    assert fast.schema.equals(slow.schema, check_metadata=True)
    for name in COLUMNS:
        left = [comparable({"v": v})["v"] for v in fast.column(name).to_pylist()]
        right = [comparable({"v": v})["v"] for v in slow.column(name).to_pylist()]
        assert left == right, name


def test_decoded_values_are_the_servers(conn: PostgresSession) -> None:
    (row,) = table(
        conn,
        "SELECT 12.30::numeric(10,2) AS money, (-0.05)::numeric(4,2) AS cents, "
        "123456789012345678.9::numeric(19,1) AS wide, 99.5::numeric(3,1) AS near, "
        "1.50::numeric AS free, 1e30::numeric AS big, 'NaN'::numeric AS nan, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '{\"b\": null}'::jsonb AS jsb, "
        "'1 year 2 mons -3 days 04:05:06.5'::interval AS iv, '漢字'::text AS zh, "
        "'2024-02-29 10:11:12+02'::timestamptz AS tstz, '0001-01-01'::date AS first_day, "
        "'23:59:58.5'::time AS tm, 'c'::char(3) AS ch",
        CopyResultStream,
    ).to_pylist()
    assert row["money"] == Decimal("12.30")
    assert row["cents"] == Decimal("-0.05")
    assert row["wide"] == Decimal("123456789012345678.9")
    assert row["near"] == Decimal("99.5")
    assert row["free"] == "1.50"
    assert row["big"] == "1" + "0" * 30
    assert row["nan"] == "NaN"
    assert row["id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["jsb"] == '{"b": null}'
    assert (row["iv"].months, row["iv"].days, row["iv"].nanoseconds) == (14, -3, 14706500000000)
    assert row["zh"] == "漢字"
    assert row["tstz"].isoformat() == "2024-02-29T08:11:12+00:00"
    assert row["first_day"].isoformat() == "0001-01-01"
    assert row["tm"].isoformat() == "23:59:58.500000"
    assert row["ch"] == "c  "


def test_infinite_dates_and_timestamps_are_the_extreme_values(conn: PostgresSession) -> None:
    """``infinity`` and ``-infinity`` become the largest and smallest values of their
    Arrow type, which pages and exports write as ``infinity`` and ``-infinity``."""
    got = table(
        conn,
        "SELECT 'infinity'::timestamp AS a, '-infinity'::timestamptz AS b, "
        "'infinity'::date AS c, '-infinity'::date AS d, '2024-01-02 03:04:05'::timestamp AS e",
        CopyResultStream,
    )
    ints = {
        name: got.column(name).cast(pa.int32() if name in "cd" else pa.int64()).to_pylist()[0]
        for name in "abcd"
    }
    assert ints["a"] == 2**63 - 1
    assert ints["b"] == -(2**63 - 1)
    assert ints["c"] == 2**31 - 1
    assert ints["d"] == -(2**31 - 1)
    assert got.column("e").to_pylist()[0].isoformat() == "2024-01-02T03:04:05"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("SELECT 'NaN'::numeric(10,2) AS x", "a numeric NaN or infinity"),
        ("SELECT ARRAY['294276-12-31'::timestamp] AS x", "out of range"),
        ("SELECT '294276-12-31 23:59:59'::timestamp AS x", "a timestamp out of range"),
        ("SELECT ARRAY[[1, 2], [3, 4]] AS x", "multi-dimensional"),
    ],
)
def test_values_arrow_cannot_hold_fail_naming_the_column(
    conn: PostgresSession, text: str, what: str
) -> None:
    with pytest.raises(ResultTypeMismatch) as caught:
        table(conn, text, CopyResultStream)
    assert what in caught.value.message
    assert caught.value.detail["column"] == "x"
    assert caught.value.code == "RESULT_TYPE_MISMATCH"
    assert table(conn, "SELECT 1 AS x", CopyResultStream).to_pylist() == [{"x": 1}]


def test_statements_with_a_semicolon_or_other_types_use_the_cursor(
    conn: PostgresSession,
) -> None:
    assert table(conn, "SELECT ';' AS x", PostgresResultStream).to_pylist() == [{"x": ";"}]
    assert table(conn, "SELECT '1.2.3.4'::inet AS x", PostgresResultStream).num_rows == 1
    assert table(conn, "SELECT", PostgresResultStream).num_columns == 0
    plan = table(conn, "EXPLAIN SELECT * FROM t", PostgresResultStream)
    assert "Seq Scan" in plan.column(0)[0].as_py()


def test_native_types_and_names_come_from_the_description(conn: PostgresSession) -> None:
    stream = conn.execute(
        'SELECT 1::int8 AS a, 1::int8 AS a, 2.5::numeric(10,2) AS "Money €", '
        "'x'::varchar(4) AS v",
        timeout_s=5,
    )
    assert isinstance(stream, CopyResultStream)
    assert stream.schema.names == ["a", "a", "Money €", "v"]
    natives = [arrow_rows.native_type(f) for f in stream.schema]
    assert natives == ["bigint", "bigint", "numeric(10,2)", "character varying(4)"]
    assert pa.Table.from_batches(list(stream)).to_pylist()[0]["v"] == "x"


def test_rows_arrive_in_bounded_batches(conn: PostgresSession) -> None:
    stream = conn.execute("SELECT g, 'x' || g AS s FROM generate_series(1, 20000) g", timeout_s=5)
    assert isinstance(stream, CopyResultStream)
    sizes = [batch.num_rows for batch in stream]
    assert sizes == [BATCH_ROWS, BATCH_ROWS, 20000 - 2 * BATCH_ROWS]


def test_an_error_after_the_first_rows_fails_the_stream_and_keeps_the_session(
    conn: PostgresSession,
) -> None:
    stream = conn.execute(
        "SELECT 1 / (g - 15000) AS x FROM generate_series(1, 20000) g", timeout_s=5
    )
    assert isinstance(stream, CopyResultStream)
    with pytest.raises(QueryFailed, match="division by zero"):
        list(stream)
    assert table(conn, "SELECT 2 AS x", CopyResultStream).to_pylist() == [{"x": 2}]


def test_error_positions_count_from_the_statement(conn: PostgresSession) -> None:
    text = "SELECT 1 AS ok, no_such_column FROM t"
    with pytest.raises(QueryFailed) as caught:
        conn.execute(text, timeout_s=5)
    assert caught.value.detail["position"] == text.index("no_such_column") + 1


def active_backends(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'querydeck' "
        "AND state = 'active' AND datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


#: A query on the COPY path that keeps the server busy for a long time, sending rows.
SLOW = "SELECT g FROM generate_series(1, 100000) g WHERE pg_sleep(0.01) IS NOT NULL"


def test_timeout_ends_the_copy_on_the_server(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        table(conn, SLOW, CopyResultStream, timeout_s=1)
    assert time.monotonic() - started < 3
    assert active_backends(admin) == 0
    assert table(conn, "SELECT 3 AS x", CopyResultStream).to_pylist() == [{"x": 3}]


def test_cancel_from_another_thread_stops_the_copy(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        table(conn, SLOW, CopyResultStream, timeout_s=20)
    timer.join()
    assert time.monotonic() - started < 3
    assert active_backends(admin) == 0
    assert table(conn, "SELECT 4 AS x", CopyResultStream).to_pylist() == [{"x": 4}]


def test_cancel_between_batches(conn: PostgresSession, admin: psycopg.Connection[Any]) -> None:
    stream = conn.execute("SELECT g FROM generate_series(1, 1000000) g", timeout_s=20)
    batches = iter(stream)
    assert next(batches).num_rows == BATCH_ROWS
    conn.cancel()
    with pytest.raises(QueryCancelled):
        next(batches)
    assert active_backends(admin) == 0
    assert table(conn, "SELECT 5 AS x", CopyResultStream).to_pylist() == [{"x": 5}]


def test_early_close_stops_the_copy_and_keeps_the_session(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    stream = conn.execute("SELECT g, md5(g::text) FROM generate_series(1, 5000000) g", timeout_s=20)
    assert isinstance(stream, CopyResultStream)
    assert next(iter(stream)).num_rows == BATCH_ROWS
    started = time.monotonic()
    stream.close()
    stream.close()
    assert time.monotonic() - started < 3
    state = admin.execute(
        "SELECT state FROM pg_stat_activity WHERE application_name = 'querydeck' "
        "AND datname = current_database()"
    ).fetchall()
    assert state == [("idle",)]
    assert conn.reset() is True
    assert table(conn, "SELECT 6 AS x", CopyResultStream).to_pylist() == [{"x": 6}]


def test_terminated_backend_during_a_copy_is_upstream_unavailable(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    def terminate() -> None:
        time.sleep(0.3)
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'querydeck' AND state = 'active' "
            "AND datname = current_database()"
        )

    killer = threading.Thread(target=terminate)
    killer.start()
    with pytest.raises(UpstreamUnavailable):
        table(conn, SLOW, CopyResultStream, timeout_s=20)
    killer.join()
    with pytest.raises(UpstreamUnavailable):
        conn.execute("SELECT 1", timeout_s=1)


def test_the_copy_runs_read_only(conn: PostgresSession) -> None:
    (row,) = table(
        conn, "SELECT current_setting('transaction_read_only') AS ro", CopyResultStream
    ).to_pylist()
    assert row == {"ro": "on"}


# --- the decoder on bytes made here: what a server would never send -----------------------


def message(*fields: bytes | None) -> bytes:
    out = len(fields).to_bytes(2, "big")
    for value in fields:
        if value is None:
            out += (-1).to_bytes(4, "big", signed=True)
        else:
            out += len(value).to_bytes(4, "big") + value
    return out


class Decoder:
    """A decoder fed whole row messages made here."""

    def __init__(self, inner: binary.BinaryRowDecoder) -> None:
        self.inner = inner

    def decode(self, messages: list[bytes]) -> pa.RecordBatch:
        return self.inner.decode(bytearray(b"".join(messages)), [len(m) for m in messages])


def decoder(*types: tuple[str, pa.DataType], conn: PostgresSession) -> Decoder:
    schema = pa.schema([pa.field(f"c{i}", t) for i, (_, t) in enumerate(types)])
    from psycopg import postgres

    oids = [postgres.types[name].oid for name, _ in types]
    return Decoder(binary.BinaryRowDecoder(schema, oids, conn.native))


def test_decoder_refuses_malformed_rows(conn: PostgresSession) -> None:
    ints = decoder(("int4", pa.int32()), conn=conn)
    assert ints.decode([message(b"\x00\x00\x00\x07"), message(None)]).column(0).to_pylist() == [
        7,
        None,
    ]
    with pytest.raises(QueryFailed, match="another width"):
        ints.decode([message(b"\x00\x00\x00\x07", b"\x00\x00\x00\x08")])
    with pytest.raises(QueryFailed, match="ends before"):
        ints.decode([message(b"\x00\x00\x00\x07")[:-2]])
    with pytest.raises(QueryFailed, match="more bytes"):
        ints.decode([message(b"\x00\x00\x00\x07") + b"\x00"])
    with pytest.raises(ResultTypeMismatch, match="unexpected size"):
        ints.decode([message(b"\x00\x07")])
    text = decoder(("text", pa.string()), conn=conn)
    with pytest.raises(ResultTypeMismatch, match="not UTF-8"):
        text.decode([message(b"\xff\xfe")])
    jsonb = decoder(("jsonb", pa.string()), conn=conn)
    with pytest.raises(ResultTypeMismatch, match="jsonb"):
        jsonb.decode([message(b"\x02{}")])


def test_decoder_refuses_numerics_beyond_the_declared_type(conn: PostgresSession) -> None:
    def numeric(weight: int, *digits: int) -> bytes:
        head = np.array([len(digits), weight, 0, 2], dtype=">i2").tobytes()
        return head + np.array(digits, dtype=">i2").tobytes()

    small = decoder(("numeric", pa.decimal128(5, 2)), conn=conn)
    assert small.decode([message(numeric(0, 123, 4500))]).column(0).to_pylist() == [
        Decimal("123.45")
    ]
    with pytest.raises(ResultTypeMismatch, match="beyond its precision"):
        small.decode([message(numeric(1, 1, 0))])
    with pytest.raises(ResultTypeMismatch, match="beyond its scale"):
        small.decode([message(numeric(-1, 1234))])
