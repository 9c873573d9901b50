"""Groups A and D of SECURITY_TESTS.md against SQLite, guarded and guard-bypassed."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.runs.models import RunStatus
from tests.security.harness import (
    Attack,
    Bench,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
)

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"

ATTACKS = [
    Attack(row="A1", sql="SELECT 1; DELETE FROM victim", guarded=(MULTI,), engine=(MULTI,)),
    Attack(row="A1", sql="SELECT 1;;", guarded=(MULTI,)),
    Attack(row="A1", sql="SELECT 1; -- x", guarded=(MULTI,)),
    Attack(
        row="A2",
        sql="WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
        guarded=(NOT_READ, PARSE),
        engine=(),
    ),
    Attack(row="A3", sql="SELECT * INTO t2 FROM victim", guarded=(NOT_READ, PARSE), engine=()),
    Attack(row="A4", sql="/* c */ DELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A4", sql="-- c\nDELETE FROM victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A4", sql="UPDATE victim SET name = 'x'", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A4",
        sql="INSERT INTO victim (name) VALUES ('x')",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="A5", sql="BEGIN", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A5", sql="COMMIT", guarded=(NOT_READ,), engine=()),
    Attack(row="A5", sql="SAVEPOINT s", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(row="A6", sql="VACUUM", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A6",
        sql="ANALYZE",
        guarded=(NOT_READ, PARSE, "SQL_FORBIDDEN_SYNTAX"),
        engine=(NOT_READ,),
    ),
    Attack(row="A6", sql="CREATE TABLE x (a)", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="A6",
        sql="CREATE TEMP TRIGGER tr AFTER INSERT ON victim BEGIN SELECT 1; END",
        guarded=(NOT_READ, PARSE, MULTI),
        engine=(NOT_READ,),
    ),
    Attack(row="A6", sql="DROP TABLE victim", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="A6", sql="REINDEX", guarded=(NOT_READ, PARSE), engine=()),
    Attack(row="A10", sql="SELECT FROM WHERE (", guarded=(PARSE,)),
    Attack(row="A10", sql="", guarded=("SQL_EMPTY",)),
    Attack(row="A10", sql="  \n\t ", guarded=("SQL_EMPTY",)),
    Attack(row="A10", sql="/* only a comment */", guarded=("SQL_EMPTY",)),
    Attack(row="A10", sql="-- only a comment", guarded=("SQL_EMPTY",)),
    Attack(
        row="A11",
        sql="SELECT 1\x00; DELETE FROM victim",
        guarded=(PARSE,),
        engine=("QUERY_FAILED", MULTI),
    ),
    Attack(row="A11", sql="SELECT '\ud800'", guarded=(PARSE,)),
    Attack(row="A12", sql="SELECT 1 -- " + "x" * 5_000_000, guarded=("SQL_TOO_LARGE",)),
    Attack(
        row="A12", sql="SELECT " + "(" * 50_000 + "1" + ")" * 50_000, guarded=("SQL_TOO_COMPLEX",)
    ),
    Attack(row="A12", sql="SELECT " + "(" * 10_000 + "1" + ")" * 10_000, guarded=(PARSE,)),
    Attack(
        row="D1",
        sql="ATTACH DATABASE '{outside}/evil.db' AS e",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="D1",
        sql="SELECT * FROM victim WHERE 1 = (ATTACH '{outside}/x.db' AS e)",
        guarded=(PARSE, NOT_READ),
        engine=(),
    ),
    Attack(
        row="D2", sql="VACUUM INTO '{outside}/copy.db'", guarded=(NOT_READ,), engine=(NOT_READ,)
    ),
    Attack(row="D3", sql="PRAGMA query_only = 0", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="D3", sql="PRAGMA journal_mode = OFF", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(row="D3", sql="PRAGMA writable_schema = ON", guarded=(NOT_READ,), engine=(NOT_READ,)),
    Attack(
        row="D3",
        sql="SELECT * FROM pragma_query_only",
        guarded=("SQL_FORBIDDEN_FUNCTION", NOT_READ, "FILE_ACCESS_DENIED"),
        engine=(),
    ),
    Attack(
        row="D4",
        sql="SELECT load_extension('{outside}/x.so')",
        guarded=("FILE_ACCESS_DENIED",),
        engine=(NOT_READ,),
    ),
    Attack(
        row="D4",
        sql="SELECT readfile('/etc/passwd')",
        guarded=("FILE_ACCESS_DENIED",),
        engine=("QUERY_FAILED",),
    ),
    Attack(
        row="D4",
        sql="SELECT writefile('{outside}/x', 'data')",
        guarded=("FILE_ACCESS_DENIED",),
        engine=("QUERY_FAILED",),
    ),
    Attack(
        row="D4",
        sql="SELECT \"LOAD_EXTENSION\" /* x */ ('{outside}/x.so')",
        guarded=("FILE_ACCESS_DENIED",),
        engine=(NOT_READ,),
    ),
    # Deny-table gaps (issue 16, item 8): the database file's path on the server.
    *(
        Attack(row="A7", sql=sql, guarded=("SQL_FORBIDDEN_FUNCTION",))
        for sql in ("SELECT file FROM pragma_database_list", "SELECT * FROM pragma_database_list()")
    ),
]


def victim_file(root: Path) -> Path:
    path = root / "victim.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE victim (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
            "INSERT INTO victim (name) VALUES ('alpha'), ('beta'), ('gamma');"
        )
    conn.close()
    return path


@pytest.fixture(scope="module")
def sqlite_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("sqlite-attacks")
    path = victim_file(root)
    with bench(root, "sqlite", {"path": str(path)}) as b:
        yield b


def engine_state(b: Bench) -> tuple[str, list[str]]:
    """The victim file's bytes (rows, sequence, schema: all in there) and its directory."""
    path = Path(b.guarded.connections.get("victim").options["path"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(sqlite_bench: Bench, attack: Attack) -> None:
    before = engine_state(sqlite_bench)
    check_guarded(sqlite_bench, attack)
    assert engine_state(sqlite_bench) == before
    assert_nothing_outside(sqlite_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(sqlite_bench: Bench, attack: Attack) -> None:
    before = engine_state(sqlite_bench)
    check_bypassed(sqlite_bench, attack)
    assert engine_state(sqlite_bench) == before
    assert_nothing_outside(sqlite_bench)


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_d5_runaway_recursive_cte_times_out(sqlite_bench: Bench, raw: bool) -> None:
    wb = sqlite_bench.raw if raw else sqlite_bench.guarded
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    info = attempt(wb, "victim", sql, timeout_s=1.0)
    assert info.status is RunStatus.timed_out
    assert (info.error_code, info.error_status) == ("QUERY_TIMEOUT", 504)
    assert info.duration_ms is not None
    assert info.duration_ms < 15_000
    assert attempt(wb, "victim", "SELECT count(*) FROM victim").row_count == 1
