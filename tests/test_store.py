"""querydeck's own database on SQLite and PostgreSQL: migrations, round trips, retries."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from querydeck.errors import AppDatabaseBusy, AppDatabaseUnavailable, ConfigError
from querydeck.store.database import SCHEMA_HEAD, AppDatabase
from querydeck.store.tables import Base, ConnectionRow, RunRow, utcnow


def _run(run_id: str | None = None) -> RunRow:
    return RunRow(
        id=run_id or str(uuid.uuid4()),
        user_name="u",
        sql="SELECT 1",
        status="queued",
        max_rows=10,
        timeout_s=1.0,
        truncated=False,
        created_at=utcnow(),
    )


def test_migrations_create_the_declared_tables(db: AppDatabase) -> None:
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspect(conn).get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    db.migrate()  # idempotent


def test_schema_head_is_alembics_only_head(db: AppDatabase) -> None:
    """A database at SCHEMA_HEAD is opened without Alembic: the constant must follow the
    migrations, and a database behind it still migrates."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("querydeck.store") / "migrations")
    )
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]
    assert db.at_head()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    assert not db.at_head()
    db.migrate()  # 0008 -> 0010 again (0010 adds the runs' owner column)
    assert db.at_head()
    with db.engine.connect() as conn:
        assert "owner" in {c["name"] for c in inspect(conn).get_columns("qd_runs")}


def test_round_trip_keeps_utc_and_unicode(db: AppDatabase) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    row = ConnectionRow(
        id=str(uuid.uuid4()),
        name="名前 ✓",
        name_key="名前 ✓",
        driver="sqlite",
        options={"path": "x"},
        secrets=b"\x00\x01",
        secret_names=[],
        created_at=when,
        updated_at=when,
    )
    db.write(lambda s: s.add(row))
    with db.read() as tx:
        back = tx.get(ConnectionRow, row.id)
        assert back is not None
        assert back.name == "名前 ✓"
        assert back.created_at == when
        assert back.created_at.tzinfo is not None
        assert back.secrets == b"\x00\x01"


def test_deleting_a_connection_keeps_its_runs(db: AppDatabase) -> None:
    now = utcnow()
    conn = ConnectionRow(
        id=str(uuid.uuid4()),
        name="c",
        name_key="c",
        driver="sqlite",
        options={},
        secret_names=[],
        created_at=now,
        updated_at=now,
    )
    db.write(lambda s: s.add(conn))
    run = _run()
    run.connection_id = conn.id
    db.write(lambda s: s.add(run))
    db.write(lambda s: s.delete(s.get(ConnectionRow, conn.id)))
    with db.read() as tx:
        kept = tx.get(RunRow, run.id)
        assert kept is not None
        assert kept.connection_id is None


def test_concurrent_writers_lose_nothing(db: AppDatabase) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(50):
                db.write(lambda s: s.add(_run()))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as tx:
        assert tx.scalar(select(func.count()).select_from(RunRow)) == 400


def test_locked_sqlite_gives_app_db_busy_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = AppDatabase(f"sqlite:///{path}", retries=2, busy_timeout_ms=50)
    db.migrate()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(AppDatabaseBusy) as info:
            db.write(lambda s: s.add(_run()))
        assert info.value.http_status == 503
        assert info.value.detail["retry_after_s"] >= 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    db.write(lambda s: s.add(_run()))
    with db.read() as tx:
        assert tx.scalar(select(func.count()).select_from(RunRow)) == 1
    db.dispose()


def test_bad_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        AppDatabase("not a url")
    with pytest.raises(ConfigError, match="SQLite or PostgreSQL"):
        AppDatabase("mysql://root@127.0.0.1/test")


def test_unreachable_postgres_is_unavailable() -> None:
    db = AppDatabase("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(AppDatabaseUnavailable):
        db.ping()
    with pytest.raises(AppDatabaseUnavailable):
        db.migrate()
