"""/api/v1/users: accounts, for administrators (403 FORBIDDEN for everyone else)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import AdminPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.auth.models import UserInfo
from querydeck.auth.principal import Role
from querydeck.store.pages import Page

router = APIRouter(tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role = Role.analyst
    password: str = Field(min_length=1, max_length=1024)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = Field(
        default=None, description="true ends the user's sessions and revokes their tokens."
    )


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


@router.get("/users", response_model=Page[UserInfo])
def list_users(
    actor: AdminPrincipal, workbench: WorkbenchDep, limit: Limit = 100, offset: Offset = 0
) -> Page[UserInfo]:
    """Every user, disabled ones too, by name."""
    return workbench.accounts.list_users(actor, limit=limit, offset=offset)


@router.post("/users", response_model=UserInfo, status_code=201)
def create_user(body: UserCreate, actor: AdminPrincipal, workbench: WorkbenchDep) -> UserInfo:
    return workbench.accounts.create_user(
        actor, body.username, role=body.role, password=body.password
    )


@router.get("/users/{username}", response_model=UserInfo)
def get_user(username: str, actor: AdminPrincipal, workbench: WorkbenchDep) -> UserInfo:
    return workbench.accounts.get_user(actor, username)


@router.patch("/users/{username}", response_model=UserInfo)
def update_user(
    username: str, body: UserChange, actor: AdminPrincipal, workbench: WorkbenchDep
) -> UserInfo:
    """Change the role and/or disable (or enable) the user."""
    return workbench.accounts.update_user(actor, username, role=body.role, disabled=body.disabled)


@router.post("/users/{username}/password", status_code=204)
def reset_password(
    username: str, body: PasswordReset, actor: AdminPrincipal, workbench: WorkbenchDep
) -> Response:
    """Set the user's password; their sessions and API tokens end."""
    workbench.accounts.reset_password(actor, username, body.password)
    return Response(status_code=204)
