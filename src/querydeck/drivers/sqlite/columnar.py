"""Big SQLite results read in C, straight into Arrow, where that changes nothing.

Python's ``sqlite3`` makes a Python object of every value; for a million rows that costs
more than the rest of the run. ADBC's SQLite driver (``adbc-driver-sqlite``) reads a
statement's rows into Arrow arrays in C, but it has none of the session's read-only
layers (authorizer, limits, progress handler) and cannot be interrupted inside a batch
(its cancel is not implemented). So it is used only where none of that can matter, and
every batch it gives is checked to be what the Python path would have given:

- **Only big results.** The session runs every statement on its authorized ``sqlite3``
  connection first and fetches the first ``BATCH_ROWS`` rows as always (types are
  inferred from them: :func:`~querydeck.drivers.sqlite.driver.infer_schema`). A shorter
  result never comes here: small queries keep their one path.
- **Only plain scans.** The statement's program, as the authorized connection compiles it
  (``EXPLAIN``, never stepped), may hold only the instructions of a scan that returns
  every row it reads (:data:`PLAIN_OPS`): no filter, sort, function, subquery, temporary
  table or virtual table. Each batch is then a bounded amount of work, and the deadline
  and the cancel flag are checked between batches instead of every 1,000 instructions.
- **The same text, authorized.** ADBC runs the statement wrapped in a ``WITH`` that adds a
  flag column; the wrapped text is compiled by the authorized connection too, and its
  program must be the plain scan plus the flag's own instructions (``typeof`` only).
- **The same rows.** Every column must hold one storage class in the first batch (INTEGER,
  REAL, TEXT or BLOB); the flag marks any row with a value of another class where ADBC
  would convert it silently (:func:`needs_test`; the table column's affinity, read from
  the program by :mod:`.affinity`, rules most columns out). ADBC's
  first batch must equal the Python path's first batch exactly (same rows, same order,
  same values); a flagged row, a value over the session's length limit, text that is not
  UTF-8, an ADBC error or a changed schema hands the rest of the result back to the
  Python path, which skips the rows already given and goes on from there (its conversion
  rules and errors then apply as always). The file must not be in WAL mode: while the
  ``sqlite3`` cursor is open its shared lock keeps writers out, so both connections read
  the same data.
- **Read-only twice.** The ADBC connection opens the same file (checked by device and
  inode) with ``mode=ro`` and ``PRAGMA query_only``; no extension is loaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.request import pathname2url

import pyarrow as pa
import pyarrow.compute as pc

from querydeck.drivers.arrow_rows import (
    DbApiResultStream,
    MappedStream,
    native_type,
    rows_to_batch,
)
from querydeck.drivers.base import BATCH_ROWS
from querydeck.drivers.sqlite import affinity
from querydeck.errors import QueryDeckError, QueryFailed

if TYPE_CHECKING:
    import sqlite3

    from adbc_driver_manager import dbapi

#: The instructions of a scan that returns every row it reads (rowid or index order,
#: forwards or backwards, with a LIMIT but no OFFSET).
PLAIN_OPS = frozenset(
    {
        "Init",
        "Goto",
        "Halt",
        "Transaction",
        "TableLock",
        "OpenRead",
        "ColumnsUsed",
        "Rewind",
        "Last",
        "Next",
        "Prev",
        "Rowid",
        "Column",
        "RealAffinity",
        "ResultRow",
        "Noop",
        "Integer",
        "MustBeInt",
        "DecrJumpZero",
    }
)
#: What the wrapper adds: ``typeof(c) NOT IN ('class', 'null')`` joined with OR, and the
#: co-routine SQLite makes of a ``WITH`` it does not flatten (one row per ``Yield``).
FLAG_OPS = frozenset(
    {"Function", "BitAnd", "Eq", "Ne", "IsNull", "Integer", "AddImm", "Not", "Or", "Null"}
    | {"String8", "Copy", "SCopy", "InitCoroutine", "Yield", "EndCoroutine"}
)
#: The storage class each Arrow type of a pure column holds.
_CLASSES = {"INTEGER": "integer", "REAL": "real", "TEXT": "text", "BLOB": "blob"}
_ADBC_BATCH_OPTION = "adbc.sqlite.query.batch_rows"


def program(native: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]] | None:
    """The instructions of ``sql`` compiled by ``native`` (its authorizer decides), as
    ``EXPLAIN`` lists them (address, opcode, p1, p2, p3, p4, p5, comment); None when it
    does not compile."""
    import sqlite3

    try:
        return [tuple(row) for row in native.execute("EXPLAIN " + sql).fetchall()]
    except sqlite3.Error:
        return None


def classes(schema: pa.Schema) -> list[str] | None:
    """The one storage class of each column, or None when a column held several, or only
    NULLs, in the first batch."""
    found = []
    for item in schema:
        storage = _CLASSES.get(native_type(item) or "")
        if storage is None:
            return None
        found.append(storage)
    return found


def needs_test(storage: str, source: str | None) -> bool:
    """Whether a column of one storage class may hold a value that ADBC would convert
    without saying so. Not an INTEGER column (ADBC refuses anything but an integer in a
    column it typed ``int64``), nor a TEXT column read from a column of TEXT affinity (it
    holds text and blobs only: a blob comes out as its bytes, the same text as the Python
    path makes of it, or fails the UTF-8 check), nor a REAL column read from a column of
    REAL affinity (integers are read back as reals; ADBC refuses text and blobs).

    Affinity is applied when SQLite writes a value, not when it reads one: a file whose
    records were written around it (by hand, or under another declared type changed with
    ``writable_schema``) can hold a REAL in a TEXT column, which this path shows as
    SQLite's text of it (``1.0e+20``) where the Python path shows Python's (``1e+20``)."""
    if storage == "integer":
        return False
    return not (storage in ("text", "real") and source == storage)


def wrapped(sql: str, storage: Sequence[str], sources: Sequence[str | None]) -> str:
    """``sql`` with a last column that is 1 on a row holding a value of another storage
    class than its column's (0 otherwise), tested where :func:`needs_test` says so."""
    names = [f"c{i}" for i in range(len(storage))]
    flag = " OR ".join(
        f"typeof({name}) NOT IN ('{kind}', 'null')"
        for name, kind, source in zip(names, storage, sources, strict=True)
        if needs_test(kind, source)
    )
    listed = ", ".join(names)
    flag = flag or "0"
    return f"WITH _qd_rows({listed}) AS (\n{sql}\n) SELECT {listed}, {flag} FROM _qd_rows"


def eligible(native: sqlite3.Connection, sql: str, schema: pa.Schema, path: Path) -> str | None:
    """The text ADBC may run for ``sql`` (see the module docstring), or None."""
    storage = classes(schema)
    if storage is None or _wal(path):
        return None
    plain = program(native, sql)
    if not plain or any(op[1] not in PLAIN_OPS for op in plain):
        return None
    text = wrapped(sql, storage, affinity.sources(native, plain, len(storage)))
    flagged = program(native, text)
    if not flagged:
        return None
    for op in flagged:
        if op[1] not in PLAIN_OPS and op[1] not in FLAG_OPS:
            return None
        if op[1] == "Function" and not str(op[5]).startswith("typeof("):
            return None
    return text


def _wal(path: Path) -> bool:
    """Whether the file's header says WAL mode (read and write versions 2)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return True
    return len(header) < 20 or header[18] != 1 or header[19] != 1


def open_adbc(path: Path) -> dbapi.Connection:
    """An ADBC connection to the file, read-only twice over."""
    import adbc_driver_sqlite.dbapi

    uri = "file:" + pathname2url(str(path.resolve())) + "?mode=ro"
    conn = adbc_driver_sqlite.dbapi.connect(uri, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA query_only = 1")
    except BaseException:
        conn.close()
        raise
    return conn


class ColumnarStream(MappedStream):
    """The rows of a big plain scan: the Python path's first batch, then ADBC's batches
    checked one by one; the Python cursor takes over on the first doubt."""

    def __init__(
        self,
        cursor: sqlite3.Cursor,
        first_rows: Sequence[Sequence[Any]],
        schema: pa.Schema,
        adbc: dbapi.Connection,
        text: str,
        *,
        map_error: Callable[[Exception], QueryDeckError],
        interrupted: Callable[[], QueryDeckError | None],
        max_value_bytes: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(schema, map_error, on_close)
        self._cursor = cursor
        self._first_rows = first_rows
        self._adbc = adbc
        self._text = text
        self._interrupted = interrupted
        self._max_value_bytes = max_value_bytes
        self._statement: dbapi.Cursor | None = None
        self._reader: pa.RecordBatchReader | None = None
        self._rest: DbApiResultStream | None = None
        #: Rows handed on so far, and how many batches of them ADBC read.
        self.delivered = 0
        self.columnar_batches = 0

    def _batches(self) -> Iterator[pa.RecordBatch]:
        first = rows_to_batch(self._first_rows, self.schema)
        self._first_rows = ()
        columnar = self._start(first)
        yield first
        self.delivered = first.num_rows
        while columnar and not self._closed:
            stop = self._interrupted()
            if stop is not None:
                raise stop
            batch = self._next()
            if batch is None:
                break
            if batch.num_rows == 0:
                self._release_adbc()
                return
            self.columnar_batches += 1
            yield batch
            self.delivered += batch.num_rows
        self._release_adbc()
        if not self._closed:
            yield from self._python_rest()

    def _start(self, first: pa.RecordBatch) -> bool:
        """Run the text on ADBC; True when its first batch is exactly ``first``."""
        try:
            self._statement = self._adbc.cursor()
            self._statement.adbc_statement.set_options(**{_ADBC_BATCH_OPTION: str(BATCH_ROWS)})
            self._statement.execute(self._text)
            self._reader = self._statement.fetch_record_batch()
        except Exception:
            self._release_adbc()
            return False
        batch = self._next()
        if batch is None or batch.num_rows != first.num_rows or not batch.equals(first):
            self._release_adbc()
            return False
        return True

    def _next(self) -> pa.RecordBatch | None:
        """ADBC's next batch with the stream's schema; an empty batch at the end; None
        when it cannot be taken as it is."""
        assert self._reader is not None
        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            return pa.RecordBatch.from_pylist([], schema=self.schema)
        except Exception:
            return None
        return self._checked(batch)

    def _checked(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        width = len(self.schema)
        if batch.num_columns != width + 1:
            return None
        flags = batch.column(width)
        if not pa.types.is_integer(flags.type) or (pc.max(flags).as_py() or 0) != 0:
            return None
        columns = batch.columns[:width]
        for column, item in zip(columns, self.schema, strict=True):
            if column.type != item.type:
                return None
            if pa.types.is_string(item.type) or pa.types.is_binary(item.type):
                longest = pc.max(pc.binary_length(column)).as_py()
                if longest is not None and longest > self._max_value_bytes:
                    return None
            if pa.types.is_string(item.type):
                try:
                    column.validate(full=True)
                except pa.ArrowInvalid:
                    return None
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _python_rest(self) -> Iterator[pa.RecordBatch]:
        """The rows after those delivered, from the ``sqlite3`` cursor (past its first
        batch): the rows ADBC gave after it are skipped."""
        skip = self.delivered - BATCH_ROWS
        while skip > 0:
            rows = self._cursor.fetchmany(min(skip, BATCH_ROWS))
            if not rows:
                raise QueryFailed("The SQLite file changed while its rows were read.")
            skip -= len(rows)
        self._rest = DbApiResultStream(self._cursor, self.schema, self._map_error)
        yield from self._rest

    def _release_adbc(self) -> None:
        reader, self._reader = self._reader, None
        statement, self._statement = self._statement, None
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()
        if statement is not None:
            with contextlib.suppress(Exception):
                statement.close()

    def _release(self) -> None:
        self._release_adbc()
        if self._rest is not None:
            self._rest.close()
        self._cursor.close()
