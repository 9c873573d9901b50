"""querydeck.store.fastsql writes and reads exactly what SQLAlchemy Core would, on SQLite and
on PostgreSQL app databases, through AppDatabase.write_raw / read_plain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select

from querydeck.errors import AppDatabaseBusy
from querydeck.store.database import AppDatabase
from querydeck.store.tables import RunRow

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


def test_insert_reads_back_as_core_inserted(db: AppDatabase) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(RUNS), _values("core"))
    db.write_raw(lambda cursor: db.fast(RUNS).insert(cursor, _values("fast")))
    with db.engine.connect() as conn:
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


def test_select_and_update(db: AppDatabase) -> None:
    table = db.fast(RUNS)
    with db.engine.begin() as conn:
        conn.execute(insert(RUNS), _values("r1"))
    with db.read_plain() as cursor:
        found = table.select_raw(cursor, "id", "r1")
        assert table.select_raw(cursor, "id", "missing") is None
    assert found is not None
    row = table.converted(found)
    assert row["created_at"] == WHEN
    assert row["created_at"].tzinfo is not None
    assert row["columns"] == [{"name": "a", "type": "int64"}]
    assert row["truncated"] is True
    assert row["timeout_s"] == 2.5
    changes = {"status": "succeeded", "error_detail": {"k": "v"}, "row_count": 3}
    assert db.write_raw(lambda cursor: table.update(cursor, "id", "r1", changes)) == 1
    assert db.write_raw(lambda cursor: table.update(cursor, "id", "gone", changes)) == 0
    with db.engine.connect() as conn:
        stored = conn.execute(select(RUNS).where(RUNS.c.id == "r1")).one()
    assert (stored.status, stored.error_detail, stored.row_count) == ("succeeded", {"k": "v"}, 3)


def test_a_failed_write_rolls_back(db: AppDatabase) -> None:
    table = db.fast(RUNS)

    def half(cursor: Any) -> None:
        table.insert(cursor, _values("half"))
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        db.write_raw(half)
    with db.read_plain() as cursor:
        assert table.select_raw(cursor, "id", "half") is None


def test_a_locked_sqlite_database_is_retried_then_busy(tmp_path: Path) -> None:
    import sqlite3

    app = AppDatabase(f"sqlite:///{tmp_path / 'app.db'}", retries=1, busy_timeout_ms=50)
    app.migrate()
    other = sqlite3.connect(tmp_path / "app.db", timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        app.engine.dispose()
        with pytest.raises(AppDatabaseBusy):
            app.write_raw(lambda cursor: app.fast(RUNS).insert(cursor, _values("x")))
    finally:
        other.rollback()
        other.close()
    app.write_raw(lambda cursor: app.fast(RUNS).insert(cursor, _values("x")))
    app.dispose()


def test_json_columns_take_what_stdlib_json_took(db: AppDatabase) -> None:
    """JSON columns are written with orjson; an integer past 64 bits (which orjson refuses)
    still goes in, and text an older version wrote with stdlib json (NaN) still reads."""
    table = db.fast(RUNS)
    detail = {"big": 2**70, "nested": {"k": [1, "ü"]}}
    db.write_raw(lambda cursor: table.insert(cursor, {**_values("big"), "error_detail": detail}))
    with db.engine.connect() as conn:
        stored = conn.execute(select(RUNS.c.error_detail).where(RUNS.c.id == "big")).scalar_one()
    assert stored == detail
    if not db.is_sqlite:
        return  # PostgreSQL's JSON type refuses NaN at once: no such text can be stored
    with db.engine.begin() as conn:
        conn.execute(insert(RUNS), _values("legacy"))
        conn.exec_driver_sql(
            "UPDATE qd_runs SET error_detail = '{\"ratio\": NaN}' WHERE id = 'legacy'"
        )
    with db.read_plain() as cursor:
        found = table.select_raw(cursor, "id", "legacy")
    assert found is not None
    ratio = table.converted(found)["error_detail"]["ratio"]
    assert ratio != ratio  # NaN
