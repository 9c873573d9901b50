"""The Workbench's connections: register, list, change, rename, delete and test them (a
mixin of :class:`querydeck.workbench.Workbench`). Each change is audited with the names of
the options it touched, never their values."""

from __future__ import annotations

from typing import Any

from querydeck.auth.access import Access, admin_only
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.runs.runner import RunManager
from querydeck.sources.models import ConnectionInfo, TestResult
from querydeck.store.pages import Page
from querydeck.workbench_accounts import AccountsMixin


def _option_names(options: dict[str, Any] | None) -> list[str]:
    """The names of the options given (never their values), for an audit entry."""
    return sorted(str(key)[:64] for key in (options or {}))[:100]


class ConnectionsMixin(AccountsMixin):
    """Connections (administrators add and delete them; ``manage`` grants change them)."""

    access: Access
    runs: RunManager

    def create_connection(
        self,
        name: str,
        *,
        driver: str | None = None,
        url: str | None = None,
        options: dict[str, Any] | None = None,
        allow_privileged: bool = False,
        actor: Principal = LOCAL,
    ) -> ConnectionInfo:
        """Register a connection (administrators only). ``allow_privileged`` is the admin
        override that saves a login able to write, flagged "can write"."""
        detail = {
            "name": name,
            "driver": driver,
            "from_url": url is not None,
            "options": _option_names(options),
            "allow_privileged": allow_privileged,
        }
        with self._audited("connection.create", actor, detail) as audit:
            admin_only(actor, "add a connection")
            info = self.connections.create(
                name, driver, url=url, options=options, allow_privileged=allow_privileged
            )
            audit.done(info.id, driver=info.driver)
        return info

    def list_connections(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[ConnectionInfo]:
        """The connections ``actor`` may browse (administrators: all)."""
        ids = None if actor.is_admin else self.grants.connection_ids(actor)
        return self.connections.listing(limit=limit, offset=offset, ids=ids)

    def get_connection(self, name: str, *, actor: Principal = LOCAL) -> ConnectionInfo:
        return self.access.connection(actor, name, Action.browse)

    def update_connection(
        self,
        name: str,
        options: dict[str, Any],
        *,
        allow_privileged: bool | None = None,
        actor: Principal = LOCAL,
    ) -> ConnectionInfo:
        """Change options (``manage``); ``allow_privileged`` (the administrators' override)
        None keeps the stored one. The audit entry names the options changed, never their
        values."""
        detail = {
            "name": name,
            "options": _option_names(options),
            "allow_privileged": allow_privileged,
        }
        with self._audited("connection.update", actor, detail, name) as audit:
            self.access.manage(actor, name)
            if allow_privileged is not None:
                admin_only(actor, "allow a login that can write")
            info = self.connections.update(name, options, allow_privileged=allow_privileged)
            audit.done(info.id)
        self.runs.sessions.clear(info.id)
        return info

    def rename_connection(
        self, name: str, new_name: str, *, actor: Principal = LOCAL
    ) -> ConnectionInfo:
        detail = {"name": name, "new_name": new_name}
        with self._audited("connection.rename", actor, detail, name) as audit:
            self.access.manage(actor, name)
            info = self.connections.rename(name, new_name)
            audit.done(info.id, new_name=info.name)
        return info

    def delete_connection(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a connection with its grants (administrators only)."""
        with self._audited("connection.delete", actor, {"name": name}, name) as audit:
            self.access.connection(actor, name, Action.browse)
            admin_only(actor, "delete a connection")
            info = self.connections.get(name)
            self.connections.delete(name)
            audit.done(info.id)
        self.runs.sessions.clear(info.id)

    def test_connection(self, name: str, *, actor: Principal = LOCAL) -> TestResult:
        with self._audited("connection.test", actor, {"name": name}, name) as audit:
            self.access.manage(actor, name)
            result = self.connections.test(name)
            audit.done(latency_ms=result.latency_ms)
        return result
