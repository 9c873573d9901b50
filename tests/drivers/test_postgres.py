"""The PostgreSQL driver against a real server: options, URLs, read-only sessions, timeouts,
cancellation, lost backends and types (SECURITY_TESTS.md groups B and G)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from querydeck.drivers import arrow_rows, registry
from querydeck.drivers.base import BATCH_ROWS, Driver
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions, PostgresSession
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionParamForbidden,
    ConnectionTargetForbidden,
    ConnectionUrlInvalid,
    DatabaseAccessDenied,
    DatabaseNotFound,
    QueryCancelled,
    QueryFailed,
    QueryRejected,
    QueryTimeout,
    UpstreamUnavailable,
)
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
    UNICODE_TEXT,
    DriverSuite,
    ExtremeCase,
    ExtremeValueSuite,
    TypeCase,
    is_utc_timestamp,
    json_loads,
)
from tests.services import POSTGRES_URL, postgres_database, unique_name, with_database

pytestmark = pytest.mark.services

SENTINEL = "s3ntinel-Pa55"


def driver_for(url: str, **changes: Any) -> PostgresDriver:
    options = {**PostgresDriver.options_from_url(url), **changes}
    return PostgresDriver(PostgresOptions(**options))


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            admin.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 3) g")
            admin.execute(f"CREATE TABLE {FIXTURE_TABLE} (id integer PRIMARY KEY, name text)")
            with admin.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {FIXTURE_TABLE} VALUES (%s, %s)", FIXTURE_ROWS)
        yield url


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def conn(pg_url: str) -> Iterator[PostgresSession]:
    with driver_for(pg_url).connect(timeout_s=5) as connection:
        assert isinstance(connection, PostgresSession)
        yield connection


def rows(connection: PostgresSession, text: str, timeout_s: float = 5) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(connection.execute(text, timeout_s=timeout_s))).to_pylist()


def victim_state(admin: psycopg.Connection[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    return admin.execute("SELECT count(*), sum(id) FROM t").fetchone()


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: The extreme case of infinite dates and dates before year 1 and after 9999: read exactly
#: by the binary COPY path only (flavours without it read through psycopg, which refuses
#: such dates).
FAR_DATES = "far and infinite dates"
FAR_DATE_ARRAYS = "far and infinite dates in arrays"


class TestPostgresSuite(ExtremeValueSuite, DriverSuite):
    driver_cls = PostgresDriver
    sleep_sql = "SELECT pg_sleep(30)"
    fixture_arrow_types = (pa.int32(), pa.string())
    unsupported_types: ClassVar[dict[str, str]] = {
        "text_nul": "PostgreSQL text values cannot contain NUL characters"
    }
    good_urls = (
        (
            "postgresql://ann:s%20cret@db.example:6432/sales?sslmode=verify-full",
            {
                "host": "db.example",
                "port": 6432,
                "database": "sales",
                "user": "ann",
                "password": "s cret",
                "sslmode": "verify-full",
            },
        ),
        ("postgres://bob@10.0.0.5/x", {"host": "10.0.0.5", "database": "x", "user": "bob"}),
        (
            "postgresql://u@[::1]:5433/d",
            {"host": "::1", "port": 5433, "database": "d", "user": "u"},
        ),
    )
    forbidden_urls = (
        "postgresql://u@h/d?host=/tmp",
        "postgresql://u@h/d?options=-c%20statement_timeout%3D0",
        "postgresql://u@h/d?user=postgres",
        "postgresql://u@h/d?passfile=/etc/passwd",
        "postgresql://u@h/d?sslrootcert=/etc/passwd",
        "postgresql://u@h/d?service=prod",
    )

    @pytest.fixture
    def driver(self, pg_url: str) -> PostgresDriver:
        return driver_for(pg_url)

    def fixture_schema(self, driver: Driver[Any]) -> str:
        return "public"

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT n FROM generate_series(1, {n}) AS n"

    def extreme_cases(self) -> list[ExtremeCase]:
        return [
            ExtremeCase(
                "intervals",
                "SELECT interval '1 day 2 hours' AS a, interval '-1 year 2 mons 3 days' AS b, "
                "interval '1.5 seconds' AS c, interval '0' AS d, "
                "interval '178000000 years' AS e",
                ["P1DT2H", "P-10M3D", "PT1.5S", "PT0S", "P178000000Y"],
            ),
            ExtremeCase(
                "floats and numerics",
                "SELECT 'NaN'::float8 AS a, '-Infinity'::float4 AS b, '-0'::float8 AS c, "
                "(10::numeric ^ 100)::numeric(120, 0) AS d",
                ["NaN", "-Infinity", -0.0, "1" + "0" * 100],
            ),
            ExtremeCase(
                FAR_DATES,
                "SELECT '4713-01-01 BC'::date AS e, '200000-01-01 12:00:00'::timestamp AS f, "
                "'infinity'::timestamptz AS g, '-infinity'::date AS h",
                ["-4712-01-01", "+200000-01-01T12:00:00", "infinity", "-infinity"],
            ),
            ExtremeCase(
                FAR_DATE_ARRAYS,
                "SELECT ARRAY['infinity'::date, '2020-01-01', NULL, '-infinity'] AS a, "
                "ARRAY['infinity'::timestamp, '10000-01-01 00:00:00'] AS b, "
                "ARRAY['-infinity'::timestamptz, '2020-01-01 00:00:00+02'] AS c, "
                "ARRAY['0001-01-01 BC'::date] AS d",
                [
                    ["infinity", "2020-01-01", None, "-infinity"],
                    ["infinity", "+10000-01-01T00:00:00"],
                    ["-infinity", "2019-12-31T22:00:00Z"],
                    ["0000-01-01"],
                ],
            ),
        ]

    def type_cases(self) -> list[TypeCase]:
        return [
            TypeCase("int_above_2_53", f"SELECT {BIG_INT}::int8", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT ({MIN_INT64})::int8", MIN_INT64, pa.int64()),
            TypeCase(
                "decimal",
                f"SELECT {EXACT_DECIMAL}::numeric(29,9)",
                EXACT_DECIMAL,
                pa.decimal128(29, 9),
            ),
            TypeCase("date", f"SELECT DATE '{DATE.isoformat()}'", DATE, pa.date32()),
            TypeCase(
                "timestamp_tz",
                f"SELECT TIMESTAMPTZ '{INSTANT_TEXT}'",
                INSTANT,
                is_utc_timestamp,
            ),
            TypeCase("boolean", "SELECT true", True, pa.bool_()),
            TypeCase(
                "text_unicode", f"SELECT {literal(UNICODE_TEXT)}::text", UNICODE_TEXT, pa.string()
            ),
            TypeCase("binary", f"SELECT '\\x{BINARY.hex()}'::bytea", BINARY, pa.binary()),
            TypeCase(
                "json", f"SELECT {literal(JSON_TEXT)}::jsonb", JSON_VALUE, pa.string(), json_loads
            ),
            TypeCase("array", f"SELECT ARRAY{ARRAY}::int4[]", ARRAY, pa.list_(pa.int32())),
            # beyond the required ones: each type of the binary COPY path
            TypeCase(
                "decimal_beyond_decimal128",
                "SELECT (10::numeric ^ 40 + 0.25)::numeric(44,2)",
                "1" + "0" * 39 + "0.25",
                pa.string(),
            ),
            TypeCase("numeric_nan", "SELECT 'NaN'::numeric", "NaN", pa.string()),
            TypeCase(
                "interval",
                "SELECT '1 year 2 mons -3 days 04:05:06.5'::interval",
                (14, -3, 14706500000000),
                pa.month_day_nano_interval(),
                lambda v: (v.months, v.days, v.nanoseconds),
            ),
            TypeCase(
                "uuid",
                "SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                pa.string(),
            ),
            TypeCase("json_text", f"SELECT {literal(JSON_TEXT)}::json", JSON_TEXT, pa.string()),
            TypeCase("chinese_text", "SELECT '北京市海淀区'::text", "北京市海淀区", pa.string()),
            TypeCase(
                "array_text",
                "SELECT ARRAY['漢字', NULL, '']",
                ["漢字", None, ""],
                pa.list_(pa.string()),
            ),
            TypeCase(
                "array_numeric",
                "SELECT ARRAY[1.25, NULL]::numeric(5,2)[]",
                [Decimal("1.25"), None],
                pa.list_(pa.decimal128(5, 2)),
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        url = with_database(POSTGRES_URL, "postgres")
        return [
            ("closed port", driver_for(url, port=1), UpstreamUnavailable),
            ("missing database", driver_for(url, database="qd_missing"), DatabaseNotFound),
            ("unknown role", driver_for(url, user="qd_no_such_role"), AuthenticationFailed),
            (
                "no CONNECT privilege",
                driver_for(self.failure_logins["url"], user=self.failure_logins["user"]),
                DatabaseAccessDenied,
            ),
        ]

    @pytest.fixture
    def failure_logins(self, pg_url: str) -> Iterator[dict[str, str]]:
        """A login that exists but may not connect to the database (CONNECT revoked)."""
        role = unique_name("qd_noconnect")
        database = PostgresDriver.options_from_url(pg_url)["database"]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC')
            try:
                yield {"url": pg_url, "user": role}
            finally:
                admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO PUBLIC')
                admin.execute(f"DROP ROLE {role}")


# --- options and URLs (G1-G4) ---------------------------------------------------------------


def test_registered_with_its_class_attributes() -> None:
    cls = registry.load("postgres")
    assert cls is PostgresDriver
    assert (cls.title, cls.dialect, cls.url_schemes) == (
        "PostgreSQL",
        "postgres",
        ("postgresql", "postgres"),
    )
    assert cls.capabilities.arrays


def test_url_is_parsed_into_options() -> None:
    options = PostgresDriver.options_from_url(
        "postgresql+psycopg://ann:p%40ss%20w@db.example:5433/sales%20db?sslmode=require"
    )
    assert options == {
        "host": "db.example",
        "port": 5433,
        "database": "sales db",
        "user": "ann",
        "password": "p@ss w",
        "sslmode": "require",
    }
    assert PostgresOptions(**options).password is not None


@pytest.mark.parametrize(
    "query",
    [
        "host=/tmp",
        "host=evil&user=postgres",
        "options=-c%20default_transaction_read_only%3Doff",
        "user=postgres",
        "passfile=/etc/passwd",
        "sslrootcert=/etc/passwd",
        "service=x",
        "application_name=x",
        "sslmode=require&sslmode=disable",
    ],
)
def test_url_parameters_outside_the_allow_list_are_refused(query: str) -> None:
    with pytest.raises(ConnectionParamForbidden):
        PostgresDriver.options_from_url(f"postgresql://u@db.example/db?{query}")


@pytest.mark.parametrize(
    "url", ["postgresql:///db", "mysql://h/db", "postgresql://h:99999/db", "postgresql://h/d#x"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        PostgresDriver.options_from_url(url)


@pytest.mark.parametrize(
    "host", ["/tmp", "/var/run/postgresql", "@abstract", "a host=/tmp", "h1,h2", " db", ""]
)
def test_socket_paths_and_parameter_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConnectionTargetForbidden):
        PostgresOptions(host=host, database="d", user="u")


def test_socket_host_in_a_url_is_refused() -> None:
    with pytest.raises(ConnectionTargetForbidden):
        PostgresDriver.options_from_url("postgresql://%2Ftmp/db")


def test_field_values_are_taken_literally(pg_url: str) -> None:
    injected = "x options='-c default_transaction_read_only=off'"
    driver = driver_for(pg_url, database=injected, password="a' b\\c")
    params = conninfo_to_dict(driver.conninfo(5))
    assert params["dbname"] == injected
    assert params["password"] == "a' b\\c"
    assert "options" not in params
    assert params["application_name"] == "querydeck"
    with pytest.raises(DatabaseNotFound) as caught:
        driver.connect(timeout_s=5)
    assert "a' b" not in caught.value.message


def test_user_with_parameters_is_just_an_unknown_role(pg_url: str) -> None:
    with pytest.raises(AuthenticationFailed):
        driver_for(pg_url, user="a host=/tmp").connect(timeout_s=5)


def test_password_with_quotes_backslashes_and_spaces(admin: psycopg.Connection[Any]) -> None:
    role = unique_name("qd_role")
    password = "it's a \\ strange = pass"
    admin.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)
        )
    )
    try:
        url = admin.info.dsn
        params = conninfo_to_dict(url)
        driver = PostgresDriver(
            PostgresOptions(
                host=str(params["host"]),
                port=int(params.get("port") or 5432),
                database=str(params["dbname"]),
                user=role,
                password=password,
            )
        )
        assert conninfo_to_dict(driver.conninfo(5))["password"] == password
        with driver.connect(timeout_s=5) as connection:
            assert rows(connection, "SELECT current_user AS u") == [{"u": role}]
    finally:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# --- connection failures --------------------------------------------------------------------


def test_refused_port_is_upstream_unavailable(pg_url: str) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        driver_for(pg_url, port=1, password=SENTINEL).connect(timeout_s=2)
    assert SENTINEL not in str(caught.value)
    assert "Traceback" not in caught.value.message


def test_missing_database(pg_url: str) -> None:
    with pytest.raises(DatabaseNotFound) as caught:
        driver_for(pg_url, database="qd_absent_db", password=SENTINEL).connect(timeout_s=5)
    assert SENTINEL not in str(caught.value)


def test_target_and_ping(pg_url: str, conn: PostgresSession) -> None:
    driver = driver_for(pg_url)
    assert driver.target() == (
        f"{driver.options.host}:{driver.options.port}/{driver.options.database}"
    )
    assert conn.ping().version.split(".")[0].isdigit()


# --- one statement, read-only (B3, B4) ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; DELETE FROM t",
        "COMMIT; DELETE FROM t",
        "SET TRANSACTION READ WRITE; DELETE FROM t; COMMIT",
        "DELETE FROM t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "UPDATE t SET name = 'x'",
        "SELECT 1\x00; DELETE FROM t",
    ],
)
def test_writes_and_extra_statements_never_run(
    conn: PostgresSession, admin: psycopg.Connection[Any], text: str
) -> None:
    before = victim_state(admin)
    with pytest.raises((QueryFailed, QueryRejected)):
        rows(conn, text)
    assert victim_state(admin) == before
    assert rows(conn, "SELECT count(*) AS n FROM t") == [{"n": 3}]


def test_session_setting_does_not_survive_into_the_next_run(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    before = victim_state(admin)
    rows(conn, "SELECT set_config('default_transaction_read_only', 'off', false)")
    with pytest.raises(QueryFailed) as caught:
        rows(conn, "SELECT * FROM t FOR UPDATE")
    assert caught.value.detail["sqlstate"] == "25006"
    assert victim_state(admin) == before
    setting = rows(conn, "SELECT current_setting('transaction_read_only') AS ro")
    assert setting == [{"ro": "on"}]


# --- timeouts, cancel, lost backends (B5, B6) -----------------------------------------------


def running_sleeps(admin: psycopg.Connection[Any]) -> int:
    """querydeck backends still running something (a FETCH shows as the query text)."""
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'querydeck' "
        "AND state = 'active' AND datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    "text",
    [
        "SELECT pg_sleep(600)",
        "SELECT set_config('statement_timeout', '0', true), pg_sleep(600)",
        "SELECT g, pg_sleep(0.4) FROM generate_series(1, 10000) g",
    ],
)
def test_timeout_ends_the_statement_on_the_server(
    conn: PostgresSession, admin: psycopg.Connection[Any], text: str
) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        rows(conn, text, timeout_s=1)
    assert time.monotonic() - started < 3
    assert running_sleeps(admin) == 0
    assert rows(conn, "SELECT 2 AS x") == [{"x": 2}]


def test_cancel_from_another_thread(conn: PostgresSession, admin: psycopg.Connection[Any]) -> None:
    conn.cancel()  # idle: a no-op
    timer = threading.Timer(0.3, conn.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        rows(conn, "SELECT pg_sleep(30)", timeout_s=20)
    timer.join()
    assert time.monotonic() - started < 3
    assert running_sleeps(admin) == 0
    assert rows(conn, "SELECT 3 AS x") == [{"x": 3}]


def test_terminated_backend_is_upstream_unavailable(
    pg_url: str, conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    def terminate() -> None:
        time.sleep(0.3)
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'querydeck' AND state = 'active'"
        )

    killer = threading.Thread(target=terminate)
    killer.start()
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        rows(conn, "SELECT pg_sleep(30)", timeout_s=20)
    killer.join()
    assert time.monotonic() - started < 5
    with pytest.raises(UpstreamUnavailable):
        conn.ping()
    with pytest.raises(UpstreamUnavailable):
        conn.execute("SELECT 1", timeout_s=1)
    conn.cancel()
    conn.close()
    conn.close()
    with driver_for(pg_url).connect(timeout_s=5) as fresh:
        assert fresh.ping().version


# --- streaming and types --------------------------------------------------------------------


def test_rows_arrive_in_bounded_batches(conn: PostgresSession) -> None:
    stream = conn.execute("SELECT g FROM generate_series(1, 20000) g", timeout_s=5)
    sizes = [batch.num_rows for batch in stream]
    assert sizes == [BATCH_ROWS, BATCH_ROWS, 20000 - 2 * BATCH_ROWS]


def test_early_close_ends_the_transaction(
    conn: PostgresSession, admin: psycopg.Connection[Any]
) -> None:
    stream = conn.execute("SELECT g FROM generate_series(1, 1000000) g", timeout_s=5)
    assert next(iter(stream)).num_rows == BATCH_ROWS
    stream.close()
    stream.close()
    state = admin.execute(
        "SELECT state FROM pg_stat_activity WHERE application_name = 'querydeck' "
        "AND datname = current_database()"
    ).fetchall()
    assert state == [("idle",)]
    assert rows(conn, "SELECT 1 AS x") == [{"x": 1}]


def test_statements_without_a_cursor_stream_too(conn: PostgresSession) -> None:
    plan = rows(conn, "EXPLAIN SELECT * FROM t")
    assert "Seq Scan" in next(iter(plan[0].values()))
    assert rows(conn, "SHOW transaction_read_only") == [{"transaction_read_only": "on"}]


def test_empty_result_keeps_its_schema(conn: PostgresSession) -> None:
    stream = conn.execute("SELECT id, name FROM t WHERE false", timeout_s=5)
    assert stream.schema.names == ["id", "name"]
    assert list(stream) == []


def test_errors_carry_the_server_message(conn: PostgresSession) -> None:
    with pytest.raises(QueryFailed) as caught:
        rows(conn, "SELECT no_such_column FROM t")
    assert 'column "no_such_column" does not exist' in caught.value.message
    assert caught.value.detail["sqlstate"] == "42703"
    with pytest.raises(QueryFailed, match="division by zero"):
        rows(conn, "SELECT 1 / (id - id) FROM t")


@pytest.mark.parametrize("text", ["SELECT no_such_column FROM t", "VALUES (no_such_column)"])
def test_error_positions_count_from_the_statement(conn: PostgresSession, text: str) -> None:
    """The server sees ``DECLARE … CURSOR FOR`` in front of the statement; the position
    given back points into the statement as written."""
    with pytest.raises(QueryFailed) as caught:
        rows(conn, text)
    assert caught.value.detail["position"] == text.index("no_such_column") + 1


TYPES_SQL = """
SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8,
  12.30::numeric(10,2) AS money, 1.5::numeric AS free_numeric,
  1.5::numeric(40,2) AS wide_numeric, 1.5::float4 AS f4, 2.5::float8 AS f8, true AS flag,
  'text é'::text AS txt, 'v'::varchar(4) AS vc, 'c'::char(2) AS ch, 'pg_class'::name AS nm,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, '\\x00ff'::bytea AS raw,
  '2024-02-29'::date AS d, '2024-02-29 10:11:12.345678'::timestamp AS ts,
  '2024-02-29 10:11:12+02'::timestamptz AS tstz, '23:59:58.5'::time AS tm,
  '1 year 2 mons -3 days 04:05:06.5'::interval AS iv, '{"a": [1, 2]}'::json AS js,
  '{"b": null}'::jsonb AS jsb, ARRAY[1, NULL, 3]::int4[] AS ints, ARRAY['x', 'y'] AS texts,
  ARRAY[1.25]::numeric(5,2)[] AS decs, '10.0.0.1'::inet AS addr, NULL::int4 AS nothing
"""


def test_types_map_from_oids(conn: PostgresSession) -> None:
    stream = conn.execute(TYPES_SQL, timeout_s=5)
    schema = stream.schema
    expected = {
        "i2": (pa.int16(), "smallint"),
        "i4": (pa.int32(), "integer"),
        "i8": (pa.int64(), "bigint"),
        "money": (pa.decimal128(10, 2), "numeric(10,2)"),
        "free_numeric": (pa.string(), "numeric"),
        "wide_numeric": (pa.string(), "numeric(40,2)"),
        "f4": (pa.float32(), "real"),
        "f8": (pa.float64(), "double precision"),
        "flag": (pa.bool_(), "boolean"),
        "txt": (pa.string(), "text"),
        "vc": (pa.string(), "character varying(4)"),
        "ch": (pa.string(), "character(2)"),
        "nm": (pa.string(), "name"),
        "id": (pa.string(), "uuid"),
        "raw": (pa.binary(), "bytea"),
        "d": (pa.date32(), "date"),
        "ts": (pa.timestamp("us"), "timestamp without time zone"),
        "tstz": (pa.timestamp("us", tz="UTC"), "timestamp with time zone"),
        "tm": (pa.time64("us"), "time without time zone"),
        "iv": (pa.month_day_nano_interval(), "interval"),
        "js": (pa.string(), "json"),
        "jsb": (pa.string(), "jsonb"),
        "ints": (pa.list_(pa.int32()), "integer[]"),
        "texts": (pa.list_(pa.string()), "text[]"),
        "decs": (pa.list_(pa.decimal128(5, 2)), "numeric(5,2)[]"),
        "addr": (pa.string(), "inet"),
        "nothing": (pa.int32(), "integer"),
    }
    for name, (arrow_type, native) in expected.items():
        field = schema.field(name)
        assert field.type == arrow_type, name
        assert arrow_rows.native_type(field) == native, name
    (row,) = pa.Table.from_batches(list(stream), schema=schema).to_pylist()
    assert row["i8"] == 9007199254740993
    assert row["money"] == Decimal("12.30")
    assert row["free_numeric"] == "1.5"
    assert row["txt"] == "text é"
    assert row["ch"] == "c "
    assert row["raw"] == b"\x00\xff"
    assert row["ts"].isoformat() == "2024-02-29T10:11:12.345678"
    assert row["tstz"].isoformat() == "2024-02-29T08:11:12+00:00"
    assert row["tm"].isoformat() == "23:59:58.500000"
    assert (row["iv"].months, row["iv"].days, row["iv"].nanoseconds) == (14, -3, 14706500000000)
    assert row["jsb"] == '{"b": null}'
    assert row["ints"] == [1, None, 3]
    assert row["decs"] == [Decimal("1.25")]
    assert row["addr"] == "10.0.0.1"
    assert row["nothing"] is None


def test_unrepresentable_value_fails_clearly(conn: PostgresSession) -> None:
    with pytest.raises(QueryFailed) as caught:
        rows(conn, "SELECT 'NaN'::numeric(10,2) AS n")
    assert caught.value.code == "RESULT_TYPE_MISMATCH"


def test_reset_leaves_nothing_of_the_session_behind(
    pg_url: str, conn: PostgresSession, admin: psycopg.Connection[tuple[Any, ...]]
) -> None:
    """Everything a statement could leave in a session is gone after reset(): settings,
    custom variables, role, temporary tables, prepared statements, advisory locks, LISTEN,
    an open transaction. The backend is the same one (the session was reused)."""
    role = unique_name("qd_pool_role")
    admin.execute(f'CREATE ROLE "{role}"')
    try:
        native = conn.native
        pid = native.execute("SELECT pg_backend_pid()").fetchone()
        native.execute("SET search_path = pg_catalog")
        native.execute("SET default_transaction_read_only = off")
        native.execute("SELECT set_config('qd.marker', 'left over', false)")
        native.execute("CREATE TEMP TABLE qd_left (x int)")
        native.execute("PREPARE qd_plan AS SELECT 1")
        native.execute("SELECT pg_advisory_lock(4242)")
        native.execute("LISTEN qd_channel")
        native.execute(f'SET ROLE "{role}"')
        native.execute("BEGIN")
        assert conn.reset() is True
        assert conn.alive()
        state = rows(
            conn,
            "SELECT pg_backend_pid() AS pid, current_user = session_user AS own_role, "
            "current_setting('search_path') AS path, "
            "current_setting('qd.marker', true) AS marker, "
            "to_regclass('pg_temp.qd_left') AS temp, "
            "(SELECT count(*) FROM pg_prepared_statements WHERE name = 'qd_plan') AS plans, "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            " AND pid = pg_backend_pid()) AS locks, "
            "(SELECT count(*) FROM pg_listening_channels()) AS listens, "
            "current_setting('transaction_read_only') AS ro",
        )
        assert pid is not None
        assert state == [
            {
                "pid": pid[0],
                "own_role": True,
                "path": '"$user", public',
                "marker": "",
                "temp": None,
                "plans": 0,
                "locks": 0,
                "listens": 0,
                "ro": "on",
            }
        ]
    finally:
        conn.close()
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_terminated_idle_session_is_not_alive(
    conn: PostgresSession, admin: psycopg.Connection[tuple[Any, ...]]
) -> None:
    pid = conn.native.info.backend_pid
    assert conn.alive()
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while conn.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not conn.alive()
    with pytest.raises(UpstreamUnavailable):
        conn.reset()
