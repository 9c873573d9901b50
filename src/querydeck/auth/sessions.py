"""Login sessions: the browser's cookie is an opaque random secret; only its SHA-256 is
stored (as the session's id), with a CSRF token the session's state-changing requests must
carry.

A session ends at the first of: its absolute expiry (``session_absolute_hours`` after the
login), ``session_idle_minutes`` without a request, logout, a password change (the user's
other sessions), an admin's password reset or the user being disabled. ``last_seen_at`` is
written at most once a minute, so a busy session does not cost a write per request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from querydeck.auth.models import LoginResult, UserInfo
from querydeck.auth.principal import Principal, Role
from querydeck.errors import Unauthenticated
from querydeck.store.database import AppDatabase
from querydeck.store.plain import utcnow
from querydeck.store.tables import LoginSessionRow, UserRow

#: ``last_seen_at`` (and a token's ``last_used_at``) is written at most this often.
TOUCH_INTERVAL = timedelta(minutes=1)
#: Longer cookie values or tokens are not looked up at all.
MAX_SECRET_CHARS = 200
USER_AGENT_CHARS = 200
ADDRESS_CHARS = 64


def digest(secret: str) -> str:
    """SHA-256 hex of a secret: what is stored instead of it."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def principal_of(
    user: UserRow, *, via: str, credential_id: str | None, address: str | None
) -> Principal:
    """The principal of an authenticated user; ``credential_id`` is the API token's id or
    the session's id (the SHA-256 of its cookie, not the cookie)."""
    return Principal(
        username=user.username,
        role=Role(user.role),
        user_id=user.id,
        via=via,
        token_id=credential_id,
        address=address,
    )


def end_sessions(tx: Session, user_id: str, *, keep: str | None = None) -> None:
    """Delete a user's login sessions (all but ``keep``) inside the caller's transaction."""
    statement = delete(LoginSessionRow).where(LoginSessionRow.user_id == user_id)
    if keep is not None:
        statement = statement.where(LoginSessionRow.id != keep)
    tx.execute(statement)


def _clip(value: str | None, chars: int) -> str | None:
    if not value:
        return None
    return "".join(c if c.isprintable() else "?" for c in value[:chars])


class LoginSessions:
    """Login sessions over the app database."""

    def __init__(self, db: AppDatabase, *, idle_minutes: int, absolute_hours: float) -> None:
        self._db = db
        self.idle = timedelta(minutes=idle_minutes)
        self.absolute = timedelta(hours=absolute_hours)

    def start(self, user: UserInfo, *, address: str | None, user_agent: str | None) -> LoginResult:
        """A new session for ``user`` (whose password was just verified); expired sessions
        of every user are removed on the way."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + self.absolute

        def insert(tx: Session) -> None:
            tx.execute(
                delete(LoginSessionRow).where(
                    or_(
                        LoginSessionRow.expires_at <= now,
                        LoginSessionRow.last_seen_at <= now - self.idle,
                    )
                )
            )
            tx.add(
                LoginSessionRow(
                    id=digest(secret),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                    address=_clip(address, ADDRESS_CHARS),
                    user_agent=_clip(user_agent, USER_AGENT_CHARS),
                )
            )

        self._db.write(insert)
        return LoginResult(session_secret=secret, csrf_token=csrf, expires_at=expires, user=user)

    def expired(self, row: LoginSessionRow, now: datetime) -> bool:
        return now >= row.expires_at or now >= row.last_seen_at + self.idle

    def authenticate(
        self, cookie_value: str, *, address: str | None = None
    ) -> tuple[Principal, str]:
        """The principal and CSRF token of a live session; :class:`Unauthenticated` for
        anything else (unknown, forged, expired, ended, a disabled user)."""
        if not cookie_value or len(cookie_value) > MAX_SECRET_CHARS:
            raise _unknown()
        session_id = digest(cookie_value)
        with self._db.read() as tx:
            found = tx.execute(
                select(LoginSessionRow, UserRow)
                .join(UserRow, UserRow.id == LoginSessionRow.user_id)
                .where(LoginSessionRow.id == session_id)
            ).first()
        if found is None:
            raise _unknown()
        row, user = found
        now = utcnow()
        if user.disabled:
            raise _unknown()
        if self.expired(row, now):
            self._db.write(
                lambda s: s.execute(delete(LoginSessionRow).where(LoginSessionRow.id == row.id))
            )
            raise Unauthenticated(
                "Your session has expired; log in again.", detail={"reason": "expired"}
            )
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            self._db.write(
                lambda s: s.execute(
                    update(LoginSessionRow)
                    .where(LoginSessionRow.id == row.id)
                    .values(last_seen_at=now)
                )
            )
        principal = principal_of(user, via="session", credential_id=row.id, address=address)
        return principal, row.csrf_token

    def end(self, session_id: str) -> None:
        """Log a session out (nothing happens when it is already gone)."""
        self._db.write(
            lambda s: s.execute(delete(LoginSessionRow).where(LoginSessionRow.id == session_id))
        )


def _unknown() -> Unauthenticated:
    return Unauthenticated("Log in first: no valid session or API token was sent.")
