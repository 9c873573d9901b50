"""Catalogs, as the shells see them: browse a connection's cached catalog level by level,
refresh it, a table's detail with DDL and a guarded preview, search, per-connection
settings and the background refresh."""

from __future__ import annotations

from querydeck.app.runs import RunService
from querydeck.auth.access import Access
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.catalog.background import BackgroundRefresher
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.catalog.service import Catalogs
from querydeck.errors import recorded
from querydeck.runs.models import RowsPage, RunRequest, RunStatus
from querydeck.store.pages import Page


class CatalogService:
    """Catalog browsing and search (a table preview is a run like any other)."""

    def __init__(
        self,
        catalogs: Catalogs,
        refresher: BackgroundRefresher,
        runs: RunService,
        *,
        access: Access,
        grants: Grants,
    ) -> None:
        self._catalogs = catalogs
        self._refresher = refresher
        self._runs = runs
        self._access = access
        self._grants = grants

    def start_background_refresh(self) -> bool:
        """Start the background catalog refresh (``querydeck serve`` does); False when the
        interval setting is 0."""
        self._refresher.start()
        return self._refresher.running

    def level(
        self,
        connection: str,
        path: str = "",
        *,
        limit: int = 100,
        offset: int = 0,
        actor: Principal = LOCAL,
    ) -> CatalogLevel:
        """One level of the cached catalog: schemas (empty path), the relations of a
        schema, or the columns of a relation."""
        self._access.connection(actor, connection, Action.browse)
        return self._catalogs.level(connection, path, limit=limit, offset=offset)

    def refresh(
        self, connection: str, schema: str | None = None, *, actor: Principal = LOCAL
    ) -> RefreshReport:
        self._access.connection(actor, connection, Action.manage)
        return self._catalogs.refresh(connection, schema)

    def table_detail(
        self,
        connection: str,
        schema: str,
        table: str,
        *,
        preview_rows: int = 0,
        actor: Principal = LOCAL,
    ) -> TableDetail:
        """A relation from the cache with generated DDL, and optionally its first rows
        read through the guard like any ad-hoc run (``query`` grant, not for viewers: they
        run saved queries shared with them only; a refusal is the ``preview_error``)."""
        self._access.connection(actor, connection, Action.browse)

        def preview(name: str, sql: str, rows: int) -> RowsPage:
            request = RunRequest(connection=name, sql=sql, max_rows=rows)
            run = self._runs.wait(self._runs.start(request, actor=actor), None)
            if run.status is not RunStatus.succeeded:
                raise recorded(
                    run.error_code, run.error_message or f"The preview ended {run.status.value}."
                )
            return self._runs.rows(run.id, offset=0, limit=rows, known=run)

        return self._catalogs.table_detail(
            connection, schema, table, preview=preview, preview_rows=preview_rows
        )

    def search(
        self, text: str, *, limit: int = 50, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[SearchHit]:
        """Tables and columns by name or comment, in the connections ``actor`` may browse."""
        allowed = None if actor.is_admin else self._grants.connection_ids(actor)
        hits, total = self._catalogs.search(text, limit=limit, offset=offset, allowed=allowed)
        return Page(items=hits, total=total, limit=limit, offset=offset)

    def settings(self, connection: str, *, actor: Principal = LOCAL) -> CatalogSettings:
        self._access.connection(actor, connection, Action.browse)
        return self._catalogs.settings(connection)

    def set_settings(
        self, connection: str, values: CatalogSettings, *, actor: Principal = LOCAL
    ) -> CatalogSettings:
        self._access.connection(actor, connection, Action.manage)
        return self._catalogs.set_settings(connection, values)
