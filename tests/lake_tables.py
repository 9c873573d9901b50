"""Iceberg and Delta tables written for the tests by the formats' own Python writers:
pyiceberg (with a SQL catalog in a SQLite file) and deltalake (delta-rs), on disk or on the
local S3 server. Each table gets several snapshots and a schema evolution (a column
added after the first rows)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server

#: Rows of the first snapshot, and of the second (written after ``extra`` was added).
FIRST = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["alpha", "北京"]})
SECOND = pa.table(
    {"id": pa.array([3], pa.int64()), "name": ["gamma"], "extra": pa.array([1.5], pa.float64())}
)


def iceberg_properties(server: S3Server | None) -> dict[str, str]:
    if server is None:
        return {}
    return {
        "s3.endpoint": f"http://{server.endpoint}",
        "s3.access-key-id": ACCESS_KEY,
        "s3.secret-access-key": SECRET_KEY,
        "s3.region": "us-east-1",
        "s3.force-virtual-addressing": "false",
    }


def iceberg_table(
    catalog_dir: Path,
    warehouse: str,
    name: str,
    batches: list[pa.Table],
    server: S3Server | None = None,
    pause_s: float = 0.0,
) -> Any:
    """Write ``batches`` as snapshots of ``ns.<name>``, adding the columns a batch brings
    (a schema evolution), ``pause_s`` apart; returns the pyiceberg table."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(
        "qd",
        uri=f"sqlite:///{catalog_dir / 'catalog.db'}",
        warehouse=warehouse,
        **iceberg_properties(server),
    )
    if ("ns",) not in catalog.list_namespaces():
        catalog.create_namespace("ns")
    table = catalog.create_table(f"ns.{name}", schema=batches[0].schema)
    for index, batch in enumerate(batches):
        if index:
            time.sleep(pause_s)
        with table.update_schema() as update:
            update.union_by_name(batch.schema)
        table = catalog.load_table(f"ns.{name}")
        table.append(batch)
    return catalog.load_table(f"ns.{name}")


def delta_options(server: S3Server | None) -> dict[str, str] | None:
    if server is None:
        return None
    return {
        "AWS_ENDPOINT_URL": f"http://{server.endpoint}",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }


def delta_table(uri: str, batches: list[pa.Table], server: S3Server | None = None) -> None:
    """Write ``batches`` as versions 0, 1, … of the Delta table at ``uri``, merging the
    columns a batch brings (a schema evolution)."""
    from deltalake import write_deltalake

    for index, batch in enumerate(batches):
        write_deltalake(
            uri,
            batch,
            mode="overwrite" if index == 0 else "append",
            schema_mode="merge" if index else None,
            storage_options=delta_options(server),
        )
