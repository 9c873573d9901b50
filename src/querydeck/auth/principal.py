"""Who is acting: a :class:`Principal` is passed to every Workbench method that reads or
changes something a user owns or a connection a user may be granted.

Roles cap what a user can ever do; per-connection grants say where. The effective actions on
a connection are the role's actions intersected with the grants (admins: everything).
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    analyst = "analyst"
    viewer = "viewer"


class Action(StrEnum):
    """What a grant on a connection allows."""

    browse = "browse"  # see the connection and its catalog
    query = "query"  # run statements (viewers: only saved queries shared with them)
    export = "export"  # export stored results
    manage = "manage"  # change options, test, refresh the catalog, change its settings


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.admin: frozenset(Action),
    Role.analyst: frozenset(Action),
    Role.viewer: frozenset({Action.browse, Action.query}),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user (or the local CLI's owner of the data directory)."""

    username: str
    role: Role
    user_id: str | None = None
    groups: frozenset[str] = frozenset()
    #: How the request was authenticated: "session", "token" or "local".
    via: str = "local"
    token_id: str | None = None
    address: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def may_write_sql(self) -> bool:
        """Ad-hoc SQL: admins and analysts; viewers only run saved queries shared with them."""
        return self.role is not Role.viewer

    def role_allows(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]


#: The local CLI: whoever can read the data directory and its key file already holds every
#: secret, so local commands act as an administrator named "local".
LOCAL = Principal(username="local", role=Role.admin, via="local")
