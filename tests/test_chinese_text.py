"""Chinese text end to end: from GBK and GB18030 files (local and on S3) and from the
UTF-8 engines (SQLite, DuckDB, PostgreSQL, MariaDB), through a run's stored pages and
every export format, byte-exact after decoding. The text has GB18030's four-byte
characters (outside GBK and the Basic Multilingual Plane), full-width punctuation and
traditional characters."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from querydeck.app.workbench import Workbench
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import Settings
from tests.s3server import S3Server
from tests.services import mysql_database, postgres_database

#: Text every encoding below holds (GBK has no four-byte characters).
GBK_TEXT = "北京市朝阳区；上海·浦东 「标点」、——…（全角）繁體中文 ＡＢＣ"
#: With GB18030's four-byte characters (CJK Extension B) and a rare BMP one.
FULL_TEXT = GBK_TEXT + " 𠀀𪚥𠮷 㐀"


def csv_bytes(text: str, encoding: str) -> bytes:
    return f"id,city\n1,{text}\n2,{text[::-1]}\n".encode(encoding)


def exported(wb: Workbench, run_id: str, fmt: ExportFormat) -> list[str]:
    """The ``city`` column of a run's export in ``fmt``, decoded as the format says."""
    data = b"".join(wb.runs.export(run_id, fmt).chunks())
    if fmt in (ExportFormat.csv, ExportFormat.tsv, ExportFormat.excel):
        delimiter = "\t" if fmt is ExportFormat.tsv else ","
        # The excel flavour starts with a byte-order mark; utf-8-sig reads either.
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))
        header = rows[0]
        return [r[header.index("city")] for r in rows[1:]]
    if fmt is ExportFormat.json:
        return [str(r["city"]) for r in orjson.loads(data)]
    if fmt is ExportFormat.ndjson:
        return [str(orjson.loads(line)["city"]) for line in data.splitlines() if line]
    return [str(v) for v in pq.read_table(io.BytesIO(data)).column("city").to_pylist()]


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[Workbench]:
    base = tmp_path_factory.mktemp("chinese")
    files = base / "files"
    (files / "local").mkdir(parents=True)
    (files / "local" / "gbk.csv").write_bytes(csv_bytes(GBK_TEXT, "gbk"))
    (files / "local" / "gb18030.csv").write_bytes(csv_bytes(FULL_TEXT, "gb18030"))
    (files / "local" / "utf8.csv").write_bytes(csv_bytes(FULL_TEXT, "utf-8"))
    with sqlite3.connect(files / "t.db") as db:
        db.execute("CREATE TABLE t (id INTEGER, city TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(1, FULL_TEXT), (2, FULL_TEXT[::-1])])
    bucket = s3_server.new_bucket()
    s3_server.put(bucket, "cn/gbk.csv", csv_bytes(GBK_TEXT, "gbk"))
    s3_server.put(bucket, "cn/gb18030.csv", csv_bytes(FULL_TEXT, "gb18030"))
    workbench = Workbench(
        Settings(data_dir=base / "data", file_roots=[files], outbound_allow=["127.0.0.1/32"])
    ).open()
    workbench.connections.create("files", driver="files", options={"path": str(files / "local")})
    workbench.connections.create("sqlite", driver="sqlite", options={"path": str(files / "t.db")})
    workbench.connections.create("duckdb", driver="duckdb", options={})
    workbench.connections.create("s3", driver="s3", options=s3_server.options(bucket, "cn"))
    try:
        yield workbench
    finally:
        workbench.close()


def check(wb: Workbench, connection: str, sql: str, expected: str) -> None:
    info = wb.runs.run(RunRequest(connection=connection, sql=sql))
    assert info.status is RunStatus.succeeded, info.error_message
    page = wb.runs.rows(info.id)
    names = [c.name for c in page.columns]
    cities = [row[names.index("city")] for row in page.rows]
    assert cities == [expected, expected[::-1]]
    for fmt in ExportFormat:
        assert exported(wb, info.id, fmt) == cities, fmt


@pytest.mark.parametrize(
    ("connection", "table", "expected"),
    [
        ("files", "gbk", GBK_TEXT),
        ("files", "gb18030", FULL_TEXT),
        ("files", "utf8", FULL_TEXT),
        ("s3", "gbk", GBK_TEXT),
        ("s3", "gb18030", FULL_TEXT),
    ],
)
def test_encoded_files(wb: Workbench, connection: str, table: str, expected: str) -> None:
    check(wb, connection, f"SELECT id, city FROM {table} ORDER BY id", expected)


def test_utf8_engines_sqlite_and_duckdb(wb: Workbench) -> None:
    check(wb, "sqlite", "SELECT id, city FROM t ORDER BY id", FULL_TEXT)
    duck = f"SELECT * FROM (VALUES (1, '{FULL_TEXT}'), (2, '{FULL_TEXT[::-1]}')) v(id, city)"
    check(wb, "duckdb", duck + " ORDER BY id", FULL_TEXT)


def _server_table(wb: Workbench, name: str, url: str, setup: Any) -> None:
    setup()
    wb.connections.create(name, url=url, allow_privileged=True)
    try:
        check(wb, name, "SELECT id, city FROM cn ORDER BY id", FULL_TEXT)
    finally:
        wb.connections.delete(name)


def test_utf8_engines_postgres(wb: Workbench) -> None:
    import psycopg

    with postgres_database() as url:

        def setup() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE cn (id int, city text)")
                conn.execute("INSERT INTO cn VALUES (1, %s), (2, %s)", (FULL_TEXT, FULL_TEXT[::-1]))

        _server_table(wb, "pg", url, setup)


def test_utf8_engines_mariadb(wb: Workbench) -> None:
    import pymysql

    from tests.services import mysql_connect_args

    with mysql_database() as url:

        def setup() -> None:
            conn = pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE cn (id int, city text) CHARACTER SET utf8mb4")
                cur.execute("INSERT INTO cn VALUES (1, %s), (2, %s)", (FULL_TEXT, FULL_TEXT[::-1]))
            conn.close()

        _server_table(wb, "my", url, setup)


def test_names_in_chinese(tmp_path: Path, wb: Workbench) -> None:
    """A file named in Chinese is a table of that name, with Chinese column names."""
    root = Path(wb.connections.get("files").options["path"])
    (root / "城市.csv").write_text("编号,城市名\n1,北京\n", encoding="utf-8")
    try:
        sql = 'SELECT "城市名" AS city FROM "城市"'
        info = wb.runs.run(RunRequest(connection="files", sql=sql))
        assert info.status is RunStatus.succeeded, info.error_message
        assert wb.runs.rows(info.id).rows == [["北京"]]
    finally:
        (root / "城市.csv").unlink()
