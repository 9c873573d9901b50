"""The MySQL/MariaDB driver against a real server: the compliance suite, forbidden options,
executable comments, one statement per text, timeouts, cancellation, lost sessions and
types (SECURITY_TESTS.md group C)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from querydeck.drivers import arrow_rows
from querydeck.drivers.base import Driver
from querydeck.drivers.mysql.driver import MySQLDriver, MySQLOptions, MySQLSession
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionParamForbidden,
    ConnectionTargetForbidden,
    DatabaseAccessDenied,
    DatabaseNotFound,
    QueryCancelled,
    QueryFailed,
    QueryTimeout,
    SqlForbiddenSyntax,
    UpstreamUnavailable,
)
from tests.drivers.suite import (
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
)
from tests.services import MYSQL_URL, mysql_connect_args, mysql_database, unique_name

pytestmark = pytest.mark.services

SENTINEL = "s3ntinel-Pa55"
ODD_PASSWORD = 'it\'s a \\ strange "pass" word'


def driver_for(url: str, **changes: Any) -> MySQLDriver:
    options = {**MySQLDriver.options_from_url(url), **changes}
    return MySQLDriver(MySQLOptions(**options))


def admin_connect(url: str) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]


@cache
def server_is_mariadb() -> bool:
    with admin_connect(MYSQL_URL) as admin:
        return "mariadb" in str(admin.get_server_info()).lower()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def my_url() -> Iterator[str]:
    with mysql_database() as url:
        with admin_connect(url) as admin, admin.cursor() as cur:
            cur.execute(f"CREATE TABLE {FIXTURE_TABLE} (id INT PRIMARY KEY, name TEXT)")
            cur.executemany(f"INSERT INTO {FIXTURE_TABLE} VALUES (%s, %s)", FIXTURE_ROWS)
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
            cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
            cur.execute(
                "CREATE TABLE qd_types (ts TIMESTAMP(6) NULL, flag BIT(1), bits BIT(12), "
                "y YEAR, tm TIME(6), big BIGINT UNSIGNED, tiny TINYINT, dec10 DECIMAL(10,2), "
                "f FLOAT, dt DATETIME(6), vb VARBINARY(8), blb BLOB, txt TEXT, "
                "color ENUM('red','green'), js JSON)"
            )
            cur.execute("SET time_zone = '+02:00'")
            cur.execute(
                "INSERT INTO qd_types VALUES ('2024-02-29 23:59:58.123456', b'1', b'101', 2024, "
                "'-838:59:59', 18446744073709551615, -128, 12.30, 1.5, "
                "'2024-02-29 10:11:12.345678', X'00FF', X'0102', 'é', 'green', '{\"k\": 1}')"
            )
        yield url


@pytest.fixture(scope="module")
def odd_user(my_url: str) -> Iterator[str]:
    user = unique_name("qd_user")
    database = my_url.rsplit("/", 1)[1]
    with admin_connect(my_url) as admin, admin.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, ODD_PASSWORD))
        cur.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
        try:
            yield user
        finally:
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


@pytest.fixture
def admin(my_url: str) -> Iterator[pymysql.connections.Connection[Any]]:
    with admin_connect(my_url) as connection:
        yield connection


@pytest.fixture
def conn(my_url: str) -> Iterator[MySQLSession]:
    connection = driver_for(my_url).connect(timeout_s=5)
    yield connection
    connection.close()


def rows(connection: MySQLSession, text: str, timeout_s: float = 5) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(connection.execute(text, timeout_s=timeout_s))).to_pylist()


def victim(admin: pymysql.connections.Connection[Any]) -> tuple[Any, ...]:
    with admin.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(id), GROUP_CONCAT(name ORDER BY id) FROM t")
        return tuple(cur.fetchall())


class TestMySQLSuite(ExtremeValueSuite, DriverSuite):
    driver_cls = MySQLDriver
    sleep_sql = "SELECT SLEEP(30)"
    fixture_arrow_types = (pa.int32(), pa.string())
    good_urls = (
        (
            "mysql://ann:s%20cret@db.example:3307/sales?sslmode=require",
            {
                "host": "db.example",
                "port": 3307,
                "database": "sales",
                "user": "ann",
                "password": "s cret",
                "sslmode": "require",
            },
        ),
        ("mariadb://root@10.0.0.5", {"host": "10.0.0.5", "user": "root"}),
    )
    forbidden_urls = (
        "mysql://u@h/d?local_infile=1",
        "mysql://u@h/d?read_default_file=/etc/passwd",
        "mysql://u@h/d?init_command=DELETE%20FROM%20t",
        "mysql://u@h/d?client_flag=65536",
        "mysql://u@h/d?unix_socket=/run/mysqld/mysqld.sock",
        "mysql://u@h/d?charset=latin1",
    )

    @pytest.fixture
    def driver(self, my_url: str) -> MySQLDriver:
        return driver_for(my_url)

    def fixture_schema(self, driver: Driver[Any]) -> str:
        return str(driver.options.database)  # type: ignore[attr-defined]

    def many_rows_sql(self, n: int) -> str:
        if server_is_mariadb():
            return f"SELECT seq AS n FROM seq_1_to_{n}"
        digits = "(SELECT 0 d UNION ALL " + " UNION ALL ".join(f"SELECT {i}" for i in range(1, 10))
        tables = ", ".join(f"{digits}) d{i}" for i in range(6))
        total = " + ".join(f"d{i}.d * {10**i}" for i in range(6))
        return f"SELECT n FROM (SELECT {total} + 1 AS n FROM {tables}) s WHERE n <= {n} ORDER BY n"

    def extreme_cases(self) -> list[ExtremeCase]:
        return [
            ExtremeCase(
                "times, dates and numbers",
                "SELECT TIME '838:59:59' AS a, TIME '-838:59:59' AS b, "
                "DATE '9999-12-31' AS c, TIMESTAMP '1000-01-01 00:00:00' AS d, "
                "CAST(-0.0 AS DOUBLE) AS e, CAST(REPEAT('9', 65) AS DECIMAL(65, 0)) AS f",
                [
                    "PT838H59M59S",
                    "PT-838H-59M-59S",
                    "9999-12-31",
                    "1000-01-01T00:00:00",
                    0.0,
                    "9" * 65,
                ],
            ),
        ]

    def type_cases(self) -> list[TypeCase]:
        return [
            TypeCase("int_above_2_53", f"SELECT {BIG_INT}", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT CAST({MIN_INT64} AS SIGNED)", MIN_INT64, pa.int64()),
            TypeCase(
                "decimal",
                f"SELECT CAST('{EXACT_DECIMAL}' AS DECIMAL(29,9))",
                EXACT_DECIMAL,
                pa.decimal128(29, 9),
            ),
            TypeCase("date", f"SELECT DATE '{DATE.isoformat()}'", DATE, pa.date32()),
            TypeCase("timestamp_tz", "SELECT ts FROM qd_types", INSTANT, is_utc_timestamp),
            TypeCase("boolean", "SELECT flag FROM qd_types", True, pa.bool_()),
            TypeCase("text_unicode", f"SELECT '{UNICODE_TEXT}'", UNICODE_TEXT, pa.string()),
            TypeCase(
                "text_nul",
                "SELECT CONCAT('a', CHAR(0 USING utf8mb4), 'b')",
                NUL_TEXT,
                pa.string(),
            ),
            TypeCase("binary", f"SELECT X'{BINARY.hex()}'", BINARY, pa.binary()),
            TypeCase(
                "json", f"SELECT JSON_COMPACT('{JSON_TEXT}')", JSON_VALUE, pa.string(), json_loads
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        return [
            ("closed port", driver_for(MYSQL_URL, port=1), UpstreamUnavailable),
            ("missing database", driver_for(MYSQL_URL, database="qd_missing"), DatabaseNotFound),
            (
                "wrong password",
                driver_for(MYSQL_URL, user="qd_no_such_user", password=SENTINEL),
                AuthenticationFailed,
            ),
            (
                "no access to the database (1044), right password",
                driver_for(
                    self.failure_logins["url"],
                    user=self.failure_logins["user"],
                    password=self.failure_logins["password"],
                ),
                DatabaseAccessDenied,
            ),
        ]

    @pytest.fixture
    def failure_logins(self, my_url: str) -> Iterator[dict[str, str]]:
        """A login with the right password and no privilege on the database (1044)."""
        user, password = unique_name("qd_nodb")[:32], SENTINEL
        with admin_connect(my_url) as admin, admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            try:
                yield {"url": my_url, "user": user, "password": password}
            finally:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


# --- options and URLs (C4, G1) --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["local_infile", "read_default_file", "init_command", "client_flag", "unix_socket"]
)
def test_forbidden_options_are_refused_by_name(name: str) -> None:
    with pytest.raises(ConnectionParamForbidden):
        MySQLOptions.model_validate({"host": "h", "user": "u", name: "x"})
    with pytest.raises(ConnectionParamForbidden):
        MySQLDriver.options_from_url(f"mysql://u@h/d?{name}=1")


@pytest.mark.parametrize("host", ["/run/mysqld/mysqld.sock", "a b", "", "./sock"])
def test_socket_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConnectionTargetForbidden):
        MySQLOptions(host=host, user="u")


def test_client_never_enables_multi_statements_or_local_files(my_url: str) -> None:
    args = driver_for(my_url).connect_args(5)
    assert args["client_flag"] == 0
    assert args["local_infile"] is False
    assert not {"init_command", "read_default_file", "unix_socket"} & set(args)


def test_password_with_quotes_backslashes_and_spaces(my_url: str, odd_user: str) -> None:
    driver = driver_for(my_url, user=odd_user, password=ODD_PASSWORD)
    with driver.connect(timeout_s=5) as connection:
        assert isinstance(connection, MySQLSession)
        (row,) = rows(connection, "SELECT CURRENT_USER() AS u")
        assert row["u"].startswith(odd_user + "@")
    with pytest.raises(AuthenticationFailed) as caught:
        driver_for(my_url, user=odd_user, password=SENTINEL).connect(timeout_s=5)
    assert SENTINEL not in str(caught.value)
    assert ODD_PASSWORD not in str(caught.value)


# --- one statement, read-only (C1, C3) ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "/*!50000 DELETE FROM t */",
        "SELECT 1 /*!, (SELECT 1 FROM t FOR UPDATE) */",
        "/*M!100000 DELETE FROM t */",
        "/*m!100000 DELETE FROM t */",
    ],
)
def test_executable_comments_are_refused(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any], text: str
) -> None:
    before = victim(admin)
    with pytest.raises(SqlForbiddenSyntax) as caught:
        rows(conn, text)
    assert caught.value.code == "SQL_FORBIDDEN_SYNTAX"
    assert victim(admin) == before


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; DELETE FROM t",
        "COMMIT; DELETE FROM t",
        "SET SESSION TRANSACTION READ WRITE; DELETE FROM t; COMMIT",
        "DELETE FROM t",
        "UPDATE t SET name = 'x'",
        "CREATE TABLE qd_evil (id INT)",
        "SELECT 1\x00; DELETE FROM t",
    ],
)
def test_writes_and_extra_statements_never_run(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any], text: str
) -> None:
    before = victim(admin)
    with pytest.raises(QueryFailed):
        rows(conn, text)
    assert victim(admin) == before
    assert rows(conn, "SELECT COUNT(*) AS n FROM t") == [{"n": 3}]


def test_read_write_session_setting_does_not_survive(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any]
) -> None:
    before = victim(admin)
    assert list(conn.execute("SET SESSION TRANSACTION READ WRITE", timeout_s=5)) == []
    with pytest.raises(QueryFailed, match="READ ONLY"):
        rows(conn, "DELETE FROM t")
    assert victim(admin) == before


# --- timeouts, cancel, lost sessions (C5) ---------------------------------------------------


def running_queries(
    admin: pymysql.connections.Connection[Any], thread_id: int, within_s: float = 1.0
) -> list[Any]:
    """What the session still runs, once it has stopped or ``within_s`` has passed (the
    server ends a killed statement at its next check, which a loaded machine can delay)."""
    deadline = time.monotonic() + within_s
    while True:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID = %s "
                "AND COMMAND <> 'Sleep'",
                (thread_id,),
            )
            found = list(cur.fetchall())
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def thread_of(connection: MySQLSession) -> int:
    return int(rows(connection, "SELECT CONNECTION_ID() AS id")[0]["id"])


@pytest.mark.parametrize("text", ["SELECT SLEEP(600)", "SELECT BENCHMARK(10000000000, MD5('x'))"])
def test_timeout_stops_the_statement_on_the_server(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any], text: str
) -> None:
    thread_id = thread_of(conn)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        rows(conn, text, timeout_s=1)
    assert time.monotonic() - started < 3
    assert running_queries(admin, thread_id) == []
    assert rows(conn, "SELECT 2 AS x") == [{"x": 2}]


def test_cancel_stops_the_statement(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any]
) -> None:
    thread_id = thread_of(conn)
    timer = threading.Timer(0.3, conn.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryCancelled):
        rows(conn, "SELECT BENCHMARK(10000000000, MD5('x'))", timeout_s=20)
    timer.join()
    assert time.monotonic() - started < 3
    assert running_queries(admin, thread_id) == []
    assert rows(conn, "SELECT 3 AS x") == [{"x": 3}]


def test_killed_session_is_upstream_unavailable(
    my_url: str, conn: MySQLSession, admin: pymysql.connections.Connection[Any]
) -> None:
    thread_id = thread_of(conn)

    def kill() -> None:
        time.sleep(0.3)
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {thread_id}")

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(UpstreamUnavailable):
        rows(conn, "SELECT SLEEP(30)", timeout_s=20)
    killer.join()
    with pytest.raises(UpstreamUnavailable):
        conn.ping()
    with pytest.raises(UpstreamUnavailable):
        conn.execute("SELECT 1", timeout_s=1)
    conn.cancel()
    with driver_for(my_url).connect(timeout_s=5) as fresh:
        assert fresh.ping().version


def test_early_close_stops_the_server_and_keeps_the_session(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any]
) -> None:
    thread_id = thread_of(conn)
    big = "SELECT a.id, b.id FROM t a, t b, t c, t d, t e, t f, t g, t h, t i, t j, t k, t l"
    stream = conn.execute(big, timeout_s=30)
    assert next(iter(stream)).num_rows > 0
    stream.close()
    assert running_queries(admin, thread_id) == []
    assert rows(conn, "SELECT @@in_transaction AS t") == [{"t": 1}]
    assert rows(conn, "SELECT 1 AS x") == [{"x": 1}]


# --- types ----------------------------------------------------------------------------------


def test_column_types_map_to_arrow(conn: MySQLSession) -> None:
    stream = conn.execute("SELECT * FROM qd_types", timeout_s=5)
    expected = {
        "ts": (pa.timestamp("us", tz="UTC"), "timestamp"),
        "flag": (pa.bool_(), "bit(1)"),
        "bits": (pa.uint64(), "bit(12)"),
        "y": (pa.int16(), "year"),
        "tm": (pa.duration("us"), "time"),
        "big": (pa.uint64(), "bigint unsigned"),
        "tiny": (pa.int8(), "tinyint"),
        "dec10": (pa.decimal128(10, 2), "decimal(10,2)"),
        "f": (pa.float32(), "float"),
        "dt": (pa.timestamp("us"), "datetime"),
        "vb": (pa.binary(), "varbinary"),
        "blb": (pa.binary(), "blob"),
        "txt": (pa.string(), "text"),
        "color": (pa.string(), "enum"),
    }
    for name, (arrow_type, native) in expected.items():
        field = stream.schema.field(name)
        assert (field.type, arrow_rows.native_type(field)) == (arrow_type, native), name
    assert stream.schema.field("js").type == pa.string()
    (row,) = pa.Table.from_batches(list(stream), schema=stream.schema).to_pylist()
    assert row["ts"].isoformat() == "2024-02-29T21:59:58.123456+00:00"
    assert (row["flag"], row["bits"], row["y"]) == (True, 5, 2024)
    assert row["tm"].total_seconds() == -(838 * 3600 + 59 * 60 + 59)
    assert (row["big"], row["tiny"], row["dec10"]) == (2**64 - 1, -128, Decimal("12.30"))
    assert row["dt"].isoformat() == "2024-02-29T10:11:12.345678"
    assert (row["vb"], row["blb"], row["txt"], row["color"]) == (
        b"\x00\xff",
        b"\x01\x02",
        "é",
        "green",
    )
    assert json_loads(row["js"]) == {"k": 1}


def test_reset_leaves_nothing_of_the_session_behind(conn: MySQLSession) -> None:
    """COM_RESET_CONNECTION then querydeck's session settings: user and session
    variables, temporary tables, prepared statements, GET_LOCK locks and an open
    transaction are gone; the thread (session) is the same one."""
    native = conn.native
    with native.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        thread = cur.fetchone()
        cur.execute("SET @qd_marker = 'left over'")
        cur.execute("SET SESSION time_zone = '+05:00'")
        cur.execute("SET SESSION TRANSACTION READ WRITE")
        cur.execute("CREATE TEMPORARY TABLE qd_left (x int)")
        cur.execute("PREPARE qd_plan FROM 'SELECT 1'")
        cur.execute("SELECT GET_LOCK('qd_pool_lock', 0)")
        cur.execute("START TRANSACTION")
    assert conn.reset() is True
    assert conn.alive()
    read_only = "@@session.tx_read_only" if conn.mariadb else "@@session.transaction_read_only"
    state = rows(
        conn,
        "SELECT CONNECTION_ID() AS thread, @qd_marker AS marker, "
        f"@@session.time_zone AS tz, {read_only} AS ro, "
        "IS_USED_LOCK('qd_pool_lock') AS lock_owner",
    )
    assert thread is not None
    assert state == [
        {
            "thread": thread[0],
            "marker": None,
            "tz": "+00:00",
            "ro": 1,
            "lock_owner": None,
        }
    ]
    with pytest.raises(QueryFailed, match="qd_left"):
        rows(conn, "SELECT * FROM qd_left")
    with pytest.raises(QueryFailed, match="qd_plan"):
        rows(conn, "EXECUTE qd_plan")


def test_a_killed_idle_session_is_not_alive(
    conn: MySQLSession, admin: pymysql.connections.Connection[Any]
) -> None:
    with conn.native.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        thread = cur.fetchone()
    assert thread is not None
    assert conn.alive()
    with admin.cursor() as cur:
        cur.execute(f"KILL {int(thread[0])}")
    deadline = time.monotonic() + 5
    while conn.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not conn.alive()
