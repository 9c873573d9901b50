"""Plain SQL on a DB-API cursor for querydeck's own database, without SQLAlchemy.

The reads every short-lived command makes (the listings of connections and runs, the
grants that scope them, the schema's revision, the key's fingerprint, the runs left
behind, one run by id) are written once, in the modules that own them, as SQL text with
``?`` marks for SQLite and PostgreSQL alike, through :class:`PlainSql`: importing
SQLAlchemy Core and declaring the ORM tables costs a CLI listing more than half of its
time, and compiling an ORM statement costs more than running it.
:meth:`querydeck.store.database.AppDatabase.read_plain` hands out the cursor; the server
makes the same reads, so there is one implementation of each.

Values come back (and, for :mod:`querydeck.store.fastsql`, go in) as the ORM's column
types convert them: :data:`KINDS` names the columns that need converting (timestamps,
which SQLite keeps as text; JSON; booleans, which SQLite keeps as integers; binary), and
tests hold it and :data:`COLUMNS` to ``store/tables.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import orjson

TIME = "time"
JSON = "json"
BOOL = "bool"
BYTES = "bytes"

#: Per table, the columns whose values are converted on reading (the others are read as
#: the driver returns them). Only the tables read here are listed.
KINDS: dict[str, dict[str, str]] = {
    "qd_connections": {
        "options": JSON,
        "secret_names": JSON,
        "created_at": TIME,
        "updated_at": TIME,
        "secrets": BYTES,
        "status_ok": BOOL,
        "status_checked_at": TIME,
        "allow_privileged": BOOL,
        "can_write": BOOL,
        "privilege_reasons": JSON,
        "privileges_checked_at": TIME,
    },
    "qd_runs": {
        "truncated": BOOL,
        "columns": JSON,
        "error_detail": JSON,
        "created_at": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "limits": JSON,
    },
    "qd_grants": {"actions": JSON, "created_at": TIME, "updated_at": TIME},
    "qd_group_members": {},
    "qd_meta": {},
    "qd_audit": {"at": TIME, "detail": JSON},
}

#: Every column of the tables :class:`querydeck.store.fastsql.FastTable` writes and reads
#: whole (in the tables' order).
COLUMNS: dict[str, tuple[str, ...]] = {
    "qd_runs": (
        "id", "user_name", "connection_id", "connection_name", "driver", "sql",
        "executed_sql", "status", "max_rows", "timeout_s", "row_count", "truncated",
        "columns", "error_code", "error_message", "error_detail", "error_status",
        "result_file", "result_state", "created_at", "started_at", "finished_at",
        "duration_ms", "limits", "owner",
    ),
    "qd_connections": (
        "id", "name", "name_key", "driver", "options", "secrets", "secret_names",
        "created_at", "updated_at", "status_ok", "status_error_code", "status_error_message",
        "status_latency_ms", "status_server_version", "status_checked_at",
        "allow_privileged", "can_write", "privilege_reasons", "privileges_checked_at",
    ),
    "qd_audit": (
        "id", "at", "actor", "actor_role", "via", "address", "request_id", "action",
        "outcome", "target_type", "target_id", "connection_id", "detail",
    ),
}  # fmt: skip


class Cursor(Protocol):
    """The part of a DB-API cursor these reads (and FastTable's writes) use."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, operation: Any, parameters: Any = ..., /) -> Any: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def fetchone(self) -> Sequence[Any] | None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def json_text(value: Any) -> str:
    """JSON text of a value, with orjson (the run hot path does not use stdlib json)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson does not take (an integer past 64 bits) stdlib json does
        return json.dumps(value)


def json_value(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # written by stdlib json before (NaN, Infinity)
        return json.loads(text)


def _time(value: Any) -> datetime | None:
    """A timestamp as ``UtcDateTime`` reads it: timezone-aware, in UTC."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", in UTC
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    """A JSON column's value (psycopg decodes JSON itself; SQLite keeps the text)."""
    return json_value(value) if isinstance(value, str | bytes) else value


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {TIME: _time, JSON: _json, BOOL: _bool, BYTES: _bytes}


def _strict_bool(value: Any) -> bool | None:
    if value not in (None, True, False):
        raise TypeError(f"not a boolean: {value!r}")
    return cast(bool | None, value)


class PlainSql:
    """SQL text and values for one app database (SQLite or PostgreSQL)."""

    def __init__(self, *, is_sqlite: bool) -> None:
        self.is_sqlite = is_sqlite

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` marks in the driver's parameter style (psycopg: ``%s``;
        the texts here hold no ``?`` or ``%`` of their own)."""
        return text if self.is_sqlite else text.replace("?", "%s")

    @staticmethod
    def marks(count: int) -> str:
        """``?, ?, …``: ``count`` marks, for an ``IN (…)`` list."""
        return ", ".join("?" * count)

    def time(self, value: datetime) -> Any:
        """A timestamp parameter, as ``UtcDateTime`` stores it (SQLite: text in UTC)."""
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if not self.is_sqlite:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def binder(self, table: str, name: str) -> Callable[[Any], Any] | None:
        """How a value of ``table``'s column ``name`` is handed to the driver, as the
        column's type binds it (None: as it is)."""
        kind = KINDS[table].get(name)
        if kind == TIME:
            return lambda value: None if value is None else self.time(value)
        if kind == JSON:  # None is JSON's null, as SQLAlchemy's JSON type writes it
            if self.is_sqlite:
                return json_text
            from psycopg.types.json import Json

            return Json
        if kind == BOOL:
            if self.is_sqlite:
                return lambda value: None if _strict_bool(value) is None else int(value)
            return lambda value: None if _strict_bool(value) is None else bool(value)
        return None

    @staticmethod
    def converter(table: str, name: str) -> Callable[[Any], Any] | None:
        """How a value of ``table``'s column ``name`` read from the driver becomes the
        column type's value (None: as it is)."""
        return _CONVERT.get(KINDS[table].get(name, ""))

    def rows(
        self, cursor: Cursor, table: str, text: str, params: Iterable[Any] = ()
    ) -> list[dict[str, Any]]:
        """Run ``text`` (a query of ``table``'s columns) and return its rows as column
        values of the ORM's types."""
        cursor.execute(self.sql(text), tuple(params))
        names = [d[0] for d in cursor.description or ()]
        convert = [self.converter(table, name) for name in names]
        return [
            {
                name: value if fix is None else fix(value)
                for name, fix, value in zip(names, convert, found, strict=True)
            }
            for found in cursor.fetchall()
        ]

    def scalars(self, cursor: Cursor, text: str, params: Iterable[Any] = ()) -> list[Any]:
        """Run ``text`` and return the first column of its rows as the driver gives them
        (text, numbers)."""
        cursor.execute(self.sql(text), tuple(params))
        return [found[0] for found in cursor.fetchall()]
