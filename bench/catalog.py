"""The catalog on a PostgreSQL schema of 5,000 tables × 20 columns (primary keys, some
foreign keys and comments), generated in its own database and dropped afterwards.

References measured in the same run: one raw ``pg_catalog`` query listing every column,
and the SQLAlchemy Inspector's per-table loop (the peers' approach) on a sample of tables,
extrapolated to all of them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.passwords import generate_password
from querydeck.auth.principal import LOCAL, Principal
from querydeck.settings import load_settings

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = 5000
COLUMNS = 20
INSPECTOR_SAMPLE = 250
WORDS = [
    "id",
    "name",
    "code",
    "amount",
    "price",
    "created_at",
    "updated_at",
    "status",
    "kind",
    "owner",
    "region",
    "email",
    "phone",
    "total",
    "note",
    "flag",
    "rank",
    "score",
    "city",
]
RAW = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'bench' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""


def _bearer(wb: Workbench) -> dict[str, str]:
    """An Authorization header of a new API token of a benchmark administrator."""
    user = wb.accounts.create_user(LOCAL, "bench", role=LOCAL.role, password=generate_password())
    principal = Principal(username=user.username, role=user.role, user_id=user.id, via="token")
    _, secret = wb.accounts.create_token(principal, "bench")
    return {"Authorization": f"Bearer {secret}"}


def _generate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bench")
        batch = []
        for t in range(TABLES):
            cols = ["id bigint PRIMARY KEY"]
            for c in range(1, COLUMNS):
                word = WORDS[(t + c) % len(WORDS)]
                kind = ("integer", "text", "numeric(12,2)", "timestamptz")[c % 4]
                cols.append(f"{word}_{c} {kind}")
            if t % 5 == 0 and t:
                cols.append(f"ref_{t - 1} bigint REFERENCES bench.t{t - 1:05d}(id)")
                cols.pop(1)
            batch.append(f"CREATE TABLE bench.t{t:05d} ({', '.join(cols)})")
            if t % 10 == 0:
                batch.append(f"COMMENT ON TABLE bench.t{t:05d} IS 'table number {t}'")
            if len(batch) >= 200:
                conn.execute("; ".join(batch))
                batch = []
        if batch:
            conn.execute("; ".join(batch))
        conn.execute("ANALYZE")


def _median_s(work: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), samples


def run() -> list[tuple[str, str, str, str]]:
    name = f"qd_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        _generate(url)
        return _measure(url)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure(url: str) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    with psycopg.connect(url) as conn:
        raw, _ = _median_s(lambda: conn.execute(RAW).fetchall(), 5)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    names = [f"t{t:05d}" for t in range(0, TABLES, TABLES // INSPECTOR_SAMPLE)]

    def inspect() -> None:
        inspector = sa.inspect(engine)
        for table in names:
            inspector.get_columns(table, schema="bench")
            inspector.get_pk_constraint(table, schema="bench")
            inspector.get_foreign_keys(table, schema="bench")
            inspector.get_indexes(table, schema="bench")
            inspector.get_table_comment(table, schema="bench")

    sample_s, _ = _median_s(inspect, 1)
    engine.dispose()
    inspector_s = sample_s * TABLES / len(names)
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(data_dir=Path(data), catalog_refresh_timeout_s=600)
        with Workbench(settings) as wb:
            wb.connections.create("bench", url=url, allow_privileged=True)
            wb.catalog.set_settings("bench", _only_bench())
            wb.catalog.refresh("bench")  # first fill
            refresh, _ = _median_s(lambda: wb.catalog.refresh("bench"), 3)
            rows.append(
                (
                    f"catalog refresh, {TABLES:,} tables × {COLUMNS} columns (PostgreSQL)",
                    f"{refresh * 1000:,.0f} ms",
                    f"one raw pg_catalog columns query: {raw * 1000:,.0f} ms",
                    f"{refresh / raw:.2f}× (goal ≤ 2×)",
                )
            )
            rows.append(
                (
                    "catalog refresh vs SQLAlchemy Inspector per-table loop",
                    f"{refresh * 1000:,.0f} ms",
                    f"Inspector: {inspector_s:,.1f} s (timed on {len(names)} tables, extrapolated)",
                    f"{refresh / inspector_s:.3f}× ({inspector_s / refresh:.0f}× faster)",
                )
            )
            level, _ = _median_s(lambda: wb.catalog.level("bench", "bench", limit=1000), 10)
            rows.append(
                (
                    "table list (5,000 relations, first page of 1,000)",
                    f"{level * 1000:.0f} ms",
                    "goal ≤ 150 ms",
                    "",
                )
            )
            detail, _ = _median_s(lambda: wb.catalog.table_detail("bench", "bench", "t02500"), 20)
            rows.append(
                ("one table's detail with DDL", f"{detail * 1000:.1f} ms", "goal ≤ 50 ms", "")
            )
            with TestClient(create_app(wb), headers=_bearer(wb)) as client:
                api, _ = _median_s(
                    lambda: client.get("/api/v1/connections/bench/catalog?path=bench&limit=100"),
                    20,
                )
            rows.append(
                (
                    "cached catalog level through the API (100 items)",
                    f"{api * 1000:.1f} ms",
                    "goal ≤ 100 ms",
                    "",
                )
            )
            started = time.perf_counter()
            wb.catalog.search("warm")
            build = time.perf_counter() - started
            queries = [
                "amount",
                "created",
                "t0250",
                "stauts",
                "price_3",
                "owner_1",
                "emial",
                "note",
                "table number 4",
                "rank_9",
                "scroe",
                "id",
            ] * 10
            samples = []
            for q in queries:
                started = time.perf_counter()
                wb.catalog.search(q, limit=50)
                samples.append(time.perf_counter() - started)
            samples.sort()
            p50 = samples[len(samples) // 2] * 1000
            p99 = samples[int(len(samples) * 0.99) - 1] * 1000
            rows.append(
                (
                    f"search over {TABLES * COLUMNS:,} columns ({len(queries)} queries)",
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                    f"index build once: {build * 1000:,.0f} ms",
                    "goal p50 < 50 ms",
                )
            )
    return rows


def _only_bench() -> object:
    from querydeck.catalog.models import CatalogSettings

    return CatalogSettings(include=["bench"])
