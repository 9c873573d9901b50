"""The Workbench's saved queries: create, list, show, change, delete and run them (a mixin
of :class:`querydeck.workbench.Workbench`). A user reads their own and those shared on
connections they may query; administrators read all."""

from __future__ import annotations

from querydeck.auth.access import ad_hoc_sql
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.errors import InvalidInput
from querydeck.runs.models import RunRequest, SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.runs.saved import Reader, SavedQueries
from querydeck.store.pages import Page
from querydeck.workbench_runs import RunsMixin


class SavedQueriesMixin(RunsMixin):
    """Saved queries (a run of one is started like any run)."""

    saved: SavedQueries

    def _reader(self, actor: Principal) -> Reader:
        if actor.is_admin:
            return Reader(actor.username, admin=True)
        return Reader(
            actor.username, shared_on=frozenset(self.grants.connection_ids(actor, Action.query))
        )

    def create_saved_query(self, data: SavedQueryInput, *, actor: Principal = LOCAL) -> SavedQuery:
        ad_hoc_sql(actor)
        if data.connection is not None:
            self.access.connection(actor, data.connection, Action.query)
        return self.saved.create(actor.username, data)

    def list_saved_queries(
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
        return self.saved.listing(
            self._reader(actor), limit=limit, offset=offset, tag=tag, favourite=favourite, text=text
        )

    def get_saved_query(self, ref: str, *, actor: Principal = LOCAL) -> SavedQuery:
        return self.saved.get(self._reader(actor), ref)

    def update_saved_query(
        self, ref: str, changes: SavedQueryChanges, *, actor: Principal = LOCAL
    ) -> SavedQuery:
        ad_hoc_sql(actor)
        if changes.connection is not None:
            self.access.connection(actor, changes.connection, Action.query)
        return self.saved.update(self._reader(actor), ref, changes)

    def delete_saved_query(self, ref: str, *, actor: Principal = LOCAL) -> None:
        self.saved.delete(self._reader(actor), ref)

    def run_saved_query(
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
        saved = self.saved.get(self._reader(actor), ref)
        if connection is not None and connection != saved.connection:
            ad_hoc_sql(actor)
        target = connection or saved.connection
        if target is None:
            raise InvalidInput(
                "The saved query has no connection; name one to run it on.",
                code="CONNECTION_REQUIRED",
            )
        request = RunRequest(
            connection=target,
            sql=saved.sql,
            max_rows=max_rows,
            timeout_s=timeout_s,
            export_all=export_all,
        )
        return self._start(request, actor)
