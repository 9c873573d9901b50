"""The s3 driver: the compliance suite over a bucket prefix on a real local S3 server
(moto's), plus formats, the endpoint policy, credentials and error mapping."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

import tests.drivers.test_duckdb as duckdb_tests
from querydeck.drivers.base import Driver, Sandbox
from querydeck.drivers.s3.driver import S3Driver, S3DriverOptions
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionTargetForbidden,
    ConnectionUrlInvalid,
    DataFileNotFound,
    FileAccessDenied,
    QueryFailed,
    QueryRejected,
    UpstreamUnavailable,
)
from querydeck.sandbox.addresses import policy_for
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_TABLE, DriverSuite, TypeCase, read_rows
from tests.s3server import SECRET_KEY, S3Server, free_port

CHINESE = "北京市朝阳区 上海 「引号」 𠀀"


def fixture_csv() -> bytes:
    lines = ["id,name", *(f"{i},{name}" for i, name in FIXTURE_ROWS)]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def s3_driver(server: S3Server, bucket: str, prefix: str = "", **extra: Any) -> S3Driver:
    return S3Driver(S3DriverOptions.model_validate(server.options(bucket, prefix, **extra)))


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    name = s3_server.new_bucket()
    s3_server.put(name, f"suite/{FIXTURE_TABLE}.csv", fixture_csv())
    s3_server.put(name, "outside/secret.csv", b"secret\nqd-canary-7f3a\n")
    return name


class TestS3(DriverSuite):
    driver_cls = S3Driver
    sleep_sql = duckdb_tests.CROSS_JOIN
    good_urls = (
        ("s3://bucket-1/a/b", {"bucket": "bucket-1", "prefix": "a/b"}),
        (
            "s3://KEY:SE%2FCRET@bucket-1/?endpoint=127.0.0.1:9000&url_style=path&use_ssl=false",
            {
                "bucket": "bucket-1",
                "prefix": "",
                "access_key_id": "KEY",
                "secret_access_key": "SE/CRET",
                "endpoint": "127.0.0.1:9000",
                "url_style": "path",
                "use_ssl": "false",
            },
        ),
        (
            "s3://bucket-1/x?region=eu-west-1&encoding=gb18030&delimiter=%09",
            {
                "bucket": "bucket-1",
                "prefix": "x",
                "region": "eu-west-1",
                "encoding": "gb18030",
                "csv_delimiter": "\t",
            },
        ),
    )
    forbidden_urls = (
        "s3://bucket-1/x?s3_endpoint=169.254.169.254",
        "s3://bucket-1/x?allowed_paths=/",
    )

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, s3_server: S3Server, bucket: str) -> Driver[Any]:
        return s3_driver(s3_server, bucket, "suite")

    def type_cases(self) -> list[TypeCase]:
        return duckdb_tests.TestDuckDB.type_cases(self)  # type: ignore[arg-type]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        server: S3Server = self._server  # type: ignore[attr-defined]
        closed = S3Driver(
            S3DriverOptions.model_validate(
                {**server.options("qd-bucket"), "endpoint": f"127.0.0.1:{free_port()}"}
            )
        )
        return [
            ("no such bucket", s3_driver(server, "qd-no-such-bucket"), DataFileNotFound),
            ("closed port", closed, UpstreamUnavailable),
        ]

    @pytest.fixture(autouse=True)
    def _keep_server(self, s3_server: S3Server) -> None:
        self._server = s3_server


@pytest.fixture(scope="module")
def formats_bucket(s3_server: S3Server) -> str:
    name = s3_server.new_bucket()
    put = s3_server.put
    put(name, "data/cities.csv", f"id;city\n1;{CHINESE}\n".encode())
    put(name, "data/gbk.csv", f"id,city\n1,{CHINESE}\n".encode("gb18030"))
    put(name, "data/nested.json", '[{"a": {"b": [1, 2]}, "城": "北京"}]'.encode())
    put(name, "data/sales/2024.parquet", parquet_bytes(pa.table({"id": [1], "v": [1.5]})))
    put(
        name,
        "data/sales/2025.parquet",
        parquet_bytes(pa.table({"id": [2], "v": [2.5], "region": ["华东"]})),
    )
    sink = io.BytesIO()
    orc.write_table(pa.table({"k": [1, 2], "v": ["甲", "乙"]}), sink)
    put(name, "data/ledger.orc", sink.getvalue())
    put(name, "elsewhere/secret.csv", b"secret\nqd-canary-7f3a\n")
    return name


@pytest.fixture(scope="module")
def formats(s3_server: S3Server, formats_bucket: str) -> Any:
    conn = s3_driver(s3_server, formats_bucket, "data").connect(timeout_s=10)
    yield conn
    conn.close()


def q(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return read_rows(conn.execute(sql, timeout_s=10))


def test_objects_are_tables(formats: Any) -> None:
    assert q(formats, "SELECT city FROM cities") == [(CHINESE,)]
    assert q(formats, "SELECT city FROM gbk") == [(CHINESE,)]
    assert q(formats, 'SELECT a, "城" FROM nested') == [({"b": [1, 2]}, "北京")]
    assert q(formats, "SELECT id, v, region FROM sales ORDER BY id") == [
        (1, 1.5, None),
        (2, 2.5, "华东"),
    ]
    assert q(formats, "SELECT v FROM ledger ORDER BY k") == [("甲",), ("乙",)]
    meta = formats.describe_schema("main", timeout_s=10)
    assert [t.name for t in meta.tables] == ["cities", "gbk", "ledger", "nested", "sales"]
    assert meta.problems == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('s3://{bucket}/elsewhere/secret.csv')",
        "SELECT * FROM 's3://{bucket}/elsewhere/secret.csv'",
        "SELECT * FROM 's3://{bucket}/data/../elsewhere/secret.csv'",
        "SELECT * FROM glob('s3://{bucket}/**')",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM delta_scan('s3://{bucket}/elsewhere')",
        "COPY (SELECT 1) TO 's3://{bucket}/data/evil.csv'",
        "COPY cities TO 's3://{bucket}/data/cities.csv'",
        "CREATE SECRET x (TYPE s3)",
    ],
)
def test_the_session_reads_only_its_objects(
    s3_server: S3Server, formats_bucket: str, formats: Any, sql: str
) -> None:
    before = s3_server.listing(formats_bucket)
    with pytest.raises((FileAccessDenied, QueryRejected, QueryFailed)) as caught:
        q(formats, sql.format(bucket=formats_bucket))
    assert "qd-canary" not in caught.value.message
    assert SECRET_KEY not in caught.value.message
    assert s3_server.listing(formats_bucket) == before


def test_the_endpoint_goes_through_the_address_policy(s3_server: S3Server) -> None:
    denied = Sandbox(addresses=policy_for([], ["127.0.0.0/8"], []))
    driver = S3Driver(
        S3DriverOptions.model_validate(s3_server.options("qd-bucket")), sandbox=denied
    )
    with pytest.raises(ConnectionTargetForbidden):
        driver.connect(timeout_s=5)
    metadata = S3Driver(
        S3DriverOptions.model_validate(
            {**s3_server.options("qd-bucket"), "endpoint": "169.254.169.254"}
        )
    )
    with pytest.raises(ConnectionTargetForbidden):
        metadata.connect(timeout_s=5)


def test_a_named_endpoint_is_pinned_to_its_address(s3_server: S3Server, bucket: str) -> None:
    driver = s3_driver(s3_server, bucket, "suite", endpoint=f"localhost:{s3_server.port}")
    with driver.connect(timeout_s=10) as conn:
        assert q(conn, f"SELECT count(*) FROM {FIXTURE_TABLE}") == [(3,)]


def test_listing_errors_say_why() -> None:
    from querydeck.drivers.s3 import storage

    assert isinstance(storage.listing_error("HTTP 403 AccessDenied", "b"), AuthenticationFailed)
    assert isinstance(storage.listing_error("HTTP 404 NoSuchBucket", "b"), DataFileNotFound)
    other = storage.listing_error("something else", "b")
    assert type(other) is ConnectionFailed
    assert "something" not in other.message


@pytest.mark.parametrize("url", ["s3:///prefix", "files:///x", "s3://bucket/x#frag"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConnectionUrlInvalid):
        S3Driver.options_from_url(url)


@pytest.mark.parametrize("prefix", ["a/../b", "a//b", "./a"])
def test_a_prefix_with_empty_or_dot_parts_is_refused(s3_server: S3Server, prefix: str) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        S3DriverOptions.model_validate(s3_server.options("qd-bucket", prefix))
    assert S3DriverOptions.model_validate(s3_server.options("b-1", "/a/b/")).prefix == "a/b"


def test_secrets_are_secret_options() -> None:
    from querydeck.sources.connections import secret_fields

    assert secret_fields(S3DriverOptions) == {
        "access_key_id",
        "secret_access_key",
        "session_token",
    }


def test_a_session_is_reused_only_while_its_objects_are_unchanged(
    s3_server: S3Server, bucket: str
) -> None:
    s3_server.put(bucket, "pooled/t.csv", b"a\n1\n")
    # DuckDB's listing (the views') and pyarrow's (the check) name these alike.
    s3_server.put(bucket, "pooled/sales/2024.csv", b"a\n2\n")
    s3_server.put(bucket, "pooled/empty-folder/", b"")
    with s3_driver(s3_server, bucket, "pooled").connect(timeout_s=10) as conn:
        assert conn.reset()
        assert conn.alive()
        assert q(conn, "SELECT a FROM t") == [(1,)]
        assert q(conn, "SELECT a FROM sales") == [(2,)]
        s3_server.put(bucket, "pooled/u.csv", b"b\n2\n")
        assert not conn.alive()
