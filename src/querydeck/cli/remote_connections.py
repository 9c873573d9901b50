"""``querydeck connections …`` and ``querydeck drivers`` against a querydeck server: the
connection routes over the HTTP API, as the token's user (their grants: a non-admin lists
the connections they may browse, and adding or removing one needs an administrator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from querydeck.sources.models import ConnectionInfo, DriverInfo, TestResult
from querydeck.store.pages import Page

if TYPE_CHECKING:
    from querydeck.cli.remote import ServerClient

_DRIVERS = TypeAdapter(list[DriverInfo])


def _path(name: str) -> str:
    from querydeck.cli.remote import segment

    return f"/connections/{segment(name)}"


class RemoteConnections:
    """The connections service over the HTTP API."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def drivers(self) -> list[DriverInfo]:
        response = self._client.send("GET", "/drivers")
        return _DRIVERS.validate_json(response.content)

    def create(
        self,
        name: str,
        *,
        driver: str | None = None,
        url: str | None = None,
        options: dict[str, Any] | None = None,
        allow_privileged: bool = False,
        test: bool = False,
    ) -> ConnectionInfo:
        body = {
            "name": name,
            "driver": driver,
            "url": url,
            "options": options or {},
            "allow_privileged": allow_privileged,
            "test": test,
        }
        return self._client.call(ConnectionInfo, "POST", "/connections", json=body)

    def listing(self, *, limit: int = 100, offset: int = 0) -> Page[ConnectionInfo]:
        params = {"limit": limit, "offset": offset}
        return self._client.call(Page[ConnectionInfo], "GET", "/connections", params=params)

    def get(self, name: str) -> ConnectionInfo:
        return self._client.call(ConnectionInfo, "GET", _path(name))

    def update(
        self, name: str, options: dict[str, Any], *, allow_privileged: bool | None = None
    ) -> ConnectionInfo:
        body = {"options": options, "allow_privileged": allow_privileged}
        return self._client.call(ConnectionInfo, "PATCH", _path(name), json=body)

    def rename(self, name: str, new_name: str) -> ConnectionInfo:
        path = _path(name) + "/rename"
        return self._client.call(ConnectionInfo, "POST", path, json={"name": new_name})

    def delete(self, name: str) -> None:
        self._client.send("DELETE", _path(name))

    def test(self, name: str) -> TestResult:
        return self._client.call(TestResult, "POST", _path(name) + "/test")
