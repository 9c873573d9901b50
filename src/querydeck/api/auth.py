"""Who is calling: the ``current_principal`` dependency every authenticated route uses.

A request authenticates with ``Authorization: Bearer qdt_...`` (a personal API token),
else with the ``qd_session`` cookie of a login. A cookie-authenticated request that can
change something (POST, PUT, PATCH, DELETE) must also carry the session's CSRF token in
``X-CSRF-Token`` and, when it has an ``Origin`` (else a ``Referer``) header, come from this
server's own origin; otherwise it is refused with 403 CSRF_FAILED. Bearer requests need no
CSRF token: a browser never adds that header on its own.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal
from querydeck.errors import AdminRequired, CsrfFailed, Unauthenticated

SESSION_COOKIE = "qd_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not host or port is None:
        return None
    return scheme, host, port


def check_origin(request: Request) -> None:
    """When the browser says where the request comes from (``Origin``, else ``Referer``),
    it must be this server's own origin or one of the CORS allow-list (a UI served from
    there still needs the session's CSRF token)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return
    own = _origin(str(request.base_url))
    origin = _origin(claimed)
    settings = request.app.state.workbench.settings
    allowed = {_origin(o) for o in settings.cors_allowed_origins}
    if own is None or origin is None or (origin != own and origin not in allowed):
        raise CsrfFailed(
            "The request comes from another site (its Origin or Referer is not this "
            "server's); it was refused."
        )


def _check_csrf(request: Request, expected: str) -> None:
    if request.method.upper() in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed(
            f"A request made with the session cookie needs the {CSRF_HEADER} header with the "
            "session's CSRF token (returned by the login and by GET /api/v1/auth/me)."
        )
    check_origin(request)


async def current_principal(request: Request) -> Principal:
    """The authenticated principal of the request (401 UNAUTHENTICATED, 403 CSRF_FAILED),
    also kept on ``request.state.principal``."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    workbench: Workbench = request.app.state.workbench
    address = client_address(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <API token>'.")
        secret = value.strip()
        # A token checked a moment ago is answered here; else the database is read in a
        # worker thread, off the event loop.
        remembered = workbench.tokens.remembered(secret, address=address)
        if remembered is not None:
            principal = remembered
        else:
            principal = await run_in_threadpool(
                workbench.accounts.authenticate_token, secret, address=address
            )
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("Log in first: no session cookie or API token was sent.")
        principal, csrf = await run_in_threadpool(
            workbench.accounts.authenticate_session, cookie, address=address
        )
        _check_csrf(request, csrf)
        request.state.csrf_token = csrf
    request.state.principal = principal
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise AdminRequired("Only an administrator can do this.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]


def cookie_secure(request: Request, workbench: Workbench) -> bool:
    forced = workbench.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, workbench: Workbench, value: str, expires: datetime
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        expires=expires,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, workbench),
    )


def clear_session_cookie(response: Response, request: Request, workbench: Workbench) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, workbench),
    )
