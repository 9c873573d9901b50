"""The HTTP API: ``create_app(workbench)`` builds the FastAPI application; its reference
page ``/api/docs`` is Swagger UI served from ``swagger_ui/`` in the package (``apidocs``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.types import Scope

from querydeck import __version__
from querydeck.api import apidocs, errors, hardening, webui
from querydeck.api.auth import current_principal
from querydeck.api.middleware import RequestContext
from querydeck.api.openapi import document_security
from querydeck.api.routes import (
    assistant,
    audit,
    auth,
    catalog,
    connections,
    grants,
    health,
    result_views,
    runs,
    users,
)
from querydeck.api.routes import certificates as certificate_routes
from querydeck.api.routes import preferences as preference_routes
from querydeck.api.routes import results as run_results
from querydeck.api.routes import saved as saved_queries
from querydeck.api.routes import uploads as upload_routes
from querydeck.api.schemas import ERROR_RESPONSES
from querydeck.app.workbench import Workbench
from querydeck.runs import metrics as run_metrics

API_PREFIX = "/api/v1"


def create_app(workbench: Workbench, *, web_root: Path | None = None) -> FastAPI:
    """The API and, at every other path, the web UI built in ``web_root`` (default: the
    one inside the package)."""
    app = FastAPI(
        title="querydeck",
        version=__version__,
        description="Connections, safe read-only SQL, runs and history.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served from the package by apidocs (FastAPI's page uses a CDN)
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.workbench = workbench
    run_metrics.enable()  # the runs' metrics, on /metrics
    errors.install(app)
    pages = apidocs.install(app, openapi_url=f"{API_PREFIX}/openapi.json", title=app.title)
    hardening.install(app, workbench.settings, api_prefix=API_PREFIX, pages=pages)
    app.add_middleware(RequestContext)
    # Public: health, readiness, metrics and the login. Everything else authenticates.
    # Routers are matched in this order, one route after another: the runs and their
    # results (the busiest paths) come first.
    app.include_router(health.router)
    authenticated = [Depends(current_principal)]
    for router in (runs.router, run_results.router, result_views.router):
        app.include_router(
            router, prefix=API_PREFIX, responses=ERROR_RESPONSES, dependencies=authenticated
        )
    app.include_router(auth.login_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for router in (
        auth.router,
        users.router,
        connections.router,
        catalog.router,
        saved_queries.router,
        certificate_routes.router,
        grants.router,
        preference_routes.router,
        audit.router,
        upload_routes.router,
        assistant.router,
    ):
        app.include_router(
            router, prefix=API_PREFIX, responses=ERROR_RESPONSES, dependencies=authenticated
        )
    public = {API_PREFIX + route.path for route in auth.login_router.routes}  # type: ignore[attr-defined]
    document_security(app, public | {route.path for route in health.router.routes})  # type: ignore[attr-defined]
    webui.install(app, web_root)  # answers the paths no route matches
    return app


#: A request no route matches (the path is not an API path).
_NO_ROUTE: Scope = {
    "type": "http",
    "method": "GET",
    "path": "/.querydeck-prepare-routes",
    "root_path": "",
    "query_string": b"",
    "headers": [],
}


def prepare_routes(app: FastAPI) -> None:
    """Offer every route a request none matches, once. FastAPI prepares a router's routes
    (parameter models, dependencies) on the first match attempt; a server calls this before
    it listens, or the first request after a start would pay for it (about 0.2 s). An app
    built for a few requests (a test's) is left to prepare what those requests reach."""
    for route in app.router.routes:
        route.matches(dict(_NO_ROUTE))


__all__ = ["API_PREFIX", "create_app", "prepare_routes"]
