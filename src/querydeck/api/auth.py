"""Authentication dependencies (placeholder until the accounts branch lands)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from querydeck.auth.principal import Principal
from querydeck.errors import Forbidden, Unauthenticated


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("Log in or send an API token.")
    return principal


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Only an administrator can do this.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
