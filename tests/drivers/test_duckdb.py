"""The DuckDB driver: the compliance suite plus its sandbox and packaged extensions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pydantic import ValidationError

from querydeck.drivers.arrow_rows import native_type
from querydeck.drivers.base import Driver
from querydeck.drivers.duckdb.driver import DuckDBDriver, DuckDBOptions
from querydeck.drivers.duckdb.engine import (
    DuckDBSession,
    load_extension_file,
    load_packaged_extension,
    packaged_extension,
    verified_extensions,
)
from querydeck.drivers.files.session import Plan, SessionSpec, open_session
from querydeck.errors import (
    ConfigError,
    ConnectionFailed,
    ConnectionUrlInvalid,
    DataFileNotFound,
    QueryFailed,
    QueryRejected,
    ResourceLimit,
    SqlEmpty,
    SqlMultipleStatements,
)
from tests.drivers.suite import (
    ARRAY,
    BIG_INT,
    BINARY,
    DATE,
    EXACT_DECIMAL,
    FIXTURE_ROWS,
    FIXTURE_SELECT,
    FIXTURE_TABLE,
    INSTANT,
    INSTANT_TEXT,
    JSON_TEXT,
    JSON_VALUE,
    MIN_INT64,
    NUL_TEXT,
    UNICODE_TEXT,
    DriverSuite,
    ExtremeCase,
    ExtremeValueSuite,
    TypeCase,
    is_utc_timestamp,
    json_loads,
    read_rows,
    read_table,
)

CROSS_JOIN = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_database(path: Path) -> Path:
    native = duckdb.connect(str(path))
    native.execute(f"CREATE TABLE {FIXTURE_TABLE} (id BIGINT, name VARCHAR)")
    native.executemany(f"INSERT INTO {FIXTURE_TABLE} VALUES (?, ?)", FIXTURE_ROWS)
    native.close()
    return path


def duckdb_driver(path: Path | None, **options: Any) -> DuckDBDriver:
    return DuckDBDriver(DuckDBOptions(path=None if path is None else str(path), **options))


class TestDuckDB(ExtremeValueSuite, DriverSuite):
    driver_cls = DuckDBDriver
    sleep_sql = CROSS_JOIN
    good_urls = (
        ("duckdb:///data/demo.duckdb", {"path": "data/demo.duckdb"}),
        ("duckdb:////srv/data/demo.duckdb", {"path": "/srv/data/demo.duckdb"}),
        ("duckdb://", {"path": None}),
        ("duckdb:///:memory:", {"path": None}),
    )
    forbidden_urls = (
        "duckdb:///x.duckdb?access_mode=read_write",
        "duckdb:///x.duckdb?allow_unsigned_extensions=true",
        "duckdb:///x.duckdb?memory_limit=100GB",
    )

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, tmp_path: Path) -> Driver[Any]:
        return duckdb_driver(make_database(tmp_path / "fixture.duckdb"))

    def extreme_cases(self) -> list[ExtremeCase]:
        return [
            ExtremeCase(
                "infinite and far dates",
                "SELECT 'infinity'::timestamp AS a, '-infinity'::date AS b, "
                "'infinity'::timestamptz AS c, '10000-01-01'::timestamp AS d, "
                "'0001-01-01'::date - 1 AS e, '-0290308-12-22'::timestamp AS f",
                [
                    "infinity",
                    "-infinity",
                    "infinity",
                    "+10000-01-01T00:00:00",
                    "0000-12-31",
                    "-290308-12-22T00:00:00",
                ],
            ),
            ExtremeCase(
                "floats, decimals and intervals",
                "SELECT 'nan'::double AS a, '-inf'::double AS b, '-0.0'::double AS c, "
                "-99999999999999999999999999999999999999::decimal(38,0) AS d, "
                "INTERVAL '1 day 2 hours' AS e, INTERVAL '-14 months -1.5 seconds' AS f",
                [
                    "NaN",
                    "-Infinity",
                    -0.0,
                    "-99999999999999999999999999999999999999",
                    "P1DT2H",
                    "P-1Y-2MT-1.5S",
                ],
            ),
            ExtremeCase(
                "far dates inside lists, structs and maps",
                "SELECT ['infinity'::date, DATE '2020-01-01', NULL] AS a, "
                "{'d': '10000-01-01'::timestamp, 'n': 1} AS b, "
                "MAP {'k': '-infinity'::timestamptz} AS c, [[DATE '0001-01-01' - 1]] AS d",
                [
                    ["infinity", "2020-01-01", None],
                    {"d": "+10000-01-01T00:00:00", "n": 1},
                    {"k": "-infinity"},
                    [["0000-12-31"]],
                ],
            ),
        ]

    def type_cases(self) -> list[TypeCase]:
        return [
            TypeCase("int_above_2_53", f"SELECT {BIG_INT}::BIGINT AS v", BIG_INT, pa.int64()),
            TypeCase("int64_min", f"SELECT ({MIN_INT64})::BIGINT AS v", MIN_INT64, pa.int64()),
            TypeCase(
                "decimal",
                f"SELECT {EXACT_DECIMAL}::DECIMAL(38, 9) AS v",
                EXACT_DECIMAL,
                pa.decimal128(38, 9),
            ),
            TypeCase("date", f"SELECT DATE '{DATE}' AS v", DATE, pa.date32()),
            TypeCase(
                "timestamp_tz",
                f"SELECT TIMESTAMPTZ '{INSTANT_TEXT}' AS v",
                INSTANT,
                is_utc_timestamp,
            ),
            TypeCase("boolean", "SELECT TRUE AS v", True, pa.bool_()),
            TypeCase("text_unicode", f"SELECT '{UNICODE_TEXT}' AS v", UNICODE_TEXT, pa.string()),
            TypeCase("text_nul", "SELECT 'a' || chr(0) || 'b' AS v", NUL_TEXT, pa.string()),
            TypeCase("binary", f"SELECT from_hex('{BINARY.hex()}') AS v", BINARY, pa.binary()),
            TypeCase(
                "json", f"SELECT '{JSON_TEXT}'::JSON AS v", JSON_VALUE, pa.string(), json_loads
            ),
            TypeCase("array", "SELECT [1, 2, 3] AS v", ARRAY, pa.types.is_list),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        text_file = tmp_path / "notes.duckdb"
        text_file.write_text("not a database, " * 100)
        return [
            ("missing file", duckdb_driver(tmp_path / "missing.duckdb"), DataFileNotFound),
            ("directory", duckdb_driver(tmp_path), ConnectionFailed),
            ("text file", duckdb_driver(text_file), ConnectionFailed),
        ]


@pytest.fixture
def fixture_db(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    return make_database(data / "fixture.duckdb")


def test_missing_file_is_not_created(tmp_path: Path) -> None:
    before = tree(tmp_path)
    with pytest.raises(DataFileNotFound, match=r"missing\.duckdb"):
        duckdb_driver(tmp_path / "missing.duckdb").connect(timeout_s=1)
    assert tree(tmp_path) == before


def test_native_types_and_utc_session(fixture_db: Path) -> None:
    with duckdb_driver(fixture_db).connect(timeout_s=5) as conn:
        stream = conn.execute(
            "SELECT 1::DECIMAL(10, 2) AS d, '{}'::JSON AS j, current_setting('TimeZone') AS tz",
            timeout_s=5,
        )
        assert [native_type(f) for f in stream.schema] == ["DECIMAL(10,2)", "JSON", "VARCHAR"]
        assert read_rows(stream)[0][2] == "UTC"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/proc/self/environ')",
        "COPY {table} TO '{dir}/x.csv'",
        "COPY (SELECT 1) TO '{dir}/x.parquet' (FORMAT parquet)",
        "EXPORT DATABASE '{dir}/export'",
        "ATTACH '{dir}/new.duckdb' AS n",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET memory_limit = '100GB'",
        "SET autoinstall_known_extensions = true",
        "SELECT * FROM read_parquet('http://169.254.169.254/latest/x.parquet')",
        "INSERT INTO {table} VALUES (99, 'evil')",
        "CREATE TABLE {dir_name}_t AS SELECT 1",
    ],
)
def test_sandbox_refuses_and_creates_nothing(fixture_db: Path, sql: str) -> None:
    tmp_path = fixture_db.parent.parent
    driver = duckdb_driver(fixture_db, memory_limit="256MB")
    text = sql.format(table=FIXTURE_TABLE, dir=tmp_path, dir_name="qd")
    before = tree(tmp_path)
    with driver.connect(timeout_s=5) as conn:
        with pytest.raises((QueryRejected, QueryFailed)):
            read_table(conn.execute(text, timeout_s=5))
        assert isinstance(conn, DuckDBSession)
        with pytest.raises(duckdb.Error):  # the engine refuses it too, past the type check
            conn._native.execute(text).fetchall()
        settings = read_rows(
            conn.execute(
                "SELECT current_setting('memory_limit'), current_setting('enable_external_access')",
                timeout_s=5,
            )
        )
        assert settings[0][1] is False
        assert settings[0][0].replace(" ", "").startswith("244")  # 256 MB in MiB
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS
    assert tree(tmp_path) == before


def test_file_access_has_its_own_code(fixture_db: Path) -> None:
    with (
        duckdb_driver(fixture_db).connect(timeout_s=5) as conn,
        pytest.raises(QueryRejected) as caught,
    ):
        conn.execute("SELECT * FROM read_csv('/etc/passwd')", timeout_s=5)
    assert caught.value.code == "FILE_ACCESS_DENIED"
    assert "/etc/passwd" not in caught.value.message


@pytest.mark.parametrize("sql", ["", "  -- only a comment\n", ";"])
def test_empty_text_is_refused(fixture_db: Path, sql: str) -> None:
    with (
        duckdb_driver(fixture_db).connect(timeout_s=5) as conn,
        pytest.raises(SqlEmpty) as caught,
    ):
        conn.execute(sql, timeout_s=5)
    assert caught.value.code == "SQL_EMPTY"


def test_second_statement_is_refused_with_its_code(fixture_db: Path) -> None:
    with duckdb_driver(fixture_db).connect(timeout_s=5) as conn:
        with pytest.raises(SqlMultipleStatements) as caught:
            conn.execute(f"SELECT 1; INSERT INTO {FIXTURE_TABLE} VALUES (9, 'x')", timeout_s=5)
        assert caught.value.code == "SQL_MULTIPLE_STATEMENTS"
        assert read_rows(conn.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS


@pytest.mark.parametrize(
    "sql",
    ["CREATE TEMP TABLE qd_t AS SELECT 1", "SET VARIABLE v = 1", "CALL duckdb_tables()", "USE x"],
)
def test_only_reading_statement_types_run(sql: str) -> None:
    with duckdb_driver(None).connect(timeout_s=5) as conn:
        with pytest.raises(QueryRejected) as caught:
            conn.execute(sql, timeout_s=5)
        assert caught.value.detail["statement_type"] in ("CREATE", "SET", "CALL")
        with pytest.raises(QueryFailed):
            conn.execute("SELECT * FROM qd_t", timeout_s=5)
        assert read_rows(conn.execute("DESCRIBE SELECT 1 AS a", timeout_s=5))[0][0] == "a"


def test_in_memory_database(tmp_path: Path) -> None:
    driver = duckdb_driver(None)
    before = tree(tmp_path)
    assert driver.target() == ":memory:"
    with driver.connect(timeout_s=5) as conn:
        assert read_rows(conn.execute("SELECT 42 AS answer", timeout_s=5)) == [(42,)]
        with pytest.raises(QueryRejected):
            conn.execute(f"COPY (SELECT 1) TO '{tmp_path}/x.csv'", timeout_s=5)
    assert tree(tmp_path) == before


#: A sort past a 100 MB memory_limit: DuckDB would spill it to disk.
SPILLING_SORT = (
    "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS m, i FROM range(6000000) t(i) "
    "ORDER BY m OFFSET 1)"
)


@pytest.mark.parametrize("in_memory", [True, False], ids=["in memory", "a file"])
def test_a_sort_past_the_memory_limit_writes_no_spill_file(
    tmp_path: Path, fixture_db: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    """DuckDB spilled such a sort into ``.tmp`` under the server's working directory (in
    memory) or next to the database file, up to 90 % of the disk: now it is a
    RESOURCE_LIMIT and nothing is written."""
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    driver = duckdb_driver(None if in_memory else fixture_db, memory_limit="100MB", threads=1)
    with driver.connect(timeout_s=5) as conn, pytest.raises(ResourceLimit):
        read_table(conn.execute(SPILLING_SORT, timeout_s=120))
    assert tree(tmp_path) == before


def test_memory_limit_is_a_resource_limit() -> None:
    with duckdb_driver(None, memory_limit="64MB").connect(timeout_s=5) as conn:
        with pytest.raises(ResourceLimit):
            read_table(
                conn.execute(
                    "SELECT max(length(s)) FROM "
                    "(SELECT string_agg(range::VARCHAR, ',') AS s FROM range(50000000))",
                    timeout_s=30,
                )
            )
        assert read_rows(conn.execute("SELECT 1", timeout_s=5)) == [(1,)]


@pytest.mark.parametrize("value", ["1GB; SET x=1", "lots", "-1GB"])
def test_memory_limit_option_is_validated(value: str) -> None:
    with pytest.raises(ValidationError):
        DuckDBOptions(memory_limit=value)


@pytest.mark.parametrize("url", ["duckdb://host/x.duckdb", "duckdb:x.duckdb", "sqlite:///x.db"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        DuckDBDriver.options_from_url(url)


def test_packaged_tpch_extension_loads_into_a_writable_database(tmp_path: Path) -> None:
    native = duckdb.connect(str(tmp_path / "demo.duckdb"))
    try:
        loaded = load_packaged_extension(native, "tpch")
        assert loaded.name == "tpch.duckdb_extension"
        assert f"v{duckdb.__version__}" in loaded.parts
        native.execute("CALL dbgen(sf=0.01)")
        row = native.execute("SELECT count(*) FROM nation").fetchone()
        assert row == (25,)
    finally:
        native.close()


@pytest.mark.parametrize("name", ["qd_no_such_extension", "../tpch", "TPCH'"])
def test_packaged_extension_must_be_installed(name: str) -> None:
    native = duckdb.connect()
    try:
        with pytest.raises(ConfigError):
            load_packaged_extension(native, name)
    finally:
        native.close()


def _allows_unsigned(native: duckdb.DuckDBPyConnection) -> object:
    row = native.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()
    return row[0] if row else None


def _tampered(original: Path, path: Path) -> Path:
    """A copy of ``original`` with a byte in its middle changed (its signature no longer
    matches), written as a new file in place of ``path``."""
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.with_suffix(".new").write_bytes(bytes(data))
    path.with_suffix(".new").replace(path)
    return path


def test_an_extension_verified_once_loads_into_later_sessions_unhashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DuckDB checks a file's signature on its first load in the process; a later session
    that loads only verified files allows unsigned ones while it loads them, and no longer
    once the session is open."""
    first = duckdb.connect()
    try:
        load_packaged_extension(first, "httpfs")  # signed: the check runs
    finally:
        first.close()
    assert verified_extensions(["httpfs"])
    assert not verified_extensions([])
    assert not verified_extensions(["httpfs", "qd_no_such_extension"])
    spec = SessionSpec(
        base="/nonexistent/qd/", shown="x", memory_limit="1GB", threads=1, extensions=("httpfs",)
    )
    configs: list[dict[str, Any]] = []
    connect = duckdb.connect

    def recorded(database: str, *, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        configs.append(dict(config))
        return connect(database, config=config)

    monkeypatch.setattr(duckdb, "connect", recorded)
    session = open_session(spec, lambda native: Plan())
    monkeypatch.undo()
    assert [c["allow_unsigned_extensions"] for c in configs] == [True]
    try:
        native = session._native
        assert _allows_unsigned(native) is False
        httpfs_setting = "SELECT count(*) FROM duckdb_settings() WHERE name = 's3_endpoint'"
        assert native.execute(httpfs_setting).fetchone() == (1,)  # httpfs is loaded
        rows = read_rows(session.execute("SELECT 1 AS one", timeout_s=5))
        assert rows == [(1,)]
    finally:
        session.close()


def test_a_file_not_verified_is_checked_where_unsigned_ones_are_allowed(tmp_path: Path) -> None:
    """A file DuckDB did not verify in this process, or that changed since it did, has its
    signature checked even in a database that allows unsigned extensions."""
    original = packaged_extension("httpfs")
    copy = tmp_path / "httpfs.duckdb_extension"
    copy.write_bytes(original.read_bytes())
    signed = duckdb.connect()
    try:
        load_extension_file(signed, copy, "httpfs")  # verified: the signature matches
    finally:
        signed.close()
    _tampered(original, copy)
    for path in (copy, _tampered(original, tmp_path / "other.duckdb_extension")):
        native = duckdb.connect(config={"allow_unsigned_extensions": True})
        try:
            with pytest.raises(ConfigError, match="signature"):
                load_extension_file(native, path, "httpfs")
            assert _allows_unsigned(native) is False
        finally:
            native.close()
