"""The SQLite driver: the compliance suite plus its sandbox and type inference."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from querydeck.drivers.arrow_rows import native_type
from querydeck.drivers.base import BATCH_ROWS, Driver
from querydeck.drivers.sqlite.driver import SQLiteDriver, SQLiteOptions
from querydeck.errors import (
    ConnectionFailed,
    ConnectionUrlInvalid,
    DataFileNotFound,
    QueryFailed,
    QueryRejected,
    SqlMultipleStatements,
)
from tests.drivers.suite import (
    BIG_INT,
    BINARY,
    EXACT_DECIMAL,
    FIXTURE_ROWS,
    FIXTURE_SELECT,
    FIXTURE_TABLE,
    JSON_TEXT,
    JSON_VALUE,
    MIN_INT64,
    NUL_TEXT,
    UNICODE_TEXT,
    DriverSuite,
    ExtremeCase,
    ExtremeValueSuite,
    TypeCase,
    json_loads,
    read_rows,
    read_table,
)


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_database(path: Path, *statements: str) -> Path:
    native = sqlite3.connect(path)
    with native:
        native.execute(f"CREATE TABLE {FIXTURE_TABLE} (id INTEGER PRIMARY KEY, name TEXT)")
        native.executemany(f"INSERT INTO {FIXTURE_TABLE} VALUES (?, ?)", FIXTURE_ROWS)
        for statement in statements:
            native.execute(statement)
    native.close()
    return path


def sqlite_driver(path: Path) -> SQLiteDriver:
    return SQLiteDriver(SQLiteOptions(path=str(path)))


class TestSQLite(ExtremeValueSuite, DriverSuite):
    driver_cls = SQLiteDriver
    sleep_sql = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    )
    good_urls = (
        ("sqlite:///data/chinook.db", {"path": "data/chinook.db"}),
        ("sqlite:////srv/data/chinook.db", {"path": "/srv/data/chinook.db"}),
        ("sqlite:///my%20file%3F.db", {"path": "my file?.db"}),
        ("SQLite+pysqlite:///x.db", {"path": "x.db"}),
    )
    forbidden_urls = (
        "sqlite:///x.db?mode=rwc",
        "sqlite:///x.db?immutable=1",
        "sqlite:////srv/x.db?vfs=unix-none",
    )
    write_statements = (
        *DriverSuite.write_statements,
        "CREATE TEMP TABLE qd_evil (id INTEGER)",
        "REINDEX",
        "ANALYZE",
        "PRAGMA user_version = 7",
    )

    @pytest.fixture
    def driver(self, tmp_path: Path) -> Driver[Any]:
        index = f"CREATE INDEX qd_items_name ON {FIXTURE_TABLE} (name)"
        return sqlite_driver(make_database(tmp_path / "fixture.db", index))

    def extreme_cases(self) -> list[ExtremeCase]:
        return [
            ExtremeCase(
                "floats and integers",
                "SELECT 9e999 AS a, -9e999 AS b, -0.0 AS c, 9223372036854775807 AS d, "
                "-9223372036854775808 AS e, '0000-00-00' AS f",
                [
                    "Infinity",
                    "-Infinity",
                    -0.0,
                    "9223372036854775807",
                    "-9223372036854775808",
                    "0000-00-00",
                ],
            ),
        ]

    def type_cases(self) -> list[TypeCase]:
        # SQLite stores decimals, dates and timestamps as text and booleans as integers.
        return [
            TypeCase("int_above_2_53", f"SELECT {BIG_INT} AS v", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT {MIN_INT64} AS v", MIN_INT64, pa.int64()),
            TypeCase("decimal", f"SELECT '{EXACT_DECIMAL}' AS v", str(EXACT_DECIMAL), pa.string()),
            TypeCase("date", "SELECT date('2024-02-29') AS v", "2024-02-29", pa.string()),
            TypeCase(
                "timestamp_tz",
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '2024-02-29 23:59:58.123+02:00') AS v",
                "2024-02-29T21:59:58.123Z",
                pa.string(),
            ),
            TypeCase("boolean", "SELECT TRUE AS v", 1, pa.int64()),
            TypeCase("text_unicode", f"SELECT '{UNICODE_TEXT}' AS v", UNICODE_TEXT, pa.string()),
            TypeCase("text_nul", "SELECT 'a' || char(0) || 'b' AS v", NUL_TEXT, pa.string()),
            TypeCase("binary", f"SELECT X'{BINARY.hex()}' AS v", BINARY, pa.binary()),
            TypeCase(
                "json", f"SELECT json('{JSON_TEXT}') AS v", JSON_VALUE, pa.string(), json_loads
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        text_file = tmp_path / "notes.txt"
        text_file.write_text("not a database, " * 100)
        return [
            ("missing file", sqlite_driver(tmp_path / "missing.db"), DataFileNotFound),
            ("directory", sqlite_driver(tmp_path), ConnectionFailed),
            ("text file", sqlite_driver(text_file), ConnectionFailed),
        ]


def test_missing_file_is_not_created(tmp_path: Path) -> None:
    before = tree(tmp_path)
    with pytest.raises(DataFileNotFound, match=r"missing\.db"):
        sqlite_driver(tmp_path / "missing.db").connect(timeout_s=1)
    assert tree(tmp_path) == before


def test_not_a_database_is_not_reported_as_missing(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_bytes(b"\x00garbage" * 512)
    with pytest.raises(ConnectionFailed, match="not a SQLite database") as caught:
        sqlite_driver(tmp_path / "notes.db").connect(timeout_s=1)
    assert not isinstance(caught.value, DataFileNotFound)


def test_path_is_taken_literally_and_opened_read_only(tmp_path: Path) -> None:
    odd = make_database(tmp_path / "odd name?mode=rwc#x%41.db")
    driver = sqlite_driver(odd)
    before = tree(tmp_path)
    assert driver.target() == "odd name?mode=rwc#x%41.db"
    with driver.connect(timeout_s=5) as conn:
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS
        with pytest.raises(QueryRejected):
            read_rows(conn.execute(f"DELETE FROM {FIXTURE_TABLE}", timeout_s=5))
    assert tree(tmp_path) == before


def test_target_is_the_file_name_only(tmp_path: Path) -> None:
    assert sqlite_driver(tmp_path / "sub" / "x.db").target() == "x.db"


@pytest.mark.parametrize(
    "url",
    ["sqlite://host/x.db", "sqlite://", "sqlite:x.db", "postgresql:///x.db", "sqlite:///x.db#f"],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        SQLiteDriver.options_from_url(url)


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{dir}/evil.db' AS e",
        "VACUUM INTO '{dir}/copy.db'",
        "VACUUM",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = OFF",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('{dir}/evil')",
        "BEGIN IMMEDIATE",
        "SAVEPOINT s",
        "DETACH DATABASE main",
        "CREATE VIEW qd_v AS SELECT 1",
    ],
)
def test_sandbox_refuses_and_creates_nothing(tmp_path: Path, sql: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    driver = sqlite_driver(make_database(data / "fixture.db"))
    before = tree(tmp_path)
    with driver.connect(timeout_s=5) as conn:
        with pytest.raises((QueryRejected, QueryFailed)):
            read_table(conn.execute(sql.format(dir=tmp_path), timeout_s=5))
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS
    assert tree(tmp_path) == before


def test_describe_pragmas_are_allowed(tmp_path: Path) -> None:
    driver = sqlite_driver(make_database(tmp_path / "fixture.db"))
    with driver.connect(timeout_s=5) as conn:
        info = read_rows(conn.execute(f"PRAGMA table_info({FIXTURE_TABLE})", timeout_s=5))
        assert [row[1] for row in info] == ["id", "name"]
        names = read_rows(
            conn.execute(f"SELECT name FROM pragma_table_info('{FIXTURE_TABLE}')", timeout_s=5)
        )
        assert names == [("id",), ("name",)]
        assert read_rows(conn.execute("PRAGMA user_version", timeout_s=5)) == [(0,)]


def test_second_statement_is_refused_with_its_code(tmp_path: Path) -> None:
    driver = sqlite_driver(make_database(tmp_path / "fixture.db"))
    with driver.connect(timeout_s=5) as conn:
        with pytest.raises(SqlMultipleStatements) as caught:
            conn.execute(f"SELECT 1; DELETE FROM {FIXTURE_TABLE}", timeout_s=5)
        assert caught.value.code == "SQL_MULTIPLE_STATEMENTS"
        assert read_rows(conn.execute("SELECT 1;  -- trailing comment", timeout_s=5)) == [(1,)]


def test_types_are_inferred_from_the_first_batch(tmp_path: Path) -> None:
    driver = sqlite_driver(
        make_database(
            tmp_path / "fixture.db",
            "CREATE TABLE mixed (a, b, c, d)",
            "INSERT INTO mixed VALUES (1, 1, NULL, 'x'), (2, 2.5, NULL, 3)",
        )
    )
    with driver.connect(timeout_s=5) as conn:
        stream = conn.execute("SELECT a, b, c, d FROM mixed ORDER BY a", timeout_s=5)
        assert stream.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.string()]
        assert [native_type(f) for f in stream.schema] == [
            "INTEGER",
            "INTEGER|REAL",
            "NULL",
            "INTEGER|TEXT",
        ]
        assert read_rows(stream) == [(1, 1.0, None, "x"), (2, 2.5, None, "3")]


def test_a_later_value_that_does_not_fit_is_never_lost(tmp_path: Path) -> None:
    n = BATCH_ROWS + 10
    driver = sqlite_driver(
        make_database(
            tmp_path / "fixture.db",
            "CREATE TABLE late (k INTEGER PRIMARY KEY, v, w, x)",
            f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {n}) "
            "INSERT INTO late SELECT n, 1.5, NULL, n FROM r",
            f"UPDATE late SET v = 7, w = X'00ff', x = 'text' WHERE k = {n}",
        )
    )
    with driver.connect(timeout_s=5) as conn:
        table = read_table(conn.execute("SELECT k, v, w FROM late ORDER BY k", timeout_s=5))
        assert table.column("v").to_pylist()[-1] == 7.0
        assert table.column("w").to_pylist()[-1] == "\\x00ff"
        with pytest.raises(QueryFailed) as caught:
            read_table(conn.execute("SELECT x FROM late ORDER BY k", timeout_s=5))
        assert caught.value.code == "RESULT_TYPE_MISMATCH"
        assert "CAST" in caught.value.message
        cast = read_table(
            conn.execute("SELECT CAST(x AS TEXT) AS x FROM late ORDER BY k", timeout_s=5)
        )
        assert cast.column("x").to_pylist()[-1] == "text"


def test_a_reset_session_is_fresh_until_its_file_is_replaced(tmp_path: Path) -> None:
    """Sessions are pooled: a reset one reads what a new one reads (the file as it is now),
    and one whose path names another file since is no longer alive."""
    path = make_database(tmp_path / "pooled.db")
    with sqlite_driver(path).connect(timeout_s=5) as conn:
        stream = conn.execute(f"SELECT name FROM {FIXTURE_TABLE}", timeout_s=5)
        assert conn.reset() is True  # the open stream is closed by the reset
        assert stream.finished()
        writer = sqlite3.connect(path)
        with writer:
            writer.execute(f"INSERT INTO {FIXTURE_TABLE} VALUES (4, 'delta')")
        writer.close()
        rows = read_rows(conn.execute(f"SELECT count(*) AS n FROM {FIXTURE_TABLE}", timeout_s=5))
        assert rows == [(4,)]
        assert conn.reset()
        assert conn.alive()
        replacement = make_database(tmp_path / "replacement.db")
        os.replace(replacement, path)
        assert not conn.alive()
        assert conn.reset() is False
        path.unlink()
        assert not conn.alive()
