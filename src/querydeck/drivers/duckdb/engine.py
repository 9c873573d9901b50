"""The DuckDB engine side of the DuckDB driver: opening a sandboxed session and running
statements in it. Kept apart from :mod:`querydeck.drivers.duckdb.driver` so that registering or
validating a DuckDB connection does not import the engine (tens of MB resident); it is
imported when a session is first opened.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from querydeck.drivers.arrow_rows import RecordBatchReaderStream, with_native_types
from querydeck.drivers.base import (
    BATCH_ROWS,
    EngineSession,
    ResultStream,
    ServerInfo,
)
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.duckdb import catalog as duckdb_catalog
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.errors import (
    ConfigError,
    ConnectionFailed,
    FileAccessDenied,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    ResourceLimit,
    SqlEmpty,
    SqlMultipleStatements,
    SqlNotReadOnly,
)

#: Statement types run at all; the engine's own settings refuse the rest too.
READ_STATEMENT_TYPES = frozenset({"SELECT", "EXPLAIN"})
#: Longest engine message passed on to the user.
MAX_MESSAGE_CHARS = 2000
#: Held while a session is opened and configured: connections to one file in one process
#: share a database instance, whose configuration the first of them sets and locks; two
#: opened at once would otherwise both see it unlocked and the second fail to change it.
_CONFIGURING = threading.Lock()


#: The extension files whose signature DuckDB checked in this process, as they were then
#: (path, device, inode, size, modification time). DuckDB checks it on every load into every
#: new database by hashing the whole file (12-80 MB: 0.05-0.3 s of CPU each, per session
#: of the lake and S3 drivers); a database opened to load only verified files allows
#: unsigned ones while it loads them (see :func:`verified_extensions`).
_VERIFIED: set[tuple[str, int, int, int, int]] = set()


def packaged_extension(name: str) -> Path:
    """The file of the extension ``name`` from the installed ``duckdb-extension-<name>``
    package (matching this DuckDB's version); a missing package raises
    :class:`~querydeck.errors.ConfigError`."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ConfigError(f"{name!r} is not a DuckDB extension name.")
    package = f"duckdb-extension-{name}=={duckdb.__version__}"
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The DuckDB extension {name!r} is not installed; add {package}.")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ConfigError(f"The installed DuckDB extension {name!r} does not match; use {package}.")
    return path


def _identity(path: Path) -> tuple[str, int, int, int, int]:
    found = path.stat()
    return (str(path), found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def verified_extensions(names: Sequence[str]) -> bool:
    """Whether ``names`` are extensions whose files DuckDB verified in this process and
    that are unchanged since: a new database that loads only those may be opened with
    ``allow_unsigned_extensions`` (each is checked again anyway where it is not, see
    :func:`load_extension_file`), and must set it off once they are loaded."""
    try:
        return bool(names) and all(_identity(packaged_extension(n)) in _VERIFIED for n in names)
    except (ConfigError, OSError):
        return False


def load_packaged_extension(conn: duckdb.DuckDBPyConnection, name: str) -> Path:
    """Load the extension ``name`` from the installed ``duckdb-extension-<name>`` package
    (matching this DuckDB's version) into ``conn``; returns the file loaded. Never
    downloads: a missing package raises :class:`~querydeck.errors.ConfigError`."""
    path = packaged_extension(name)
    load_extension_file(conn, path, name)
    return path


def load_extension_file(conn: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Load the extension file ``path`` into ``conn``, its signature checked by DuckDB
    unless DuckDB verified this very file (unchanged) earlier in the process and ``conn``
    allows unsigned extensions; where it did not, ``conn`` stops allowing them first."""
    quoted = str(path).replace("'", "''")
    try:
        identity = _identity(path)
        signed = not _allows_unsigned(conn)
        if not signed and identity not in _VERIFIED:
            conn.execute("SET allow_unsigned_extensions = false")
            signed = True
        conn.execute(f"LOAD '{quoted}'")
    except (duckdb.Error, OSError) as exc:
        raise ConfigError(f"The DuckDB extension {name!r} does not load: {exc}") from None
    if signed:
        _VERIFIED.add(identity)


def _allows_unsigned(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()
    return bool(row and row[0] is True)


def _engine_message(exc: BaseException) -> str:
    return str(exc).strip()[:MAX_MESSAGE_CHARS]


class DuckDBSession(EngineSession):
    def __init__(self, native: duckdb.DuckDBPyConnection) -> None:
        self._native = native
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._timeout_s = 0.0
        self._cancelled = False
        self._timed_out = False
        self._closed = False
        self._stream: ResultStream | None = None

    def ping(self) -> ServerInfo:
        self._check_open()
        try:
            row = self._native.execute("SELECT version()").fetchone()
        except duckdb.Error as exc:
            raise self._map_error(exc) from exc
        return ServerInfo(version=str(row[0]) if row else "unknown")

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        self._check_open()
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise self._map_error(exc) from exc
        if not statements:
            raise SqlEmpty("The text holds no SQL statement.")
        if len(statements) > 1:
            raise SqlMultipleStatements(
                "Only one statement can run at a time; remove everything after the first.",
                detail={"statements": len(statements)},
            )
        kind = statements[0].type.name
        if kind not in READ_STATEMENT_TYPES:
            raise SqlNotReadOnly(
                f"DuckDB statements of type {kind} are not allowed: this connection only reads.",
                detail={"statement_type": kind},
            )
        if self._stream is not None:
            self._stream.close()
        self._start_timer(timeout_s)
        try:
            result = self._native.execute(statements[0])
            reader = result.to_arrow_reader(BATCH_ROWS)
            natives = [str(column[1]) for column in result.description or ()]
        except Exception as exc:
            self._idle()
            raise self._map_error(exc) from exc
        schema = with_native_types(reader.schema, natives)
        self._stream = RecordBatchReaderStream(reader, schema, self._map_error, on_close=self._idle)
        return self._stream

    def _start_timer(self, timeout_s: float) -> None:
        with self._lock:
            self._cancelled = self._timed_out = False
            self._timeout_s = timeout_s
            self._timer = threading.Timer(timeout_s, self._on_deadline)
            self._timer.daemon = True
            self._timer.start()

    def _on_deadline(self) -> None:
        with self._lock:
            if self._timer is None or self._closed:
                return
            self._timed_out = True
            self._native.interrupt()

    def _idle(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
            self._stream = None

    def _map_error(self, exc: Exception) -> QueryDeckError:
        message = _engine_message(exc)
        if isinstance(exc, duckdb.InterruptException) or message.startswith("INTERRUPT Error"):
            if self._timed_out:
                return QueryTimeout(
                    f"The statement ran longer than the {self._timeout_s:g} s timeout.",
                    detail={"timeout_s": self._timeout_s},
                )
            return QueryCancelled("The statement was cancelled.")
        if isinstance(exc, duckdb.OutOfMemoryException) or message.startswith("Out of Memory"):
            return ResourceLimit(
                "DuckDB ran out of memory for this statement (the connection's memory_limit).",
                detail={"engine_message": message},
            )
        if isinstance(exc, duckdb.PermissionException):
            return FileAccessDenied(
                "DuckDB refused to access a file, the network or an extension: this "
                "connection only reads its own database."
            )
        if "read-only mode" in message or "configuration has been locked" in message:
            return SqlNotReadOnly(
                "DuckDB refused the statement: this connection only reads data and its "
                "settings cannot change.",
                detail={"engine_message": message},
            )
        return QueryFailed(message or "DuckDB reported an error.", detail={"engine": "duckdb"})

    def _check_open(self) -> None:
        if self._closed:
            raise QueryFailed("The DuckDB connection is closed.")

    def cancel(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._cancelled = True
            self._native.interrupt()

    def close(self) -> None:
        if self._closed:
            return
        if self._stream is not None:
            self._stream.close()
        with self._lock:
            self._closed = True
        with contextlib.suppress(duckdb.Error):
            self._native.close()

    def schemas(self) -> list[str]:
        self._check_open()
        try:
            return duckdb_catalog.schemas(self._native)
        except duckdb.Error as exc:
            raise self._map_error(exc) from exc

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        """Read under the same deadline timer as a statement."""
        self._check_open()
        if self._stream is not None:
            self._stream.close()
        self._start_timer(timeout_s)
        try:
            return duckdb_catalog.describe_schema(self._native, schema)
        except duckdb.Error as exc:
            raise self._map_error(exc) from exc
        finally:
            self._idle()


def connect(
    path: str | None, shown: str, roots: list[str], memory_limit: str, threads: int
) -> DuckDBSession:
    """A session on the file ``path`` (read-only) or in memory, locked down: external
    access off after the allowed directories ``roots`` are set, the configuration locked."""
    config: dict[str, Any] = {
        # Turned off right after allowed_directories is set, before any statement.
        "enable_external_access": bool(roots),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": memory_limit,
        "threads": threads,
        # No spill files: DuckDB would write them under the server's working directory (or
        # next to the database file), up to 90% of the disk; past memory_limit a statement
        # fails with RESOURCE_LIMIT instead.
        "temp_directory": "",
    }
    with _CONFIGURING:
        native = _open(path, shown, config)
        try:
            _lock_configuration(native, roots)
        except duckdb.Error as exc:
            native.close()
            raise ConnectionFailed(f"DuckDB cannot be configured: {exc}") from None
    return DuckDBSession(native)


def _open(path: str | None, shown: str, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path or ":memory:", read_only=path is not None, config=config)
    except duckdb.Error as exc:
        if "not a valid DuckDB database" in str(exc) or "extension" in str(exc):
            raise ConnectionFailed(f"The file {shown!r} is not a DuckDB database.") from None
        reason = str(exc).split(": ", 1)[-1]
        for spelled in {str(Path(str(path)).resolve()), str(path)}:
            reason = reason.replace(spelled, shown)
        raise ConnectionFailed(f"The DuckDB file {shown!r} cannot be opened: {reason}") from None


def _lock_configuration(native: duckdb.DuckDBPyConnection, roots: list[str]) -> None:
    """Set the time zone to UTC, the allowed directories, and lock the configuration.
    Connections to one file in one process share a database instance, which a first
    connection may have locked already."""
    locked = native.execute("SELECT current_setting('lock_configuration')").fetchone()
    if not (locked and locked[0] is True):
        with contextlib.suppress(duckdb.Error):  # without ICU, time zones are UTC anyway
            native.execute("SET GLOBAL TimeZone = 'UTC'")
        if roots:
            listed = ", ".join(text_literal(root) for root in roots)
            native.execute(f"SET allowed_directories = [{listed}]")
        native.execute("SET enable_external_access = false")
        native.execute("SET lock_configuration = true")
    external = native.execute("SELECT current_setting('enable_external_access')").fetchone()
    if not (external and external[0] is False):
        raise ConnectionFailed("DuckDB would allow external access; the connection is refused.")
