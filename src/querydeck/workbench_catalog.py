"""The Workbench's catalogs: browse a connection's cached catalog level by level, refresh it,
a table's detail with DDL and a guarded preview, search, per-connection settings and the
background refresh (a mixin of :class:`querydeck.workbench.Workbench`)."""

from __future__ import annotations

from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.catalog.background import BackgroundRefresher
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.catalog.service import CatalogService
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RowsPage, RunRequest, RunStatus
from querydeck.store.pages import Page
from querydeck.workbench_runs import RunsMixin


class CatalogMixin(RunsMixin):
    """Catalog browsing and search (a table preview is a run like any other)."""

    catalog: CatalogService
    refresher: BackgroundRefresher

    def start_background_refresh(self) -> bool:
        """Start the background catalog refresh (``querydeck serve`` does); False when the
        interval setting is 0."""
        self.refresher.start()
        return self.refresher.running

    def catalog_level(
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
        self.access.connection(actor, connection, Action.browse)
        return self.catalog.level(connection, path, limit=limit, offset=offset)

    def refresh_catalog(
        self, connection: str, schema: str | None = None, *, actor: Principal = LOCAL
    ) -> RefreshReport:
        self.access.connection(actor, connection, Action.manage)
        return self.catalog.refresh(connection, schema)

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
        read through the guard like any run (``query`` grant)."""
        self.access.connection(actor, connection, Action.browse)

        def preview(name: str, sql: str, rows: int) -> RowsPage:
            run = self.wait_run(
                self._start(RunRequest(connection=name, sql=sql, max_rows=rows), actor), None
            )
            if run.status is not RunStatus.succeeded:
                raise QueryDeckError(
                    run.error_message or f"The preview ended {run.status.value}.",
                    code=run.error_code or "QUERY_FAILED",
                )
            return self.run_rows(run.id, offset=0, limit=rows, known=run)

        return self.catalog.table_detail(
            connection, schema, table, preview=preview, preview_rows=preview_rows
        )

    def search_catalog(
        self, text: str, *, limit: int = 50, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[SearchHit]:
        """Tables and columns by name or comment, in the connections ``actor`` may browse."""
        allowed = None if actor.is_admin else self.grants.connection_ids(actor)
        hits, total = self.catalog.search(text, limit=limit, offset=offset, allowed=allowed)
        return Page(items=hits, total=total, limit=limit, offset=offset)

    def catalog_settings(self, connection: str, *, actor: Principal = LOCAL) -> CatalogSettings:
        self.access.connection(actor, connection, Action.browse)
        return self.catalog.settings(connection)

    def set_catalog_settings(
        self, connection: str, values: CatalogSettings, *, actor: Principal = LOCAL
    ) -> CatalogSettings:
        self.access.connection(actor, connection, Action.manage)
        return self.catalog.set_settings(connection, values)
