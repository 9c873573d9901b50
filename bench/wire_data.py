"""The issue-21 table on every engine: PostgreSQL's ``wire_<rows>`` copied to a SQLite file,
a DuckDB file and a MariaDB table, each made once and reused while its row count matches.

The files live in ``QD_BENCH_CACHE`` (default ``.bench-env/data``, git-ignored); the MariaDB
table in a ``qd_bench`` database of ``QD_BENCH_MYSQL_URL`` (default the test server's).
SQLite keeps what its types allow: integers, reals (``amount`` too), text for the timestamp
(ISO 8601, UTC) and the date, 0/1 for the flag; an index on ``small`` serves the small
query of the request-path benchmark.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench import refenv
from bench.results import db_url
from bench.wire import ROWS, prepare_wire, wire_table

CACHE = Path(os.environ.get("QD_BENCH_CACHE", str(refenv.ENV / "data")))
MYSQL_URL = os.environ.get("QD_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/qd_bench")
#: The columns as text PostgreSQL writes for the other engines.
EXPORT = (
    "SELECT id, small, ratio, amount, code, note, "
    "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS at, day, flag::int AS flag, zh "
    "FROM {table} ORDER BY id"
)


def sqlite_path() -> Path:
    return CACHE / f"wire_{ROWS}.sqlite"


def duckdb_path() -> Path:
    return CACHE / f"wire_{ROWS}.duckdb"


def mysql_database() -> str:
    return urlsplit(MYSQL_URL).path.lstrip("/") or "qd_bench"


def _count_sqlite(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute(f"SELECT count(*) FROM {wire_table()}").fetchone()
    except sqlite3.Error:
        return -1
    return int(row[0]) if row else -1


def prepare_sqlite() -> Path:
    path = sqlite_path()
    if path.exists() and _count_sqlite(path) == ROWS:
        return path
    import psycopg

    print(f"copying {wire_table()} to SQLite…", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as target, psycopg.connect(db_url()) as source:
        target.execute(
            f"CREATE TABLE {wire_table()} (id INTEGER PRIMARY KEY, small INTEGER, ratio REAL, "
            "amount REAL, code TEXT, note TEXT, at TEXT, day TEXT, flag INTEGER, zh TEXT)"
        )
        with source.cursor(name="copy") as cursor:
            cursor.execute(EXPORT.format(table=wire_table()))
            while rows := cursor.fetchmany(50_000):
                target.executemany(
                    f"INSERT INTO {wire_table()} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            *r[:3],
                            float(r[3]) if r[3] is not None else None,
                            *r[4:7],
                            None if r[7] is None else r[7].isoformat(),
                            *r[8:],
                        )
                        for r in rows
                    ],
                )
        target.execute(f"CREATE INDEX {wire_table()}_small ON {wire_table()} (small)")
    return path


def prepare_duckdb() -> Path:
    """The DuckDB file, made from PostgreSQL's table read through querydeck's driver (its
    types: decimal(12,2), UTC timestamps, dates, booleans)."""
    import duckdb

    path = duckdb_path()
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as conn:
            found = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                [wire_table()],
            ).fetchone()
            if found and found[0]:
                count = conn.execute(f"SELECT count(*) FROM {wire_table()}").fetchone()
                if count and count[0] == ROWS:
                    return path
    import pyarrow as pa

    from querydeck.drivers.postgres.driver import PostgresDriver

    print(f"copying {wire_table()} to DuckDB…", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    options = PostgresDriver.Options.model_validate(PostgresDriver.options_from_url(db_url()))
    with PostgresDriver(options).connect(timeout_s=10) as source:
        stream = source.execute(f"SELECT * FROM {wire_table()} ORDER BY id", timeout_s=600)
        arrow = pa.Table.from_batches(list(stream), schema=stream.schema)
    with duckdb.connect(str(path)) as conn:
        conn.register("source", arrow)
        conn.execute(f"CREATE TABLE {wire_table()} AS SELECT * FROM source")
    return path


def prepare_mysql() -> str:
    """The MariaDB table (loaded from PostgreSQL's CSV with LOAD DATA LOCAL INFILE)."""
    import psycopg
    import pymysql

    parts = urlsplit(MYSQL_URL)
    database = mysql_database()
    with (
        pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            local_infile=True,
            autocommit=True,
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{database}`")
        try:
            cursor.execute(f"SELECT count(*) FROM {wire_table()}")
            row = cursor.fetchone()
            if row and row[0] == ROWS:
                return database
        except pymysql.MySQLError:
            pass
        print(f"copying {wire_table()} to MariaDB…", file=sys.stderr)
        cursor.execute(f"DROP TABLE IF EXISTS {wire_table()}")
        cursor.execute(
            f"CREATE TABLE {wire_table()} (id BIGINT PRIMARY KEY, small INT, ratio DOUBLE, "
            "amount DECIMAL(12,2), code VARCHAR(16), note TEXT, at DATETIME, day DATE, "
            "flag BOOLEAN, zh VARCHAR(64)) CHARACTER SET utf8mb4"
        )
        with tempfile.NamedTemporaryFile(suffix=".csv") as csv, psycopg.connect(db_url()) as pg:
            copy_sql = (
                f"COPY ({EXPORT.format(table=wire_table())}) TO STDOUT (FORMAT csv, NULL 'NULL')"
            )
            with pg.cursor().copy(copy_sql) as copy:
                for chunk in copy:
                    csv.write(chunk)
            csv.flush()
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {wire_table()} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                "LINES TERMINATED BY '\\n'",
                (csv.name,),
            )
    return database


def prepare_all() -> None:
    prepare_wire()
    prepare_sqlite()
    prepare_duckdb()
    prepare_mysql()


if __name__ == "__main__":
    prepare_all()
    print(sqlite_path(), duckdb_path(), mysql_database())
