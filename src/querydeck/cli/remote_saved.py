"""``querydeck saved …`` against a querydeck server: the saved-query routes over the HTTP
API, as the token's user (their own saved queries and the shared ones they may read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from querydeck.runs.models import SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.store.pages import Page

if TYPE_CHECKING:
    from querydeck.cli.remote import RemoteRuns, ServerClient


def _path(ref: str) -> str:
    from querydeck.cli.remote import segment

    return f"/saved-queries/{segment(ref)}"


class RemoteSaved:
    """The saved-query service over the HTTP API; a run starts like ``query`` does."""

    def __init__(self, client: ServerClient, runs: RemoteRuns) -> None:
        self._client = client
        self._runs = runs

    def listing(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
    ) -> Page[SavedQuery]:
        params = {
            "limit": limit,
            "offset": offset,
            "tag": tag,
            "favourite": None if favourite is None else str(favourite).lower(),
            "q": text,
        }
        return self._client.call(Page[SavedQuery], "GET", "/saved-queries", params=params)

    def create(self, data: SavedQueryInput) -> SavedQuery:
        body = data.model_dump(mode="json")
        return self._client.call(SavedQuery, "POST", "/saved-queries", json=body)

    def get(self, ref: str) -> SavedQuery:
        return self._client.call(SavedQuery, "GET", _path(ref))

    def update(self, ref: str, changes: SavedQueryChanges) -> SavedQuery:
        body = changes.model_dump(mode="json", exclude_unset=True)
        return self._client.call(SavedQuery, "PATCH", _path(ref), json=body)

    def delete(self, ref: str) -> None:
        self._client.send("DELETE", _path(ref))

    def run(
        self,
        ref: str,
        *,
        connection: str | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        export_all: bool = False,
    ) -> str:
        """Start the saved query; ``export_all`` is this machine's notion (a server's run of
        a saved query has the usual row cap: pass ``max_rows`` for more)."""
        del export_all
        body = {
            "connection": connection,
            "max_rows": max_rows,
            "timeout_s": timeout_s,
            "wait_ms": 0,
            "page_size": 1,
        }
        return self._runs.start_at(_path(ref) + "/run", body)
