"""/api/v1/auth and /api/v1/me/tokens: logging in and out, one's own account, password and
personal API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import (
    CSRF_HEADER,
    CurrentPrincipal,
    check_origin,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.auth.models import TokenInfo, UserInfo
from querydeck.store.pages import Page

#: Answers that carry a secret (session, CSRF token, API token) are never cached.
NO_STORE = "no-store"
#: Public: the login itself.
login_router = APIRouter(tags=["auth"])
#: Everything else here needs an authenticated principal.
router = APIRouter(tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class LoginView(BaseModel):
    user: UserInfo
    csrf_token: str = Field(
        description=f"Send it as {CSRF_HEADER} with every POST, PUT, PATCH and DELETE made "
        "with the session cookie."
    )
    expires_at: datetime = Field(description="The session's absolute expiry.")


class MeView(BaseModel):
    user: UserInfo
    via: str = Field(description="session or token")
    csrf_token: str | None = Field(default=None, description="The session's CSRF token.")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_days: int | None = Field(
        default=None, ge=1, description="Days until it expires (default: the maximum)."
    )


class NewToken(BaseModel):
    token: TokenInfo
    secret: str = Field(description="The token itself, shown this once: keep it safe.")


@login_router.post("/auth/login", response_model=LoginView)
def login(
    body: LoginRequest, request: Request, response: Response, workbench: WorkbenchDep
) -> LoginView:
    """Log in with a user name and password: sets the HttpOnly ``qd_session`` cookie and
    returns the session's CSRF token. Wrong name or password: 401 LOGIN_FAILED."""
    check_origin(request)
    result = workbench.accounts.login(
        body.username,
        body.password,
        address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )
    set_session_cookie(response, request, workbench, result.session_secret, result.expires_at)
    response.headers["Cache-Control"] = NO_STORE
    return LoginView(user=result.user, csrf_token=result.csrf_token, expires_at=result.expires_at)


@router.post("/auth/logout", status_code=204)
def logout(principal: CurrentPrincipal, request: Request, workbench: WorkbenchDep) -> Response:
    """End this login session and clear its cookie."""
    workbench.accounts.logout(principal)
    response = Response(status_code=204)
    clear_session_cookie(response, request, workbench)
    return response


@router.get("/auth/me", response_model=MeView)
def me(
    principal: CurrentPrincipal, request: Request, response: Response, workbench: WorkbenchDep
) -> MeView:
    """The caller's account, how they authenticated and (sessions) the CSRF token."""
    response.headers["Cache-Control"] = NO_STORE
    return MeView(
        user=workbench.accounts.me(principal),
        via=principal.via,
        csrf_token=getattr(request.state, "csrf_token", None),
    )


@router.post("/auth/password", status_code=204)
def change_password(
    body: PasswordChange, principal: CurrentPrincipal, workbench: WorkbenchDep
) -> Response:
    """Change one's own password; the other login sessions end (tokens stay)."""
    workbench.accounts.change_password(principal, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/me/tokens", response_model=Page[TokenInfo])
def list_tokens(
    principal: CurrentPrincipal, workbench: WorkbenchDep, limit: Limit = 100, offset: Offset = 0
) -> Page[TokenInfo]:
    """The caller's API tokens that are not revoked, newest first."""
    return workbench.accounts.list_tokens(principal, limit=limit, offset=offset)


@router.post("/me/tokens", response_model=NewToken, status_code=201)
def create_token(
    body: TokenCreate, principal: CurrentPrincipal, response: Response, workbench: WorkbenchDep
) -> NewToken:
    """A new personal API token; its secret is in this answer only."""
    info, secret = workbench.accounts.create_token(principal, body.name, body.expires_days)
    response.headers["Cache-Control"] = NO_STORE
    return NewToken(token=info, secret=secret)


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, principal: CurrentPrincipal, workbench: WorkbenchDep) -> Response:
    """Revoke one of the caller's tokens (404 TOKEN_NOT_FOUND for any other id)."""
    workbench.accounts.revoke_token(principal, token_id)
    return Response(status_code=204)
