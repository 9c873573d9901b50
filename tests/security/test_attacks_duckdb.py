"""Groups A and E of SECURITY_TESTS.md against DuckDB, guarded and guard-bypassed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from querydeck.runs.models import RunStatus
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
    Attack(
        row="A1/E5",
        sql="SELECT 1; INSERT INTO victim VALUES (9, 'x')",
        guarded=(MULTI,),
        engine=(MULTI,),
    ),
    Attack(
        row="A1/E5", sql="SELECT 1; SELECT nextval('victim_seq')", guarded=(MULTI,), engine=(MULTI,)
    ),
    Attack(
        row="A2",
        sql="WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
        guarded=(NOT_READ, PARSE),
        engine=(),
    ),
    Attack(row="A3", sql="SELECT * INTO t2 FROM victim", guarded=(NOT_READ, PARSE), engine=()),
    Attack(row="A4", sql="/* c */ DELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A4",
        sql="-- c\nINSERT INTO victim VALUES (9, 'x')",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="A4", sql="UPDATE victim SET name = 'x'", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="BEGIN", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="COMMIT", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="SET threads = 64", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="RESET memory_limit", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(row="A6", sql="CREATE TABLE x AS SELECT 1", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="CREATE MACRO m(a) AS a", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(row="A6", sql="DROP TABLE victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="CHECKPOINT", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="VACUUM", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(row="A6", sql="PRAGMA enable_profiling", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A7", sql="SELECT nextval('victim_seq')", guarded=(FUNC,), engine=()),
    Attack(row="A7", sql="SELECT * FROM query('DELETE FROM victim')", guarded=(FUNC,), engine=()),
    Attack(row="A7", sql="SELECT getenv('HOME')", guarded=(FUNC,), engine=()),
    Attack(
        row="A8",
        sql="SELECT * FROM \"READ_CSV\" /* x */ ('/etc/passwd')",
        guarded=(FILES,),
        engine=(FILES,),
    ),
    Attack(
        row="A8",
        sql="SELECT * FROM main.read_text('/etc/hostname')",
        guarded=(FILES,),
        engine=(FILES, "QUERY_FAILED"),
    ),
    Attack(
        row="E1", sql="SELECT * FROM read_csv('/etc/passwd')", guarded=(FILES,), engine=(FILES,)
    ),
    Attack(
        row="E1",
        sql="SELECT * FROM read_text('/proc/self/environ')",
        guarded=(FILES,),
        engine=(FILES,),
    ),
    Attack(
        row="E1", sql="SELECT * FROM read_blob('/etc/hostname')", guarded=(FILES,), engine=(FILES,)
    ),
    Attack(row="E1", sql="SELECT * FROM glob('/etc/*')", guarded=(FILES,), engine=(FILES,)),
    Attack(
        row="E1",
        sql="SELECT * FROM '/etc/passwd'",
        guarded=(FILES,),
        engine=(FILES, "QUERY_FAILED"),
    ),
    Attack(
        row="E1", sql='SELECT * FROM "/etc/hosts"', guarded=(FILES,), engine=(FILES, "QUERY_FAILED")
    ),
    Attack(
        row="E1", sql="SELECT * FROM sniff_csv('/etc/passwd')", guarded=(FILES,), engine=(FILES,)
    ),
    Attack(
        row="E3", sql="COPY victim TO '{outside}/x.csv'", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(
        row="E3",
        sql="COPY (SELECT 1) TO '{outside}/y.parquet' (FORMAT parquet)",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="E3", sql="EXPORT DATABASE '{outside}/d'", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)
    ),
    Attack(
        row="E3", sql="ATTACH '{outside}/new.duckdb' AS n", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(row="E4", sql="INSTALL httpfs", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="E4", sql="LOAD httpfs", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="E4",
        sql="LOAD '{outside}/evil.duckdb_extension'",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="E4", sql="SET enable_external_access = true", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(row="E4", sql="SET lock_configuration = false", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="E4", sql="SET memory_limit = '100GB'", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="E4",
        sql="SET GLOBAL allowed_directories = ['/']",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(row="E4", sql="SELECT current_setting('memory_limit')", guarded=(FUNC,), engine=()),
    # Deny-table gaps (issue 16, item 8): what current_setting is denied for, by other names.
    *(
        Attack(row="E4", sql=sql, guarded=(FUNC,))
        for sql in (
            "SELECT * FROM duckdb_settings()",
            "SELECT value FROM duckdb_settings() WHERE name = 'allowed_directories'",
            "SELECT path FROM duckdb_databases()",
            "SELECT * FROM duckdb_databases",
            "SELECT * FROM duckdb_extensions()",
            "SELECT * FROM duckdb_temporary_files()",
            "SELECT * FROM pragma_database_list",
        )
    ),
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
    path = Path(b.guarded.connections.get("victim").options["path"])
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
    assert duckdb_bench.raw.runs.rows(info.id).rows == [[3]]


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
        # A right side that fits memory_limit: with no spill files, a 1e8-row one could end
        # at the memory limit before the timeout.
        "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1",
        timeout_s=1.0,
    )
    assert (join.status, join.error_code, join.error_status) == (
        RunStatus.timed_out,
        "QUERY_TIMEOUT",
        504,
    )
    assert attempt(wb, "victim", "SELECT 42 AS answer").status is RunStatus.succeeded
