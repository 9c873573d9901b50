"""DuckDB over a stored result: sorting, filtering, statistics and chart aggregations of a
run's rows without running its query again.

The stored batches are handed to an in-memory DuckDB connection as an Arrow stream (read
and CRC-checked one batch at a time), so the rows are never all in Python's memory; DuckDB
works within :data:`MEMORY_LIMIT` and spills a large sort to a temporary directory. The
connection can reach nothing else: external access (files, network, extensions) is off.

Measured on a 1,000,000-row result (4 columns, 45 MB stored) on the 2-core development
machine, sorting by one column and writing the sorted copy: DuckDB 0.39 s (float) and
0.66 s (text) against 0.45 s and 0.81 s for pyarrow.compute.sort_indices + take, medians
of 3 (the machine is shared and noisy), and pyarrow needs the whole table in memory.

Column names only ever reach SQL through :func:`quote`; values are always parameters.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from querydeck.errors import ResultColumnUnknown
from querydeck.runs.results.store import ResultStore, StoredResult

if TYPE_CHECKING:
    import duckdb

#: DuckDB's memory for one computation; beyond it, a sort spills to disk.
MEMORY_LIMIT = "512MB"
THREADS = 2
#: Rows per batch read back from DuckDB.
BATCH_ROWS = 65_536


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def column_index(stored: StoredResult, name: str) -> int:
    """The position of ``name`` in the stored result (a repeated name: its first one)."""
    names = stored.schema.names
    if name not in names:
        raise ResultColumnUnknown(
            f"The result has no column named {name!r}.",
            detail={"column": name, "columns": names[:200]},
        )
    return int(names.index(name))


def source_schema(stored: StoredResult) -> pa.Schema:
    """The stored schema with unique column names (DuckDB needs them): a repeated name
    gets ``_2``, ``_3``... as in JSON exports; :func:`sql_name` maps a name to it."""
    taken: set[str] = set()
    fields = []
    for field in stored.schema:
        name, n = field.name, 1
        while name in taken:
            n += 1
            name = f"{field.name}_{n}"
        taken.add(name)
        fields.append(field.with_name(name))
    return pa.schema(fields)


def sql_name(stored: StoredResult, name: str) -> str:
    """The quoted SQL name of a stored column (its first occurrence)."""
    return quote(source_schema(stored).names[column_index(stored, name)])


@contextlib.contextmanager
def connect(
    store: ResultStore, run_id: str, stored: StoredResult
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked-down DuckDB connection where the stored result is the table ``src``."""
    import duckdb  # lazily: resident for the life of the process once loaded

    with tempfile.TemporaryDirectory(prefix="querydeck-view-") as spill:
        connection = duckdb.connect(
            config={
                "threads": THREADS,
                "memory_limit": MEMORY_LIMIT,
                "temp_directory": str(Path(spill)),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        try:
            schema = source_schema(stored)
            batches = (
                pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                for batch in store.batches(run_id, stored)
            )
            connection.register("src", pa.RecordBatchReader.from_batches(schema, batches))
            # Set after the spill directory (DuckDB refuses to set one once it is off),
            # then frozen: no statement can turn it back on.
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            yield connection
        finally:
            connection.close()


def column_types(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """DuckDB's type of each column of ``src`` (its own spelling, for a CAST)."""
    return {str(row[0]): str(row[1]) for row in connection.execute("DESCRIBE src").fetchall()}


def fetch(connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pa.Table:
    """A small answer (a statistic, an aggregation) as an Arrow table."""
    result = connection.execute(sql, params).arrow()
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


def stream(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> pa.RecordBatchReader:
    """A large answer (a sorted copy) batch by batch."""
    reader: pa.RecordBatchReader = connection.execute(sql, params).to_arrow_reader(BATCH_ROWS)
    return reader
