"""/api/v1/connections/{name}/catalog…, /tables/{schema}/{table} and /api/v1/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.store.pages import Page

router = APIRouter(tags=["catalog"])


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_name: str | None = Field(
        default=None, max_length=20_000, description="Refresh only this schema."
    )


@router.get("/connections/{name}/catalog")
def catalog_level(
    name: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    path: Annotated[
        str, Query(max_length=40_000, description="'' (schemas), schema, or schema.table.")
    ] = "",
    limit: Limit = 100,
    offset: Offset = 0,
) -> CatalogLevel:
    """One level of the cached catalog (read on first use)."""
    return workbench.catalog.level(name, path, limit=limit, offset=offset, actor=principal)


@router.post("/connections/{name}/catalog/refresh")
def refresh_catalog(
    name: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    body: RefreshRequest | None = None,
) -> RefreshReport:
    """Read the catalog again (every wanted schema, or one) and report what changed."""
    return workbench.catalog.refresh(name, body.schema_name if body else None, actor=principal)


@router.get("/connections/{name}/catalog/settings")
def get_catalog_settings(
    name: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> CatalogSettings:
    return workbench.catalog.settings(name, actor=principal)


@router.put("/connections/{name}/catalog/settings")
def put_catalog_settings(
    name: str, body: CatalogSettings, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> CatalogSettings:
    """Schema include/exclude glob patterns and the refresh timeout of this connection."""
    return workbench.catalog.set_settings(name, body, actor=principal)


@router.get("/connections/{name}/tables/{schema}/{table:path}")
def table_detail(
    name: str,
    schema: str,
    table: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    preview: Annotated[int, Query(ge=0, le=1000, description="First rows to include.")] = 0,
) -> TableDetail:
    """A relation with columns, keys, indexes, generated DDL and optionally its first rows."""
    return workbench.catalog.table_detail(
        name, schema, table, preview_rows=preview, actor=principal
    )


@router.get("/search")
def search(
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> Page[SearchHit]:
    """Tables, views and columns of every connection, best match first."""
    return workbench.catalog.search(q, limit=limit, offset=offset, actor=principal)
