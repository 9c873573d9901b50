"""The delta driver: the compliance suite over a directory of Delta tables written by
deltalake (delta-rs), plus versions, a schema evolution and S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tests.drivers.test_duckdb as duckdb_tests
from querydeck.drivers.base import Driver, EngineSession
from querydeck.drivers.delta.driver import DeltaDriver
from querydeck.drivers.files.lake import LakeOptions
from querydeck.errors import ConnectionFailed, DataFileNotFound, QueryFailed, QueryRejected
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_TABLE, DriverSuite, TypeCase, read_rows
from tests.lake_tables import FIRST, SECOND, delta_table
from tests.s3server import S3Server

FIXTURE = pa.table(
    {
        "id": pa.array([r[0] for r in FIXTURE_ROWS], pa.int64()),
        "name": [r[1] for r in FIXTURE_ROWS],
    }
)


def delta(path: Path) -> DeltaDriver:
    return DeltaDriver(LakeOptions(path=str(path)))


def q(conn: EngineSession, sql: str) -> list[tuple[Any, ...]]:
    return read_rows(conn.execute(sql, timeout_s=10))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delta")
    delta_table(str(root / FIXTURE_TABLE), [FIXTURE])
    return root


class TestDelta(DriverSuite):
    driver_cls = DeltaDriver
    sleep_sql = duckdb_tests.CROSS_JOIN
    good_urls = (
        ("delta:///srv/lake", {"path": "/srv/lake"}),
        (
            "delta+s3://bucket-1/lake?region=eu-west-1",
            {"bucket": "bucket-1", "prefix": "lake", "region": "eu-west-1"},
        ),
    )
    forbidden_urls = ("delta:///srv/lake?version=3", "delta+s3://bucket-1/x?encoding=gbk")

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, lake: Path) -> Driver[Any]:
        return delta(lake)

    def type_cases(self) -> list[TypeCase]:
        return duckdb_tests.TestDuckDB.type_cases(self)  # type: ignore[arg-type]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        return [("missing directory", delta(tmp_path / "missing"), DataFileNotFound)]


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineSession]:
    root = tmp_path_factory.mktemp("delta-versions")
    delta_table(str(root / "events"), [FIRST, SECOND])
    delta_table(str(root / "nested" / "deep" / "events"), [FIRST])
    conn = delta(root).connect(timeout_s=10)
    yield conn
    conn.close()


def test_latest_version_has_the_added_column(versions: EngineSession) -> None:
    assert q(versions, "SELECT id, name, extra FROM events ORDER BY id") == [
        (1, "alpha", None),
        (2, "北京", None),
        (3, "gamma", 1.5),
    ]
    meta = versions.describe_schema("main", timeout_s=10)
    tables = {t.name: t for t in meta.tables}
    assert set(tables) == {"events", "deep_events"}
    assert [c.name for c in tables["events"].columns] == ["id", "name", "extra"]
    assert tables["deep_events"].comment == "delta table nested/deep/events/"


def test_versions_are_read_by_number(versions: EngineSession) -> None:
    assert q(versions, 'SELECT id, name FROM "events@0" ORDER BY id') == [(1, "alpha"), (2, "北京")]
    assert q(versions, 'SELECT count(*) FROM "EVENTS@1"') == [(3,)]
    assert q(versions, 'SELECT count(*) FROM "events@1"') == [(3,)]
    with pytest.raises(QueryFailed, match="version number"):
        q(versions, 'SELECT * FROM "events@2024-01-01"')
    with pytest.raises(QueryFailed):
        q(versions, 'SELECT * FROM "events@7"')


def test_the_log_is_never_read_outside_the_views(versions: EngineSession, tmp_path: Path) -> None:
    delta_table(str(tmp_path / "elsewhere"), [FIRST])
    with pytest.raises(QueryRejected):
        q(versions, f"SELECT * FROM delta_scan('{tmp_path}/elsewhere')")
    with pytest.raises(QueryRejected):
        q(versions, f"EXPLAIN SELECT * FROM delta_scan('{tmp_path}/elsewhere')")


def test_tables_on_s3(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    delta_table(f"s3://{bucket}/lake/remote", [FIRST, SECOND], s3_server)
    before = s3_server.listing(bucket)
    options = LakeOptions.model_validate(s3_server.options(bucket, "lake"))
    with DeltaDriver(options).connect(timeout_s=10) as conn:
        assert q(conn, "SELECT count(*), max(extra) FROM remote") == [(3, 1.5)]
        assert q(conn, 'SELECT count(*) FROM "remote@0"') == [(2,)]
        with pytest.raises(QueryRejected):
            q(conn, f"COPY remote TO 's3://{bucket}/lake/remote/x.parquet'")
    assert s3_server.listing(bucket) == before
