"""Bulk catalog introspection on every engine, checked against the engine's own catalog
queried separately: Chinook on SQLite, PostgreSQL and MariaDB, TPC-H on DuckDB. Also the
number of round trips per schema, odd identifiers and faults on the servers."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pymysql
import pytest

from querydeck.app import demo
from querydeck.drivers.base import EngineSession
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.duckdb.driver import DuckDBDriver, DuckDBOptions
from querydeck.drivers.mysql.driver import MySQLDriver
from querydeck.drivers.postgres.driver import PostgresDriver
from querydeck.drivers.sqlite.driver import SQLiteDriver, SQLiteOptions
from querydeck.errors import CatalogNotFound, QueryTimeout
from tests import chinook
from tests.services import mysql_connect_args, mysql_database, postgres_database

ODD = ["名前", "my.table", "with space", 'quote"d']


def pg_connect(url: str) -> EngineSession:
    driver = PostgresDriver(
        PostgresDriver.Options.model_validate(PostgresDriver.options_from_url(url))
    )
    return driver.connect(timeout_s=10)


def mysql_connect(url: str) -> EngineSession:
    driver = MySQLDriver(MySQLDriver.Options.model_validate(MySQLDriver.options_from_url(url)))
    return driver.connect(timeout_s=10)


def count_calls(conn: Any) -> list[int]:
    """Count every round trip the server drivers make (they all go through ``call``)."""
    calls = [0]
    original = conn.call

    def counting(action: Callable[[], Any]) -> Any:
        calls[0] += 1
        return original(action)

    conn.call = counting
    return calls


def by_name(meta: SchemaMeta) -> dict[str, Any]:
    return {t.name: t for t in meta.tables}


# --- SQLite -----------------------------------------------------------------------------


@pytest.fixture
def chinook_sqlite(tmp_path: Path) -> Path:
    return chinook.sqlite_copy(tmp_path)


def test_sqlite_chinook_matches_pragmas(chinook_sqlite: Path) -> None:
    with SQLiteDriver(SQLiteOptions(path=str(chinook_sqlite))).connect(timeout_s=5) as conn:
        assert conn.schemas() == ["main"]
        meta = conn.describe_schema("main", timeout_s=10)
    truth = sqlite3.connect(chinook_sqlite)
    names = {r[0] for r in truth.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    tables = by_name(meta)
    assert set(tables) == names
    for name, table in tables.items():
        info = truth.execute(f'PRAGMA table_info("{name}")').fetchall()
        assert [(c.name, c.native_type) for c in table.columns] == [(r[1], r[2]) for r in info]
        assert table.primary_key == [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
        fks = truth.execute(f'PRAGMA foreign_key_list("{name}")').fetchall()
        assert sorted(
            (f.columns[0], f.ref_table, f.ref_columns[0]) for f in table.foreign_keys
        ) == (sorted((r[3], r[2], r[4]) for r in fks))
        indexes = truth.execute(f'PRAGMA index_list("{name}")').fetchall()
        assert {i.name for i in table.indexes} == {r[1] for r in indexes}
    assert tables["Track"].columns[0].family == "integer"
    assert tables["Invoice"].columns[2].family == "timestamp"


def test_sqlite_round_trips_do_not_grow_with_tables(tmp_path: Path) -> None:
    path = tmp_path / "many.sqlite"
    with sqlite3.connect(path) as setup:
        for i in range(150):
            setup.execute(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
            setup.execute(f"CREATE INDEX ix{i} ON t{i}(v, id)")
    with SQLiteDriver(SQLiteOptions(path=str(path))).connect(timeout_s=5) as conn:
        statements: list[str] = []
        conn._native.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        meta = conn.describe_schema("main", timeout_s=10)
        conn._native.set_trace_callback(None)  # type: ignore[attr-defined]
        with pytest.raises(QueryTimeout):
            conn.describe_schema("main", timeout_s=0.0)
    assert len(meta.tables) == 150
    # Nested statements of the pragma functions are traced with a "--" prefix; they run
    # inside the one top-level statement.
    assert len([s for s in statements if not s.startswith("--")]) <= 5
    assert meta.tables[0].unique == [["v"]]


def test_sqlite_odd_identifiers_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "odd.sqlite"
    long_name = "x" * 10_000
    with sqlite3.connect(path) as setup:
        for name in [*ODD, long_name]:
            quoted = '"' + name.replace('"', '""') + '"'
            setup.execute(f'CREATE TABLE {quoted} ({quoted} INTEGER, "名 2" TEXT)')
    with SQLiteDriver(SQLiteOptions(path=str(path))).connect(timeout_s=5) as conn:
        tables = by_name(conn.describe_schema("main", timeout_s=10))
        assert set(tables) == {*ODD, long_name}
        assert [c.name for c in tables["名前"].columns] == ["名前", "名 2"]
        with pytest.raises(CatalogNotFound):
            conn.describe_schema("other", timeout_s=5)


# --- DuckDB -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tpch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tpch_path, _ = demo.prepare(tmp_path_factory.mktemp("tpch"))
    return tpch_path


def test_duckdb_tpch_matches_describe(tpch: Path) -> None:
    with DuckDBDriver(DuckDBOptions(path=str(tpch))).connect(timeout_s=5) as conn:
        assert "main" in conn.schemas()
        meta = conn.describe_schema("main", timeout_s=10)
    truth = duckdb.connect(str(tpch), read_only=True)
    try:
        names = {r[0] for r in truth.execute("SHOW TABLES").fetchall()}
        tables = by_name(meta)
        assert set(tables) == names
        for name, table in tables.items():
            described = truth.execute(f'DESCRIBE "{name}"').fetchall()
            assert [(c.name, c.native_type, c.nullable) for c in table.columns] == [
                (r[0], r[1], r[2] == "YES") for r in described
            ]
            count = truth.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            assert count is not None
            assert table.row_estimate == count[0]
    finally:
        truth.close()


def test_duckdb_keys_odd_names_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys.duckdb"
    long_name = "y" * 10_000
    with duckdb.connect(str(path)) as setup:
        setup.execute('CREATE SCHEMA "my.schema"')
        setup.execute(
            'CREATE TABLE "my.schema"."名前" ("id" INT PRIMARY KEY, "a b" VARCHAR UNIQUE)'
        )
        setup.execute(
            'CREATE TABLE "my.schema"."with space" '
            '(id INT, ref INT REFERENCES "my.schema"."名前"(id))'
        )
        setup.execute(f'CREATE TABLE "my.schema"."{long_name}" (v INT)')
        setup.execute('CREATE INDEX ix ON "my.schema"."with space" (ref, (id + 1))')
        setup.execute('COMMENT ON TABLE "my.schema"."名前" IS \'names\'')
        setup.execute('CREATE VIEW "my.schema".v AS SELECT 1 AS one')
    with DuckDBDriver(DuckDBOptions(path=str(path))).connect(timeout_s=5) as conn:
        native = conn._native  # type: ignore[attr-defined]
        calls = [0]

        class Counting:
            def execute(self, *args: Any) -> Any:
                calls[0] += 1
                return native.execute(*args)

        conn._native = Counting()  # type: ignore[attr-defined]
        meta = conn.describe_schema("my.schema", timeout_s=10)
        conn._native = native  # type: ignore[attr-defined]
        with pytest.raises(CatalogNotFound):
            conn.describe_schema("absent", timeout_s=5)
    assert calls[0] <= 5
    tables = by_name(meta)
    assert set(tables) == {"名前", "with space", long_name, "v"}
    assert tables["名前"].primary_key == ["id"]
    assert tables["名前"].unique == [["a b"]]
    assert tables["名前"].comment == "names"
    fk = tables["with space"].foreign_keys[0]
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (["ref"], "名前", ["id"])
    assert tables["with space"].indexes[0].columns == ["ref", "((id + 1))"]
    assert tables["v"].kind == "view"
    assert "SELECT 1" in (tables["v"].definition or "")


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_chinook() -> Iterator[str]:
    with postgres_database() as url:
        chinook.load_postgres(url)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("COMMENT ON TABLE album IS 'Albums of an artist'")
            admin.execute("COMMENT ON COLUMN album.title IS 'The title'")
            admin.execute("CREATE VIEW long_tracks AS SELECT * FROM track WHERE milliseconds > 1e6")
            admin.execute("CREATE MATERIALIZED VIEW genres AS SELECT * FROM genre")
            admin.execute("ANALYZE")
        yield url


def test_postgres_chinook_matches_information_schema(pg_chinook: str) -> None:
    with pg_connect(pg_chinook) as conn:
        assert "public" in conn.schemas()
        calls = count_calls(conn)
        meta = conn.describe_schema("public", timeout_s=30)
    assert calls[0] <= 8
    tables = by_name(meta)
    with psycopg.connect(pg_chinook) as truth:
        names = {
            r[0]
            for r in truth.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
        assert set(tables) == names | {"genres"}  # materialized views are not in it
        columns = truth.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM "
            "information_schema.columns WHERE table_schema='public' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
        for table_name, column, data_type, nullable in columns:
            col = next(c for c in tables[table_name].columns if c.name == column)
            assert col.native_type.startswith(data_type.replace("USER-DEFINED", ""))
            assert col.nullable == (nullable == "YES")
        assert sum(len(t.columns) for n, t in tables.items() if n != "genres") == len(columns)
        keys = truth.execute(
            "SELECT tc.table_name, tc.constraint_type, kcu.column_name, ccu.table_name, "
            "ccu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu "
            "  USING (constraint_schema, constraint_name) "
            "LEFT JOIN information_schema.constraint_column_usage ccu "
            "  ON tc.constraint_type = 'FOREIGN KEY' AND ccu.constraint_name = tc.constraint_name "
            "WHERE tc.table_schema='public' AND tc.constraint_type IN ('PRIMARY KEY','FOREIGN KEY')"
        ).fetchall()
    for table_name, kind, column, ref_table, ref_column in keys:
        table = tables[table_name]
        if kind == "PRIMARY KEY":
            assert column in table.primary_key
        else:
            assert any(
                column in f.columns and f.ref_table == ref_table and ref_column in f.ref_columns
                for f in table.foreign_keys
            )
    pk_count = sum(1 for k in keys if k[1] == "PRIMARY KEY")
    assert sum(len(t.primary_key) for t in tables.values()) == pk_count
    album = tables["album"]
    assert album.comment == "Albums of an artist"
    assert album.columns[1].comment == "The title"
    assert album.row_estimate == 347
    assert album.indexes
    assert tables["long_tracks"].kind == "view"
    assert tables["long_tracks"].definition
    assert tables["genres"].kind == "materialized_view"


def test_postgres_round_trips_constant_and_odd_names(pg_chinook: str) -> None:
    with psycopg.connect(pg_chinook, autocommit=True) as admin:
        admin.execute('CREATE SCHEMA "odd.schema"')
        for i in range(60):
            admin.execute(f'CREATE TABLE "odd.schema".t{i} (id int PRIMARY KEY, v text UNIQUE)')
        for name in ODD:
            quoted = '"' + name.replace('"', '""') + '"'
            admin.execute(f'CREATE TABLE "odd.schema".{quoted} ({quoted} int, "列 2" text)')
        admin.execute(f'CREATE TABLE "odd.schema"."{"z" * 10_000}" (v int)')  # truncated to 63
    with pg_connect(pg_chinook) as conn:
        calls = count_calls(conn)
        meta = conn.describe_schema("odd.schema", timeout_s=30)
        assert calls[0] <= 8
        with pytest.raises(CatalogNotFound):
            conn.describe_schema("absent", timeout_s=5)
    tables = by_name(meta)
    assert set(ODD) <= set(tables)
    assert "z" * 63 in tables
    assert [c.name for c in tables["名前"].columns] == ["名前", "列 2"]
    assert tables["t0"].unique == [["v"]]


# --- MariaDB ----------------------------------------------------------------------------


def test_postgres_index_kinds_and_foreign_keys_across_schemas() -> None:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "CREATE SCHEMA ref; CREATE TABLE ref.parent (id int PRIMARY KEY, code text);"
                "CREATE SCHEMA app; CREATE TABLE app.child (id int PRIMARY KEY, "
                "parent_id int REFERENCES ref.parent(id), name text, tags text[], n int);"
                "CREATE INDEX child_lower ON app.child (lower(name), n);"
                "CREATE INDEX child_partial ON app.child (n) WHERE n > 0;"
                "CREATE INDEX child_tags ON app.child USING gin (tags);"
                "CREATE UNIQUE INDEX child_name ON app.child (name) INCLUDE (n);"
                "CREATE INDEX child_plain ON app.child (parent_id, n)"
            )
        with pg_connect(url) as conn:
            child = by_name(conn.describe_schema("app", timeout_s=10))["child"]
        (fk,) = child.foreign_keys
        assert (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) == (
            ["parent_id"],
            "ref",
            "parent",
            ["id"],
        )
        indexes = {i.name: i for i in child.indexes}
        assert indexes["child_lower"].columns == ["lower(name)", "n"]
        assert "lower(name)" in (indexes["child_lower"].definition or "")
        assert "WHERE (n > 0)" in (indexes["child_partial"].definition or "")
        assert "USING gin" in (indexes["child_tags"].definition or "")
        assert indexes["child_name"].columns == ["name"]
        assert "INCLUDE (n)" in (indexes["child_name"].definition or "")
        assert indexes["child_plain"].columns == ["parent_id", "n"]
        assert indexes["child_plain"].definition is None
        assert indexes["child_pkey"].primary


@pytest.fixture(scope="module")
def mysql_chinook() -> Iterator[str]:
    with mysql_database() as url:
        chinook.load_mysql(url)
        yield url


def test_mysql_chinook_matches_show_statements(mysql_chinook: str) -> None:
    database = mysql_chinook.rsplit("/", 1)[1]
    with mysql_connect(mysql_chinook) as conn:
        assert database in conn.schemas()
        calls = count_calls(conn)
        meta = conn.describe_schema(database, timeout_s=30)
    assert calls[0] <= 8
    tables = by_name(meta)
    truth = pymysql.connect(**mysql_connect_args(mysql_chinook))  # type: ignore[arg-type]
    try:
        with truth.cursor() as cur:
            cur.execute("SHOW TABLES")
            names = {r[0] for r in cur.fetchall()}
            assert set(tables) == names
            for name in names:
                cur.execute(f"SHOW COLUMNS FROM `{name}`")
                shown = cur.fetchall()
                assert [(c.name, c.native_type, c.nullable) for c in tables[name].columns] == [
                    (r[0], r[1], r[2] == "YES") for r in shown
                ]
                assert tables[name].primary_key == [r[0] for r in shown if r[3] == "PRI"]
                cur.execute(f"SHOW CREATE TABLE `{name}`")
                create = cur.fetchone()[1]
                fks = re.findall(
                    r"FOREIGN KEY \(`([^`]+)`\) REFERENCES `([^`]+)` \(`([^`]+)`\)", create
                )
                assert sorted(
                    (f.columns[0], f.ref_table, f.ref_columns[0]) for f in tables[name].foreign_keys
                ) == sorted(fks)
    finally:
        truth.close()


def test_mysql_odd_names_and_a_table_dropped_while_describing(mysql_chinook: str) -> None:
    with mysql_database() as url:
        database = url.rsplit("/", 1)[1]
        admin = pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]
        try:
            with admin.cursor() as cur:
                for name in [*ODD, "gone"]:
                    quoted = "`" + name.replace("`", "``") + "`"
                    cur.execute(f"CREATE TABLE {quoted} ({quoted} INT COMMENT 'c', `列 2` TEXT)")
            with mysql_connect(url) as conn:
                original = conn.call  # type: ignore[attr-defined]
                seen = [0]

                def drop_after_listing(action: Callable[[], Any]) -> Any:
                    result = original(action)
                    seen[0] += 1
                    if seen[0] == 3:  # timeout, schema, tables: now drop one
                        with admin.cursor() as cur:
                            cur.execute("DROP TABLE `gone`")
                    return result

                conn.call = drop_after_listing  # type: ignore[attr-defined]
                meta = conn.describe_schema(database, timeout_s=30)
        finally:
            admin.close()
    tables = by_name(meta)
    assert set(tables) == set(ODD)
    assert meta.partial
    assert "gone" in meta.problems[0]
    assert tables["名前"].columns[0].comment == "c"
