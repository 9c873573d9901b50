"""SQLite files, opened read-only and sandboxed.

Read-only is layered: the file is opened with ``mode=ro``; an authorizer allows only
reads (``SELECT``, column reads, functions other than ``load_extension``, recursive CTEs and
a few introspection pragmas); ``SQLITE_LIMIT_ATTACHED`` is 0, so ``ATTACH`` and
``VACUUM INTO`` cannot create files; a progress handler enforces the timeout and the cancel
flag. A big result of a plain scan may be read after its first batch by ADBC's SQLite
driver, in C, where that gives the same rows (see :mod:`querydeck.drivers.sqlite.columnar`).

SQLite columns have no fixed type, and the declared types are not exposed, so each
column's Arrow type comes from the values of the first batch: only integers → ``int64``,
only floats (or floats and integers a float holds exactly) → ``float64``, only text →
``string``, only blobs → ``binary``; anything else, or only NULLs, → ``string`` (every value
as text). The native type is the storage class seen (``INTEGER``, ``REAL``, ``TEXT``,
``BLOB``, ``NULL``, or several joined with ``|``). A later value that does not fit its column
follows the exact-conversion rule of :mod:`querydeck.drivers.arrow_rows`: an integer in a
``float64`` column becomes a float when exact, anything in a ``string`` column becomes text,
and otherwise the stream fails with ``RESULT_TYPE_MISMATCH`` asking for a ``CAST`` — a value
is never lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import pyarrow as pa
from pydantic import Field

from querydeck.drivers.arrow_rows import DbApiResultStream, field
from querydeck.drivers.base import (
    BATCH_ROWS,
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    ResultStream,
    ServerInfo,
    file_url_path,
)
from querydeck.drivers.catalog_model import DdlStyle, SchemaMeta
from querydeck.drivers.sqlite import catalog as sqlite_catalog
from querydeck.drivers.sqlite.native import MAX_VALUE_BYTES, check_sqlite
from querydeck.drivers.sqlite.policy import FORBIDDEN_FUNCTIONS, FORBIDDEN_RELATIONS
from querydeck.errors import (
    ConnectionFailed,
    ConnectionUrlInvalid,
    DataFileNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    ResourceLimit,
    SqlMultipleStatements,
    SqlNotReadOnly,
)

#: Virtual-machine instructions between two checks of the deadline and the cancel flag.
PROGRESS_STEPS = 1000

#: Pragmas allowed with any argument: they only describe a named table or index.
DESCRIBE_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
    }
)
#: Pragmas allowed without an argument (a read of the value, never a change).
READ_PRAGMAS = frozenset({"user_version", "application_id", "encoding", "collation_list"})
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})

_SQLITE_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, _SQLITE_RECURSIVE})

_STORAGE_CLASSES: dict[type, tuple[str, pa.DataType]] = {
    int: ("INTEGER", pa.int64()),
    float: ("REAL", pa.float64()),
    str: ("TEXT", pa.string()),
    bytes: ("BLOB", pa.binary()),
}


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


class SQLiteOptions(DriverOptions):
    path: str = Field(min_length=1, description="Path of the SQLite database file.")


def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, _: Any) -> int:
    """The authorizer: reads only (see the module docstring)."""
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and db == "main":
        # Asked when a pragma table-valued function is first used; the file is read-only
        # and SQLite refuses real updates of sqlite_master on its own.
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return (
            sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
        )
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in DESCRIBE_PRAGMAS or (name in READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def infer_schema(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Schema:
    """The Arrow schema of a result from its first rows (see the module docstring)."""
    fields = []
    for index, name in enumerate(names):
        kinds = {type(row[index]) for row in rows if row[index] is not None}
        native = "|".join(sorted(_STORAGE_CLASSES[k][0] for k in kinds)) or "NULL"
        if len(kinds) == 1:
            arrow_type = _STORAGE_CLASSES[kinds.pop()][1]
        elif kinds == {int, float} and all(
            isinstance(v, float) or float(v) == v for row in rows if (v := row[index]) is not None
        ):
            arrow_type = pa.float64()
        else:
            arrow_type = pa.string()
        fields.append(field(name, arrow_type, native))
    return pa.schema(fields)


class _NoRows(ResultStream):
    """The result of a statement that returns no columns."""

    def __init__(self) -> None:
        self.schema = pa.schema([])

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return iter(())

    def close(self) -> None:
        return None


class SQLiteSession(EngineSession):
    def __init__(self, native: sqlite3.Connection, path: Path | None = None) -> None:
        self._native = native
        #: The file opened and its identity then (device, inode): a pooled session is
        #: alive only while that path still names that file (None: no file to follow).
        self._path = path
        self._identity = _identity(path) if path is not None else None
        self._deadline: float | None = None
        self._timeout_s = 0.0
        self._cancelled = False
        self._timed_out = False
        self._closed = False
        self._stream: ResultStream | None = None
        #: ADBC's connection to the same file, for big plain scans (opened on first use).
        self._adbc: Any = None
        native.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        # No one value may be built larger than this (randomblob(1e9), zeroblob, repeated
        # concatenation): SQLite refuses at once instead of allocating a gigabyte.
        native.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        native.set_authorizer(authorize)
        native.set_progress_handler(self._progress, PROGRESS_STEPS)

    def _progress(self) -> int:
        if self._cancelled:
            return 1
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._timed_out = True
            return 1
        return 0

    def _check_open(self) -> None:
        if self._closed:
            raise QueryFailed("The SQLite connection is closed.")

    def ping(self) -> ServerInfo:
        self._check_open()
        try:
            row = self._native.execute("SELECT sqlite_version()").fetchone()
        except sqlite3.Error as exc:
            raise self._map_error(exc) from exc
        return ServerInfo(version=str(row[0]))

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        self._check_open()
        if self._stream is not None:
            self._stream.close()
        self._cancelled = self._timed_out = False
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        cursor = self._native.cursor()
        try:
            cursor.execute(sql)
            description = cursor.description
            first = cursor.fetchmany(BATCH_ROWS) if description else []
        except sqlite3.Error as exc:
            cursor.close()
            self._idle()
            raise self._map_error(exc) from exc
        if not description:
            cursor.close()
            self._idle()
            return _NoRows()
        schema = infer_schema([str(d[0]) for d in description], first)
        stream = self._columnar(cursor, first, schema, sql) if len(first) == BATCH_ROWS else None
        if stream is None:
            stream = DbApiResultStream(
                cursor, schema, self._map_error, first_rows=first, on_close=self._idle
            )
        self._stream = stream
        return stream

    def _columnar(
        self, cursor: sqlite3.Cursor, first: list[Any], schema: pa.Schema, sql: str
    ) -> ResultStream | None:
        """A big result's stream read by ADBC where that gives the same rows (see
        :mod:`querydeck.drivers.sqlite.columnar`), else None."""
        from querydeck.drivers.sqlite import columnar

        if self._path is None:
            return None
        text = columnar.eligible(self._native, sql, schema, self._path)
        adbc = self._adbc_connection() if text is not None else None
        if text is None or adbc is None:
            return None
        return columnar.ColumnarStream(
            cursor,
            first,
            schema,
            adbc,
            text,
            map_error=self._map_error,
            interrupted=self._interruption,
            max_value_bytes=MAX_VALUE_BYTES,
            on_close=self._idle,
        )

    def _adbc_connection(self) -> Any:
        """The session's ADBC connection to its file (opened on first use), or None when
        it cannot be opened or the path names another file now."""
        from querydeck.drivers.sqlite import columnar

        if self._adbc is None and self._path is not None:
            try:
                adbc = columnar.open_adbc(self._path)
            except Exception:
                return None
            if _identity(self._path) != self._identity:
                with contextlib.suppress(Exception):
                    adbc.close()
                return None
            self._adbc = adbc
        return self._adbc

    def _interruption(self) -> QueryDeckError | None:
        """The error to stop with between two batches read by ADBC (its statements
        cannot be interrupted): cancelled, or past the deadline; None to go on."""
        if self._cancelled:
            return self._map_error(sqlite3.OperationalError("interrupted"))
        if self._deadline is not None and time.monotonic() > self._deadline:
            self._timed_out = True
            return self._map_error(sqlite3.OperationalError("interrupted"))
        return None

    def _idle(self) -> None:
        self._deadline = None
        self._stream = None

    def _map_error(self, exc: Exception) -> QueryDeckError:
        message = str(exc)
        lowered = message.lower()
        if lowered == "interrupted":
            if self._timed_out:
                return QueryTimeout(
                    f"The statement ran longer than the {self._timeout_s:g} s timeout.",
                    detail={"timeout_s": self._timeout_s},
                )
            return QueryCancelled("The statement was cancelled.")
        if "one statement at a time" in lowered:
            return SqlMultipleStatements(
                "Only one statement can run at a time; remove everything after the first.",
            )
        if any(word in lowered for word in ("authoriz", "readonly", "attached databases")):
            return SqlNotReadOnly(
                "SQLite refused the statement: this connection only reads data.",
                detail={"engine_message": message},
            )
        if "string or blob too big" in lowered:
            return ResourceLimit(
                f"A value would be larger than SQLite's limit of {MAX_VALUE_BYTES:,} bytes "
                "for one value; select a part of it (substr) instead.",
                detail={"limit_bytes": MAX_VALUE_BYTES},
            )
        if isinstance(exc, MemoryError) or "out of memory" in lowered:
            return ResourceLimit("SQLite ran out of memory running the statement.")
        return QueryFailed(f"SQLite error: {message}.", detail={"engine_message": message})

    def cancel(self) -> None:
        if self._closed:
            return
        self._cancelled = True
        try:
            self._native.interrupt()
        except sqlite3.Error:
            return

    def reset(self) -> bool:
        """Nothing a statement runs here outlives it: the authorizer lets through reads
        only (no transaction, temporary object, attached file or setting), so a session
        whose stream is closed is as fresh as a new one. It stays usable while its path
        still names the file it opened (a file replaced since is opened anew, through
        the file roots again)."""
        if self._stream is not None:
            self._stream.close()
        self._cancelled = self._timed_out = False
        self._idle()
        return not self._native.in_transaction and self.alive()

    def alive(self) -> bool:
        if self._closed:
            return False
        if self._path is None:  # not a file's session (an in-memory database)
            return True
        return self._identity is not None and _identity(self._path) == self._identity

    def close(self) -> None:
        if self._closed:
            return
        if self._stream is not None:
            self._stream.close()
        self._closed = True
        if self._adbc is not None:
            with contextlib.suppress(Exception):
                self._adbc.close()
            self._adbc = None
        try:
            self._native.close()
        except sqlite3.Error:
            return

    def schemas(self) -> list[str]:
        return [sqlite_catalog.SCHEMA_NAME]

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        """Read with the same authorizer and progress-handler deadline as a statement."""
        self._check_open()
        if self._stream is not None:
            self._stream.close()
        self._cancelled = self._timed_out = False
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        try:
            return sqlite_catalog.describe_schema(self._native, schema)
        except sqlite3.Error as exc:
            raise self._map_error(exc) from exc
        finally:
            self._idle()


class SQLiteDriver(Driver[SQLiteOptions]):
    """SQLite database files, read-only."""

    name = "sqlite"
    title = "SQLite"
    dialect = "sqlite"
    Options = SQLiteOptions
    capabilities = Capabilities(server_timeout=False, schemas=False, file_based=True)
    url_schemes = ("sqlite",)
    forbidden_functions = FORBIDDEN_FUNCTIONS
    forbidden_relations = FORBIDDEN_RELATIONS
    native_check = check_sqlite
    ddl_style = DdlStyle(schema_qualified=False, named_constraints=False)
    #: A big plain scan's columnar reader (ADBC and Arrow's kernels: about 0.4 s to import).
    run_path_modules = ("querydeck.drivers.sqlite.columnar", "adbc_driver_sqlite.dbapi")

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``; no parameters."""
        path = file_url_path(url, cls.url_schemes, cls.title, "sqlite:///relative.db")
        if not path:
            raise ConnectionUrlInvalid("The SQLite URL names no file: sqlite:///path/to/file.db.")
        return {"path": path}

    def target(self) -> str:
        return Path(self.options.path).name or self.options.path

    def connect(self, *, timeout_s: float) -> EngineSession:
        path = Path(self.options.path)
        shown = self.target()
        if self.sandbox.files is not None:
            self.sandbox.files.check(self.options.path, self.title)
        if not path.exists():
            raise DataFileNotFound(f"The SQLite file {shown!r} does not exist.")
        if not path.is_file():
            raise ConnectionFailed(f"{shown!r} is not a file, so it is not a SQLite database.")
        uri = "file:" + pathname2url(str(path.resolve())) + "?mode=ro"
        try:
            native = sqlite3.connect(
                uri, uri=True, timeout=timeout_s, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise ConnectionFailed(f"The SQLite file {shown!r} cannot be opened: {exc}.") from None
        try:
            native.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            native.close()
            if "not a database" in str(exc):
                raise ConnectionFailed(f"The file {shown!r} is not a SQLite database.") from None
            raise ConnectionFailed(f"The SQLite file {shown!r} cannot be read: {exc}.") from None
        return SQLiteSession(native, path)
