"""Groups A and D of SECURITY_TESTS.md against SQLite, guarded and guard-bypassed."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.models import RunStatus
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
    Attack("A1", "SELECT 1; DELETE FROM victim", (MULTI,), (MULTI,)),
    Attack("A1", "SELECT 1;;", (MULTI,)),
    Attack("A1", "SELECT 1; -- x", (MULTI,)),
    Attack(
        "A2", "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d", (NOT_READ, PARSE), ()
    ),
    Attack("A3", "SELECT * INTO t2 FROM victim", (NOT_READ, PARSE), ()),
    Attack("A4", "/* c */ DELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "-- c\nDELETE FROM victim", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "UPDATE victim SET name = 'x'", (NOT_READ,), (NOT_READ,)),
    Attack("A4", "INSERT INTO victim (name) VALUES ('x')", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "BEGIN", (NOT_READ,), (NOT_READ,)),
    Attack("A5", "COMMIT", (NOT_READ,), ()),
    Attack("A5", "SAVEPOINT s", (NOT_READ, PARSE), (NOT_READ,)),
    Attack("A6", "VACUUM", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "ANALYZE", (NOT_READ, PARSE, "SQL_FORBIDDEN_SYNTAX"), (NOT_READ,)),
    Attack("A6", "CREATE TABLE x (a)", (NOT_READ,), (NOT_READ,)),
    Attack(
        "A6",
        "CREATE TEMP TRIGGER tr AFTER INSERT ON victim BEGIN SELECT 1; END",
        (NOT_READ, PARSE, MULTI),
        (NOT_READ,),
    ),
    Attack("A6", "DROP TABLE victim", (NOT_READ,), (NOT_READ,)),
    Attack("A6", "REINDEX", (NOT_READ, PARSE), ()),
    Attack("A10", "SELECT FROM WHERE (", (PARSE,)),
    Attack("A10", "", ("SQL_EMPTY",)),
    Attack("A10", "  \n\t ", ("SQL_EMPTY",)),
    Attack("A10", "/* only a comment */", ("SQL_EMPTY",)),
    Attack("A10", "-- only a comment", ("SQL_EMPTY",)),
    Attack("A11", "SELECT 1\x00; DELETE FROM victim", (PARSE,), ("QUERY_FAILED", MULTI)),
    Attack("A11", "SELECT '\ud800'", (PARSE,)),
    Attack("A12", "SELECT 1 -- " + "x" * 5_000_000, ("SQL_TOO_LARGE",)),
    Attack("A12", "SELECT " + "(" * 50_000 + "1" + ")" * 50_000, (PARSE,)),
    Attack("D1", "ATTACH DATABASE '{outside}/evil.db' AS e", (NOT_READ,), (NOT_READ,)),
    Attack(
        "D1", "SELECT * FROM victim WHERE 1 = (ATTACH '{outside}/x.db' AS e)", (PARSE, NOT_READ), ()
    ),
    Attack("D2", "VACUUM INTO '{outside}/copy.db'", (NOT_READ,), (NOT_READ,)),
    Attack("D3", "PRAGMA query_only = 0", (NOT_READ,), (NOT_READ,)),
    Attack("D3", "PRAGMA journal_mode = OFF", (NOT_READ,), (NOT_READ,)),
    Attack("D3", "PRAGMA writable_schema = ON", (NOT_READ,), (NOT_READ,)),
    Attack(
        "D3",
        "SELECT * FROM pragma_query_only",
        ("SQL_FORBIDDEN_FUNCTION", NOT_READ, "FILE_ACCESS_DENIED"),
        (),
    ),
    Attack("D4", "SELECT load_extension('{outside}/x.so')", ("FILE_ACCESS_DENIED",), (NOT_READ,)),
    Attack("D4", "SELECT readfile('/etc/passwd')", ("FILE_ACCESS_DENIED",), ("QUERY_FAILED",)),
    Attack(
        "D4", "SELECT writefile('{outside}/x', 'data')", ("FILE_ACCESS_DENIED",), ("QUERY_FAILED",)
    ),
    Attack(
        "D4",
        "SELECT \"LOAD_EXTENSION\" /* x */ ('{outside}/x.so')",
        ("FILE_ACCESS_DENIED",),
        (NOT_READ,),
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
    path = Path(b.guarded.get_connection("victim").options["path"])
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
