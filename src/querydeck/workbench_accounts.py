"""The Workbench's accounts, sessions, API tokens, groups and grants (a mixin of
:class:`querydeck.workbench.Workbench`, kept apart to keep each module about one thing).

Every operation here is one method the API and the CLI call, audited in the Workbench's
audit log; rate limits on logins are applied here so the API and the CLI share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.audit.operations import AuditedOperation, outcome_of
from querydeck.auth import ratelimit
from querydeck.auth.access import admin_only
from querydeck.auth.accounts import INITIAL_PASSWORD_FILE, Accounts, username_key
from querydeck.auth.grants import GrantInfo, Grants, GroupInfo, SubjectKind
from querydeck.auth.models import LoginResult, TokenInfo, UserInfo
from querydeck.auth.principal import LOCAL, Action, Principal, Role
from querydeck.auth.ratelimit import RateLimiter
from querydeck.auth.sessions import LoginSessions
from querydeck.auth.tokens import ApiTokens
from querydeck.errors import Forbidden, LoginFailed, NotFound, QueryDeckError
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionService
from querydeck.store.pages import Page


class AccountsMixin:
    """Users, login sessions, API tokens, groups and grants."""

    settings: Settings
    accounts: Accounts
    login_sessions: LoginSessions
    tokens: ApiTokens
    grants: Grants
    connections: ConnectionService
    limiter: RateLimiter
    audit: AuditLog

    def _audited(
        self, action: str, actor: Principal, detail: dict[str, Any], name: str | None = None
    ) -> AuditedOperation:
        """An audited change or test of the connection ``name`` (None: a new one); access
        checks run inside it, so refusals are audited too."""
        return AuditedOperation(
            self.audit,
            action,
            actor,
            detail,
            target_type="connection",
            name=name,
            lookup=lambda n: self.connections.get(n).id,
        )

    # --- groups and grants ------------------------------------------------------------

    def create_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        with self._account_op("group.create", actor, None, {"group": name[:200]}, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.create_group(name)

    def list_groups(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[GroupInfo]:
        admin_only(actor, "manage groups")
        return self.grants.list_groups(limit=limit, offset=offset)

    def get_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        admin_only(actor, "manage groups")
        return self.grants.get_group(name)

    def delete_group(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a group and every grant it held."""
        with self._account_op("group.delete", actor, None, {"group": name[:200]}, kind="group"):
            admin_only(actor, "manage groups")
            self.grants.delete_group(name)

    def add_group_member(self, group: str, username: str, *, actor: Principal = LOCAL) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_add", actor, None, detail, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.add_member(group, self._known_user(username))

    def remove_group_member(
        self, group: str, username: str, *, actor: Principal = LOCAL
    ) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_remove", actor, None, detail, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.remove_member(group, self._user_name(username))

    def list_grants(self, connection: str, *, actor: Principal = LOCAL) -> list[GrantInfo]:
        admin_only(actor, "see a connection's grants")
        info = self.connections.get(connection)
        return self.grants.list_grants(info.id, info.name)

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
        with self._audited("grant.set", actor, detail, connection) as op:
            admin_only(actor, "grant access to a connection")
            info = self.connections.get(connection)
            if kind == "user":
                subject = self._known_user(subject)
            grant = self.grants.grant(info.id, info.name, kind, subject, chosen)
            op.done(info.id, actions=[a.value for a in grant.actions])
        return grant

    def revoke(
        self, connection: str, kind: SubjectKind, subject: str, *, actor: Principal = LOCAL
    ) -> None:
        """Remove a grant; it holds from the next request on."""
        detail = {"subject_kind": kind, "subject": subject[:200]}
        with self._audited("grant.revoke", actor, detail, connection) as op:
            admin_only(actor, "revoke access to a connection")
            info = self.connections.get(connection)
            if kind == "user":
                subject = self._user_name(subject)
            self.grants.revoke(info.id, kind, subject)
            op.done(info.id)

    def _known_user(self, username: str) -> str:
        """The user's stored name (grants and memberships name existing users only;
        USER_NOT_FOUND otherwise)."""
        return self.accounts.get(username).username

    def _user_name(self, username: str) -> str:
        """The stored spelling of a user name, or the name as given when no user has it."""
        try:
            return self._known_user(username)
        except NotFound:
            return username

    # --- accounts, sessions and API tokens --------------------------------------------

    def ensure_initial_admin(self) -> str | None:
        """On first start (no user yet): create ``admin`` with a random password, write it
        to ``initial-admin-password`` (0600) in the data directory and return it."""
        return self.accounts.ensure_initial_admin(self.settings.data_dir)

    def login(
        self,
        username: str,
        password: str,
        *,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> LoginResult:
        """Check a user name and password (LOGIN_FAILED, never saying which was wrong) and
        start a login session."""
        # Failed attempts are counted per account name (known or not: no existence leak) and
        # per address; a good login clears the account's count.
        account = username_key(username)[:128] or "-"
        who = {"username": username[:128]}
        try:
            self.limiter.check(ratelimit.LOGIN_USER, account)
            if address:
                self.limiter.check(ratelimit.LOGIN_ADDRESS, address)
            user = self.accounts.verify_login(username, password)
        except LoginFailed:
            self.limiter.hit(ratelimit.LOGIN_USER, account)
            if address:
                self.limiter.hit(ratelimit.LOGIN_ADDRESS, address)
            self.audit.record(
                "auth.login_failed", actor=None, outcome="denied", detail=who, address=address
            )
            raise
        except QueryDeckError as exc:
            self.audit.record(
                "auth.login_failed",
                actor=None,
                outcome=outcome_of(exc)[0],
                detail={**who, "error_code": exc.code},
                address=address,
            )
            raise
        self.limiter.reset(ratelimit.LOGIN_USER, account)
        result = self.login_sessions.start(user, address=address, user_agent=user_agent)
        self.audit.record(
            "auth.login",
            actor=user.username,
            target_type="user",
            target_id=user.id,
            address=address,
        )
        return result

    def authenticate_session(
        self, cookie_value: str, *, address: str | None = None
    ) -> tuple[Principal, str]:
        """The principal of a session cookie and the session's CSRF token (else 401)."""
        return self.login_sessions.authenticate(cookie_value, address=address)

    def authenticate_token(self, bearer: str, *, address: str | None = None) -> Principal:
        """The principal of a personal API token (else 401). Its use is audited at most
        once a minute per token (when its last-used time is refreshed)."""
        return self.tokens.authenticate(bearer, address=address)

    def _token_used(self, principal: Principal) -> None:
        self.audit.record(
            "token.use", actor=principal, target_type="token", target_id=principal.token_id
        )

    def logout(self, principal: Principal) -> None:
        """End the principal's login session (a token's principal has none to end)."""
        if principal.via == "session" and principal.token_id is not None:
            self.login_sessions.end(principal.token_id)
            self.audit.record("auth.logout", actor=principal)

    def me(self, principal: Principal) -> UserInfo:
        """The principal's own account."""
        return self.accounts.by_id(_user_id(principal))

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Change one's own password (the current one proves it is you); the user's other
        login sessions end, their API tokens stay."""
        keep = principal.token_id if principal.via == "session" else None
        with self._account_op("auth.password_change", principal, principal.user_id):
            user = self.accounts.change_password(
                _user_id(principal), current, new, keep_session=keep
            )
        self._forget_initial_password(user.username)

    def create_token(
        self, principal: Principal, name: str, expires_days: int | None = None
    ) -> tuple[TokenInfo, str]:
        """A personal API token and its secret, shown this once."""
        with self._account_op("token.create", principal, None, {"name": name[:100]}) as op:
            info, secret = self.tokens.create(_user_id(principal), name, expires_days)
            op.done(info.id)
        return info, secret

    def list_tokens(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> Page[TokenInfo]:
        return self.tokens.listing(_user_id(principal), limit=limit, offset=offset)

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke one of the principal's tokens; another user's token id answers 404."""
        with self._account_op("token.revoke", principal, token_id[:64], kind="token"):
            self.tokens.revoke(_user_id(principal), token_id)

    def create_user(
        self, actor: Principal, username: str, *, role: Role, password: str
    ) -> UserInfo:
        with self._account_op("user.create", actor, None, {"username": username[:128]}) as op:
            _require_admin(actor)
            info = self.accounts.create(username, role=role, password=password)
            op.done(info.id, role=info.role.value)
        return info

    def list_users(self, actor: Principal, *, limit: int = 100, offset: int = 0) -> Page[UserInfo]:
        _require_admin(actor)
        return self.accounts.listing(limit=limit, offset=offset)

    def get_user(self, actor: Principal, username: str) -> UserInfo:
        _require_admin(actor)
        return self.accounts.get(username)

    def update_user(
        self,
        actor: Principal,
        username: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
    ) -> UserInfo:
        """Change a user's role or disable/enable them (disabling ends their sessions and
        tokens at once)."""
        changes = {"role": role.value if role else None, "disabled": disabled}
        with self._account_op("user.update", actor, None, {"username": username[:128]}) as op:
            _require_admin(actor)
            info = self.accounts.update(username, role=role, disabled=disabled)
            op.done(info.id, **{k: v for k, v in changes.items() if v is not None})
        return info

    def reset_password(self, actor: Principal, username: str, password: str) -> None:
        """An administrator sets a user's password; the user's sessions and tokens end."""
        with self._account_op("user.password_reset", actor, None, {"username": username[:128]}):
            _require_admin(actor)
            self.accounts.reset_password(username, password)
        self._forget_initial_password(username)

    @contextmanager
    def _account_op(
        self,
        action: str,
        actor: Principal,
        target_id: str | None,
        detail: dict[str, Any] | None = None,
        *,
        kind: str = "user",
    ) -> Iterator[AuditedOperation]:
        op = AuditedOperation(
            self.audit, action, actor, detail or {}, target_type=kind, connection_target=False
        )
        op.done(target_id)
        try:
            with op:
                yield op
        finally:  # a principal remembered for a token may have changed with it
            self.tokens.forget()

    def _forget_initial_password(self, username: str) -> None:
        """The first-start password file is stale once ``admin`` has another password."""
        if username_key(username) == "admin":
            (self.settings.data_dir / INITIAL_PASSWORD_FILE).unlink(missing_ok=True)


def _user_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden(
            "The local command line acts without an account; log in as a user for this."
        )
    return principal.user_id


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("Only an administrator can manage users.")
