"""Plain statements on one table for the hot paths (a run's history row and audit entry, the
connection a run uses): SQL text written once per column set in the driver's own parameter
style, values converted by the columns' own SQLAlchemy types, executed on a DB-API cursor
(see :meth:`querydeck.store.database.AppDatabase.write_raw`).

SQLAlchemy Core compiles (or looks up) a statement, builds its cache key and runs its
execution machinery on every call; on SQLite that costs several times the write itself, and
a short run does four such statements. Everything else keeps using Core and the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


def _result_processor(kind: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The type's result conversion, chosen without the driver's type code. Some types
    need that code to choose (a PostgreSQL float: psycopg already returns a float for the
    ``double precision`` columns of these tables): they get none."""
    try:
        return kind.result_processor(dialect, None)
    except (TypeError, InvalidRequestError):
        return None


class FastTable:
    """Insert, update by key and select by one column on ``table`` for ``dialect``."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table = table
        self._dialect = dialect
        self._quote = dialect.identifier_preparer.quote
        # The types as this dialect implements them (SQLite keeps timestamps as text, say).
        types = {c.key: c.type.dialect_impl(dialect) for c in table.columns}
        self._binds: dict[str, Processor] = {
            key: kind.bind_processor(dialect) for key, kind in types.items()
        }
        self._results: dict[str, Processor] = {
            key: _result_processor(kind, dialect) for key, kind in types.items()
        }
        self._names = tuple(c.key for c in table.columns)
        self._sql: dict[tuple[str, ...], str] = {}

    # --- SQL text ---------------------------------------------------------------------

    def _mark(self, name: str) -> str:
        style = self._dialect.paramstyle
        if style == "qmark":
            return "?"
        if style == "format":
            return "%s"
        if style == "pyformat":
            return f"%({name})s"
        if style == "named":
            return f":{name}"
        raise NotImplementedError(f"parameter style {style!r}")  # pragma: no cover

    def _params(self, names: Sequence[str], values: Mapping[str, Any]) -> Any:
        converted = []
        for name in names:
            value = values[name]
            process = self._binds[name]
            converted.append(value if process is None else process(value))
        if self._dialect.paramstyle in ("qmark", "format"):
            return tuple(converted)
        return dict(zip(names, converted, strict=True))

    def _text(self, key: tuple[str, ...], build: Callable[[], str]) -> str:
        found = self._sql.get(key)
        if found is None:
            found = self._sql[key] = build()
        return found

    # --- statements -------------------------------------------------------------------

    def insert(self, cursor: DBAPICursor, values: Mapping[str, Any]) -> None:
        names = tuple(values)
        sql = self._text(
            ("insert", *names),
            lambda: (
                f"INSERT INTO {self._quote(self.table.name)} "
                f"({', '.join(self._quote(n) for n in names)}) "
                f"VALUES ({', '.join(self._mark(n) for n in names)})"
            ),
        )
        cursor.execute(sql, self._params(names, values))

    def update(self, cursor: DBAPICursor, key: str, value: Any, values: Mapping[str, Any]) -> int:
        """``UPDATE … SET values WHERE key = value``; the number of rows it changed."""
        names = tuple(values)
        sql = self._text(
            ("update", key, *names),
            lambda: (
                f"UPDATE {self._quote(self.table.name)} SET "
                + ", ".join(f"{self._quote(n)} = {self._mark(n)}" for n in names)
                + f" WHERE {self._quote(key)} = {self._mark(key)}"
            ),
        )
        params = self._params((*names, key), {**values, key: value})
        cursor.execute(sql, params)
        return int(cursor.rowcount)

    def select_raw(self, cursor: DBAPICursor, key: str, value: Any) -> tuple[Any, ...] | None:
        """The row whose ``key`` column equals ``value`` (the first, if several) as the
        driver returns it (for :meth:`converted`); None when there is none."""
        sql = self._text(
            ("select", key),
            lambda: (
                f"SELECT {', '.join(self._quote(n) for n in self._names)} "
                f"FROM {self._quote(self.table.name)} WHERE {self._quote(key)} = {self._mark(key)}"
            ),
        )
        cursor.execute(sql, self._params((key,), {key: value}))
        found = cursor.fetchone()
        return None if found is None else tuple(found)

    def converted(self, found: Sequence[Any]) -> dict[str, Any]:
        """A row of :meth:`select_raw` as column values of the table's types."""
        row: dict[str, Any] = {}
        for name, raw in zip(self._names, found, strict=True):
            process = self._results[name]
            row[name] = raw if process is None else process(raw)
        return row
