"""Plain statements on one table for the hot paths (a run's history row and audit entry, the
connection a run uses): SQL text written once per column set in the driver's own parameter
style, values converted as the columns' types convert them (:mod:`querydeck.store.plain`),
executed on a DB-API cursor (see :meth:`querydeck.store.database.AppDatabase.write_raw`).

SQLAlchemy Core compiles (or looks up) a statement, builds its cache key and runs its
execution machinery on every call; on SQLite that costs several times the write itself, and
a short run does four such statements. Importing it costs a one-row query from the CLI more
than its run. Everything else keeps using Core and the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from querydeck.store.plain import COLUMNS, Cursor, PlainSql


def _quote(name: str) -> str:
    """An identifier, quoted (the tables' names are lower case: the same name quoted)."""
    return f'"{name}"'


class FastTable:
    """Insert, update by key and select by one column on the table ``name``."""

    def __init__(self, name: str, plain: PlainSql) -> None:
        self.name = name
        self._plain = plain
        self._names = COLUMNS[name]
        self._binds = {n: plain.binder(name, n) for n in self._names}
        self._results = {n: plain.converter(name, n) for n in self._names}
        self._sql: dict[tuple[str, ...], str] = {}

    # --- SQL text ---------------------------------------------------------------------

    def _params(self, names: Sequence[str], values: Mapping[str, Any]) -> tuple[Any, ...]:
        converted = []
        for name in names:
            value = values[name]
            process = self._binds[name]
            converted.append(value if process is None else process(value))
        return tuple(converted)

    def _text(self, key: tuple[str, ...], build: Callable[[], str]) -> str:
        found = self._sql.get(key)
        if found is None:
            found = self._sql[key] = self._plain.sql(build())
        return found

    # --- statements -------------------------------------------------------------------

    def insert(self, cursor: Cursor, values: Mapping[str, Any]) -> None:
        names = tuple(values)
        sql = self._text(
            ("insert", *names),
            lambda: (
                f"INSERT INTO {_quote(self.name)} ({', '.join(_quote(n) for n in names)}) "
                f"VALUES ({self._plain.marks(len(names))})"
            ),
        )
        cursor.execute(sql, self._params(names, values))

    def update(self, cursor: Cursor, key: str, value: Any, values: Mapping[str, Any]) -> int:
        """``UPDATE … SET values WHERE key = value``; the number of rows it changed."""
        names = tuple(values)
        sql = self._text(
            ("update", key, *names),
            lambda: (
                f"UPDATE {_quote(self.name)} SET "
                + ", ".join(f"{_quote(n)} = ?" for n in names)
                + f" WHERE {_quote(key)} = ?"
            ),
        )
        cursor.execute(sql, self._params((*names, key), {**values, key: value}))
        return int(cursor.rowcount)

    def select_raw(self, cursor: Cursor, key: str, value: Any) -> tuple[Any, ...] | None:
        """The row whose ``key`` column equals ``value`` (the first, if several) as the
        driver returns it (for :meth:`converted`); None when there is none."""
        sql = self._text(
            ("select", key),
            lambda: (
                f"SELECT {', '.join(_quote(n) for n in self._names)} "
                f"FROM {_quote(self.name)} WHERE {_quote(key)} = ?"
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
