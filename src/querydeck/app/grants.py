"""Groups and per-connection grants, as the shells see them (administrators only). Each
change is audited; a grant's change holds from the next request on."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from querydeck.app.accounts import AccountService, account_operation
from querydeck.app.connections import ConnectionService
from querydeck.audit.log import AuditLog
from querydeck.audit.operations import AuditedOperation
from querydeck.auth.access import admin_only
from querydeck.auth.grants import GrantInfo, Grants, GroupInfo, SubjectKind
from querydeck.auth.principal import LOCAL, ROLE_ACTIONS, Action, Principal
from querydeck.auth.tokens import ApiTokens
from querydeck.store.pages import Page


class GrantService:
    """Groups, their members, and what users and groups may do on each connection."""

    def __init__(
        self,
        grants: Grants,
        accounts: AccountService,
        connections: ConnectionService,
        *,
        tokens: ApiTokens,
        audit: AuditLog,
    ) -> None:
        self._grants = grants
        self._accounts = accounts
        self._connections = connections
        self._tokens = tokens
        self._audit = audit

    def _account_op(
        self, action: str, actor: Principal, detail: dict[str, Any]
    ) -> AbstractContextManager[AuditedOperation]:
        return account_operation(
            self._audit, self._tokens, action, actor, None, detail, kind="group"
        )

    def create_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        with self._account_op("group.create", actor, {"group": name[:200]}):
            admin_only(actor, "manage groups")
            return self._grants.create_group(name)

    def list_groups(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[GroupInfo]:
        admin_only(actor, "manage groups")
        return self._grants.list_groups(limit=limit, offset=offset)

    def get_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        admin_only(actor, "manage groups")
        return self._grants.get_group(name)

    def delete_group(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a group and every grant it held."""
        with self._account_op("group.delete", actor, {"group": name[:200]}):
            admin_only(actor, "manage groups")
            self._grants.delete_group(name)

    def add_group_member(self, group: str, username: str, *, actor: Principal = LOCAL) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_add", actor, detail):
            admin_only(actor, "manage groups")
            return self._grants.add_member(group, self._accounts.known_user(username))

    def remove_group_member(
        self, group: str, username: str, *, actor: Principal = LOCAL
    ) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_remove", actor, detail):
            admin_only(actor, "manage groups")
            return self._grants.remove_member(group, self._accounts.user_name(username))

    def list_grants(self, connection: str, *, actor: Principal = LOCAL) -> list[GrantInfo]:
        admin_only(actor, "see a connection's grants")
        info = self._connections.get(connection, actor=actor)
        return [self._by_role(g) for g in self._grants.list_grants(info.id, info.name)]

    def _by_role(self, grant: GrantInfo) -> GrantInfo:
        """A user's grant as it applies: the actions their role does not allow (a viewer's
        export) are listed apart, never shown as allowed."""
        if grant.subject_kind != "user":
            return grant
        allowed = ROLE_ACTIONS[self._accounts.get_user(LOCAL, grant.subject).role]
        return grant.model_copy(
            update={
                "actions": [a for a in grant.actions if a in allowed],
                "withheld": [a for a in grant.actions if a not in allowed],
            }
        )

    def grant(
        self,
        connection: str,
        kind: SubjectKind,
        subject: str,
        actions: Iterable[Action | str],
        *,
        actor: Principal = LOCAL,
    ) -> GrantInfo:
        """Set what a user or a group may do on a connection (replaces an earlier grant)."""
        chosen = [str(a) for a in actions][:8]
        detail = {"subject_kind": kind, "subject": subject[:200], "actions": chosen}
        with self._connections.audited("grant.set", actor, detail, connection) as op:
            admin_only(actor, "grant access to a connection")
            info = self._connections.get(connection, actor=actor)
            if kind == "user":
                subject = self._accounts.known_user(subject)
            grant = self._grants.grant(info.id, info.name, kind, subject, chosen)
            op.done(info.id, actions=[a.value for a in grant.actions])
        return self._by_role(grant)

    def revoke(
        self, connection: str, kind: SubjectKind, subject: str, *, actor: Principal = LOCAL
    ) -> None:
        """Remove a grant; it holds from the next request on."""
        detail = {"subject_kind": kind, "subject": subject[:200]}
        with self._connections.audited("grant.revoke", actor, detail, connection) as op:
            admin_only(actor, "revoke access to a connection")
            info = self._connections.get(connection, actor=actor)
            if kind == "user":
                subject = self._accounts.user_name(subject)
            self._grants.revoke(info.id, kind, subject)
            op.done(info.id)
