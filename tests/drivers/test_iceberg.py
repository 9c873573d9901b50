"""The iceberg driver: the compliance suite over a directory of Iceberg tables written by
pyiceberg (SQL catalog), plus snapshots, time travel, a schema evolution and S3."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tests.drivers.test_duckdb as duckdb_tests
from querydeck.drivers.base import Driver, EngineSession
from querydeck.drivers.files.lake import LakeOptions, version_at
from querydeck.drivers.iceberg.driver import IcebergDriver
from querydeck.errors import (
    ConnectionFailed,
    ConnectionUrlInvalid,
    DataFileNotFound,
    QueryFailed,
    QueryRejected,
)
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_TABLE, DriverSuite, TypeCase, read_rows
from tests.lake_tables import FIRST, SECOND, iceberg_table
from tests.s3server import S3Server

FIXTURE = pa.table(
    {
        "id": pa.array([r[0] for r in FIXTURE_ROWS], pa.int64()),
        "name": [r[1] for r in FIXTURE_ROWS],
    }
)


def iceberg(path: Path) -> IcebergDriver:
    return IcebergDriver(LakeOptions(path=str(path)))


def q(conn: EngineSession, sql: str) -> list[tuple[Any, ...]]:
    return read_rows(conn.execute(sql, timeout_s=10))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iceberg")
    iceberg_table(root, f"file://{root}/wh", FIXTURE_TABLE, [FIXTURE])
    return root / "wh"


class TestIceberg(DriverSuite):
    driver_cls = IcebergDriver
    sleep_sql = duckdb_tests.CROSS_JOIN
    good_urls = (
        ("iceberg:///srv/lake", {"path": "/srv/lake"}),
        (
            "iceberg+s3://bucket-1/wh?endpoint=127.0.0.1:9000&url_style=path&use_ssl=false",
            {
                "bucket": "bucket-1",
                "prefix": "wh",
                "endpoint": "127.0.0.1:9000",
                "url_style": "path",
                "use_ssl": "false",
            },
        ),
    )
    forbidden_urls = ("iceberg:///srv/lake?unsafe_enable_version_guessing=true",)

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, warehouse: Path) -> Driver[Any]:
        return iceberg(warehouse)

    def type_cases(self) -> list[TypeCase]:
        return duckdb_tests.TestDuckDB.type_cases(self)  # type: ignore[arg-type]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        a_file = tmp_path / "x.json"
        a_file.write_text("{}")
        return [
            ("missing directory", iceberg(tmp_path / "missing"), DataFileNotFound),
            ("a file", iceberg(a_file), DataFileNotFound),
        ]


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineSession, Any]]:
    root = tmp_path_factory.mktemp("iceberg-evolved")
    # A second apart, so that a time between the two snapshots can be written.
    table = iceberg_table(root, f"file://{root}/wh", "events", [FIRST, SECOND], pause_s=1.1)
    conn = iceberg(root / "wh").connect(timeout_s=10)
    yield conn, table
    conn.close()


def test_the_current_snapshot_has_the_added_column(evolved: tuple[EngineSession, Any]) -> None:
    conn, _ = evolved
    assert q(conn, "SELECT id, name, extra FROM events ORDER BY id") == [
        (1, "alpha", None),
        (2, "北京", None),
        (3, "gamma", 1.5),
    ]
    meta = conn.describe_schema("main", timeout_s=10)
    (table,) = meta.tables
    assert (table.name, table.kind, table.definition) == ("events", "table", None)
    assert [(c.name, c.family) for c in table.columns] == [
        ("id", "integer"),
        ("name", "text"),
        ("extra", "float"),
    ]
    assert table.comment is not None
    assert "metadata version" in table.comment


def test_snapshots_and_time_travel(evolved: tuple[EngineSession, Any]) -> None:
    conn, table = evolved
    snapshots = [s.snapshot_id for s in table.snapshots()]
    assert len(snapshots) == 2
    listed = q(conn, 'SELECT snapshot_id FROM "events@snapshots" ORDER BY sequence_number')
    assert [r[0] for r in listed] == snapshots
    assert q(conn, f'SELECT id, name FROM "events@{snapshots[0]}" ORDER BY id') == [
        (1, "alpha"),
        (2, "北京"),
    ]
    assert q(conn, f'SELECT count(*) FROM "events@{snapshots[1]}"') == [(3,)]
    first_s = table.snapshot_by_id(snapshots[0]).timestamp_ms / 1000
    second_s = table.snapshot_by_id(snapshots[1]).timestamp_ms / 1000
    between = dt.datetime.fromtimestamp(int(first_s) + 1, dt.UTC)
    assert between.timestamp() < second_s
    stamp = between.strftime("%Y-%m-%dT%H%M%S")
    assert q(conn, f'SELECT count(*) FROM "events@{stamp}"') == [(2,)]
    assert q(conn, 'SELECT count(*) FROM "events@2999-01-01"') == [(3,)]
    with pytest.raises(QueryFailed):
        q(conn, 'SELECT * FROM "events@1"')
    with pytest.raises(QueryFailed, match="nothing"):
        q(conn, 'SELECT * FROM "nothing@1"')


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("t@3", ("t", 3)),
        ("a@b@2024-05-01", ("a@b", dt.datetime(2024, 5, 1))),
        ("t@2024-05-01T103000", ("t", dt.datetime(2024, 5, 1, 10, 30))),
        ("t@2024-05-01T1030", ("t", dt.datetime(2024, 5, 1, 10, 30))),
        ("t@snapshots", ("t", "snapshots")),
        ("t@2024-02-30", None),
        ("t", None),
        ("@3", None),
    ],
)
def test_version_names(name: str, expected: Any) -> None:
    assert version_at(name) == expected


def test_version_hint_is_followed(tmp_path: Path) -> None:
    table = iceberg_table(tmp_path, f"file://{tmp_path}/wh", "hinted", [FIRST, SECOND])
    metadata = Path(table.metadata_location.removeprefix("file://")).parent
    versions = sorted(p.name for p in metadata.glob("*.metadata.json"))
    (metadata / "version-hint.text").write_text(versions[1].split("-", 1)[0].lstrip("0") or "0")
    with iceberg(tmp_path / "wh").connect(timeout_s=10) as conn:
        assert q(conn, "SELECT count(*) FROM hinted") == [(2,)]


def test_tables_on_s3(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    table = iceberg_table(tmp_path, f"s3://{bucket}/wh", "remote", [FIRST, SECOND], s3_server)
    snapshots = [s.snapshot_id for s in table.snapshots()]
    options = LakeOptions.model_validate(s3_server.options(bucket, "wh"))
    before = s3_server.listing(bucket)
    with IcebergDriver(options).connect(timeout_s=10) as conn:
        assert q(conn, "SELECT count(*), max(extra) FROM remote") == [(3, 1.5)]
        assert q(conn, f'SELECT count(*) FROM "remote@{snapshots[0]}"') == [(2,)]
        with pytest.raises(QueryRejected):
            q(conn, f"COPY remote TO 's3://{bucket}/wh/x.parquet'")
    assert s3_server.listing(bucket) == before


@pytest.mark.parametrize(
    "options",
    [{}, {"path": "/x", "bucket": "bucket-1"}],
)
def test_options_name_one_place(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="either path"):
        LakeOptions.model_validate(options)


@pytest.mark.parametrize("url", ["iceberg://host/x", "iceberg:relative", "delta:///x"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        IcebergDriver.options_from_url(url)
