"""Catalogs, as the shells see them: browse a connection's cached catalog level by level,
refresh it, a table's detail with DDL and a guarded preview, search, per-connection
settings and the background refresh."""

from __future__ import annotations

import logging
import threading

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
from querydeck.errors import QueryDeckError, recorded
from querydeck.runs.models import RowsPage, RunRequest, RunStatus
from querydeck.sources.models import ConnectionInfo
from querydeck.store.pages import Page

log = logging.getLogger("querydeck.catalog")


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

    def refresh_registered(self, info: ConnectionInfo) -> None:
        """Read the catalog of a connection just registered and tested, so that browsing
        and search cover it at once: in a thread of its own while the background refresh
        runs (a server), else before returning (the CLI). A failure is recorded on the
        catalog and logged, never raised: the connection is saved either way."""

        def work() -> None:
            try:
                self._catalogs.refresh(info.name)
            except QueryDeckError as exc:
                log.warning("catalog of the new connection %s: %s", info.name, exc.code)

        if self._refresher.running:
            threading.Thread(target=work, name="qd-catalog-new", daemon=True).start()
        else:
            work()

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
        self._catalogs.load_missing(allowed)  # every schema the user may browse, read once
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
