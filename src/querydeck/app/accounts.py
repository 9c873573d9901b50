"""Accounts, as the shells see them: users, logins and login sessions, one's own password
and personal API tokens.

Every operation here is one method the API and the CLI call, audited in the audit log;
rate limits on logins are applied here so the API and the CLI share them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.audit.operations import AuditedOperation, outcome_of
from querydeck.auth import ratelimit
from querydeck.auth.accounts import INITIAL_PASSWORD_FILE, Accounts, username_key
from querydeck.auth.models import LoginResult, TokenInfo, UserInfo
from querydeck.auth.principal import Principal, Role
from querydeck.auth.ratelimit import RateLimiter
from querydeck.auth.sessions import LoginSessions
from querydeck.auth.tokens import ApiTokens
from querydeck.errors import AdminRequired, Forbidden, LoginFailed, NotFound, QueryDeckError
from querydeck.settings import Settings
from querydeck.store.pages import Page


class AccountService:
    """Users, login sessions and API tokens."""

    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        login_sessions: LoginSessions,
        tokens: ApiTokens,
        *,
        limiter: RateLimiter,
        audit: AuditLog,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._login_sessions = login_sessions
        self._tokens = tokens
        self._limiter = limiter
        self._audit = audit
        tokens.on_use = self._token_used

    # --- accounts, sessions and API tokens --------------------------------------------

    def ensure_initial_admin(self) -> str | None:
        """On first start (no user yet): create ``admin`` with a random password, write it
        to ``initial-admin-password`` (0600) in the data directory and return it."""
        return self._accounts.ensure_initial_admin(self._settings.data_dir)

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
            self._limiter.check(ratelimit.LOGIN_USER, account)
            if address:
                self._limiter.check(ratelimit.LOGIN_ADDRESS, address)
            user = self._accounts.verify_login(username, password)
        except LoginFailed:
            self._limiter.hit(ratelimit.LOGIN_USER, account)
            if address:
                self._limiter.hit(ratelimit.LOGIN_ADDRESS, address)
            self._audit.record(
                "auth.login_failed", actor=None, outcome="denied", detail=who, address=address
            )
            raise
        except QueryDeckError as exc:
            self._audit.record(
                "auth.login_failed",
                actor=None,
                outcome=outcome_of(exc)[0],
                detail={**who, "error_code": exc.code},
                address=address,
            )
            raise
        self._limiter.reset(ratelimit.LOGIN_USER, account)
        result = self._login_sessions.start(user, address=address, user_agent=user_agent)
        self._audit.record(
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
        return self._login_sessions.authenticate(cookie_value, address=address)

    def authenticate_token(self, bearer: str, *, address: str | None = None) -> Principal:
        """The principal of a personal API token (else 401). Its use is audited at most
        once a minute per token (when its last-used time is refreshed)."""
        return self._tokens.authenticate(bearer, address=address)

    def _token_used(self, principal: Principal) -> None:
        self._audit.record(
            "token.use", actor=principal, target_type="token", target_id=principal.token_id
        )

    def logout(self, principal: Principal) -> None:
        """End the principal's login session (a token's principal has none to end)."""
        if principal.via == "session" and principal.token_id is not None:
            self._login_sessions.end(principal.token_id)
            self._audit.record("auth.logout", actor=principal)

    def me(self, principal: Principal) -> UserInfo:
        """The principal's own account."""
        return self._accounts.by_id(_user_id(principal))

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Change one's own password (the current one proves it is you); the user's other
        login sessions end, their API tokens stay."""
        keep = principal.token_id if principal.via == "session" else None
        with self._account_op("auth.password_change", principal, principal.user_id):
            user = self._accounts.change_password(
                _user_id(principal), current, new, keep_session=keep
            )
        self._forget_initial_password(user.username)

    def create_token(
        self, principal: Principal, name: str, expires_days: int | None = None
    ) -> tuple[TokenInfo, str]:
        """A personal API token and its secret, shown this once."""
        with self._account_op("token.create", principal, None, {"name": name[:100]}) as op:
            info, secret = self._tokens.create(_user_id(principal), name, expires_days)
            op.done(info.id)
        return info, secret

    def list_tokens(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> Page[TokenInfo]:
        return self._tokens.listing(_user_id(principal), limit=limit, offset=offset)

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke one of the principal's tokens; another user's token id answers 404."""
        with self._account_op("token.revoke", principal, token_id[:64], kind="token"):
            self._tokens.revoke(_user_id(principal), token_id)

    def create_user(
        self, actor: Principal, username: str, *, role: Role, password: str
    ) -> UserInfo:
        with self._account_op("user.create", actor, None, {"username": username[:128]}) as op:
            _require_admin(actor)
            info = self._accounts.create(username, role=role, password=password)
            op.done(info.id, role=info.role.value)
        return info

    def list_users(self, actor: Principal, *, limit: int = 100, offset: int = 0) -> Page[UserInfo]:
        _require_admin(actor)
        return self._accounts.listing(limit=limit, offset=offset)

    def get_user(self, actor: Principal, username: str) -> UserInfo:
        _require_admin(actor)
        return self._accounts.get(username)

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
            info = self._accounts.update(username, role=role, disabled=disabled)
            op.done(info.id, **{k: v for k, v in changes.items() if v is not None})
        return info

    def reset_password(self, actor: Principal, username: str, password: str) -> None:
        """An administrator sets a user's password; the user's sessions and tokens end."""
        with self._account_op("user.password_reset", actor, None, {"username": username[:128]}):
            _require_admin(actor)
            self._accounts.reset_password(username, password)
        self._forget_initial_password(username)

    def _account_op(
        self,
        action: str,
        actor: Principal,
        target_id: str | None,
        detail: dict[str, Any] | None = None,
        *,
        kind: str = "user",
    ) -> AbstractContextManager[AuditedOperation]:
        return account_operation(
            self._audit, self._tokens, action, actor, target_id, detail, kind=kind
        )

    def known_user(self, username: str) -> str:
        """The user's stored name (grants and memberships name existing users only;
        USER_NOT_FOUND otherwise)."""
        return self._accounts.get(username).username

    def user_name(self, username: str) -> str:
        """The stored spelling of a user name, or the name as given when no user has it."""
        try:
            return self.known_user(username)
        except NotFound:
            return username

    def _forget_initial_password(self, username: str) -> None:
        """The first-start password file is stale once ``admin`` has another password."""
        if username_key(username) == "admin":
            (self._settings.data_dir / INITIAL_PASSWORD_FILE).unlink(missing_ok=True)


@contextmanager
def account_operation(
    audit: AuditLog,
    tokens: ApiTokens,
    action: str,
    actor: Principal,
    target_id: str | None,
    detail: dict[str, Any] | None = None,
    *,
    kind: str = "user",
) -> Iterator[AuditedOperation]:
    """An audited change to accounts or groups; a principal remembered for a token is
    forgotten afterwards, since it may have changed with it."""
    op = AuditedOperation(
        audit, action, actor, detail or {}, target_type=kind, connection_target=False
    )
    op.done(target_id)
    try:
        with op:
            yield op
    finally:
        tokens.forget()


def _user_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden(
            "The local command line acts without an account; log in as a user for this."
        )
    return principal.user_id


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise AdminRequired("Only an administrator can manage users.")
