"""/api/v1/connections and /api/v1/drivers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.api.schemas import ConnectionCreate, ConnectionRename, ConnectionUpdate
from querydeck.sources.models import ConnectionInfo, DriverInfo, TestResult
from querydeck.store.pages import Page

router = APIRouter()


@router.get("/drivers", tags=["drivers"])
def list_drivers(workbench: WorkbenchDep, principal: CurrentPrincipal) -> list[DriverInfo]:
    """Installed drivers with their options' JSON schema."""
    return workbench.connections.drivers()


@router.get("/drivers/{name}", tags=["drivers"])
def get_driver(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> DriverInfo:
    return workbench.connections.driver(name)


@router.get("/connections", tags=["connections"])
def list_connections(
    workbench: WorkbenchDep, principal: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0
) -> Page[ConnectionInfo]:
    return workbench.connections.listing(limit=limit, offset=offset, actor=principal)


@router.post("/connections", status_code=201, tags=["connections"])
def create_connection(
    body: ConnectionCreate, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ConnectionInfo:
    """Register a connection from a driver and options, or from a pasted URL. It is
    connected to and pinged first (``"test": false`` skips that): a wrong password, an
    unknown host, a closed port or an unknown database is the error answer and nothing is
    saved. The test's outcome is the connection's ``status``."""
    return workbench.connections.create(
        body.name,
        driver=body.driver,
        url=body.url,
        options=body.options,
        allow_privileged=body.allow_privileged,
        test=body.test,
        actor=principal,
    )


@router.get("/connections/{name}", tags=["connections"])
def get_connection(
    name: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ConnectionInfo:
    return workbench.connections.get(name, actor=principal)


@router.patch("/connections/{name}", tags=["connections"])
def update_connection(
    name: str, body: ConnectionUpdate, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ConnectionInfo:
    return workbench.connections.update(
        name, body.options, allow_privileged=body.allow_privileged, actor=principal
    )


@router.post("/connections/{name}/rename", tags=["connections"])
def rename_connection(
    name: str, body: ConnectionRename, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ConnectionInfo:
    return workbench.connections.rename(name, body.name, actor=principal)


@router.delete("/connections/{name}", status_code=204, tags=["connections"])
def delete_connection(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> Response:
    workbench.connections.delete(name, actor=principal)
    return Response(status_code=204)


@router.post("/connections/{name}/test", tags=["connections"])
def test_connection(name: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> TestResult:
    """Connect and ping; the outcome is also kept as the connection's status."""
    return workbench.connections.test(name, actor=principal)
