"""/api/v1/saved-queries: saved queries (CRUD) and running one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.api.responses import OrjsonResponse
from querydeck.api.routes.runs import _raise_if_failed, _view
from querydeck.api.schemas import MAX_WAIT_MS, RunView
from querydeck.runs.models import SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.store.pages import Page

router = APIRouter(tags=["saved queries"])


class SavedRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str | None = Field(default=None, description="Overrides the saved one.")
    max_rows: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    wait_ms: int = Field(default=2000, ge=0, le=MAX_WAIT_MS)
    page_size: int = Field(default=500, ge=1, le=10_000)


@router.get("/saved-queries", response_model=Page[SavedQuery])
def list_saved(
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    limit: Limit = 100,
    offset: Offset = 0,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    favourite: bool | None = None,
    q: Annotated[str | None, Query(max_length=1000)] = None,
) -> Page[SavedQuery]:
    """Saved queries, favourites first, then by name."""
    return workbench.saved.listing(
        limit=limit, offset=offset, tag=tag, favourite=favourite, text=q, actor=principal
    )


@router.post("/saved-queries", response_model=SavedQuery, status_code=201)
def create_saved(
    body: SavedQueryInput, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> SavedQuery:
    return workbench.saved.create(body, actor=principal)


@router.get("/saved-queries/{ref}", response_model=SavedQuery)
def get_saved(ref: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> SavedQuery:
    """A saved query by id (or by name)."""
    return workbench.saved.get(ref, actor=principal)


@router.patch("/saved-queries/{ref}", response_model=SavedQuery)
def update_saved(
    ref: str, body: SavedQueryChanges, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> SavedQuery:
    """Change some fields; ``"connection": null`` removes the default connection."""
    return workbench.saved.update(ref, body, actor=principal)


@router.delete("/saved-queries/{ref}", status_code=204)
def delete_saved(ref: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> Response:
    workbench.saved.delete(ref, actor=principal)
    return Response(status_code=204)


@router.post(
    "/saved-queries/{ref}/run",
    response_model=RunView,
    responses={202: {"model": RunView, "description": "Still running."}},
)
def run_saved(
    ref: str, workbench: WorkbenchDep, principal: CurrentPrincipal, body: SavedRun | None = None
) -> OrjsonResponse:
    """Run a saved query; answers like ``POST /runs``."""
    body = body or SavedRun()
    run_id = workbench.saved.run(
        ref,
        connection=body.connection,
        max_rows=body.max_rows,
        timeout_s=body.timeout_s,
        actor=principal,
    )
    run = workbench.runs.wait(run_id, body.wait_ms / 1000)
    _raise_if_failed(run)
    status = 200 if run.status.finished else 202
    return OrjsonResponse(
        _view(workbench, run, body.page_size, waited=True).model_dump(mode="json"),
        status_code=status,
    )
