"""Groups A and E of SECURITY_TESTS.md against DuckDB, guarded and guard-bypassed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from querydeck.models import RunStatus
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

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"
FILES = "FILE_ACCESS_DENIED"
FUNC = "SQL_FORBIDDEN_FUNCTION"

ATTACKS = [
    *common_attacks(),
    Attack("A1/E5", "SELECT 1; INSERT INTO victim VALUES (9, 'x')", (MULTI,), (MULTI,)),
    Attack("A1/E5", "SELECT 1; SELECT nextval('victim_seq')", (MULTI,), (MULTI,)),
    Attack(
        "A2", "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d", (NOT_READ, PARSE), ()
    ),
    Attack("A3", "SELECT * INTO t2 FROM victim", (NOT_READ, PARSE), ()),
    Attack("A4", "/* c */ DELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "-- c\nINSERT INTO victim VALUES (9, 'x')", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "UPDATE victim SET name = 'x'", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "BEGIN", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "COMMIT", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "SET threads = 64", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "RESET memory_limit", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("A6", "CREATE TABLE x AS SELECT 1", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "CREATE MACRO m(a) AS a", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("A6", "DROP TABLE victim", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "CHECKPOINT", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "VACUUM", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("A6", "PRAGMA enable_profiling", (NOT_READ,), (NOT_READ,)),
    Attack("A7", "SELECT nextval('victim_seq')", (FUNC,), ()),
    Attack("A7", "SELECT * FROM query('DELETE FROM victim')", (FUNC,), ()),
    Attack("A7", "SELECT getenv('HOME')", (FUNC,), ()),
    Attack("A8", "SELECT * FROM \"READ_CSV\" /* x */ ('/etc/passwd')", (FILES,), (FILES,)),
    Attack(
        "A8", "SELECT * FROM main.read_text('/etc/hostname')", (FILES,), (FILES, "QUERY_FAILED")
    ),
    Attack("E1", "SELECT * FROM read_csv('/etc/passwd')", (FILES,), (FILES,)),
    Attack("E1", "SELECT * FROM read_text('/proc/self/environ')", (FILES,), (FILES,)),
    Attack("E1", "SELECT * FROM read_blob('/etc/hostname')", (FILES,), (FILES,)),
    Attack("E1", "SELECT * FROM glob('/etc/*')", (FILES,), (FILES,)),
    Attack("E1", "SELECT * FROM '/etc/passwd'", (FILES,), (FILES, "QUERY_FAILED")),
    Attack("E1", 'SELECT * FROM "/etc/hosts"', (FILES,), (FILES, "QUERY_FAILED")),
    Attack("E1", "SELECT * FROM sniff_csv('/etc/passwd')", (FILES,), (FILES,)),
    Attack("E3", "COPY victim TO '{outside}/x.csv'", (NOT_READ,), (NOT_READ,)),
    Attack(
        "E3", "COPY (SELECT 1) TO '{outside}/y.parquet' (FORMAT parquet)", (NOT_READ,), (NOT_READ,)
    ),
    Attack("E3", "EXPORT DATABASE '{outside}/d'", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("E3", "ATTACH '{outside}/new.duckdb' AS n", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "INSTALL httpfs", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "LOAD httpfs", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "LOAD '{outside}/evil.duckdb_extension'", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "SET enable_external_access = true", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "SET lock_configuration = false", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "SET memory_limit = '100GB'", (NOT_READ,), (NOT_READ,)),
    Attack("E4", "SET GLOBAL allowed_directories = ['/']", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("E4", "SELECT current_setting('memory_limit')", (FUNC,), ()),
]


@pytest.fixture(scope="module")
def duckdb_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("duckdb-attacks")
    path = root / "victim.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SEQUENCE victim_seq")
        conn.execute("CREATE TABLE victim (id INTEGER DEFAULT nextval('victim_seq'), name TEXT)")
        conn.execute("INSERT INTO victim (name) VALUES ('alpha'), ('beta'), ('gamma')")
    with bench(root, "duckdb", {"path": str(path), "memory_limit": "256MB"}) as b:
        yield b


def engine_state(b: Bench) -> tuple[str, list[str]]:
    path = Path(b.guarded.get_connection("victim").options["path"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(duckdb_bench: Bench, attack: Attack) -> None:
    before = engine_state(duckdb_bench)
    check_guarded(duckdb_bench, attack)
    assert engine_state(duckdb_bench) == before
    assert_nothing_outside(duckdb_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(duckdb_bench: Bench, attack: Attack) -> None:
    before = engine_state(duckdb_bench)
    check_bypassed(duckdb_bench, attack)
    assert engine_state(duckdb_bench) == before
    assert_nothing_outside(duckdb_bench)


def test_the_sequence_and_rows_are_untouched(duckdb_bench: Bench) -> None:
    info = attempt(duckdb_bench.raw, "victim", "SELECT count(*) AS n FROM victim")
    assert info.status is RunStatus.succeeded
    assert duckdb_bench.raw.run_rows(info.id).rows == [[3]]


SSRF = [
    "SELECT * FROM read_parquet('http://127.0.0.1:{port}/latest/meta-data.parquet')",
    "SELECT * FROM read_csv('http://127.0.0.1:{port}/x.csv')",
    "SELECT * FROM 'http://127.0.0.1:{port}/x.parquet'",
    "SET s3_endpoint = '127.0.0.1:{port}'",
    "CREATE SECRET s (TYPE s3, ENDPOINT '127.0.0.1:{port}', URL_STYLE 'path', USE_SSL false)",
    "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
    "SELECT * FROM 's3://bucket/x.parquet'",
]


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e6_ssrf_never_reaches_a_listener(duckdb_bench: Bench, raw: bool) -> None:
    listener = Listener()
    wb = duckdb_bench.raw if raw else duckdb_bench.guarded
    try:
        for text in SSRF:
            info = attempt(wb, "victim", text.format(port=listener.port))
            assert info.status in (RunStatus.rejected, RunStatus.failed), text
            assert info.error_code in (FILES, NOT_READ, PARSE, "QUERY_FAILED"), info.error_message
    finally:
        listener.close()
    assert listener.accepted == 0


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e7_memory_bomb_and_runaway_join_are_stopped(duckdb_bench: Bench, raw: bool) -> None:
    wb = duckdb_bench.raw if raw else duckdb_bench.guarded
    bomb = attempt(
        wb,
        "victim",
        "SELECT max(length(s)) FROM "
        "(SELECT string_agg(range::VARCHAR, ',') AS s FROM range(60000000))",
        timeout_s=60,
    )
    assert (bomb.status, bomb.error_code) == (RunStatus.failed, "RESOURCE_LIMIT")
    join = attempt(
        wb,
        "victim",
        "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1",
        timeout_s=1.0,
    )
    assert (join.status, join.error_code, join.error_status) == (
        RunStatus.timed_out,
        "QUERY_TIMEOUT",
        504,
    )
    assert attempt(wb, "victim", "SELECT 42 AS answer").status is RunStatus.succeeded
