"""Binding a federated connection's sources to the user who runs a statement: only the
sources that user may query (a grant with ``query``, and a role that allows it) are
attached, each through its own driver and stored options (its file roots and address
policy checked again); a source they may not query, or one that no longer exists, is left
out — a statement naming it fails as for a database that does not exist, so its
existence does not leak. A federated source of a federated connection is left out too."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from querydeck.auth.grants import Grants
from querydeck.auth.principal import Action, Principal
from querydeck.errors import ConnectionNotFound
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo

Binder = Callable[[ConnectionInfo, Any, Principal], Any]

#: The federated driver's module: a driver can only be federated once it is loaded (the
#: registry loads it for a federated connection), so other runs never import it.
_FEDERATED = "querydeck.drivers.federated.driver"


def binder(store: ConnectionStore, grants: Grants) -> Binder:
    """The run manager's hook: a federated driver bound to the sources ``actor`` may
    query; any other driver as it is."""

    def may_query(actor: Principal, connection_id: str) -> bool:
        if actor.is_admin:
            return True
        return actor.role_allows(Action.query) and Action.query in grants.actions_for(
            actor, connection_id
        )

    def bind(info: ConnectionInfo, driver: Any, actor: Principal) -> Any:
        if _FEDERATED not in sys.modules:
            return driver
        from querydeck.drivers.federated.driver import BoundSource, FederatedDriver

        if not isinstance(driver, FederatedDriver):
            return driver
        sources = []
        for name in driver.options.sources:
            try:
                source = store.get(name)
            except ConnectionNotFound:
                continue
            if source.driver == FederatedDriver.name or not may_query(actor, source.id):
                continue
            _, source_driver = store.driver_for(name)
            sources.append(BoundSource(source.name, source_driver))
        return driver.bound(sources)

    return bind
