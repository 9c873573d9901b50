"""Big SQLite results read by ADBC (querydeck.drivers.sqlite.columnar): the same rows,
types and errors as the Python path, on real files; and every case it must leave alone."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from querydeck.drivers.base import BATCH_ROWS, EngineSession
from querydeck.drivers.sqlite import columnar
from querydeck.drivers.sqlite import driver as sqlite_module
from querydeck.drivers.sqlite.driver import SQLiteDriver, SQLiteOptions
from querydeck.errors import QueryCancelled, QueryTimeout, ResourceLimit, ResultTypeMismatch

pytest.importorskip("adbc_driver_sqlite")

#: More than a few batches, so that ADBC reads several after the first.
ROWS = 5 * BATCH_ROWS + 123
#: A row well past the first batch (and the ADBC batch after it).
LATE = 3 * BATCH_ROWS + 7
ZH = "数据库查询"


def build(path: Path, rows: Sequence[tuple[Any, ...]], columns: str = "") -> Path:
    """A table ``t`` of ``rows`` (an INTEGER PRIMARY KEY first) in a new SQLite file."""
    native = sqlite3.connect(path)
    with native:
        width = len(rows[0])
        declared = columns or ", ".join(f"v{i}" for i in range(1, width))
        native.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {declared})")
        marks = ", ".join("?" * width)
        native.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    native.close()
    return path


def typed_rows(late: dict[int, tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
    """Integers, reals, text (Chinese too), blobs and NULLs; ``late`` replaces rows."""
    rows = [
        (
            i,
            i * 7 - 3,
            i / 8 + 0.1 if i % 11 else None,
            f"{ZH}-{i}" if i % 13 else None,
            bytes([i % 256, 0, 255]),
        )
        for i in range(1, ROWS + 1)
    ]
    for at, row in (late or {}).items():
        rows[at - 1] = row
    return rows


def with_late_value(column: int, value: Any) -> list[tuple[Any, ...]]:
    """:func:`typed_rows` with ``value`` in ``column`` of row :data:`LATE`."""
    row = list(typed_rows()[LATE - 1])
    row[column] = value
    return typed_rows({LATE: tuple(row)})


def session(path: Path) -> EngineSession:
    return SQLiteDriver(SQLiteOptions(path=str(path))).connect(timeout_s=10)


def read(path: Path, sql: str, *, columnar_path: bool = True) -> tuple[pa.Table, Any]:
    """The whole result and its stream; ``columnar_path=False``: ADBC unavailable."""
    conn = session(path)
    try:
        if not columnar_path:
            conn._adbc_connection = lambda: None  # type: ignore[attr-defined]
        stream = conn.execute(sql, timeout_s=60)
        batches = list(stream)
        return pa.Table.from_batches(batches, schema=stream.schema), stream
    finally:
        conn.close()


def both(path: Path, sql: str) -> tuple[pa.Table, pa.Table, Any]:
    fast, stream = read(path, sql)
    slow, reference = read(path, sql, columnar_path=False)
    assert isinstance(reference, sqlite_module.DbApiResultStream)
    return fast, slow, stream


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    return build(tmp_path / "typed.db", typed_rows())


def test_a_big_plain_scan_is_read_by_adbc_with_the_same_rows_and_types(typed: Path) -> None:
    fast, slow, stream = both(typed, "SELECT * FROM t")
    assert isinstance(stream, columnar.ColumnarStream)
    assert stream.columnar_batches == 5  # all but the first batch
    assert fast.num_rows == ROWS
    assert fast.schema.equals(slow.schema, check_metadata=True)
    assert fast.equals(slow)
    assert [f.type for f in fast.schema] == [
        pa.int64(),
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.binary(),
    ]
    assert fast.column("v3")[20000].as_py() == f"{ZH}-20001"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT v3, id FROM t ORDER BY id DESC",
        "SELECT * FROM t LIMIT 30000",
        "SELECT v1 AS a, v1 AS a FROM t",
        "SELECT * FROM t -- a comment at the end",
        "SELECT * FROM t UNION ALL SELECT * FROM t",  # two scans, every row returned
    ],
)
def test_other_plain_scans_give_the_same_rows(typed: Path, sql: str) -> None:
    fast, slow, stream = both(typed, sql)
    assert isinstance(stream, columnar.ColumnarStream)
    assert stream.columnar_batches > 0
    assert fast.equals(slow)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE v1 > 0",  # a filter: a batch could take a whole scan
        "SELECT * FROM t ORDER BY v2",  # a sort
        "SELECT upper(v3), id FROM t",  # a function
        "SELECT * FROM t LIMIT 40000 OFFSET 10",  # rows skipped without a batch
        "SELECT a.id FROM t AS a JOIN t AS b ON a.id = b.id",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT 20000) "
        "SELECT n FROM r",
        "SELECT * FROM t UNION SELECT * FROM t",  # a temporary index
    ],
)
def test_anything_but_a_plain_scan_stays_on_the_python_path(typed: Path, sql: str) -> None:
    fast, slow, stream = both(typed, sql)
    assert isinstance(stream, sqlite_module.DbApiResultStream)
    assert fast.equals(slow)


def test_small_results_never_open_adbc(typed: Path) -> None:
    conn = session(typed)
    try:
        for sql in ("SELECT * FROM t LIMIT 10", f"SELECT * FROM t LIMIT {BATCH_ROWS - 1}"):
            assert isinstance(conn.execute(sql, timeout_s=10), sqlite_module.DbApiResultStream)
            assert conn._adbc is None  # type: ignore[attr-defined]
    finally:
        conn.close()


LATE_VALUES = [
    # a REAL in a TEXT column: Python's repr, not SQLite's text of it
    pytest.param(3, 0.30000000000000004, id="real-in-text"),
    pytest.param(3, 1e20, id="big-real-in-text"),
    pytest.param(3, 42, id="integer-in-text"),
    pytest.param(3, b"\xc3\xa9", id="utf8-blob-in-text"),
    pytest.param(3, b"\xff\x00", id="binary-blob-in-text"),
    pytest.param(2, 7, id="integer-in-real"),
    pytest.param(1, 12.0, id="integral-real-in-integer"),
    pytest.param(4, "text", id="text-in-blob"),
]


@pytest.mark.parametrize(("column", "value"), LATE_VALUES)
def test_a_value_of_another_class_late_gives_what_the_python_path_gives(
    tmp_path: Path, column: int, value: Any
) -> None:
    path = build(tmp_path / "late.db", with_late_value(column, value))
    fast, slow, stream = both(path, "SELECT * FROM t")
    assert fast.equals(slow)
    assert isinstance(stream, columnar.ColumnarStream)
    assert 0 < stream.columnar_batches < 5  # ADBC up to that batch, Python after it


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param(1, "x", id="text-in-integer"),
        pytest.param(2, 2**53 + 1, id="inexact-integer-in-real"),
        pytest.param(4, 5, id="integer-in-blob"),
        pytest.param(1, 2.5, id="fraction-in-integer"),
    ],
)
def test_a_value_that_does_not_fit_fails_as_on_the_python_path(
    tmp_path: Path, column: int, value: Any
) -> None:
    path = build(tmp_path / "misfit.db", with_late_value(column, value))
    for columnar_path in (True, False):
        with pytest.raises(ResultTypeMismatch):
            read(path, "SELECT * FROM t", columnar_path=columnar_path)


def test_a_column_of_several_classes_in_the_first_batch_stays_on_the_python_path(
    tmp_path: Path,
) -> None:
    path = build(tmp_path / "mixed.db", typed_rows({5: (5, "five", 1.0, "x", b"y")}))
    fast, slow, stream = both(path, "SELECT * FROM t")
    assert isinstance(stream, sqlite_module.DbApiResultStream)
    assert fast.equals(slow)


def test_a_wal_file_stays_on_the_python_path(tmp_path: Path) -> None:
    path = build(tmp_path / "wal.db", typed_rows())
    native = sqlite3.connect(path)
    assert native.execute("PRAGMA journal_mode = wal").fetchone() == ("wal",)
    native.close()
    fast, slow, stream = both(path, "SELECT * FROM t")
    assert isinstance(stream, sqlite_module.DbApiResultStream)
    assert fast.equals(slow)


def test_a_value_over_the_length_limit_fails_as_on_the_python_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "MAX_VALUE_BYTES", 1000)
    path = build(tmp_path / "long.db", typed_rows({LATE: (LATE, 1, 1.0, "x" * 2000, b"")}))
    for columnar_path in (True, False):
        with pytest.raises(ResourceLimit):
            read(path, "SELECT * FROM t", columnar_path=columnar_path)


def test_text_that_is_not_utf8_fails_as_on_the_python_path(tmp_path: Path) -> None:
    path = build(tmp_path / "bad.db", typed_rows())
    native = sqlite3.connect(path)
    with native:
        native.execute(f"UPDATE t SET v3 = CAST(x'ff41' AS TEXT) WHERE id = {LATE}")
    native.close()
    errors = []
    for columnar_path in (True, False):
        with pytest.raises(Exception) as caught:
            read(path, "SELECT * FROM t", columnar_path=columnar_path)
        errors.append((type(caught.value), getattr(caught.value, "code", None)))
    assert errors[0] == errors[1]


def _batches(conn: EngineSession, sql: str, timeout_s: float) -> Iterator[pa.RecordBatch]:
    return iter(conn.execute(sql, timeout_s=timeout_s))


def test_the_deadline_is_kept_between_adbc_batches(typed: Path) -> None:
    conn = session(typed)
    try:
        batches = _batches(conn, "SELECT * FROM t", timeout_s=0.5)
        next(batches)
        assert isinstance(conn._stream, columnar.ColumnarStream)  # type: ignore[attr-defined]
        time.sleep(0.6)
        with pytest.raises(QueryTimeout):
            next(batches)
        # the session is usable afterwards
        assert len(list(conn.execute("SELECT 1", timeout_s=10))) == 1
    finally:
        conn.close()


def test_a_cancel_stops_adbc_at_the_next_batch(typed: Path) -> None:
    conn = session(typed)
    try:
        batches = _batches(conn, "SELECT * FROM t", timeout_s=60)
        next(batches)
        next(batches)  # one from ADBC
        conn.cancel()
        with pytest.raises(QueryCancelled):
            next(batches)
    finally:
        conn.close()


def test_the_adbc_connection_is_read_only(typed: Path) -> None:
    adbc = columnar.open_adbc(typed)
    try:
        with adbc.cursor() as cursor, pytest.raises(Exception, match=r"readonly|read-only"):
            cursor.execute("DELETE FROM t")
    finally:
        adbc.close()
    assert read(typed, "SELECT count(*) FROM t")[0].column(0)[0].as_py() == ROWS


def test_a_file_replaced_after_the_session_opened_is_not_read_by_adbc(tmp_path: Path) -> None:
    path = build(tmp_path / "swap.db", typed_rows())
    conn = session(path)
    try:
        other = build(tmp_path / "other.db", typed_rows())
        other.replace(path)
        stream = conn.execute("SELECT * FROM t", timeout_s=10)
        assert isinstance(stream, sqlite_module.DbApiResultStream)
        stream.close()
    finally:
        conn.close()


DECLARED = "n INTEGER, r REAL, s TEXT, b BLOB"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param(3, b"\xc3\xa9t\xc3\xa9", id="utf8-blob-in-text-column"),
        pytest.param(3, b"\xff\x00", id="binary-blob-in-text-column"),
        pytest.param(3, 0.30000000000000004, id="real-stored-as-text"),
        pytest.param(2, 7, id="integer-stored-as-real"),
        pytest.param(2, "abc", id="text-in-real-column"),
        pytest.param(2, b"\x01", id="blob-in-real-column"),
        pytest.param(1, 2.5, id="real-in-integer-column"),
        pytest.param(4, "text", id="text-in-blob-column"),
    ],
)
def test_declared_columns_give_what_the_python_path_gives(
    tmp_path: Path, column: int, value: Any
) -> None:
    """Columns of TEXT and REAL affinity are read without the per-value test: what they
    can hold comes out the same, or is refused by ADBC and read in Python."""
    rows = typed_rows()
    row = list(rows[LATE - 1])
    row[column] = value
    path = build(tmp_path / "declared.db", typed_rows({LATE: tuple(row)}), DECLARED)
    outcomes = []
    for columnar_path in (True, False):
        try:
            table, stream = read(path, "SELECT * FROM t", columnar_path=columnar_path)
        except Exception as exc:
            outcomes.append((type(exc), getattr(exc, "code", None)))
        else:
            outcomes.append(table)
            if columnar_path:
                assert isinstance(stream, columnar.ColumnarStream)
                assert stream.columnar_batches > 0
    assert type(outcomes[0]) is type(outcomes[1])
    if isinstance(outcomes[0], pa.Table):
        assert outcomes[0].equals(outcomes[1])
    else:
        assert outcomes[0] == outcomes[1]


def test_only_columns_whose_affinity_allows_a_silent_conversion_are_tested(
    tmp_path: Path,
) -> None:
    path = build(tmp_path / "declared.db", typed_rows(), DECLARED)
    native = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        sql = "SELECT * FROM t"
        schema = read(path, sql)[0].schema
        text = columnar.eligible(native, sql, schema, path)
    finally:
        native.close()
    assert text is not None
    # only the BLOB column is tested (the rowid, INTEGER, REAL and TEXT columns are not)
    assert text.count("typeof(") == 1
    assert "typeof(c4)" in text
