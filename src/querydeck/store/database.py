"""The engine of querydeck's own database, its sessions, migrations and the bounded retry.

SQLite (the default) runs in WAL mode with a busy timeout, and every write goes through
:meth:`AppDatabase.write`, which retries a bounded number of times when the database is
locked — WAL and a busy timeout alone still lose writes under concurrent writers.
PostgreSQL is used when ``QUERYDECK_DATABASE_URL`` says so.

The SQLAlchemy engine is built (and SQLAlchemy imported) on first use: until then the plain
reads (:meth:`AppDatabase.read_plain`) use one connection of the database's own, and
SQLite's plain writes (:meth:`AppDatabase.write_raw`) always do.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from querydeck.errors import AppDatabaseBusy, AppDatabaseUnavailable, ConfigError
from querydeck.store.plain import Cursor, PlainSql, json_text, json_value
from querydeck.store.urls import DatabaseUrl, app_database_url

if TYPE_CHECKING:  # SQLAlchemy loads with the first ORM session or Core statement
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import DBAPICursor
    from sqlalchemy.orm import Session, sessionmaker
    from sqlalchemy.pool import PoolProxiedConnection

    from querydeck.store.fastsql import FastTable

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
#: The newest migration's revision; a test checks it is Alembic's only head.
SCHEMA_HEAD = "0013"
#: Alembic keeps its migration context in module globals: one migration at a time.
_MIGRATION_LOCK = threading.Lock()


def _locked_text(text: str) -> bool:
    text = text.lower()
    return "database is locked" in text or "database table is locked" in text


def _is_locked(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    return _locked_text(str(orig) if orig is not None else str(exc))


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


def _plain_connection(url: DatabaseUrl, busy_timeout_ms: int) -> Any:
    """A DB-API connection as the engine's pool makes one (the same driver, SQLite's
    pragmas, psycopg's JSON decoding), without SQLAlchemy."""
    if url.backend == "sqlite":
        conn = sqlite3.connect(
            url.database or ":memory:", timeout=busy_timeout_ms / 1000, check_same_thread=False
        )
        _sqlite_pragmas(busy_timeout_ms)(conn, None)
        return conn
    import psycopg
    from psycopg.types.json import set_json_loads

    args: dict[str, Any] = {
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
        "host": url.host,
        "port": url.port,
    }
    args = {key: value for key, value in args.items() if value is not None}
    args.update(url.query)
    server = psycopg.connect(**args)
    set_json_loads(json_value, server)
    return server


class AppDatabase:
    """querydeck's own database."""

    def __init__(
        self, url: str, *, retries: int = 8, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
    ) -> None:
        """No I/O, and no SQLAlchemy: the engine is built on first use (:attr:`engine`)."""
        self.url = app_database_url(url)
        self._url_text = url
        self.retries = retries
        self.is_sqlite = self.url.backend == "sqlite"
        self._busy_timeout_ms = busy_timeout_ms
        #: The SQL text and values of :meth:`read_plain`'s reads.
        self.plain = PlainSql(is_sqlite=self.is_sqlite)
        self._engine: Engine | None = None
        self._sessions_made: sessionmaker[Session] | None = None
        self._engine_lock = threading.Lock()
        #: Until the engine is built: the one connection :meth:`read_plain` reads on.
        self._plain: Any = None
        self._plain_lock = threading.RLock()  # a read inside a read shares the connection
        # SQLite has one writer at a time. Within this process, writers queue on a lock
        # instead of meeting "database is locked" (a read-then-write transaction fails at
        # once, without waiting) and backing off with sleeps; other processes still meet
        # the busy timeout and the bounded retry below.
        self._write_lock: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        #: SQLite: the one connection :meth:`write_raw` writes with, under the write lock
        #: (no pool checkout, return and reset per write).
        self._writer: Any = None
        self._fast: dict[str, FastTable] = {}

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, built (and SQLAlchemy imported) on first use."""
        if self._engine is None:
            self.open_pool()
        assert self._engine is not None
        return self._engine

    def open_pool(self) -> None:
        """Build the engine now (a server, before its requests): from then on the plain
        reads use its pool (concurrent, pinged), not one connection under a lock."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._build_engine()

    def _build_engine(self) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.engine import make_url

        try:
            parsed = make_url(self._url_text)
        except Exception:  # any parse failure is a config error
            raise ConfigError("QUERYDECK_DATABASE_URL is not a valid database URL.") from None
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs: dict[str, Any] = {
            "hide_parameters": True,
            "pool_pre_ping": not self.is_sqlite,
            # JSON columns (a run's columns and error detail, audit details) with orjson:
            # they are written on the run hot path, where stdlib json is not used.
            "json_serializer": json_text,
            "json_deserializer": json_value,
        }
        if self.is_sqlite:
            kwargs["connect_args"] = {
                "timeout": self._busy_timeout_ms / 1000,
                "check_same_thread": False,
            }
        engine = create_engine(parsed, **kwargs)
        if self.is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas(self._busy_timeout_ms))
        return engine

    @property
    def _sessions(self) -> sessionmaker[Session]:
        if self._sessions_made is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions_made = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions_made

    @property
    def _dbapi_errors(self) -> tuple[type[Exception], ...]:
        return (self.engine.dialect.loaded_dbapi.OperationalError,)

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
        from sqlalchemy.exc import OperationalError

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
        """Whether the schema is at :data:`SCHEMA_HEAD` already (a plain read: no
        SQLAlchemy)."""
        try:
            with self._plain_cursor() as cursor:
                found = self.plain.scalars(cursor, "SELECT version_num FROM alembic_version")
        except Exception:  # no schema yet, or not readable: Alembic decides
            return False
        return found == [SCHEMA_HEAD]

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing is committed."""
        from sqlalchemy.exc import OperationalError

        with self._sessions() as tx:
            try:
                yield tx
            except OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def read_plain(self) -> Iterator[Cursor]:
        """A DB-API cursor for the plain reads of :mod:`querydeck.store.plain`; nothing is
        committed. Until something has built the engine, no SQLAlchemy: the cursor is on
        a connection of this database's own."""
        try:
            with self._plain_cursor() as cursor:
                yield cursor
        except self._operational_errors() as exc:
            raise self._unavailable(exc) from None

    def _operational_errors(self) -> tuple[type[Exception], ...]:
        """The driver's operational errors, and SQLAlchemy's once it is loaded."""
        errors: list[type[Exception]] = [sqlite3.OperationalError]
        if not self.is_sqlite:
            import psycopg

            errors = [psycopg.OperationalError]
        if self._engine is not None:
            from sqlalchemy.exc import OperationalError

            errors.append(OperationalError)
        return tuple(errors)

    @contextmanager
    def _plain_cursor(self) -> Iterator[Cursor]:
        # A SQLite URL with options of its own (``?mode=ro``) is left to the engine.
        if self._engine is not None or (self.is_sqlite and self.url.query):
            with self._raw() as (_, raw):
                yield raw
            return
        with self._plain_lock:
            if self._plain is None:
                self._plain = _plain_connection(self.url, self._busy_timeout_ms)
            conn = self._plain
            try:
                cursor = conn.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
                conn.rollback()
            except BaseException:
                self._plain = None  # in doubt (a broken connection): a new one next time
                with contextlib.suppress(Exception):
                    conn.close()
                raise

    @contextmanager
    def _raw(self) -> Iterator[tuple[PoolProxiedConnection, DBAPICursor]]:
        """A pooled DB-API connection and a cursor on it; the driver's operational errors
        come out as SQLAlchemy's (what the retry and the error mapping look at)."""
        from sqlalchemy.exc import OperationalError

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

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, retrying a bounded number of times (with jitter)
        while the database is locked. ``work`` must be safe to repeat."""

        def attempt() -> T:
            with self._sessions.begin() as tx:
                return work(tx)

        return self._retrying(attempt)

    def write_raw(self, work: Callable[[Cursor], T]) -> T:
        """:meth:`write` on a DB-API cursor, for the plain statements of
        :mod:`querydeck.store.fastsql`: no ORM session, no Core execution machinery (on
        SQLite no SQLAlchemy at all)."""

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
    def _raw_writer(self) -> Iterator[tuple[Any, Cursor]]:
        """A connection and a cursor for :meth:`write_raw`: on SQLite (whose writers in
        this process hold the write lock) the same connection every time, made as
        :meth:`read_plain`'s is (one that failed for another reason than a lock is
        dropped); on PostgreSQL one of the engine's pool."""
        if not self.is_sqlite:
            with self._raw() as pair:
                yield pair
            return
        try:
            if self._writer is None:
                self._writer = (
                    self.engine.raw_connection()
                    if self.url.query  # options of its own (``?mode=ro``): the engine's
                    else _plain_connection(self.url, self._busy_timeout_ms)
                )
            cursor = self._writer.cursor()
            try:
                yield self._writer, cursor
            finally:
                cursor.close()
        except self._operational_errors() as exc:
            if not _is_locked(exc):
                self._drop_writer()
            raise

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # it failed already
                getattr(writer, "invalidate", writer.close)()

    def fast(self, table: Table | str) -> FastTable:
        """The plain statements of ``table`` (or the table of that name) for this
        database."""
        name = table if isinstance(table, str) else table.name
        found = self._fast.get(name)
        if found is None:
            from querydeck.store.fastsql import FastTable

            found = self._fast[name] = FastTable(name, self.plain)
        return found

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for tries in range(self.retries + 1):
            try:
                with self._write_lock or nullcontext():
                    return attempt()
            except self._operational_errors() as exc:
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
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

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
        with self._plain_lock:
            plain, self._plain = self._plain, None
            if plain is not None:
                plain.close()
        if self._engine is not None:
            self._engine.dispose()

    @staticmethod
    def _unavailable(exc: Exception) -> AppDatabaseUnavailable | AppDatabaseBusy:
        if _is_locked(exc):
            return AppDatabaseBusy("querydeck's database is busy; try again in a moment.")
        return AppDatabaseUnavailable(f"querydeck's database is unavailable: {_short(exc)}")


def _short(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    return first[0][:300] if first else type(exc).__name__
