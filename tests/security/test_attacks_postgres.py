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
from querydeck.models import RunRequest, RunStatus
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
    Attack("A1", "SELECT 1; DELETE FROM victim", (MULTI,), (FAILED,)),
    Attack(
        "A2", "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d", (NOT_READ,), (FAILED,)
    ),
    Attack(
        "A2",
        "WITH d AS (INSERT INTO victim (name) VALUES ('x') RETURNING *) SELECT * FROM d",
        (NOT_READ,),
        (FAILED,),
    ),
    Attack(
        "A2",
        "WITH d AS (UPDATE victim SET name = 'x' RETURNING *) SELECT * FROM d",
        (NOT_READ,),
        (FAILED,),
    ),
    Attack(
        "A2",
        "SELECT * FROM (WITH d AS (DELETE FROM victim RETURNING id) SELECT id FROM d) s",
        (NOT_READ, PARSE),
        (FAILED,),
    ),
    Attack("A3", "SELECT * INTO t2 FROM victim", (NOT_READ,), (FAILED,)),
    Attack("A3", "SELECT * FROM victim FOR UPDATE", (NOT_READ,), (FAILED,)),
    Attack("A3", "SELECT * FROM (SELECT * FROM victim FOR SHARE) s", (NOT_READ,), (FAILED,)),
    Attack(
        "A3", "SELECT * FROM victim FOR NO KEY UPDATE SKIP LOCKED", (NOT_READ, PARSE), (FAILED,)
    ),
    Attack("A4", "/* c */ DELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "-- c\nDELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "/* nested /* c */ */ TRUNCATE victim", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("A5", "COMMIT", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "BEGIN", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "SET TRANSACTION READ WRITE", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "SET statement_timeout = 0", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "SET ROLE postgres", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "RESET ALL", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "DISCARD ALL", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "LISTEN chan", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "PREPARE p AS DELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "EXECUTE p", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "DO $$ BEGIN DELETE FROM victim; END $$", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "CALL p()", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "VACUUM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "ANALYZE victim", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "COPY victim TO STDOUT", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "CREATE TABLE x (a int)", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "GRANT ALL ON victim TO PUBLIC", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "EXPLAIN ANALYZE DELETE FROM victim", (NOT_READ,), (FAILED,)),
    Attack(
        "A6",
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT nextval('victim_id_seq')",
        (NOT_READ,),
        (FAILED,),
    ),
    Attack("A6", "EXPLAIN CREATE TABLE x AS SELECT 1", (NOT_READ, PARSE), ()),
    Attack("A7", "SELECT pg_read_file('/etc/passwd')", (FILES,)),
    # A superuser's lo_import runs inside a read-only transaction; it is rolled back, so no
    # large object stays (the state check), but the read happened: the guard's business.
    Attack("A7", "SELECT lo_import('/etc/hostname')", (FILES,), ()),
    Attack("A7", "SELECT pg_sleep(600)", (FUNC,)),
    Attack("A7", "SELECT pg_advisory_lock(1)", (FUNC,), ()),
    Attack("A7", "SELECT set_config('default_transaction_read_only', 'off', false)", (FUNC,), ()),
    Attack("A7", "SELECT dblink_exec('dbname=postgres', 'DELETE FROM victim')", (FUNC,), (FAILED,)),
    Attack(
        "A7",
        "SELECT query_to_xml('DELETE FROM victim RETURNING 1', true, true, '')",
        (FUNC,),
        (FAILED,),
    ),
    Attack(
        "A7",
        "SELECT * FROM ts_stat('WITH d AS (DELETE FROM victim RETURNING 1) SELECT 1')",
        (FUNC,),
        (FAILED,),
    ),
    Attack("A7", "SELECT nextval('victim_id_seq')", (FUNC,), (FAILED,)),
    Attack("A7", "SELECT setval('victim_id_seq', 1000)", (FUNC,), (FAILED,)),
    Attack("A7", "SELECT txid_current()", (FUNC,), ()),
    Attack("A8", "SELECT pg_catalog.pg_read_file('/etc/passwd')", (FILES,)),
    Attack("A8", 'SELECT "pg_catalog"."pg_read_file"(\'/etc/passwd\')', (FILES,)),
    Attack("A8", "SELECT PG_READ_FILE /* x */ ('/etc/passwd')", (FILES,)),
    Attack("A8", "SELECT Pg_Sleep\n(600)", (FUNC,)),
    Attack(
        "A8", "SELECT x FROM (SELECT pg_catalog.set_config('a.b', 'c', false) AS x) s", (FUNC,), ()
    ),
    Attack("A8", "SELECT (SELECT lo_export(1, '{outside}/lo'))", (FILES,), (FAILED,)),
    Attack("B2", "COPY (SELECT 1) TO PROGRAM 'touch {outside}/x'", (NOT_READ,), (NOT_READ,)),
    Attack("B2", "COPY victim TO '{outside}/x.csv'", (NOT_READ,), (NOT_READ,)),
    Attack(
        "B2", "/* c */ COPY (SELECT 1) TO PROGRAM 'touch {outside}/y'", (NOT_READ,), (NOT_READ,)
    ),
    Attack("B3", "COMMIT; DELETE FROM victim", (MULTI,), (NOT_READ,)),
    Attack("B3", "SELECT 1; COMMIT; DELETE FROM victim", (MULTI,), (FAILED,)),
    Attack("B3", "SET TRANSACTION READ WRITE; DELETE FROM victim; COMMIT", (MULTI,), (NOT_READ,)),
    Attack("B3", "EXPLAIN SELECT 1; COMMIT; DELETE FROM victim", (MULTI,), (FAILED,)),
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
    assert raw.run_rows(check.id).rows == [["on"]]
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
    run_id = wb.start_run(
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
    info = wb.wait_run(run_id, 20)
    assert (info.status, info.error_code, info.error_status) == (
        RunStatus.failed,
        "UPSTREAM_UNAVAILABLE",
        503,
    )
    again = attempt(wb, "victim", "SELECT count(*) FROM victim")
    assert again.status is RunStatus.succeeded
    assert wb.run_rows(again.id).rows == [[3]]
    assert no_backend_left(admin)
