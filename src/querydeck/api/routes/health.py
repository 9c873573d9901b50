"""Liveness, readiness and Prometheus metrics (outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from querydeck.api.deps import WorkbenchDep
from querydeck.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz")
def readyz(workbench: WorkbenchDep) -> Health:
    """querydeck's own database answers (503 APP_DB_UNAVAILABLE otherwise)."""
    workbench.ready()
    return Health(status="ready")


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
