"""Groups A and C of SECURITY_TESTS.md against MariaDB/MySQL, guarded and guard-bypassed.

The connection logs in as a user with only ``SELECT`` on its database — the login that
registration asks for (its privilege probe is the connections half of issue 3). A
FILE-privileged login would write ``INTO OUTFILE`` even inside a read-only transaction;
against that only the guard and the probe help, which is why C2's bypassed row uses this
login.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from querydeck.errors import ConnectionParamForbidden
from querydeck.runs.models import RunStatus
from tests.security.harness import (
    Attack,
    Bench,
    app_state,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
    common_attacks,
)
from tests.services import mysql_connect_args, mysql_database

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
    Attack(row="A1", sql="SELECT 1; DELETE FROM victim", guarded=(MULTI,), engine=(FAILED,)),
    Attack(
        row="A2",
        sql="WITH d AS (DELETE FROM victim) SELECT * FROM d",
        guarded=(NOT_READ, PARSE),
        engine=(FAILED,),
    ),
    Attack(row="A3", sql="SELECT * FROM victim FOR UPDATE", guarded=(NOT_READ,), engine=()),
    Attack(
        row="A3",
        sql="SELECT * FROM victim LOCK IN SHARE MODE",
        guarded=(NOT_READ, PARSE),
        engine=(),
    ),
    Attack(
        row="A3",
        sql="SELECT id INTO @x FROM victim LIMIT 1",
        guarded=(NOT_READ, PARSE, SYNTAX),
        engine=(),
    ),
    Attack(row="A4", sql="/* c */ DELETE FROM victim", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(row="A4", sql="-- c\nDELETE FROM victim", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(
        row="A4", sql="# c\nUPDATE victim SET name = 'x'", guarded=(NOT_READ,), engine=(FAILED,)
    ),
    Attack(
        row="A4",
        sql="REPLACE INTO victim (id, name) VALUES (1, 'x')",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(row="A5", sql="COMMIT", guarded=(NOT_READ,), engine=()),
    Attack(row="A5", sql="SET SESSION TRANSACTION READ WRITE", guarded=(NOT_READ,), engine=()),
    Attack(row="A5", sql="SET autocommit = 1", guarded=(NOT_READ,), engine=()),
    Attack(row="A5", sql="LOCK TABLES victim WRITE", guarded=(NOT_READ, PARSE), engine=(FAILED,)),
    Attack(row="A5", sql="HANDLER victim OPEN", guarded=(NOT_READ, PARSE), engine=()),
    Attack(row="A6", sql="CALL p()", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(row="A6", sql="CREATE TABLE x (a int)", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(row="A6", sql="TRUNCATE victim", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(row="A6", sql="DROP TABLE victim", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(
        row="A6",
        sql="GRANT ALL ON victim TO CURRENT_USER",
        guarded=(NOT_READ, PARSE),
        engine=(FAILED,),
    ),
    Attack(row="A6", sql="ANALYZE TABLE victim", guarded=(NOT_READ, PARSE), engine=()),
    Attack(row="A6", sql="EXPLAIN ANALYZE SELECT * FROM victim", guarded=(NOT_READ,), engine=()),
    Attack(row="A6", sql="EXPLAIN DELETE FROM victim", guarded=(NOT_READ,), engine=()),
    Attack(row="A7", sql="SELECT SLEEP(600)", guarded=(FUNC,)),
    Attack(row="A7", sql="SELECT BENCHMARK(1000000000000, MD5('x'))", guarded=(FUNC,)),
    Attack(row="A7", sql="SELECT GET_LOCK('qd', 10)", guarded=(FUNC,), engine=()),
    Attack(row="A7", sql="SELECT LOAD_FILE('/etc/passwd')", guarded=(FILES,), engine=()),
    Attack(row="A7", sql="SELECT NEXTVAL(s)", guarded=(FUNC,), engine=(FAILED,)),
    Attack(row="A8", sql="SELECT sLeEp(600)", guarded=(FUNC,)),
    Attack(row="A8", sql="SELECT `get_lock`('qd', 1)", guarded=(FUNC,), engine=()),
    Attack(
        row="A8",
        sql="SELECT * FROM (SELECT load_file('/etc/hostname') AS f) s",
        guarded=(FILES,),
        engine=(),
    ),
    Attack(row="A8", sql="SELECT @x := 1", guarded=(SYNTAX,), engine=()),
    Attack(row="C1", sql="/*!50000 DELETE FROM victim */", guarded=(SYNTAX,), engine=(SYNTAX,)),
    Attack(row="C1", sql="SELECT 1 /*!50000 , SLEEP(10) */", guarded=(SYNTAX,), engine=(SYNTAX,)),
    Attack(
        row="C1",
        sql="SELECT 1 /*M!100000 UNION SELECT LOAD_FILE('/etc/passwd') */",
        guarded=(SYNTAX,),
        engine=(SYNTAX,),
    ),
    Attack(
        row="C1", sql="SELECT 1 /*!*/ ; DELETE FROM victim", guarded=(SYNTAX,), engine=(SYNTAX,)
    ),
    Attack(
        row="C2",
        sql="SELECT * FROM victim INTO OUTFILE '{outside}/x'",
        guarded=(PARSE, NOT_READ),
        engine=(FAILED,),
    ),
    Attack(
        row="C2",
        sql="SELECT 'x' INTO DUMPFILE '{outside}/y'",
        guarded=(PARSE, NOT_READ),
        engine=(FAILED,),
    ),
    Attack(
        row="C2",
        sql="SELECT * INTO OUTFILE '{outside}/z' FROM victim",
        guarded=(PARSE, NOT_READ),
        engine=(FAILED,),
    ),
    Attack(row="C3", sql="COMMIT; DELETE FROM victim", guarded=(MULTI,), engine=(FAILED,)),
    Attack(
        row="C3",
        sql="SET SESSION TRANSACTION READ WRITE; DELETE FROM victim",
        guarded=(MULTI,),
        engine=(FAILED,),
    ),
    # Deny-table gaps (issue 16, item 8): replication waits, server paths.
    *(
        Attack(row="C5", sql=sql, guarded=(FUNC,))
        for sql in (
            "SELECT master_gtid_wait('0-1-100', 600)",
            "SELECT MASTER_POS_WAIT('log.000001', 4, 600)",
            "SELECT source_pos_wait('log.000001', 4, 600)",
            "SELECT wsrep_sync_wait_upto_gtid('0-1-1')",
            "SELECT @@datadir",
            "SELECT @@global.basedir",
            "SELECT @@SESSION.tmpdir",
            "SELECT @@plugin_dir, @@version",
            "SELECT @@general_log_file",
            "SELECT @@log_error",
            "SELECT @@secure_file_priv",
            "SELECT @@socket",
            "SELECT @@ssl_key",
            "SELECT @@innodb_data_home_dir",
            "SELECT * FROM information_schema.GLOBAL_VARIABLES",
            "SELECT * FROM `information_schema`.`session_variables`",
            "SELECT * FROM information_schema.system_variables",
            "SELECT file_name FROM information_schema.files",
            "SELECT * FROM performance_schema.global_variables",
        )
    ),
]


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, str, str]]:
    """The database (victim table, procedure, sequence) and a SELECT-only user."""
    with mysql_database() as url:
        args: dict[str, Any] = mysql_connect_args(url)
        user, password = f"qd_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        conn = pymysql.connect(autocommit=True, **args)
        try:
            with conn.cursor() as cur:
                for text in (
                    "CREATE TABLE victim (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)",
                    "INSERT INTO victim (name) VALUES ('alpha'), ('beta'), ('gamma')",
                    "CREATE PROCEDURE p() DELETE FROM victim",
                    "CREATE SEQUENCE s",
                    f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
                    f"GRANT SELECT ON `{args['database']}`.* TO '{user}'@'%'",
                ):
                    cur.execute(text)
            yield url, user, password
        finally:
            with conn.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            conn.close()


@pytest.fixture(scope="module")
def admin(database: tuple[str, str, str]) -> Iterator[pymysql.connections.Connection[Any]]:
    conn = pymysql.connect(autocommit=True, **mysql_connect_args(database[0]))  # type: ignore[arg-type]
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def my_bench(
    tmp_path_factory: pytest.TempPathFactory, database: tuple[str, str, str]
) -> Iterator[Bench]:
    url, user, password = database
    args = mysql_connect_args(url)
    options = {
        "host": args["host"],
        "port": args["port"],
        "database": args["database"],
        "user": user,
        "password": password,
    }
    with bench(tmp_path_factory.mktemp("mysql-attacks"), "mysql", options) as b:
        yield b


def rows(admin: pymysql.connections.Connection[Any], text: str) -> list[Any]:
    with admin.cursor() as cur:
        cur.execute(text)
        return list(cur.fetchall())


def engine_state(admin: pymysql.connections.Connection[Any], user: str) -> tuple[Any, ...]:
    """Victim rows, its AUTO_INCREMENT, the sequence, the tables, locks, the user's grants."""
    return (
        rows(admin, "SELECT id, name FROM victim ORDER BY id"),
        rows(admin, "SHOW CREATE TABLE victim"),
        rows(admin, "SELECT next_not_cached_value FROM s"),
        rows(admin, "SHOW FULL TABLES"),
        rows(admin, "SELECT IS_USED_LOCK('qd')"),
        rows(admin, f"SHOW GRANTS FOR '{user}'@'%'"),
    )


def sessions(admin: pymysql.connections.Connection[Any], user: str) -> int:
    """Sessions of ``user`` doing something: pooled sessions sleep (reset) between runs."""
    deadline = time.monotonic() + 5
    while True:
        found = rows(
            admin,
            f"SELECT count(*) FROM information_schema.processlist WHERE user = '{user}' "
            "AND command <> 'Sleep'",
        )[0][0]
        if not found or time.monotonic() > deadline:
            return int(found)
        time.sleep(0.05)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(
    my_bench: Bench, admin: Any, database: tuple[str, str, str], attack: Attack
) -> None:
    before = engine_state(admin, database[1])
    check_guarded(my_bench, attack)
    assert engine_state(admin, database[1]) == before
    assert sessions(admin, database[1]) == 0
    assert_nothing_outside(my_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(
    my_bench: Bench, admin: Any, database: tuple[str, str, str], attack: Attack
) -> None:
    before = engine_state(admin, database[1])
    check_bypassed(my_bench, attack)
    assert sessions(admin, database[1]) == 0
    assert engine_state(admin, database[1]) == before
    assert_nothing_outside(my_bench)


@pytest.mark.parametrize(
    "option",
    ["local_infile", "read_default_file", "init_command", "client_flag", "unix_socket"],
)
def test_c4_client_options_are_refused(my_bench: Bench, option: str) -> None:
    wb = my_bench.guarded
    before = app_state(wb)
    options = {"host": "127.0.0.1", "user": "x", option: "1"}
    with pytest.raises(ConnectionParamForbidden) as caught:
        wb.connections.create(f"c4-{option}", driver="mysql", options=options)
    assert (caught.value.code, caught.value.http_status) == ("CONNECTION_PARAM_FORBIDDEN", 422)
    with pytest.raises(ConnectionParamForbidden):
        wb.connections.create(f"c4u-{option}", url=f"mysql://x@127.0.0.1/db?{option}=1")
    assert app_state(wb) == before


@pytest.mark.parametrize(
    "text",
    ["SELECT SLEEP(600)", "SELECT BENCHMARK(1000000000000, MD5('x'))"],
    ids=["sleep", "benchmark"],
)
def test_c5_bypassed_sleep_and_benchmark_time_out(
    my_bench: Bench, admin: Any, database: tuple[str, str, str], text: str
) -> None:
    info = attempt(my_bench.raw, "victim", text, timeout_s=2.0)
    assert (info.status, info.error_code, info.error_status) == (
        RunStatus.timed_out,
        "QUERY_TIMEOUT",
        504,
    )
    assert info.duration_ms is not None
    assert info.duration_ms < 8_000
    assert sessions(admin, database[1]) == 0
