"""The values the account services hand to the Workbench's shells: users, API tokens and
the outcome of a login. Plain pydantic models (and one dataclass that holds a secret)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from pydantic import BaseModel, Field

from querydeck.auth.principal import Role


class UserInfo(BaseModel):
    """An account as shown to people (never its password hash)."""

    id: str
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None = None


class TokenInfo(BaseModel):
    """A personal API token as listed: its secret is shown once, at creation, never again."""

    id: str
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(
        default=None, description="Updated at most once a minute."
    )
    expired: bool


@dataclasses.dataclass(frozen=True, slots=True)
class LoginResult:
    """A new login session: ``session_secret`` is the cookie value (shown to nobody else,
    stored only as its SHA-256), ``csrf_token`` must accompany the session's
    state-changing requests."""

    session_secret: str = dataclasses.field(repr=False)
    csrf_token: str = dataclasses.field(repr=False)
    expires_at: datetime
    user: UserInfo
