"""Sorted and filtered views of a stored result, answered as pages like the result itself.

A view (one or more sort keys, filters by value, range, substring or NULL) is computed
once by DuckDB over the stored batches (:mod:`querydeck.runs.resultsql`) and written as a
result file of its own, with its batch index, under ``<results>/views/``: paging a view
then costs what paging the result costs, whatever the offset, and the query is never run
again. Views are kept least recently used first within :data:`MAX_VIEWS` files and
:data:`MAX_VIEW_BYTES`; a view is only ever read after the caller has opened its run's
stored result (so a run whose rows expired never answers from an old view).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pyarrow as pa

from querydeck.errors import ResultExpired, ResultViewInvalid
from querydeck.runs.results import resultsql
from querydeck.runs.results.store import ResultStore, ResultWriter, StoredResult

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "between", "contains", "is_null", "not_null"]
COMPARISONS: dict[str, str] = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
OPS = (*COMPARISONS, "between", "contains", "is_null", "not_null")
MAX_SORT_KEYS = 8
MAX_FILTERS = 16
MAX_VALUE_CHARS = 1000
MAX_VIEWS = 64
MAX_VIEW_BYTES = 2 * 1024**3
GATES = 64


@dataclass(frozen=True)
class SortKey:
    column: str
    desc: bool = False


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class ViewSpec:
    sort: tuple[SortKey, ...] = ()
    filters: tuple[Filter, ...] = ()

    @property
    def plain(self) -> bool:
        return not self.sort and not self.filters

    def key(self) -> str:
        """A stable digest of the view (the same sort and filters, the same key)."""
        canonical = orjson.dumps(
            {
                "sort": [[k.column, k.desc] for k in self.sort],
                "filters": [[f.column, f.op, f.value] for f in self.filters],
            }
        )
        return hashlib.sha256(canonical).hexdigest()[:24]


def _invalid(message: str, **detail: Any) -> ResultViewInvalid:
    return ResultViewInvalid(message, detail=detail)


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise _invalid(f"A filter value is at most {MAX_VALUE_CHARS} characters.", at=where)
        return value
    raise _invalid("A filter value is a string, a number, a boolean or null.", at=where)


def parse_spec(sort: str | None, filters: str | None) -> ViewSpec:
    """A view from the API's ``sort`` and ``filter`` parameters (JSON arrays of
    ``{"column", "desc"}`` and ``{"column", "op", "value"}``)."""
    keys: list[SortKey] = []
    found: list[Filter] = []
    for text, what in ((sort, "sort"), (filters, "filter")):
        if text is None or text == "":
            continue
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _invalid(f"{what} must be a JSON array.", parameter=what) from None
        if not isinstance(items, list):
            raise _invalid(f"{what} must be a JSON array.", parameter=what)
        for n, item in enumerate(items):
            where = f"{what}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("column"), str):
                raise _invalid(f"{where} needs a column name.", at=where)
            if what == "sort":
                desc = item.get("desc", False)
                if not isinstance(desc, bool) or set(item) - {"column", "desc"}:
                    raise _invalid(
                        f"{where} is {{column, desc}} with desc true or false.", at=where
                    )
                keys.append(SortKey(item["column"], desc))
            else:
                found.append(_filter(item, where))
    if len(keys) > MAX_SORT_KEYS or len(found) > MAX_FILTERS:
        raise _invalid(f"At most {MAX_SORT_KEYS} sort keys and {MAX_FILTERS} filters.")
    if len({k.column for k in keys}) != len(keys):
        raise _invalid("A column appears twice in the sort.")
    return ViewSpec(tuple(keys), tuple(found))


def _filter(item: dict[str, Any], where: str) -> Filter:
    op = item.get("op")
    if op not in OPS or set(item) - {"column", "op", "value"}:
        raise _invalid(f"{where}: op is one of {', '.join(OPS)}.", at=where)
    value = item.get("value")
    if op in ("is_null", "not_null"):
        return Filter(item["column"], op)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2 or None in value:
            raise _invalid(f"{where}: between takes [low, high].", at=where)
        return Filter(item["column"], op, tuple(_scalar(v, where) for v in value))
    if value is None:
        raise _invalid(f"{where}: {op} needs a value (use is_null for NULL).", at=where)
    if op == "contains" and not isinstance(value, str):
        raise _invalid(f"{where}: contains takes text.", at=where)
    return Filter(item["column"], op, _scalar(value, where))


def view_sql(stored: StoredResult, spec: ViewSpec, types: dict[str, str]) -> tuple[str, list[Any]]:
    """The DuckDB statement of a view over ``src`` and its parameters. A value is cast to
    its column's type (``types``: DuckDB's names of them): compared as given, a time would
    be compared as text."""
    conditions: list[str] = []
    params: list[Any] = []
    names = resultsql.source_schema(stored).names
    for f in spec.filters:
        column = resultsql.sql_name(stored, f.column)
        value = f"CAST(? AS {types[names[resultsql.column_index(stored, f.column)]]})"
        if f.op == "is_null":
            conditions.append(f"{column} IS NULL")
        elif f.op == "not_null":
            conditions.append(f"{column} IS NOT NULL")
        elif f.op == "between":
            conditions.append(f"{column} BETWEEN {value} AND {value}")
            params.extend(f.value)
        elif f.op == "contains":
            conditions.append(f"contains(lower(CAST({column} AS VARCHAR)), lower(?))")
            params.append(f.value)
        else:
            conditions.append(f"{column} {COMPARISONS[f.op]} {value}")
            params.append(f.value)
    sql = "SELECT * FROM src"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if spec.sort:
        order = ", ".join(
            f"{resultsql.sql_name(stored, k.column)} {'DESC' if k.desc else 'ASC'} NULLS LAST"
            for k in spec.sort
        )
        sql += f" ORDER BY {order}"
    return sql, params


class ResultViews:
    """The views of stored results, as result files of their own (least recently used
    dropped first)."""

    def __init__(
        self,
        results: ResultStore,
        *,
        max_views: int = MAX_VIEWS,
        max_bytes: int = MAX_VIEW_BYTES,
    ) -> None:
        self.results = results
        self.store = ResultStore(results.directory / "views")
        self.max_views = max_views
        self.max_bytes = max_bytes
        # One view is computed once at a time: a second request for it waits and reads it.
        self._gates = [threading.Lock() for _ in range(GATES)]

    def open(self, run_id: str, stored: StoredResult, spec: ViewSpec) -> tuple[str, StoredResult]:
        """The view of ``run_id``'s stored result (computed now when missing): its id in
        :attr:`store` and its stored result."""
        view_id = f"{run_id}-{spec.key()}"
        with self._gates[hash(view_id) % GATES]:
            for attempt in range(2):
                if not self.store.exists(view_id):
                    self._compute(run_id, stored, spec, view_id)
                with contextlib.suppress(OSError):
                    os.utime(self.store.index_path(view_id))  # recently used
                try:
                    return view_id, self.store.open(view_id)
                except ResultExpired:  # dropped meanwhile by another view's trim
                    if attempt:
                        raise
        raise AssertionError  # the loop returns or raises

    def page(
        self, run_id: str, stored: StoredResult, spec: ViewSpec, offset: int, limit: int
    ) -> tuple[pa.Table, int]:
        """Rows ``offset`` to ``offset + limit`` of the view and how many rows it has. A view
        another request's trim dropped while it was read is computed again, once."""
        for attempt in range(2):
            view_id, view = self.open(run_id, stored, spec)
            try:
                return self.store.read_from(view_id, view, offset, limit), view.rows
            except ResultExpired:
                if attempt:
                    raise
        raise AssertionError  # the loop returns or raises

    def _compute(self, run_id: str, stored: StoredResult, spec: ViewSpec, view_id: str) -> None:
        import duckdb  # lazily (see resultsql)

        self.store.prepare()  # the views' directory, made on first use
        data = self.store.path(view_id).with_suffix(f".arrow.{os.getpid()}.tmp")
        index = self.store.index_path(view_id).with_suffix(f".idx.{os.getpid()}.tmp")
        writer = ResultWriter(data, index, stored.schema)
        try:
            with resultsql.connect(self.results, run_id, stored) as connection:
                sql, params = view_sql(stored, spec, resultsql.column_types(connection))
                try:
                    reader = resultsql.stream(connection, sql, params)
                    for batch in reader:
                        writer.write(
                            pa.RecordBatch.from_arrays(batch.columns, schema=writer.schema)
                        )
                except (duckdb.ConversionException, duckdb.BinderException) as exc:
                    raise ResultViewInvalid(
                        "A filter value does not fit its column's type.",
                        detail={"reason": str(exc).splitlines()[0][:300]},
                    ) from None
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        os.replace(data, self.store.path(view_id))
        os.replace(index, self.store.index_path(view_id))
        self._trim()

    def _trim(self) -> None:
        """Drop the least recently used views beyond the count and byte limits."""
        views = sorted(
            ((mtime, size, run_id) for run_id, mtime, size in self._listing()),
            reverse=True,
        )
        total = 0
        for n, (_, size, view_id) in enumerate(views):
            total += size
            if n > 0 and (n >= self.max_views or total > self.max_bytes):  # never the newest
                self.store.delete(view_id)

    def _listing(self) -> list[tuple[str, float, int]]:
        """``(view id, last used, bytes)``: last used is the index file's time."""
        found = []
        for view_id, _, size in self.store.stored_ids():
            try:
                used = self.store.index_path(view_id).stat().st_mtime
            except OSError:
                continue
            found.append((view_id, used, size))
        return found
