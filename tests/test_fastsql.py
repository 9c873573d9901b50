"""querydeck.store.fastsql writes and reads exactly what SQLAlchemy Core would, on SQLite and
on PostgreSQL app databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Engine

from querydeck.store.database import AppDatabase
from querydeck.store.fastsql import FastTable, fast_table
from querydeck.store.tables import RunRow
from tests.services import postgres_database

RUNS = cast(Table, RunRow.__table__)
WHEN = datetime(2026, 11, 22, 5, 6, 7, 123456, tzinfo=UTC)


def _values(run_id: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "user_name": "ann",
        "sql": "SELECT 'ü', 1",
        "status": "running",
        "max_rows": 10,
        "timeout_s": 2.5,
        "truncated": True,
        "columns": [{"name": "a", "type": "int64"}],
        "error_detail": None,
        "created_at": WHEN,
        # another zone: stored as UTC
        "started_at": WHEN.astimezone(timezone(timedelta(hours=2))),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        db = AppDatabase(f"sqlite:///{tmp_path / 'app.db'}")
        db.migrate()
        yield db.engine
        db.dispose()
        return
    with postgres_database() as url:
        db = AppDatabase(url)
        db.migrate()
        yield db.engine
        db.dispose()


def test_insert_reads_back_as_core_inserted(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(RUNS), _values("core"))
        fast_table(RUNS, conn.dialect).insert(conn, _values("fast"))
        stored = {
            row.id: row._asdict()
            for row in conn.execute(select(RUNS).where(RUNS.c.id.in_(["core", "fast"])))
        }
        raw = {
            r[0]: r[1:]
            for r in conn.exec_driver_sql(
                "SELECT id, created_at, started_at, truncated, columns, error_detail FROM qd_runs"
            )
        }
    assert {**stored["fast"], "id": "core"} == stored["core"]
    assert stored["fast"]["started_at"] == WHEN
    assert raw["fast"] == raw["core"]  # the same text, JSON and booleans on disk


def test_select_one_and_update(engine: Engine) -> None:
    with engine.begin() as conn:
        table = fast_table(RUNS, conn.dialect)
        assert isinstance(table, FastTable)
        conn.execute(insert(RUNS), _values("r1"))
        found = table.select_one(conn, "id", "r1")
        assert found is not None
        assert found["created_at"] == WHEN
        assert found["created_at"].tzinfo is not None
        assert found["columns"] == [{"name": "a", "type": "int64"}]
        assert found["truncated"] is True
        assert found["timeout_s"] == 2.5
        assert table.select_one(conn, "id", "missing") is None
        changed = table.update(
            conn, "id", "r1", {"status": "succeeded", "error_detail": {"k": "v"}, "row_count": 3}
        )
        assert changed == 1
        assert table.update(conn, "id", "missing", {"status": "failed"}) == 0
        row = conn.execute(select(RUNS).where(RUNS.c.id == "r1")).one()
    assert (row.status, row.error_detail, row.row_count) == ("succeeded", {"k": "v"}, 3)
