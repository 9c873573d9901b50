"""Liveness, readiness and Prometheus metrics (outside /api/v1)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from querydeck.api.deps import WorkbenchDep
from querydeck.api.schemas import Health
from querydeck.errors import Unauthenticated

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """The process is up. (On the event loop: nothing here blocks, and a liveness probe
    that needed a free worker thread would fail exactly when the threads are busy.)"""
    return Health(status="ok")


@router.get("/readyz")
def readyz(workbench: WorkbenchDep) -> Health:
    """querydeck's own database answers (503 APP_DB_UNAVAILABLE otherwise)."""
    workbench.ready()
    return Health(status="ready")


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, workbench: WorkbenchDep) -> Response:
    """Prometheus metrics; with ``metrics_token`` set, only for a bearer of that token."""
    token = workbench.settings.metrics_token
    if token is not None:
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.encode(), expected):
            raise Unauthenticated("/metrics needs the metrics token (Authorization: Bearer).")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
