"""Personal API tokens for scripts and the CLI (``Authorization: Bearer qdt_...``).

A token is ``qdt_`` and 43 random URL-safe characters (256 bits). It is shown once, when it
is made; the database keeps its SHA-256 (looked up by equality, so any other string —
JWT-looking or not — is simply unknown), a short prefix to recognise it by in lists, its
name, expiry (at most ``token_max_days``) and when it was last used (written at most once a
minute). Revoked tokens stay as rows but are never listed or accepted again.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from querydeck.auth.models import TokenInfo
from querydeck.auth.principal import Principal
from querydeck.auth.sessions import MAX_SECRET_CHARS, TOUCH_INTERVAL, digest, principal_of
from querydeck.errors import (
    TokenExpiryInvalid,
    TokenNameInvalid,
    TokenNotFound,
    Unauthenticated,
)
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.store.tables import ApiTokenRow, UserRow
from querydeck.text import bidi_controls

TOKEN_PREFIX = "qdt_"  # noqa: S105 (the marker of a token)
#: Characters of the secret kept in clear to recognise a token by (``qdt_`` + 8).
SHOWN_CHARS = 12
#: A token's principal is remembered this many seconds after its check: a burst of calls
#: with one token reads the database once. Changes to users, tokens and groups made in this
#: process forget it at once; made in another process (a CLI, another worker) they are
#: seen within this time.
REMEMBER_S = 1.0
REMEMBERED_TOKENS = 4096
NAME_CHARS = 100


def revoke_tokens(tx: Session, user_id: str) -> None:
    """Revoke every live token of a user inside the caller's transaction."""
    tx.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _name(value: str) -> str:
    name = unicodedata.normalize("NFC", value).strip()
    if (
        not name
        or len(name) > NAME_CHARS
        or any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in name)
        or bidi_controls(name)
    ):
        raise TokenNameInvalid(
            f"A token's name has 1 to {NAME_CHARS} characters and no control characters "
            "or bidirectional overrides.",
        )
    return name


def _info(row: ApiTokenRow, now: datetime) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        expired=now >= row.expires_at,
    )


class ApiTokens:
    """Personal API tokens over the app database."""

    def __init__(self, db: AppDatabase, *, max_days: int) -> None:
        self._db = db
        self.max_days = max_days
        #: Called with the principal when a token's last-used time is refreshed (at most
        #: once a minute per token): the Workbench audits token use there.
        self.on_use: Callable[[Principal], None] | None = None
        #: Token digest -> (remembered until (monotonic), the token's expiry, principal).
        self._known: dict[str, tuple[float, datetime, Principal]] = {}

    def create(
        self, user_id: str, name: str, expires_days: int | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token of ``user_id`` and its secret (the only time it is seen)."""
        label = _name(name)
        days = self.max_days if expires_days is None else expires_days
        if not 1 <= days <= self.max_days:
            raise TokenExpiryInvalid(
                f"A token expires after 1 to {self.max_days} days.",
                detail={"max_days": self.max_days},
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = ApiTokenRow(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=label,
            token_hash=digest(secret),
            prefix=secret[:SHOWN_CHARS],
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        self._db.write(lambda s: s.add(row))
        return _info(row, now), secret

    def listing(self, user_id: str, *, limit: int, offset: int) -> Page[TokenInfo]:
        """A user's tokens that are not revoked (expired ones too, flagged), newest first."""
        live = (ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(ApiTokenRow).where(*live))
            rows = tx.scalars(
                select(ApiTokenRow)
                .where(*live)
                .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
        now = utcnow()
        return Page(
            items=[_info(r, now) for r in rows], total=total or 0, limit=limit, offset=offset
        )

    def revoke(self, user_id: str, token_id: str) -> None:
        """Revoke one of the user's tokens; another user's (or an unknown) id is 404."""

        def revoke(tx: Session) -> int:
            result = tx.execute(
                update(ApiTokenRow)
                .where(
                    ApiTokenRow.id == token_id,
                    ApiTokenRow.user_id == user_id,
                    ApiTokenRow.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

        if self._db.write(revoke) == 0:
            raise TokenNotFound(
                "You have no API token with this id.", detail={"token_id": token_id[:64]}
            )

    def remembered(self, bearer: str, *, address: str | None = None) -> Principal | None:
        """The principal of a token checked less than :data:`REMEMBER_S` ago and not expired
        since, without reading the database; None when it must be checked."""
        known = self._known.get(digest(bearer))
        if known is None or time.monotonic() >= known[0] or utcnow() >= known[1]:
            return None
        return dataclasses.replace(known[2], address=address)

    def forget(self) -> None:
        """Forget every remembered principal (users, tokens or groups changed here)."""
        self._known.clear()

    def authenticate(self, bearer: str, *, address: str | None = None) -> Principal:
        """The principal of a live token; :class:`Unauthenticated` for anything else."""
        if not bearer.startswith(TOKEN_PREFIX) or len(bearer) > MAX_SECRET_CHARS:
            raise _unknown()
        known = self.remembered(bearer, address=address)
        if known is not None:
            return known
        with self._db.read() as tx:
            found = tx.execute(
                select(ApiTokenRow, UserRow)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == digest(bearer))
            ).first()
        if found is None:
            raise _unknown()
        row, user = found
        now = utcnow()
        if row.revoked_at is not None or user.disabled:
            raise _unknown()
        if now >= row.expires_at:
            raise Unauthenticated(
                "This API token has expired; create a new one.", detail={"reason": "expired"}
            )
        principal = principal_of(user, via="token", credential_id=row.id, address=address)
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
            self._db.write(
                lambda s: s.execute(
                    update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_at=now)
                )
            )
            if self.on_use is not None:
                self.on_use(principal)
        if len(self._known) >= REMEMBERED_TOKENS:
            self._known.clear()
        self._known[digest(bearer)] = (time.monotonic() + REMEMBER_S, row.expires_at, principal)
        return principal


def _unknown() -> Unauthenticated:
    return Unauthenticated("The API token is not valid (unknown, revoked or malformed).")
