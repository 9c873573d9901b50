"""Saved queries, as the shells see them: create, list, show, change, delete and run them.
A user reads their own and those shared on connections they may query; administrators
read all."""

from __future__ import annotations

from querydeck.app.runs import RunService
from querydeck.auth.access import Access, ad_hoc_sql
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.errors import ConnectionRequired
from querydeck.runs.models import RunRequest, SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.runs.saved import Reader, SavedQueryStore
from querydeck.store.pages import Page


class SavedQueryService:
    """Saved queries (a run of one is started like any run)."""

    def __init__(
        self, store: SavedQueryStore, runs: RunService, *, access: Access, grants: Grants
    ) -> None:
        self._store = store
        self._runs = runs
        self._access = access
        self._grants = grants

    def _reader(self, actor: Principal) -> Reader:
        if actor.is_admin:
            return Reader(actor.username, admin=True)
        return Reader(
            actor.username, shared_on=frozenset(self._grants.connection_ids(actor, Action.query))
        )

    def create(self, data: SavedQueryInput, *, actor: Principal = LOCAL) -> SavedQuery:
        ad_hoc_sql(actor)
        if data.connection is not None:
            self._access.connection(actor, data.connection, Action.query)
        return self._store.create(actor.username, data)

    def listing(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
        actor: Principal = LOCAL,
    ) -> Page[SavedQuery]:
        """The actor's saved queries and those shared on connections they may query."""
        return self._store.listing(
            self._reader(actor), limit=limit, offset=offset, tag=tag, favourite=favourite, text=text
        )

    def get(self, ref: str, *, actor: Principal = LOCAL) -> SavedQuery:
        return self._store.get(self._reader(actor), ref)

    def update(
        self, ref: str, changes: SavedQueryChanges, *, actor: Principal = LOCAL
    ) -> SavedQuery:
        ad_hoc_sql(actor)
        if changes.connection is not None:
            self._access.connection(actor, changes.connection, Action.query)
        return self._store.update(self._reader(actor), ref, changes)

    def delete(self, ref: str, *, actor: Principal = LOCAL) -> None:
        self._store.delete(self._reader(actor), ref)

    def run(
        self,
        ref: str,
        *,
        connection: str | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        export_all: bool = False,
        actor: Principal = LOCAL,
    ) -> str:
        """Start a run of a saved query (on ``connection``, else its default one). Viewers
        run shared queries on their own connection only."""
        saved = self._store.get(self._reader(actor), ref)
        if (connection is not None and connection != saved.connection) or not saved.shared:
            ad_hoc_sql(actor)  # viewers: only shared queries, on their own connection
        target = connection or saved.connection
        if target is None:
            raise ConnectionRequired(
                "The saved query has no connection; name one to run it on.",
            )
        request = RunRequest(
            connection=target,
            sql=saved.sql,
            max_rows=max_rows,
            timeout_s=timeout_s,
            export_all=export_all,
        )
        return self._runs.start_vetted(request, actor)
