"""DuckDB's own parser as the guard's second opinion: ``extract_statements`` must find
exactly one statement, of type ``SELECT`` or ``EXPLAIN``. DuckDB is imported on first use
(a server without DuckDB connections never loads it)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from querydeck.errors import (
    SqlEmpty,
    SqlMultipleStatements,
    SqlNotReadOnly,
    SqlParseError,
)
from querydeck.sql.policy import FunctionPolicy

if TYPE_CHECKING:
    import duckdb

#: DuckDB statement types that only read.
DUCKDB_READ_TYPES = frozenset({"SELECT", "EXPLAIN"})

_duckdb_lock = threading.Lock()
_duckdb_parser: duckdb.DuckDBPyConnection | None = None


def _duckdb_connection() -> duckdb.DuckDBPyConnection:
    global _duckdb_parser
    if _duckdb_parser is None:
        import duckdb  # imported on first use: a server without DuckDB connections never is

        _duckdb_parser = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            },
        )
    return _duckdb_parser


def check_duckdb(sql: str, policy: FunctionPolicy | None = None) -> None:
    """DuckDB's own parser: one statement, of a reading type. It says nothing about the
    functions called (``policy`` is unused): the guard's check of sqlglot's tree stands."""
    import duckdb

    try:
        with _duckdb_lock:
            statements = _duckdb_connection().extract_statements(sql)
            kinds = [s.type.name for s in statements]
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid syntax"
        raise SqlParseError(
            f"DuckDB cannot parse the SQL: {message}",
            detail={"parser": "duckdb"},
        ) from None
    if len(kinds) != 1:
        raise (SqlMultipleStatements if kinds else SqlEmpty)(
            f"DuckDB reads this text as {len(kinds)} statements; exactly one may run.",
            detail={"parser": "duckdb", "statements": len(kinds)},
        )
    if kinds[0] not in DUCKDB_READ_TYPES:
        raise SqlNotReadOnly(
            f"DuckDB reads this statement as {kinds[0]}; only SELECT and EXPLAIN may run.",
            detail={"parser": "duckdb", "construct": kinds[0]},
        )
