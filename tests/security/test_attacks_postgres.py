"""Groups A and B of SECURITY_TESTS.md against PostgreSQL, guarded and guard-bypassed.

The login is the test server's superuser on purpose: the engine layers that hold for it
(single statements through ``DECLARE … CURSOR``, read-only transactions, timeouts) hold for
anyone. What a read-only transaction cannot stop for a superuser (``pg_read_file``) is the
guard's and the registration privilege probe's business, so those rows are guard-only.
B1 (registration of privileged logins) belongs to the connections half of issue 3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from querydeck.drivers.postgres.driver import PostgresDriver
from querydeck.runs.models import RunRequest, RunStatus
from tests.security.harness import (
    Attack,
    Bench,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
    common_attacks,
)
from tests.services import postgres_database

pytestmark = pytest.mark.services

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"
FILES = "FILE_ACCESS_DENIED"
FUNC = "SQL_FORBIDDEN_FUNCTION"
FAILED = "QUERY_FAILED"

ATTACKS = [
    *common_attacks(),
    Attack(row="A1", sql="SELECT 1; DELETE FROM victim", guarded=(MULTI,), engine=(FAILED,)),
    Attack(
        row="A2",
        sql="WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A2",
        sql="WITH d AS (INSERT INTO victim (name) VALUES ('x') RETURNING *) SELECT * FROM d",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A2",
        sql="WITH d AS (UPDATE victim SET name = 'x' RETURNING *) SELECT * FROM d",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A2",
        sql="SELECT * FROM (WITH d AS (DELETE FROM victim RETURNING id) SELECT id FROM d) s",
        guarded=(NOT_READ, PARSE),
        engine=(FAILED,),
    ),
    Attack(row="A3", sql="SELECT * INTO t2 FROM victim", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(row="A3", sql="SELECT * FROM victim FOR UPDATE", guarded=(NOT_READ,), engine=(FAILED,)),
    Attack(
        row="A3",
        sql="SELECT * FROM (SELECT * FROM victim FOR SHARE) s",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A3",
        sql="SELECT * FROM victim FOR NO KEY UPDATE SKIP LOCKED",
        guarded=(NOT_READ, PARSE),
        engine=(FAILED,),
    ),
    Attack(row="A4", sql="/* c */ DELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A4", sql="-- c\nDELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A4",
        sql="/* nested /* c */ */ TRUNCATE victim",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(row="A5", sql="COMMIT", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="BEGIN", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="SET TRANSACTION READ WRITE", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="SET statement_timeout = 0", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="SET ROLE postgres", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="RESET ALL", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="DISCARD ALL", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="LISTEN chan", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A5", sql="PREPARE p AS DELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(row="A5", sql="EXECUTE p", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A6",
        sql="DO $$ BEGIN DELETE FROM victim; END $$",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="A6", sql="CALL p()", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="VACUUM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="ANALYZE victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="COPY victim TO STDOUT", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="CREATE TABLE x (a int)", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="GRANT ALL ON victim TO PUBLIC", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A6", sql="EXPLAIN ANALYZE DELETE FROM victim", guarded=(NOT_READ,), engine=(FAILED,)
    ),
    Attack(
        row="A6",
        sql="EXPLAIN (ANALYZE, FORMAT JSON) SELECT nextval('victim_id_seq')",
        guarded=(NOT_READ,),
        engine=(FAILED,),
    ),
    Attack(
        row="A6", sql="EXPLAIN CREATE TABLE x AS SELECT 1", guarded=(NOT_READ, PARSE), engine=()
    ),
    Attack(row="A7", sql="SELECT pg_read_file('/etc/passwd')", guarded=(FILES,)),
    # A superuser's lo_import runs inside a read-only transaction; it is rolled back, so no
    # large object stays (the state check), but the read happened: the guard's business.
    Attack(row="A7", sql="SELECT lo_import('/etc/hostname')", guarded=(FILES,), engine=()),
    Attack(row="A7", sql="SELECT pg_sleep(600)", guarded=(FUNC,)),
    Attack(row="A7", sql="SELECT pg_advisory_lock(1)", guarded=(FUNC,), engine=()),
    Attack(
        row="A7",
        sql="SELECT set_config('default_transaction_read_only', 'off', false)",
        guarded=(FUNC,),
        engine=(),
    ),
    Attack(
        row="A7",
        sql="SELECT dblink_exec('dbname=postgres', 'DELETE FROM victim')",
        guarded=(FUNC,),
        engine=(FAILED,),
    ),
    Attack(
        row="A7",
        sql="SELECT query_to_xml('DELETE FROM victim RETURNING 1', true, true, '')",
        guarded=(FUNC,),
        engine=(FAILED,),
    ),
    # The SQL/XML export family packs a whole table, schema or database into one cell.
    Attack(row="A7", sql="SELECT table_to_xml('victim', true, false, '')", guarded=(FUNC,)),
    Attack(row="A7", sql="SELECT table_to_xmlschema('victim', true, false, '')", guarded=(FUNC,)),
    Attack(
        row="A7",
        sql="SELECT table_to_xml_and_xmlschema('victim', true, false, '')",
        guarded=(FUNC,),
    ),
    Attack(row="A7", sql="SELECT schema_to_xml('public', true, false, '')", guarded=(FUNC,)),
    Attack(
        row="A7",
        sql="SELECT schema_to_xml_and_xmlschema('public', true, false, '')",
        guarded=(FUNC,),
    ),
    Attack(row="A7", sql="SELECT database_to_xml(true, false, '')", guarded=(FUNC,)),
    Attack(row="A7", sql="SELECT database_to_xmlschema(true, false, '')", guarded=(FUNC,)),
    Attack(
        row="A8",
        sql="SELECT pg_catalog.TABLE_TO_XML /* x */ ('victim', true, false, '')",
        guarded=(FUNC,),
    ),
    Attack(
        row="A7",
        sql="SELECT * FROM ts_stat('WITH d AS (DELETE FROM victim RETURNING 1) SELECT 1')",
        guarded=(FUNC,),
        engine=(FAILED,),
    ),
    Attack(row="A7", sql="SELECT nextval('victim_id_seq')", guarded=(FUNC,), engine=(FAILED,)),
    Attack(row="A7", sql="SELECT setval('victim_id_seq', 1000)", guarded=(FUNC,), engine=(FAILED,)),
    Attack(row="A7", sql="SELECT txid_current()", guarded=(FUNC,), engine=()),
    Attack(row="A8", sql="SELECT pg_catalog.pg_read_file('/etc/passwd')", guarded=(FILES,)),
    Attack(row="A8", sql='SELECT "pg_catalog"."pg_read_file"(\'/etc/passwd\')', guarded=(FILES,)),
    Attack(row="A8", sql="SELECT PG_READ_FILE /* x */ ('/etc/passwd')", guarded=(FILES,)),
    Attack(row="A8", sql="SELECT Pg_Sleep\n(600)", guarded=(FUNC,)),
    Attack(
        row="A8",
        sql="SELECT x FROM (SELECT pg_catalog.set_config('a.b', 'c', false) AS x) s",
        guarded=(FUNC,),
        engine=(),
    ),
    Attack(
        row="A8",
        sql="SELECT (SELECT lo_export(1, '{outside}/lo'))",
        guarded=(FILES,),
        engine=(FAILED,),
    ),
    Attack(
        row="B2",
        sql="COPY (SELECT 1) TO PROGRAM 'touch {outside}/x'",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="B2", sql="COPY victim TO '{outside}/x.csv'", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(
        row="B2",
        sql="/* c */ COPY (SELECT 1) TO PROGRAM 'touch {outside}/y'",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="B3", sql="COMMIT; DELETE FROM victim", guarded=(MULTI,), engine=(NOT_READ,)),
    Attack(
        row="B3", sql="SELECT 1; COMMIT; DELETE FROM victim", guarded=(MULTI,), engine=(FAILED,)
    ),
    Attack(
        row="B3",
        sql="SET TRANSACTION READ WRITE; DELETE FROM victim; COMMIT",
        guarded=(MULTI,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="B3",
        sql="EXPLAIN SELECT 1; COMMIT; DELETE FROM victim",
        guarded=(MULTI,),
        engine=(FAILED,),
    ),
    # Deny-table gaps (issue 16, item 8): index maintenance writes, server paths.
    *(
        Attack(row="A7", sql=sql, guarded=(FUNC,))
        for sql in (
            "SELECT brin_summarize_new_values('victim_brin')",
            "SELECT brin_summarize_range('victim_brin', 0)",
            "SELECT brin_desummarize_range('victim_brin', 0)",
            "SELECT gin_clean_pending_list('victim_gin')",
            "SELECT pg_catalog.BRIN_SUMMARIZE_NEW_VALUES /* c */ ('victim_brin'::regclass)",
            "SELECT * FROM pg_copy_physical_replication_slot('a', 'b')",
            "SELECT pg_export_snapshot()",
            "SELECT pg_rotate_logfile_old()",
            "SELECT setseed(0.5)",
            "SELECT current_setting('data_directory')",
            "SELECT current_setting('DATA_DIRECTORY', true)",
            "SELECT current_setting('hba_file')",
            "SELECT current_setting('ssl_key_file')",
            "SELECT current_setting('archive_command')",
            "SELECT current_setting('unix_socket_directories')",
            "SELECT current_setting(name) FROM victim",
            "SELECT current_setting('data_' || 'directory')",
            "SELECT setting FROM pg_settings WHERE name = 'data_directory'",
            "SELECT * FROM pg_catalog.pg_settings",
            'SELECT * FROM "pg_catalog"."pg_file_settings"',
            "SELECT * FROM pg_hba_file_rules",
            "SELECT * FROM pg_config",
            "SELECT * FROM pg_show_all_settings()",
            "SELECT pg_tablespace_location(1663)",
            "SELECT pg_relation_filepath('victim')",
        )
    ),
    Attack(row="A7", sql="SELECT loread(lo_open(1, 262144), 10)", guarded=(FILES,)),
]


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE victim (id serial PRIMARY KEY, name text);"
                "INSERT INTO victim (name) VALUES ('alpha'), ('beta'), ('gamma');"
                "CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM victim $$"
            )
        yield url


@pytest.fixture(scope="module")
def admin(admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def pg_bench(tmp_path_factory: pytest.TempPathFactory, admin_url: str) -> Iterator[Bench]:
    options = PostgresDriver.options_from_url(admin_url)
    with bench(tmp_path_factory.mktemp("postgres-attacks"), "postgres", options) as b:
        yield b


def backends(admin: psycopg.Connection[Any]) -> int:
    """querydeck backends that are not idle: pooled sessions wait idle (reset, no
    transaction open) between runs; anything else is a statement left running."""
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'querydeck' AND datname = current_database() "
        "AND state IS DISTINCT FROM 'idle'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def no_backend_left(admin: psycopg.Connection[Any]) -> bool:
    deadline = time.monotonic() + 5
    while backends(admin) and time.monotonic() < deadline:
        time.sleep(0.05)
    return backends(admin) == 0


def engine_state(admin: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """Victim rows, its sequence, the tables, large objects, prepared transactions, locks."""
    return tuple(
        admin.execute(text).fetchall()
        for text in (
            "SELECT id, name FROM victim ORDER BY id",
            "SELECT last_value, is_called FROM victim_id_seq",
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "ORDER BY relname",
            "SELECT count(*) FROM pg_largeobject_metadata",
            "SELECT count(*) FROM pg_prepared_xacts",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
            "SELECT grantee FROM information_schema.role_table_grants "
            "WHERE table_name = 'victim' ORDER BY 1",
        )
    )


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(pg_bench: Bench, admin: psycopg.Connection[Any], attack: Attack) -> None:
    before = engine_state(admin)
    check_guarded(pg_bench, attack)
    assert engine_state(admin) == before
    assert no_backend_left(admin)
    assert_nothing_outside(pg_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(pg_bench: Bench, admin: psycopg.Connection[Any], attack: Attack) -> None:
    before = engine_state(admin)
    check_bypassed(pg_bench, attack)
    assert no_backend_left(admin)
    assert engine_state(admin) == before
    assert_nothing_outside(pg_bench)


def test_b4_a_session_setting_never_reaches_the_next_run(
    pg_bench: Bench, admin: psycopg.Connection[Any]
) -> None:
    before = engine_state(admin)
    raw = pg_bench.raw
    first = attempt(
        raw, "victim", "SELECT set_config('default_transaction_read_only', 'off', false)"
    )
    assert first.status is RunStatus.succeeded
    for text in (
        "SELECT * FROM victim FOR UPDATE",
        "EXPLAIN ANALYZE DELETE FROM victim",
        "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
    ):
        info = attempt(raw, "victim", text)
        assert info.status is RunStatus.failed, text
    check = attempt(raw, "victim", "SELECT current_setting('transaction_read_only') AS ro")
    assert raw.runs.rows(check.id).rows == [["on"]]
    assert engine_state(admin) == before
    assert no_backend_left(admin)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (True, "SELECT pg_sleep(600)"),
        (True, "SELECT set_config('statement_timeout', '0', true), pg_sleep(600)"),
        (False, "SELECT count(*) FROM generate_series(1, 10000000000)"),
    ],
    ids=["bypassed-pg_sleep", "bypassed-timeout-reset", "guarded-long-scan"],
)
def test_b5_timeout_in_about_the_limit_and_no_backend_left(
    pg_bench: Bench, admin: psycopg.Connection[Any], raw: bool, text: str
) -> None:
    wb = pg_bench.raw if raw else pg_bench.guarded
    info = attempt(wb, "victim", text, timeout_s=2.0)
    assert (info.status, info.error_code, info.error_status) == (
        RunStatus.timed_out,
        "QUERY_TIMEOUT",
        504,
    )
    assert info.duration_ms is not None
    assert info.duration_ms < 8_000
    assert no_backend_left(admin)


def test_b6_terminated_backend_is_upstream_unavailable_and_the_next_run_works(
    pg_bench: Bench, admin: psycopg.Connection[Any]
) -> None:
    """The server-restart half of B6 is not run here (the test never stops a server it did
    not start); terminating the backend is the same failure seen from the client."""
    wb = pg_bench.guarded
    run_id = wb.runs.start(
        RunRequest(
            connection="victim",
            sql="SELECT count(*) FROM generate_series(1, 10000000000)",
            timeout_s=30,
        )
    )
    deadline = time.monotonic() + 10
    killed = False
    while not killed and time.monotonic() < deadline:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'querydeck' AND datname = current_database() "
            "AND state = 'active'"
        ).fetchone()
        killed = bool(row and row[0])
        time.sleep(0.05)
    assert killed
    info = wb.runs.wait(run_id, 20)
    assert (info.status, info.error_code, info.error_status) == (
        RunStatus.failed,
        "UPSTREAM_UNAVAILABLE",
        503,
    )
    again = attempt(wb, "victim", "SELECT count(*) FROM victim")
    assert again.status is RunStatus.succeeded
    assert wb.runs.rows(again.id).rows == [[3]]
    assert no_backend_left(admin)
