"""Groups A and E of SECURITY_TESTS.md against ClickHouse (Debian's 18.16 server, started by
the tests), guarded and guard-bypassed.

The connection logs in as a user whose profile lets it write (``readonly = 0``, the
privilege probe says so), so what holds when the guard is bypassed is the driver's and the
server's: the driver sends queries and EXPLAIN only (``KILL QUERY`` runs in readonly mode),
and every statement carries ``readonly=1`` (no writes, DDL, ``SET``, ``SYSTEM``, settings
in the query or table functions). Afterwards the victim rows, the server's tables, the
server's user-files directory and its running queries are checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from querydeck.runs.models import RunStatus
from tests.clickhouse_server import READER_PASSWORD, ClickHouseServer
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

pytestmark = pytest.mark.services

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"
FILES = "FILE_ACCESS_DENIED"
FUNC = "SQL_FORBIDDEN_FUNCTION"
SYNTAX = "SQL_FORBIDDEN_SYNTAX"
FAILED = "QUERY_FAILED"

ATTACKS = [
    *common_attacks(),
    Attack(
        row="A1",
        sql="SELECT 1; INSERT INTO victim VALUES (9, 'x')",
        guarded=(MULTI,),
        engine=(FAILED,),
    ),
    Attack(row="A1", sql="SELECT 1;\nDROP TABLE victim", guarded=(MULTI,), engine=(FAILED,)),
    Attack(
        row="A4", sql="INSERT INTO victim VALUES (9, 'x')", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(
        row="A4",
        sql="/* c */ INSERT INTO victim SELECT * FROM victim",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A4",
        sql="ALTER TABLE victim DELETE WHERE 1",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A4",
        sql="ALTER TABLE victim UPDATE name = 'x' WHERE 1",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A4",
        sql="INSERT INTO FUNCTION file('{outside}/x.csv', 'CSV', 'a UInt8') SELECT 1",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(row="A5", sql="SET readonly = 0", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="SET max_execution_time = 0", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A5",
        sql="SELECT * FROM victim SETTINGS readonly = 0",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A5",
        sql="SELECT 1 SETTINGS max_execution_time = 0",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A6",
        sql="CREATE TABLE x (a UInt8) ENGINE = Memory",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A6",
        sql="CREATE TABLE x ENGINE = Memory AS SELECT * FROM victim",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A6",
        sql="CREATE VIEW v AS SELECT * FROM victim",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="A6", sql="DROP TABLE victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="TRUNCATE TABLE victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="DETACH TABLE victim", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(
        row="A6", sql="RENAME TABLE victim TO v2", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)
    ),
    Attack(row="A6", sql="OPTIMIZE TABLE victim FINAL", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="SYSTEM SHUTDOWN", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="SYSTEM STOP MERGES", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="SYSTEM RELOAD CONFIG", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="KILL QUERY WHERE 1", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(row="A7", sql="SELECT sleep(0.5)", guarded=(FUNC,), engine=()),
    Attack(
        row="A7",
        sql="SELECT sleepEachRow(0.2) FROM system.numbers LIMIT 2",
        guarded=(FUNC,),
        engine=(),
    ),
    Attack(
        row="A8",
        sql="SELECT * FROM FILE('/etc/passwd', 'CSV', 'a String')",
        guarded=(FILES,),
        engine=(FAILED,),
    ),
    Attack(
        row="A8",
        sql="SELECT * FROM `file`('/etc/passwd', 'CSV', 'a String')",
        guarded=(FILES,),
        engine=(FAILED,),
    ),
    Attack(
        row="E1",
        sql="SELECT * FROM file('/etc/passwd', 'CSV', 'a String')",
        guarded=(FILES,),
        engine=(FAILED,),
    ),
    Attack(
        row="E1",
        sql="SELECT * FROM file('passwd', 'TSV', 'a String')",
        guarded=(FILES,),
        engine=(FAILED,),
    ),
    Attack(row="E1", sql="SELECT * FROM input('a String')", guarded=(FILES,), engine=(FAILED,)),
    Attack(
        row="E3",
        sql="SELECT * FROM victim INTO OUTFILE '{outside}/x.csv'",
        guarded=(PARSE,),
        engine=(FAILED,),
    ),
    Attack(row="E3", sql="SELECT 1 FORMAT TabSeparated", guarded=(SYNTAX,), engine=(FAILED,)),
    Attack(
        row="E4",
        sql="SELECT * FROM executable('x.sh', 'CSV', 'a String')",
        guarded=(FUNC,),
        engine=(FAILED,),
    ),
    Attack(
        row="E4", sql="SELECT * FROM jdbc('jdbc:x', 'db', 't')", guarded=(FUNC,), engine=(FAILED,)
    ),
    Attack(row="E4", sql="SELECT * FROM odbc('DSN=x', 't')", guarded=(FUNC,), engine=(FAILED,)),
    Attack(row="E4", sql="SELECT * FROM numbers(10)", guarded=(), engine=(FAILED,)),
    # Deny-table gaps (issue 16, item 8): the server's paths, disks and configuration.
    *(
        Attack(row="A7", sql=sql, guarded=(FUNC,))
        for sql in (
            "SELECT name, value FROM system.server_settings WHERE name = 'path'",
            "SELECT path FROM system.disks",
            "SELECT * FROM `system`.`user_directories`",
            "SELECT * FROM system.filesystem_cache",
            "SELECT path FROM system.detached_parts",
        )
    ),
]
# numbers() passes the guard (it reads nothing outside the server); 18.16's readonly mode
# refuses every table function. A row without guard codes is for the bypass table only.
GUARDED = [a for a in ATTACKS if a.guarded]


@pytest.fixture(scope="module")
def server(clickhouse: ClickHouseServer) -> Iterator[ClickHouseServer]:
    clickhouse.sql("CREATE DATABASE qd_attacks")
    clickhouse.sql("CREATE TABLE qd_attacks.victim (id Int32, name String) ENGINE = TinyLog")
    clickhouse.sql("INSERT INTO qd_attacks.victim VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma')")
    yield clickhouse
    clickhouse.sql("DROP DATABASE IF EXISTS qd_attacks")


@pytest.fixture(scope="module")
def ch_bench(server: ClickHouseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    options = {
        "host": "127.0.0.1",
        "port": server.port,
        "database": "qd_attacks",
        "user": "qd_reader",
        "password": READER_PASSWORD,
    }
    with bench(tmp_path_factory.mktemp("clickhouse-attacks"), "clickhouse", options) as b:
        yield b


def engine_state(server: ClickHouseServer) -> tuple[str, str, list[str]]:
    files = server.directory / "user_files"
    return (
        server.sql("SELECT id, name FROM qd_attacks.victim ORDER BY id"),
        server.sql(
            "SELECT database, name, engine FROM system.tables "
            "WHERE database NOT IN ('system') ORDER BY database, name"
        ),
        sorted(p.name for p in files.iterdir()) if files.exists() else [],
    )


def running_queries(server: ClickHouseServer) -> int:
    """Queries of querydeck's login still running (a cancelled or failed run leaves none)."""
    deadline = time.monotonic() + 5
    while True:
        found = int(server.sql("SELECT count() FROM system.processes WHERE user = 'qd_reader'"))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("attack", GUARDED, ids=lambda a: a.id)
def test_guarded(ch_bench: Bench, server: ClickHouseServer, attack: Attack) -> None:
    before = engine_state(server)
    check_guarded(ch_bench, attack)
    assert engine_state(server) == before
    assert_nothing_outside(ch_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(ch_bench: Bench, server: ClickHouseServer, attack: Attack) -> None:
    before = engine_state(server)
    check_bypassed(ch_bench, attack)
    assert engine_state(server) == before
    assert running_queries(server) == 0
    assert_nothing_outside(ch_bench)


SSRF = [
    "SELECT * FROM url('http://127.0.0.1:{port}/x.csv', CSV, 'a String')",
    "SELECT * FROM remote('127.0.0.1:{port}', system.one)",
    "SELECT * FROM remote('127.0.0.1:{port}', system.one, 'default', '')",
    "SELECT * FROM mysql('127.0.0.1:{port}', 'db', 't', 'root', '')",
    "SELECT * FROM postgresql('127.0.0.1:{port}', 'db', 't', 'postgres', '')",
    "SELECT * FROM s3('http://127.0.0.1:{port}/bucket/x.csv', 'CSV')",
    "SELECT * FROM cluster('x', system.one)",
]


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e6_table_functions_never_reach_a_listener(ch_bench: Bench, raw: bool) -> None:
    listener = Listener()
    wb = ch_bench.raw if raw else ch_bench.guarded
    try:
        for text in SSRF:
            info = attempt(wb, "victim", text.format(port=listener.port))
            assert info.status in (RunStatus.rejected, RunStatus.failed), text
            assert info.error_code in (FUNC, FILES, FAILED), info.error_message
    finally:
        listener.close()
    assert listener.accepted == 0


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e7_a_runaway_query_is_stopped(
    ch_bench: Bench, server: ClickHouseServer, raw: bool
) -> None:
    wb = ch_bench.raw if raw else ch_bench.guarded
    info = attempt(
        wb,
        "victim",
        "SELECT count() FROM system.numbers AS a WHERE NOT ignore(sipHash64(a.number))",
        timeout_s=1.0,
    )
    assert (info.status, info.error_code) == (RunStatus.timed_out, "QUERY_TIMEOUT")
    assert running_queries(server) == 0
    assert attempt(wb, "victim", "SELECT count() AS n FROM victim").status is RunStatus.succeeded
