"""Catalog orchestration: refresh through the drivers into the cache, levels, table
detail and search across every connection."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime

from querydeck.catalog import ddl, paths
from querydeck.catalog.gcpause import collector_paused
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogNode,
    CatalogSettings,
    ColumnDetail,
    ErrorInfo,
    ForeignKeyDetail,
    IndexDetail,
    RefreshReport,
    SchemaDiff,
    SchemaRefresh,
    SearchHit,
    TableDetail,
    error_info,
)
from querydeck.catalog.search import SearchIndex
from querydeck.catalog.snapshots import CatalogCache
from querydeck.drivers import registry
from querydeck.drivers.base import EngineSession
from querydeck.drivers.catalog_model import SchemaMeta, TableMeta
from querydeck.errors import (
    CatalogNotFound,
    CatalogPatternInvalid,
    CatalogSearchInvalid,
    CatalogTimeout,
    QueryCancelled,
    QueryDeckError,
    QueryTimeout,
)
from querydeck.runs.models import RowsPage
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo
from querydeck.store.plain import utcnow

log = logging.getLogger("querydeck.catalog")

#: Seconds past a refresh's deadline before the watchdog cancels the catalog query.
WATCHDOG_GRACE_S = 1.0
MAX_QUERY_CHARS = 500

PreviewRunner = Callable[[str, str, int], RowsPage]


class Catalogs:
    def __init__(
        self,
        cache: CatalogCache,
        connections: ConnectionStore,
        *,
        connect_timeout_s: float,
        default_timeout_s: float,
    ) -> None:
        self.cache = cache
        self._connections = connections
        self._connect_timeout_s = connect_timeout_s
        self._default_timeout_s = default_timeout_s
        self._index: SearchIndex | None = None
        self._index_signature: tuple[tuple[str, str, int], ...] | None = None
        self._index_lock = threading.Lock()
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # --- settings -----------------------------------------------------------------

    def settings(self, connection: str) -> CatalogSettings:
        info = self._connections.get(connection)
        state = self.cache.state(info.id)
        if state is None:
            return CatalogSettings()
        return CatalogSettings(
            include=state.include,
            exclude=state.exclude,
            timeout_s=state.timeout_s,
            refresh_interval_s=state.refresh_interval_s,
        )

    def set_settings(self, connection: str, values: CatalogSettings) -> CatalogSettings:
        info = self._connections.get(connection)
        for pattern in [*values.include, *values.exclude]:
            if not pattern or len(pattern) > 1000 or "\x00" in pattern:
                raise CatalogPatternInvalid(
                    "A schema pattern is a non-empty glob of at most 1,000 characters.",
                )
        self.cache.save_settings(
            info.id, values.include, values.exclude, values.timeout_s, values.refresh_interval_s
        )
        return values

    def schedule(self, connection: str) -> tuple[float | None, datetime | None]:
        """The connection's own background refresh interval (None: the default) and when its
        whole catalog was last read (None: never)."""
        state = self.cache.state(self._connections.get(connection).id)
        if state is None:
            return None, None
        return state.refresh_interval_s, state.refreshed_at

    def load_missing(self, connection_ids: Collection[str] | None) -> None:
        """Read the catalog of each connection (of ``connection_ids``; None: all) that was
        never read nor tried, so that search covers it; a failure is recorded and logged."""
        ids = None if connection_ids is None else list(connection_ids)
        for info in self._connections.listing(limit=10_000, offset=0, ids=ids).items:
            if self.cache.state(info.id) is not None or self.cache.schemas(info.id):
                continue
            try:
                self.refresh(info.name)
            except QueryDeckError as exc:
                log.warning("catalog of %s could not be read: %s", info.name, exc.code)

    # --- refresh ------------------------------------------------------------------

    def _lock_for(self, connection_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._refresh_locks.setdefault(connection_id, threading.Lock())

    def refresh(self, connection: str, schema: str | None = None) -> RefreshReport:
        """Describe every wanted schema (or only ``schema``) into the cache. A connection
        that cannot be reached raises (after recording it); a schema that fails is
        reported and keeps its last good snapshot."""
        info, driver = self._connections.driver_for(connection)
        state = self.cache.state(info.id)
        timeout_s = (state.timeout_s if state else None) or self._default_timeout_s
        include, exclude = (state.include, state.exclude) if state else ([], [])
        started_at = utcnow()
        started = time.monotonic()
        deadline = started + timeout_s
        with self._lock_for(info.id):
            try:
                conn = driver.connect(timeout_s=min(self._connect_timeout_s, timeout_s))
            except QueryDeckError as exc:
                self.cache.record_connection(info.id, (exc.code, exc.message), utcnow())
                raise
            watchdog = threading.Timer(timeout_s + WATCHDOG_GRACE_S, conn.cancel)
            watchdog.daemon = True
            watchdog.start()
            try:
                results = self._refresh_schemas(info, conn, schema, include, exclude, deadline)
            except QueryDeckError as exc:
                error = _as_timeout(exc, time.monotonic() >= deadline)
                self.cache.record_connection(info.id, (error.code, error.message), utcnow())
                raise error from None
            finally:
                watchdog.cancel()
                conn.close()
            if schema is None:
                self.cache.record_connection(info.id, None, utcnow())
        statuses = {r.status for r in results}
        status = (
            "ok"
            if statuses <= {"ok", "removed"}
            else ("failed" if statuses == {"failed"} else "partial")
        )
        return RefreshReport(
            connection=info.name,
            status=status,
            started_at=started_at,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            schemas=results,
        )

    def _refresh_schemas(
        self,
        info: ConnectionInfo,
        conn: EngineSession,
        only: str | None,
        include: list[str],
        exclude: list[str],
        deadline: float,
    ) -> list[SchemaRefresh]:
        if only is not None:
            names = [only]
        else:
            names = [n for n in conn.schemas() if _wanted(n, include, exclude)]
        results = []
        for name in names:
            results.append(self._refresh_one(info, conn, name, deadline, single=only is not None))
        if only is None:
            listed = set(names)
            for row in self.cache.schemas(info.id):
                if row.schema_name not in listed:
                    count = self.cache.remove(info.id, row.schema_name)
                    results.append(
                        SchemaRefresh(schema_name=row.schema_name, status="removed", tables=count)
                    )
        return results

    def _refresh_one(
        self, info: ConnectionInfo, conn: EngineSession, name: str, deadline: float, *, single: bool
    ) -> SchemaRefresh:
        started = time.monotonic()
        remaining = deadline - started
        try:
            if remaining <= 0:
                raise CatalogTimeout("The catalog refresh ran out of time before this schema.")
            with collector_paused():
                meta = conn.describe_schema(name, timeout_s=remaining)
        except CatalogNotFound:
            if single:
                raise
            count = self.cache.remove(info.id, name)  # dropped since it was listed
            return SchemaRefresh(schema_name=name, status="removed", tables=count)
        except QueryDeckError as exc:
            error = _as_timeout(exc, time.monotonic() >= deadline)
            self.cache.record_error(info.id, name, error.code, error.message)
            log.warning("catalog refresh of %s.%s failed: %s", info.name, name, error.code)
            if single:
                raise error from None
            return SchemaRefresh(
                schema_name=name,
                status="failed",
                duration_ms=round((time.monotonic() - started) * 1000, 3),
                error=ErrorInfo(code=error.code, message=error.message, at=utcnow()),
            )
        duration_ms = round((time.monotonic() - started) * 1000, 3)
        with collector_paused():
            diff = self.cache.store(info.id, meta, duration_ms, utcnow())
        return _report(meta, duration_ms, diff)

    def ensure_loaded(self, info: ConnectionInfo) -> None:
        """Refresh a connection whose catalog was never read (the first look fills it)."""
        if self.cache.state(info.id) is None and not self.cache.schemas(info.id):
            self.refresh(info.name)

    def signature(self, connection: str) -> tuple[tuple[str, int], ...]:
        """What changes when a refresh changes any relation of ``connection`` (its catalog
        read first when it never was): one small query, for caches of :meth:`tables`."""
        info = self._connections.get(connection)
        self.ensure_loaded(info)
        return self.cache.connection_signature(info.id)

    def tables(self, connection: str) -> list[TableMeta]:
        """Every cached relation of ``connection`` (read first when it never was)."""
        info = self._connections.get(connection)
        self.ensure_loaded(info)
        return self.cache.connection_tables(info.id)

    # --- levels -------------------------------------------------------------------

    def level(self, connection: str, path: str, *, limit: int, offset: int) -> CatalogLevel:
        segments = paths.parse_path(path)
        info = self._connections.get(connection)
        self.ensure_loaded(info)
        if not segments:
            return self._schemas_level(info, path, limit, offset)
        row = self.cache.schema(info.id, segments[0])
        if row is None:
            raise CatalogNotFound(
                f"The schema {segments[0]!r} is not in the catalog of {info.name!r} (refresh "
                "it if it is new).",
                detail={"connection": info.name, "schema": segments[0]},
            )
        level = CatalogLevel(
            connection=info.name,
            path=paths.format_path(*segments),
            items=[],
            total=0,
            limit=limit,
            offset=offset,
            refreshed_at=row.refreshed_at,
            partial=bool(row.problems),
            problems=list(row.problems),
            error=error_info(row.error_code, row.error_message, row.error_at),
        )
        if len(segments) == 1:
            entries, level.total = self.cache.tables(row.id, limit=limit, offset=offset)
            level.items = [
                CatalogNode(
                    kind=e.kind,
                    name=e.name,
                    path=paths.format_path(row.schema_name, e.name),
                    comment=e.comment,
                    row_estimate=e.row_estimate,
                    children=e.column_count,
                )
                for e in entries
            ]
            return level
        table = self._table(info, row.id, segments[0], segments[1])
        columns = table.columns
        if len(segments) == 3:
            columns = [c for c in columns if c.name == segments[2]]
            if not columns:
                raise CatalogNotFound(
                    f"The relation {table.name!r} has no column {segments[2]!r}.",
                    detail={"column": segments[2]},
                )
        level.total = len(columns)
        level.items = [
            CatalogNode(
                kind="column",
                name=c.name,
                path=paths.format_path(table.schema, table.name, c.name),
                comment=c.comment,
                native_type=c.native_type,
                family=c.family,
                nullable=c.nullable,
                primary_key=c.name in table.primary_key,
            )
            for c in columns[offset : offset + limit]
        ]
        return level

    def _schemas_level(
        self, info: ConnectionInfo, path: str, limit: int, offset: int
    ) -> CatalogLevel:
        rows = self.cache.schemas(info.id)
        state = self.cache.state(info.id)
        nodes = [
            CatalogNode(
                kind="schema",
                name=r.schema_name,
                path=paths.format_path(r.schema_name),
                children=r.table_count,
                refreshed_at=r.refreshed_at,
                partial=bool(r.problems),
                error=error_info(r.error_code, r.error_message, r.error_at),
            )
            for r in rows
        ]
        return CatalogLevel(
            connection=info.name,
            path=path,
            items=nodes[offset : offset + limit],
            total=len(nodes),
            limit=limit,
            offset=offset,
            refreshed_at=state.refreshed_at if state else None,
            partial=any(n.partial or n.error for n in nodes),
            error=error_info(state.error_code, state.error_message, state.error_at)
            if state
            else None,
        )

    def _table(self, info: ConnectionInfo, schema_id: str, schema: str, name: str) -> TableMeta:
        table = self.cache.table(schema_id, name)
        if table is None:
            raise CatalogNotFound(
                f"The relation {schema!r}.{name!r} is not in the catalog of {info.name!r}.",
                detail={"connection": info.name, "schema": schema, "table": name},
            )
        return table

    # --- detail -------------------------------------------------------------------

    def table_detail(
        self,
        connection: str,
        schema: str,
        table: str,
        *,
        preview: PreviewRunner | None = None,
        preview_rows: int = 0,
    ) -> TableDetail:
        info = self._connections.get(connection)
        self.ensure_loaded(info)
        row = self.cache.schema(info.id, schema)
        if row is None:
            raise CatalogNotFound(
                f"The schema {schema!r} is not in the catalog of {info.name!r}.",
                detail={"connection": info.name, "schema": schema},
            )
        meta = self._table(info, row.id, schema, table)
        driver = registry.load(info.driver)
        dialect = driver.dialect
        detail = TableDetail(
            connection=info.name,
            schema_name=schema,
            name=meta.name,
            kind=meta.kind,
            path=paths.format_path(schema, meta.name),
            comment=meta.comment,
            row_estimate=meta.row_estimate,
            definition=meta.definition,
            columns=[ColumnDetail.model_validate(c, from_attributes=True) for c in meta.columns],
            primary_key=meta.primary_key,
            unique=meta.unique,
            foreign_keys=[
                ForeignKeyDetail.model_validate(f, from_attributes=True) for f in meta.foreign_keys
            ],
            indexes=[IndexDetail.model_validate(i, from_attributes=True) for i in meta.indexes],
            ddl=ddl.generate(meta, dialect, driver.ddl_style),
            refreshed_at=row.refreshed_at,
        )
        if preview is not None and preview_rows > 0:
            qualified = ddl.ident(meta.name, dialect)
            qualified = f"{ddl.ident(schema, dialect)}.{qualified}"
            sql = f"SELECT * FROM {qualified}"
            try:
                detail.preview = preview(info.name, sql, preview_rows)
            except QueryDeckError as exc:
                detail.preview_error = ErrorInfo(code=exc.code, message=exc.message)
        return detail

    # --- search -------------------------------------------------------------------

    def index(self) -> SearchIndex:
        """The search index, rebuilt when a snapshot has changed since it was built."""
        signature = self.cache.signature()
        with self._index_lock:
            if self._index is None or signature != self._index_signature:
                self._index = SearchIndex(self.cache.all_tables())
                self._index_signature = signature
            return self._index

    def search(
        self,
        query: str,
        *,
        limit: int,
        offset: int,
        allowed: Collection[str] | None = None,
    ) -> tuple[list[SearchHit], int]:
        """A page of hits and their total; ``allowed`` limits them to those connection ids."""
        if len(query) > MAX_QUERY_CHARS or "\x00" in query or not query.strip():
            raise CatalogSearchInvalid(
                f"A search text has 1 to {MAX_QUERY_CHARS} characters and no NUL.",
            )
        hits, total = self.index().search(query, limit=limit, offset=offset, allowed=allowed)
        names = self.cache.connection_names()
        out = []
        for hit in hits:
            e = hit.entry
            if e.connection_id not in names:
                continue
            segments = [e.schema, e.table] + ([e.column] if e.column is not None else [])
            out.append(
                SearchHit(
                    kind=e.kind,
                    name=e.name,
                    connection=names[e.connection_id],
                    schema_name=e.schema,
                    table=e.table,
                    column=e.column,
                    path=paths.format_path(*segments),
                    comment=e.comment,
                    native_type=e.native_type,
                    match=hit.match,
                )
            )
        return out, total


def _wanted(name: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)


def _as_timeout(exc: QueryDeckError, past_deadline: bool) -> QueryDeckError:
    if isinstance(exc, QueryTimeout) or (isinstance(exc, QueryCancelled) and past_deadline):
        return CatalogTimeout(
            "Reading the catalog ran past the connection's catalog timeout; the last good "
            "snapshot is kept.",
        )
    return exc


def _report(meta: SchemaMeta, duration_ms: float, diff: SchemaDiff) -> SchemaRefresh:
    return SchemaRefresh(
        schema_name=meta.name,
        status="partial" if meta.partial else "ok",
        tables=len(meta.tables),
        columns=sum(len(t.columns) for t in meta.tables),
        duration_ms=duration_ms,
        problems=list(meta.problems),
        diff=diff,
    )
