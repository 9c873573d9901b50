"""/api/v1/groups and /api/v1/connections/{name}/grants (administrators only)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.auth.grants import GrantInfo, GroupInfo, SubjectKind
from querydeck.auth.principal import Action
from querydeck.store.pages import Page

router = APIRouter(tags=["grants"])


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class GrantSet(BaseModel):
    """What a user or a group may do on the connection (replaces an earlier grant)."""

    model_config = ConfigDict(extra="forbid")

    subject_kind: SubjectKind
    subject: str = Field(min_length=1, max_length=200, description="A user name or group name.")
    actions: list[Action] = Field(
        min_length=1, max_length=4, description="browse is implied by any other action."
    )


@router.get("/groups")
def list_groups(
    workbench: WorkbenchDep, principal: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0
) -> Page[GroupInfo]:
    return workbench.grants.list_groups(limit=limit, offset=offset, actor=principal)


@router.post("/groups", status_code=201)
def create_group(
    body: GroupCreate, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> GroupInfo:
    return workbench.grants.create_group(body.name, actor=principal)


@router.get("/groups/{name}")
def get_group(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> GroupInfo:
    return workbench.grants.get_group(name, actor=principal)


@router.delete("/groups/{name}", status_code=204)
def delete_group(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> Response:
    """Remove a group and the grants it held."""
    workbench.grants.delete_group(name, actor=principal)
    return Response(status_code=204)


@router.put("/groups/{name}/members/{username}")
def add_member(
    name: str, username: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> GroupInfo:
    return workbench.grants.add_group_member(name, username, actor=principal)


@router.delete("/groups/{name}/members/{username}")
def remove_member(
    name: str, username: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> GroupInfo:
    return workbench.grants.remove_group_member(name, username, actor=principal)


@router.get("/connections/{name}/grants")
def list_grants(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> list[GrantInfo]:
    return workbench.grants.list_grants(name, actor=principal)


@router.put("/connections/{name}/grants")
def set_grant(
    name: str, body: GrantSet, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> GrantInfo:
    return workbench.grants.grant(
        name, body.subject_kind, body.subject, body.actions, actor=principal
    )


@router.delete("/connections/{name}/grants/{subject_kind}/{subject}", status_code=204)
def revoke_grant(
    name: str,
    subject_kind: SubjectKind,
    subject: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
) -> Response:
    """Remove a grant; it holds from the next request on."""
    workbench.grants.revoke(name, subject_kind, subject, actor=principal)
    return Response(status_code=204)
