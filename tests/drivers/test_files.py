"""The files driver: the compliance suite over a directory of files, plus the formats,
encodings, folders, schema changes and the sandbox."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
import zstandard

import tests.drivers.test_duckdb as duckdb_tests
from querydeck.drivers.base import Driver, Sandbox
from querydeck.drivers.files.arrow import sniff_delimiter
from querydeck.drivers.files.driver import FilesDriver, FilesOptions
from querydeck.drivers.files.layout import discover, split_name
from querydeck.drivers.files.options import detect_encoding
from querydeck.errors import (
    ConnectionFailed,
    ConnectionTargetForbidden,
    ConnectionUrlInvalid,
    DataFileNotFound,
    FileAccessDenied,
    QueryFailed,
    QueryRejected,
    ResourceLimit,
)
from querydeck.sandbox.fileroots import FileRoots
from tests.drivers.suite import (
    FIXTURE_ROWS,
    FIXTURE_TABLE,
    DriverSuite,
    ExtremeCase,
    ExtremeValueSuite,
    TypeCase,
    read_rows,
)

CHINESE = "北京市朝阳区 上海 广州 深圳 「引号」 𠀀"


def avro_bytes(rows: list[tuple[int, str]]) -> bytes:
    """An Avro object container file of records (id long, city string), written by hand
    (the format is short; no Avro writer is a dependency)."""

    def long(value: int) -> bytes:
        zigzag, out = (value << 1) ^ (value >> 63), b""
        while True:
            byte = zigzag & 0x7F
            zigzag >>= 7
            if zigzag:
                out += bytes([byte | 0x80])
            else:
                return out + bytes([byte])

    def text(value: str | bytes) -> bytes:
        raw = value.encode() if isinstance(value, str) else value
        return long(len(raw)) + raw

    schema = json.dumps(
        {
            "type": "record",
            "name": "city",
            "fields": [{"name": "id", "type": "long"}, {"name": "city", "type": "string"}],
        }
    )
    sync = bytes(range(16))
    header = b"Obj\x01" + long(2) + text("avro.schema") + text(schema)
    header += text("avro.codec") + text("null") + long(0) + sync
    body = b"".join(long(i) + text(city) for i, city in rows)
    return header + long(len(rows)) + long(len(body)) + body + sync


def write_fixture(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["id,name", *(f"{i},{name}" for i, name in FIXTURE_ROWS)]
    (directory / f"{FIXTURE_TABLE}.csv").write_text("\n".join(lines) + "\n")
    return directory


#: DuckDB's extreme values, written by DuckDB to Parquet, CSV and JSON files.
EXTREMES = (
    "SELECT 'infinity'::timestamp AS a, '-infinity'::date AS b, '10000-01-01'::timestamp AS c, "
    "'0001-01-01'::date - 1 AS d, 'nan'::double AS e, '-inf'::double AS f, '-0.0'::double AS g, "
    "-99999999999999999999999999999999999999::decimal(38,0) AS h, INTERVAL '1 day 2 hours' AS i"
)


def write_extremes(directory: Path) -> None:
    """``extreme_parquet``, ``extreme_csv`` and ``extreme_json`` tables of one row each."""
    with duckdb.connect() as writer:
        for table, options in (
            ("extreme_parquet.parquet", "FORMAT parquet"),
            ("extreme_csv.csv", "FORMAT csv, HEADER"),
            ("extreme_json.json", "FORMAT json"),  # NaN and -Infinity as bare tokens
        ):
            writer.execute(f"COPY ({EXTREMES}) TO '{directory / table}' ({options})")


def files_driver(path: Path, **options: Any) -> FilesDriver:
    return FilesDriver(FilesOptions(path=str(path), **options))


def rows(driver: Driver[Any], sql: str) -> list[tuple[Any, ...]]:
    with driver.connect(timeout_s=10) as conn:
        return read_rows(conn.execute(sql, timeout_s=10))


class TestFiles(ExtremeValueSuite, DriverSuite):
    driver_cls = FilesDriver
    sleep_sql = duckdb_tests.CROSS_JOIN
    good_urls = (
        ("files:///srv/data", {"path": "/srv/data"}),
        ("files:///srv/%E6%95%B0%E6%8D%AE", {"path": "/srv/数据"}),
        (
            "files:///srv/data?delimiter=%3B&header=true&encoding=gbk",
            {"path": "/srv/data", "csv_delimiter": ";", "csv_header": "true", "encoding": "gbk"},
        ),
    )
    forbidden_urls = (
        "files:///srv/data?allowed_directories=/",
        "files:///srv/data?memory_limit=100GB",
    )

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, tmp_path: Path) -> Driver[Any]:
        directory = write_fixture(tmp_path / "files")
        write_extremes(directory)
        return files_driver(directory)

    def type_cases(self) -> list[TypeCase]:
        return duckdb_tests.TestDuckDB.type_cases(self)  # type: ignore[arg-type]

    def extreme_cases(self) -> list[ExtremeCase]:
        """Parquet keeps every type; CSV and JSON hold text, typed again by DuckDB's
        sniffer when read: a huge decimal comes back a double, ``-inf`` a date (DuckDB reads
        it as ``-infinity``), an interval text, and its JSON reader takes ``"infinity"`` and
        ``"-infinity"`` for dates of 1900-01-01 (a DuckDB bug; cast such a column in the
        query, or use Parquet). Whatever the sniffer made, nothing fails or is replaced."""
        return [
            ExtremeCase(
                "parquet",
                "SELECT * FROM extreme_parquet",
                [
                    "infinity",
                    "-infinity",
                    "+10000-01-01T00:00:00",
                    "0000-12-31",
                    "NaN",
                    "-Infinity",
                    -0.0,
                    "-99999999999999999999999999999999999999",
                    "P1DT2H",
                ],
            ),
            ExtremeCase(
                "csv",
                "SELECT * FROM extreme_csv",
                [
                    "infinity",
                    "-infinity",
                    "+10000-01-01T00:00:00",
                    "0000-12-31",
                    "NaN",
                    "-infinity",
                    -0.0,
                    -1e38,
                    "1 day 02:00:00",
                ],
            ),
            ExtremeCase(
                "json",
                "SELECT * EXCLUDE (a, b) FROM extreme_json",
                [
                    "10000-01-01 00:00:00",
                    "0001-12-31 (BC)",
                    "NaN",
                    "-Infinity",
                    -0.0,
                    -1e38,
                    "1 day 02:00:00",
                ],
            ),
        ]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        a_file = tmp_path / "notes.csv"
        a_file.write_text("a\n1\n")
        return [
            ("missing directory", files_driver(tmp_path / "missing"), DataFileNotFound),
            ("a file, not a directory", files_driver(a_file), ConnectionFailed),
        ]


# --- naming ---------------------------------------------------------------------------------


def test_file_names_make_tables() -> None:
    tables = discover(
        [
            "cities.csv",
            "cities.parquet",
            "events.ndjson.gz",
            "sales/2024.parquet",
            "sales/2025.parquet",
            "sales/notes.csv",
            "sales/_SUCCESS",
            ".hidden.csv",
            "_tmp/x.csv",
            "readme.txt",
            "城市.csv",
        ]
    )
    shown = {t.name: (t.format, t.files, t.folder) for t in tables}
    assert shown == {
        "cities": ("csv", ["cities.csv"], ""),
        "cities_parquet": ("parquet", ["cities.parquet"], ""),
        "events": ("json", ["events.ndjson.gz"], ""),
        "sales": ("parquet", ["sales/2024.parquet", "sales/2025.parquet"], "sales"),
        "城市": ("csv", ["城市.csv"], ""),
    }
    assert split_name(".csv") is None
    assert split_name("A.CSV") == ("A", "csv")


def test_a_taken_name_gets_a_number_when_its_format_is_taken_too() -> None:
    names = [t.name for t in discover(["x.csv", "x.tsv", "x/a.csv"])]
    assert sorted(names) == ["x", "x_csv", "x_csv_2"]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("北京,上海".encode(), "utf-8"),
        ("北京,上海".encode("gbk"), "gb18030"),
        ("北京,上海".encode("gb18030"), "gb18030"),
        ("北京".encode()[:-1], "utf-8"),  # cut inside the last character
        (b"plain ascii", "utf-8"),
        (b"\x81\x30\xff\xff\x81", "latin-1"),
    ],
)
def test_encoding_detection(sample: bytes, expected: str) -> None:
    assert detect_encoding(sample) == expected


# --- formats ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def formats_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats")
    (root / "semicolon.csv").write_text("id;city\n1;北京\n2;上海\n")
    (root / "gbk.csv").write_bytes(f"id,city\n1,{CHINESE}\n".encode("gbk", errors="ignore"))
    (root / "gb18030.csv").write_bytes(f"id,city\n1,{CHINESE}\n".encode("gb18030"))
    (root / "zipped.csv.gz").write_bytes(gzip.compress("a,b\n1,深圳\n".encode("gb18030")))
    (root / "nested.ndjson").write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [{"id": 1, "tags": ["甲", "乙"], "geo": {"lat": 1.5, "city": "北京"}}]
        )
    )
    (root / "listed.json").write_text('[{"k": 1, "v": {"x": [1, 2]}}, {"k": 2, "v": null}]')
    pq.write_table(pa.table({"id": [1, 2], "name": ["a", "b"]}), root / "single.parquet")
    sales = root / "sales"
    sales.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "amount": [1.5, 2.5]}), sales / "2024.parquet")
    pq.write_table(
        pa.table({"id": [3], "amount": [3.5], "region": ["华东"]}), sales / "2025.parquet"
    )
    orc.write_table(pa.table({"k": [1, 2], "v": ["甲", "乙"]}), root / "ledger.orc")
    (root / "broken.parquet").write_bytes(b"not parquet at all")
    (root / "events.avro").write_bytes(avro_bytes([(1, "北京"), (2, "上海")]))
    (root / "logs").mkdir()
    (root / "logs" / "a.avro").write_bytes(avro_bytes([(1, "x")]))
    (root / "logs" / "b.avro").write_bytes(avro_bytes([(2, "y")]))
    book = openpyxl.Workbook()
    book.active.append(["name", "qty"])
    book.active.append(["苹果", 3])
    book.save(root / "stock.xlsx")
    (root / "packed.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(b"a,b\n1,x\n"))
    return root


@pytest.fixture(scope="module")
def formats(formats_dir: Path) -> Any:
    conn = files_driver(formats_dir).connect(timeout_s=10)
    yield conn
    conn.close()


def q(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return read_rows(conn.execute(sql, timeout_s=10))


def test_csv_delimiter_and_encodings_are_detected(formats: Any) -> None:
    assert q(formats, "SELECT * FROM semicolon ORDER BY id") == [(1, "北京"), (2, "上海")]
    assert q(formats, "SELECT city FROM gb18030") == [(CHINESE,)]
    assert q(formats, "SELECT city FROM gbk") == [(CHINESE.replace("𠀀", ""),)]
    assert q(formats, "SELECT b FROM zipped") == [("深圳",)]


def test_csv_options_are_applied(formats_dir: Path) -> None:
    driver = files_driver(formats_dir, csv_delimiter=",", csv_header=False, encoding="latin-1")
    got = rows(driver, "SELECT * FROM semicolon")
    assert got[0] == ("id;city",)
    assert len(got) == 3


def test_json_keeps_nested_values(formats: Any) -> None:
    assert q(formats, "SELECT tags, geo FROM nested") == [
        (["甲", "乙"], {"lat": 1.5, "city": "北京"})
    ]
    assert q(formats, "SELECT geo.city AS city FROM nested") == [("北京",)]
    assert q(formats, "SELECT k, v FROM listed ORDER BY k") == [(1, {"x": [1, 2]}), (2, None)]
    schema = formats.execute("SELECT tags, geo FROM nested", timeout_s=10).schema
    assert pa.types.is_list(schema.field("tags").type)
    assert pa.types.is_struct(schema.field("geo").type)


def test_a_folder_is_one_table_and_an_added_column_reads_as_null(formats: Any) -> None:
    assert q(formats, "SELECT id, amount, region FROM sales ORDER BY id") == [
        (1, 1.5, None),
        (2, 2.5, None),
        (3, 3.5, "华东"),
    ]


def test_avro_excel_and_zstd(formats: Any) -> None:
    assert q(formats, "SELECT id, city FROM events ORDER BY id") == [(1, "北京"), (2, "上海")]
    assert q(formats, "SELECT id, city FROM logs ORDER BY id") == [(1, "x"), (2, "y")]
    assert q(formats, "SELECT name, qty FROM stock") == [("苹果", 3.0)]
    assert q(formats, "SELECT a, b FROM packed") == [(1, "x")]


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [("a;b\n1;2\n3;4\n", ";"), ("a\tb\n1\t2\n", "\t"), ("single\n1\n2\n", ",")],
)
def test_delimiter_sniffing(sample: str, delimiter: str) -> None:
    assert sniff_delimiter(sample) == delimiter


def test_orc_through_arrow(formats: Any) -> None:
    assert q(formats, "SELECT k, v FROM ledger ORDER BY k") == [(1, "甲"), (2, "乙")]


def test_catalog_shows_inferred_schemas_and_problems(formats: Any) -> None:
    meta = formats.describe_schema("main", timeout_s=10)
    tables = {t.name: t for t in meta.tables}
    assert {"semicolon", "gbk", "sales", "ledger", "nested", "broken"} <= set(tables)
    sales = tables["sales"]
    assert (sales.kind, sales.definition) == ("table", None)
    assert sales.comment == "parquet files in sales/ (2 files)"
    assert [(c.name, c.family) for c in sales.columns] == [
        ("id", "integer"),
        ("amount", "float"),
        ("region", "text"),
    ]
    assert [c.family for c in tables["nested"].columns] == ["integer", "array", "struct"]
    assert formats.schemas() == ["main"]
    assert len(meta.problems) == 1
    assert "broken" in meta.problems[0]
    assert str(formats_dir_of(formats)) not in meta.problems[0]
    with pytest.raises(QueryFailed, match="broken") as caught:
        q(formats, "SELECT * FROM broken")
    assert "/" not in caught.value.message.split("broken.parquet")[0].split()[-1]


def formats_dir_of(conn: Any) -> str:
    return str(conn._spec.base)


def test_a_changed_file_is_seen_by_the_next_session(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "t.csv").write_text("a\n1\n")
    driver = files_driver(root)
    assert rows(driver, "SELECT * FROM t") == [(1,)]
    (root / "t.csv").write_text("a,b\n1,x\n")
    (root / "u.csv").write_text("c\n3\n")
    assert rows(driver, "SELECT * FROM t") == [(1, "x")]
    assert rows(driver, "SELECT * FROM u") == [(3,)]


# --- sandbox ----------------------------------------------------------------------------------


def test_links_out_of_the_directory_are_not_tables(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "d")
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\nqd-canary-7f3a\n")
    os.symlink(outside, root / "leak.csv")
    os.symlink(tmp_path, root / "up")
    with files_driver(root).connect(timeout_s=10) as conn:
        names = [t.name for t in conn.describe_schema("main", timeout_s=10).tables]
        assert names == [FIXTURE_TABLE]
        with pytest.raises(QueryFailed, match="leak"):
            conn.execute("SELECT * FROM leak", timeout_s=10)


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT * FROM read_csv('{outside}')", FileAccessDenied),
        ("SELECT * FROM \"READ_TEXT\"('{outside}')", FileAccessDenied),
        ("SELECT * FROM glob('/etc/*')", FileAccessDenied),
        ("SELECT * FROM delta_scan('{dir}')", FileAccessDenied),
        ("SELECT * FROM duckdb_secrets()", FileAccessDenied),
        ("SELECT * FROM query('SELECT 1')", FileAccessDenied),
        ("EXPLAIN SELECT * FROM read_csv('{outside}')", FileAccessDenied),
        ("/* x */ EXPLAIN SELECT 1", QueryRejected),
        ("SELECT * FROM '{outside}'", FileAccessDenied),
        ("SELECT * FROM '{dir}/../outside.csv'", FileAccessDenied),
        ("COPY (SELECT 1) TO '{dir}/evil.csv'", QueryRejected),
        ("COPY qd_items TO '{dir}/qd_items.csv'", QueryRejected),
        ("CREATE VIEW v AS SELECT 1", QueryRejected),
        ("SET allowed_paths = ['/']", QueryRejected),
        ("ATTACH '{dir}/x.duckdb' AS x", QueryRejected),
    ],
)
def test_the_session_reads_only_its_files(tmp_path: Path, sql: str, error: type) -> None:
    root = write_fixture(tmp_path / "d")
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\nqd-canary-7f3a\n")
    before = sorted(p.name for p in root.iterdir())
    text = sql.format(outside=outside, dir=root)
    with files_driver(root).connect(timeout_s=10) as conn:
        with pytest.raises(error) as caught:
            q(conn, text)
        assert "qd-canary" not in caught.value.message
        assert str(root) not in caught.value.message
        assert q(conn, f"SELECT count(*) FROM {FIXTURE_TABLE}") == [(3,)]
    assert sorted(p.name for p in root.iterdir()) == before
    assert (root / f"{FIXTURE_TABLE}.csv").read_text().startswith("id,name\n1,alpha")


def test_explain_of_a_table_runs(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "d")
    with files_driver(root).connect(timeout_s=10) as conn:
        assert q(conn, f"EXPLAIN SELECT * FROM {FIXTURE_TABLE}")


def test_the_directory_must_be_inside_the_file_roots(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "d")
    sandbox = Sandbox(files=FileRoots.create([tmp_path / "other"]))
    driver = FilesDriver(FilesOptions(path=str(root)), sandbox=sandbox)
    with pytest.raises(ConnectionTargetForbidden):
        driver.connect(timeout_s=5)


@pytest.mark.parametrize("url", ["files://host/dir", "files:relative", "s3://bucket/x"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        FilesDriver.options_from_url(url)


def test_a_session_is_reused_only_while_its_files_are_unchanged(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "d")
    with files_driver(root).connect(timeout_s=10) as conn:
        assert conn.reset()
        assert conn.alive()
        assert q(conn, f"SELECT count(*) FROM {FIXTURE_TABLE}") == [(3,)]
        assert conn.reset()
        (root / "new.csv").write_text("a\n1\n")
        assert not conn.alive()
    with files_driver(root).connect(timeout_s=10) as conn:
        assert conn.alive()
        os.utime(root / "new.csv", ns=(0, 0))
        assert not conn.alive()
    conn.close()
    assert not conn.reset()
    assert not conn.alive()


def test_a_sort_past_the_memory_limit_writes_no_spill_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files session is an in-memory DuckDB: it spilled into ``.tmp`` under the
    server's working directory."""
    monkeypatch.chdir(tmp_path)
    driver = files_driver(write_fixture(tmp_path / "files"), memory_limit="100MB", threads=1)
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    with driver.connect(timeout_s=10) as conn, pytest.raises(ResourceLimit):
        read_rows(conn.execute(duckdb_tests.SPILLING_SORT, timeout_s=120))
    assert {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")} == before
