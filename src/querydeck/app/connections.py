"""Connections, as the shells see them: register, list, change, rename, delete and test
them, and the drivers they use. Each change is audited with the names of the options it
touched, never their values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.audit.operations import AuditedOperation
from querydeck.auth.access import Access, admin_only
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.drivers import registry
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo, DriverInfo, TestResult
from querydeck.store.pages import Page


def _option_names(options: dict[str, Any] | None) -> list[str]:
    """The names of the options given (never their values), for an audit entry."""
    return sorted(str(key)[:64] for key in (options or {}))[:100]


class ConnectionService:
    """Connections (administrators add and delete them; ``manage`` grants change them)."""

    def __init__(
        self,
        store: ConnectionStore,
        clear_pools: Callable[[str], None],
        *,
        access: Access,
        grants: Grants,
        audit: AuditLog,
        on_registered: Callable[[ConnectionInfo], None] | None = None,
    ) -> None:
        self._store = store
        #: Called with a connection registered and tested (the Workbench reads its catalog).
        self.on_registered = on_registered
        #: Closes the engine sessions pooled for a connection id (after a change).
        self._clear_pools = clear_pools
        self._access = access
        self._grants = grants
        self._audit = audit

    def audited(
        self, action: str, actor: Principal, detail: dict[str, Any], name: str | None = None
    ) -> AuditedOperation:
        """An audited change or test of the connection ``name`` (None: a new one); access
        checks run inside it, so refusals are audited too."""
        return AuditedOperation(
            self._audit,
            action,
            actor,
            detail,
            target_type="connection",
            name=name,
            lookup=lambda n: self._store.get(n).id,
        )

    def drivers(self) -> list[DriverInfo]:
        """Every installed driver: name, title, dialect, capabilities, options' schema."""
        return [DriverInfo.model_validate(registry.describe(n)) for n in registry.names()]

    def driver(self, name: str) -> DriverInfo:
        return DriverInfo.model_validate(registry.describe(name))

    def any_registered(self) -> bool:
        """Whether any connection exists (the first start offers the demo when none)."""
        return self._store.any_registered()

    def create(
        self,
        name: str,
        *,
        driver: str | None = None,
        url: str | None = None,
        options: dict[str, Any] | None = None,
        allow_privileged: bool = False,
        test: bool = False,
        actor: Principal = LOCAL,
    ) -> ConnectionInfo:
        """Register a connection (administrators only). ``allow_privileged`` is the admin
        override that saves a login able to write, flagged "can write". With ``test`` (the
        default of the CLI and the API) the connection is connected to and pinged first and
        nothing is saved when that fails."""
        detail = {
            "name": name,
            "driver": driver,
            "from_url": url is not None,
            "options": _option_names(options),
            "allow_privileged": allow_privileged,
            "test": test,
        }
        with self.audited("connection.create", actor, detail) as audit:
            admin_only(actor, "add a connection")
            info = self._store.create(
                name,
                driver,
                url=url,
                options=options,
                allow_privileged=allow_privileged,
                test=test,
            )
            audit.done(info.id, driver=info.driver)
        if test and self.on_registered is not None:
            self.on_registered(info)
        return info

    def listing(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[ConnectionInfo]:
        """The connections ``actor`` may browse (administrators: all)."""
        ids = None if actor.is_admin else self._grants.connection_ids(actor)
        return self._store.listing(limit=limit, offset=offset, ids=ids)

    def get(self, name: str, *, actor: Principal = LOCAL) -> ConnectionInfo:
        return self._access.connection(actor, name, Action.browse)

    def update(
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
        with self.audited("connection.update", actor, detail, name) as audit:
            self._access.manage(actor, name)
            if allow_privileged is not None:
                admin_only(actor, "allow a login that can write")
            info = self._store.update(name, options, allow_privileged=allow_privileged)
            audit.done(info.id)
        self._clear_pools(info.id)
        return info

    def rename(self, name: str, new_name: str, *, actor: Principal = LOCAL) -> ConnectionInfo:
        detail = {"name": name, "new_name": new_name}
        with self.audited("connection.rename", actor, detail, name) as audit:
            self._access.manage(actor, name)
            info = self._store.rename(name, new_name)
            audit.done(info.id, new_name=info.name)
        return info

    def delete(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a connection with its grants (administrators only)."""
        with self.audited("connection.delete", actor, {"name": name}, name) as audit:
            self._access.connection(actor, name, Action.browse)
            admin_only(actor, "delete a connection")
            info = self._store.get(name)
            self._store.delete(name)
            audit.done(info.id)
        self._clear_pools(info.id)

    def test(self, name: str, *, actor: Principal = LOCAL) -> TestResult:
        with self.audited("connection.test", actor, {"name": name}, name) as audit:
            self._access.manage(actor, name)
            result = self._store.test(name)
            audit.done(latency_ms=result.latency_ms)
        return result
