"""Access decisions: may this principal do this action on this connection, run or query?

Something a user may not see answers exactly like something that does not exist (404 with
the same code and message), so ids and names do not leak. 403 is used only where the user
already sees the object (a grant without the needed action, or a role that never allows it).
"""

from __future__ import annotations

from typing import Protocol

from querydeck.auth.grants import Grants
from querydeck.auth.principal import Action, Principal
from querydeck.drivers import registry
from querydeck.errors import (
    AdminRequired,
    ConnectionNotFound,
    Forbidden,
    GrantMissing,
    NotFound,
    RoleForbidden,
    RunNotFound,
)
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo


class OwnedRun(Protocol):
    """What an access decision reads of a run (a run of the history fits)."""

    @property
    def id(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def connection_id(self) -> str | None: ...


_VERBS = {
    Action.browse: "browse",
    Action.query: "run queries on",
    Action.export: "export results of",
    Action.manage: "manage",
}


def connection_not_found(name: str) -> NotFound:
    """The same error as a connection that does not exist (see ConnectionStore._row)."""
    return ConnectionNotFound(f"No connection named {name!r}.", detail={"connection": name})


def run_not_found(run_id: str) -> NotFound:
    """The same error as a run that does not exist (see History._row)."""
    return RunNotFound("No such run.", detail={"run_id": run_id})


def admin_only(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise AdminRequired(f"Only an administrator can {what}.")


def ad_hoc_sql(principal: Principal) -> None:
    if not principal.may_write_sql:
        raise RoleForbidden(
            "Viewers run saved queries shared with them; writing SQL needs the analyst role.",
        )


def _role_forbidden(principal: Principal, action: Action) -> Forbidden:
    return RoleForbidden(
        f"The {principal.role.value} role cannot {_VERBS[action]} a connection.",
        detail={"action": action.value},
    )


class Access:
    """Checks against the grants, read fresh on every call."""

    def __init__(self, grants: Grants, connections: ConnectionStore) -> None:
        self.grants = grants
        self._connections = connections

    def connection(self, principal: Principal, name: str, action: Action) -> ConnectionInfo:
        """The connection ``name`` if ``principal`` may do ``action`` on it."""
        if principal.is_admin:
            return self._connections.get(name)
        try:
            info = self._connections.get(name)
        except NotFound:
            raise connection_not_found(name) from None
        self.require(principal, info.id, info.name, action)
        return info

    def check(self, principal: Principal, name: str, *actions: Action) -> None:
        """Raise unless ``principal`` may do every one of ``actions`` on the connection
        ``name``. Administrators pass without a read: whoever opens the connection next
        reports one that does not exist (the same 404)."""
        if principal.is_admin:
            return
        info = self.connection(principal, name, actions[0])
        for action in actions[1:]:
            self.require(principal, info.id, info.name, action)

    def require(self, principal: Principal, connection_id: str, name: str, action: Action) -> None:
        if principal.is_admin:
            return
        actions = self.grants.actions_for(principal, connection_id)
        if not actions:
            raise connection_not_found(name)
        if not principal.role_allows(action):
            raise _role_forbidden(principal, action)
        if action not in actions:
            raise GrantMissing(
                f"Your grants do not let you {_VERBS[action]} the connection {name!r}.",
                detail={"connection": name, "action": action.value},
            )

    def manage(self, principal: Principal, name: str) -> ConnectionInfo:
        """``manage`` on the connection; file-based engines (their options are paths on this
        server) are managed by administrators only."""
        info = self.connection(principal, name, Action.manage)
        if not principal.is_admin and registry.load(info.driver).capabilities.file_based:
            raise AdminRequired(
                "Only an administrator can change or test a file-based connection.",
                detail={"connection": info.name},
            )
        return info

    def run(self, principal: Principal, run: OwnedRun, action: Action = Action.query) -> None:
        """A run is its owner's (admins see all), and only while the owner still holds a
        grant on its connection."""
        if principal.is_admin:
            return
        if run.user != principal.username or run.connection_id is None:
            raise run_not_found(run.id)
        actions = self.grants.actions_for(principal, run.connection_id)
        if not actions:
            raise run_not_found(run.id)
        if not principal.role_allows(action):
            raise _role_forbidden(principal, action)
        if action not in actions:
            raise GrantMissing(
                f"Your grants do not let you {_VERBS[action]} this run's connection.",
                detail={"run_id": run.id, "action": action.value},
            )
