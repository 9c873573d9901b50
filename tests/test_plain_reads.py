"""The plain reads of the app database (``store/plain.py``) give what the ORM gives, on
SQLite and PostgreSQL, on the engine's connections and on a database's own connection
(before anything built the engine, as in a CLI listing)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import JSON, Boolean, LargeBinary

from querydeck.auth.grants import Grants
from querydeck.auth.principal import Action, Principal, Role
from querydeck.errors import AppDatabaseUnavailable
from querydeck.runs.history import History, run_info
from querydeck.runs.models import RunStatus
from querydeck.runs.results.store import ResultStore
from querydeck.sources.connections import ConnectionStore
from querydeck.store import plain
from querydeck.store.database import AppDatabase
from querydeck.store.tables import Base, ConnectionRow, RunRow, UtcDateTime

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_the_kinds_and_columns_follow_the_tables() -> None:
    """Every column of a table read or written plainly is converted as its ORM type
    converts it, and FastTable's tables have their columns."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    for name, kinds in plain.KINDS.items():
        for column in tables[name].columns:
            kind = column.type
            expected = (
                plain.TIME
                if isinstance(kind, UtcDateTime)
                else plain.JSON
                if isinstance(kind, JSON)
                else plain.BOOL
                if isinstance(kind, Boolean)
                else plain.BYTES
                if isinstance(kind, LargeBinary)
                else None
            )
            assert kinds.get(column.name) == expected, (name, column.name)
    for name, columns in plain.COLUMNS.items():
        assert columns == tuple(c.name for c in tables[name].columns), name


@pytest.fixture
def fresh(db: AppDatabase) -> Iterator[AppDatabase]:
    """The same database opened anew: its plain reads use a connection of its own."""
    other = AppDatabase(db._url_text)
    yield other
    assert other._engine is None
    other.dispose()


def _connection(**values: Any) -> ConnectionRow:
    row = {
        "id": str(uuid.uuid4()),
        "name": "Café ✓",
        "name_key": "café ✓",
        "driver": "sqlite",
        "options": {"path": "x.sqlite", "nested": {"a": [1, 2.5, None]}},
        "secret_names": ["password"],
        "created_at": WHEN,
        "updated_at": WHEN + timedelta(seconds=1),
    }
    return ConnectionRow(**{**row, **values})


def test_connections_read_plainly_as_the_orm_reads_them(
    db: AppDatabase, fresh: AppDatabase
) -> None:
    rows = [
        _connection(),
        _connection(
            name="b",
            name_key="b",
            status_ok=False,
            status_error_code="X",
            status_latency_ms=1.5,
            status_checked_at=WHEN,
            can_write=True,
            privilege_reasons=["superuser"],
            allow_privileged=True,
            privileges_checked_at=WHEN,
        ),
    ]
    db.write(lambda tx: tx.add_all(rows))
    with db.read() as tx:
        orm = [ConnectionStore._info(tx.get(ConnectionRow, r.id)) for r in rows]
    orm.sort(key=lambda info: info.name.casefold())
    for database in (db, fresh):
        store = ConnectionStore(database, None, connect_timeout_s=1)  # type: ignore[arg-type]
        page = store.listing(limit=10, offset=0)
        assert page.items == orm
        assert page.total == 2
        assert store.listing(limit=1, offset=1).items == orm[1:]
        assert store.listing(limit=10, offset=0, ids=[rows[1].id]).items == [
            i for i in orm if i.id == rows[1].id
        ]
        assert store.listing(limit=10, offset=0, ids=[]).total == 0


def _run(created_at: datetime, **values: Any) -> RunRow:
    row = {
        "id": str(uuid.uuid4()),
        "user_name": "ann",
        "connection_name": "c",
        "sql": "SELECT 100% of it",
        "status": "succeeded",
        "max_rows": 10,
        "timeout_s": 1.5,
        "truncated": True,
        "columns": [{"name": "a", "type": "int64", "json_type": "number"}],
        "error_detail": None,
        "limits": None,
        "created_at": created_at,
        "started_at": created_at,
        "finished_at": created_at + timedelta(milliseconds=5),
        "duration_ms": 5.0,
    }
    return RunRow(**{**row, **values})


def test_history_reads_plainly_as_the_orm_reads_it(db: AppDatabase, fresh: AppDatabase) -> None:
    runs = [_run(WHEN + timedelta(minutes=i)) for i in range(5)]
    runs.append(_run(WHEN, user_name="bo", sql="select x_y", status="failed", truncated=False))
    runs.append(
        _run(
            WHEN,
            error_detail={"position": 3},
            limits=[
                {
                    "limit": "max_rows",
                    "requested": 10.0,
                    "applied": 5.0,
                    "setting": "max_rows_limit",
                    "reason": "why",
                }
            ],
        )
    )
    db.write(lambda tx: tx.add_all(runs))
    with db.read() as tx:
        orm = {r.id: run_info(tx.get(RunRow, r.id)) for r in runs}
    newest = sorted(orm.values(), key=lambda run: (run.created_at, run.id), reverse=True)
    for database in (db, fresh):
        history = History(database, cast(ResultStore, None))
        page = history.listing(limit=3, offset=0)
        assert page.items == newest[:3]
        assert page.total == 7
        assert page.next_cursor is not None
        rest = history.listing(limit=10, offset=0, cursor=page.next_cursor)
        assert rest.items == newest[3:]
        assert rest.total == 7
        assert [r.user for r in history.listing(limit=10, offset=0, user="bo").items] == ["bo"]
        failed = history.listing(limit=10, offset=0, status=RunStatus.failed)
        assert [r.user for r in failed.items] == ["bo"]
        # the text is matched literally: _ and % are no wildcards
        assert [r.sql for r in history.listing(limit=9, offset=0, text="X_Y").items] == [
            "select x_y"
        ]
        assert history.listing(limit=9, offset=0, text="x%y").total == 0
        assert history.listing(limit=9, offset=0, text="100%").total == 6
        since = history.listing(limit=9, offset=0, since=WHEN + timedelta(minutes=3))
        assert since.items == newest[:2]
        until = history.listing(limit=9, offset=0, until=WHEN + timedelta(minutes=1))
        assert {r.created_at for r in until.items} == {WHEN}
        assert history.listing(limit=9, offset=0, connection_ids=[]).total == 0
        assert history.listing(limit=9, offset=0, connection="other").total == 0


def test_grants_read_plainly(db: AppDatabase, fresh: AppDatabase) -> None:
    store = Grants(db)
    first, second = _connection(), _connection(name="b", name_key="b")
    db.write(lambda tx: tx.add_all([first, second]))
    group = store.create_group("readers")
    store.add_member("readers", "ann")
    store.grant(first.id, "a", "user", "ann", [Action.browse, Action.query])
    store.grant(second.id, "b", "group", "readers", [Action.browse])
    ann = Principal(username="ann", role=Role.analyst)
    for database in (db, fresh):
        grants = Grants(database)
        assert grants.connection_ids(ann) == {first.id, second.id}
        assert grants.connection_ids(ann, Action.query) == {first.id}
        assert grants.actions_for(ann, second.id) == {Action.browse}
        assert grants.actions_for(Principal(username="bo", role=Role.analyst), first.id) == set()
    assert group.name == "readers"


def test_an_unreachable_postgres_is_unavailable_to_plain_reads() -> None:
    db = AppDatabase("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(AppDatabaseUnavailable), db.read_plain() as cursor:
        cursor.execute("SELECT 1")
    assert not db.at_head()


def test_after_open_pool_plain_reads_use_the_engines_pool(db: AppDatabase) -> None:
    """A server opens the pool before its requests: concurrent reads, each on a
    connection of the pool, none on a connection of the database's own."""
    other = AppDatabase(db._url_text)
    other.open_pool()
    with other.read_plain() as cursor:
        assert other.plain.scalars(cursor, "SELECT count(*) FROM qd_runs") == [0]
    assert other._plain is None
    other.dispose()
