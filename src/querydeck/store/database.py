"""The engine of querydeck's own database, its sessions, migrations and the bounded retry.

SQLite (the default) runs in WAL mode with a busy timeout, and every write goes through
:meth:`AppDatabase.write`, which retries a bounded number of times when the database is
locked — WAL and a busy timeout alone still lose writes under concurrent writers.
PostgreSQL is used when ``QUERYDECK_DATABASE_URL`` says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from querydeck.errors import AppDatabaseBusy, AppDatabaseUnavailable, ConfigError
from querydeck.store.fastsql import FastTable

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
#: The newest migration's revision; a test checks it is Alembic's only head.
SCHEMA_HEAD = "0013"
#: Alembic keeps its migration context in module globals: one migration at a time.
_MIGRATION_LOCK = threading.Lock()


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson does not take (an integer past 64 bits) stdlib json does
        return json.dumps(value)


def _json_value(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # written by stdlib json before (NaN, Infinity)
        return json.loads(text)


def _is_locked(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "database is locked" in text_ or "database table is locked" in text_


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


class AppDatabase:
    """querydeck's own database."""

    def __init__(
        self, url: str, *, retries: int = 8, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
    ) -> None:
        try:
            parsed = make_url(url)
        except Exception:  # any parse failure is a config error
            raise ConfigError("QUERYDECK_DATABASE_URL is not a valid database URL.") from None
        self.url = parsed
        self.retries = retries
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError("querydeck's own database must be SQLite or PostgreSQL.")
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs: dict[str, Any] = {
            "hide_parameters": True,
            "pool_pre_ping": not self.is_sqlite,
            # JSON columns (a run's columns and error detail, audit details) with orjson:
            # they are written on the run hot path, where stdlib json is not used.
            "json_serializer": _json_text,
            "json_deserializer": _json_value,
        }
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        self.engine: Engine = create_engine(parsed, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Within this process, writers queue on a lock
        # instead of meeting "database is locked" (a read-then-write transaction fails at
        # once, without waiting) and backing off with sleeps; other processes still meet
        # the busy timeout and the bounded retry below.
        self._write_lock: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        #: SQLite: the one connection :meth:`write_raw` writes with, under the write lock
        #: (no pool checkout, return and reset per write).
        self._writer: PoolProxiedConnection | None = None
        dbapi = self.engine.dialect.loaded_dbapi
        self._dbapi_errors: tuple[type[Exception], ...] = (dbapi.OperationalError,)
        self._fast: dict[str, FastTable] = {}

    def protect(self) -> None:
        """SQLite: the database file is created with mode 0600, and an existing one (with
        its journal, WAL and shared-memory files, which SQLite creates with the database's
        mode) is set to it; the data directory alone (0700) does not survive a copy."""
        name = self.url.database if self.is_sqlite else None
        if not name or name == ":memory:" or name.startswith("file:"):
            return
        path = Path(name)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for each in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
            with contextlib.suppress(OSError):  # absent, or another owner's: left alone
                os.chmod(each, 0o600)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a database already there is
        recognised without importing Alembic: a third of a second for every CLI
        command). A SQLite file is made private first (:meth:`protect`)."""
        self.protect()
        if self.at_head():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        location = resources.files("querydeck.store") / "migrations"
        config.set_main_option("script_location", str(location))
        try:
            with _MIGRATION_LOCK, self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise AppDatabaseUnavailable(
                f"querydeck's database cannot be opened or migrated: {_short(exc)}"
            ) from None

    def at_head(self) -> bool:
        """Whether the schema is at :data:`SCHEMA_HEAD` already."""
        try:
            with self.engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except SQLAlchemyError:  # no schema yet, or not readable: Alembic decides
            return False
        return [row[0] for row in found] == [SCHEMA_HEAD]

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing is committed."""
        with self._sessions() as tx:
            try:
                yield tx
            except OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _raw(self) -> Iterator[tuple[PoolProxiedConnection, DBAPICursor]]:
        """A pooled DB-API connection and a cursor on it; the driver's operational errors
        come out as SQLAlchemy's (what the retry and the error mapping look at)."""
        try:
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                try:
                    yield conn, cursor
                finally:
                    cursor.close()
            finally:
                conn.close()  # back to the pool (which rolls back what is still open)
        except self._dbapi_errors as exc:
            raise OperationalError(None, None, exc) from None

    @contextmanager
    def read_raw(self) -> Iterator[DBAPICursor]:
        """A DB-API cursor for reading (:mod:`querydeck.store.fastsql`); nothing is
        committed."""
        try:
            with self._raw() as (_, cursor):
                yield cursor
        except OperationalError as exc:
            raise self._unavailable(exc) from None

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, retrying a bounded number of times (with jitter)
        while the database is locked. ``work`` must be safe to repeat."""

        def attempt() -> T:
            with self._sessions.begin() as tx:
                return work(tx)

        return self._retrying(attempt)

    def write_raw(self, work: Callable[[DBAPICursor], T]) -> T:
        """:meth:`write` on a DB-API cursor, for the plain statements of
        :mod:`querydeck.store.fastsql`: no ORM session, no Core execution machinery."""

        def attempt() -> T:
            with self._raw_writer() as (conn, cursor):
                try:
                    result = work(cursor)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
                return result

        return self._retrying(attempt)

    @contextmanager
    def _raw_writer(self) -> Iterator[tuple[PoolProxiedConnection, DBAPICursor]]:
        """:meth:`_raw` for :meth:`write_raw`: on SQLite (whose writers in this process
        hold the write lock) the same connection every time; one that failed for another
        reason than a lock is dropped."""
        if not self.is_sqlite:
            with self._raw() as pair:
                yield pair
            return
        try:
            if self._writer is None:
                self._writer = self.engine.raw_connection()
            cursor = self._writer.cursor()
            try:
                yield self._writer, cursor
            finally:
                cursor.close()
        except self._dbapi_errors as exc:
            error = OperationalError(None, None, exc)
            if not _is_locked(error):
                self._drop_writer()
            raise error from None

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # it failed already
                writer.invalidate()

    def fast(self, table: Table) -> FastTable:
        """The plain statements of ``table`` for this database."""
        found = self._fast.get(table.name)
        if found is None:
            found = self._fast[table.name] = FastTable(table, self.engine.dialect)
        return found

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for tries in range(self.retries + 1):
            try:
                with self._write_lock or nullcontext():
                    return attempt()
            except OperationalError as exc:
                if not _is_locked(exc):
                    raise self._unavailable(exc) from None
                if tries == self.retries:
                    raise AppDatabaseBusy(
                        "querydeck's database is busy; try again in a moment.",
                        detail={"retry_after_s": 1},
                    ) from None
                time.sleep(min(0.05 * 2**tries, 1.0) * (0.5 + random.random()))  # noqa: S311
        raise AssertionError("unreachable")

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None

    def dispose(self) -> None:
        with self._write_lock or nullcontext():
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
        self.engine.dispose()

    @staticmethod
    def _unavailable(exc: SQLAlchemyError) -> AppDatabaseUnavailable | AppDatabaseBusy:
        if isinstance(exc, OperationalError) and _is_locked(exc):
            return AppDatabaseBusy("querydeck's database is busy; try again in a moment.")
        return AppDatabaseUnavailable(f"querydeck's database is unavailable: {_short(exc)}")


def _short(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    return first[0][:300] if first else type(exc).__name__
