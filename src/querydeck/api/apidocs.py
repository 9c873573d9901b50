"""The API reference at ``/api/docs``: Swagger UI served from the package itself.

FastAPI's default page loads Swagger UI's script and stylesheet from a CDN, which a
firewalled install cannot reach (the page stayed blank). The files of the official
``swagger-ui-dist`` release are vendored in ``swagger_ui/`` next to this module, with
their licence (``LICENSE``, ``NOTICE``, ``swagger-ui-bundle.js.LICENSE.txt``); the page
names only paths of this origin, so its Content-Security-Policy (derived from the page by
``hardening.SecurityHeaders``) allows nothing else. ReDoc is not served.

To update Swagger UI: ``npm pack swagger-ui-dist@5`` and copy the files listed in
:data:`ASSETS` (and the licence files) from its ``package/`` folder.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse

#: The vendored Swagger UI release.
SWAGGER_UI_DIR = Path(__file__).resolve().parent / "swagger_ui"
SWAGGER_UI_VERSION = "5.36.0"
DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
#: The files the page loads, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
#: The version is in each asset's URL, so a new release is fetched at once.
_CACHE = "public, max-age=86400"


def asset_url(name: str) -> str:
    return f"{ASSETS_PATH}/{name}?v={SWAGGER_UI_VERSION}"


def install(app: FastAPI, *, openapi_url: str, title: str) -> list[str]:
    """Add the page and its assets to ``app``; returns the HTML pages' paths (for their
    Content-Security-Policy)."""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API reference",
            swagger_js_url=asset_url("swagger-ui-bundle.js"),
            swagger_css_url=asset_url("swagger-ui.css"),
            swagger_favicon_url=asset_url("favicon-32x32.png"),
        )

    @app.get(f"{ASSETS_PATH}/{{name}}", include_in_schema=False)
    async def swagger_ui_asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:  # only the listed files: no path reaches the disk
            raise HTTPException(404, "No such file of the API reference.")
        return FileResponse(
            SWAGGER_UI_DIR / name, media_type=media_type, headers={"cache-control": _CACHE}
        )

    return [DOCS_PATH]


__all__ = ["ASSETS", "DOCS_PATH", "SWAGGER_UI_DIR", "SWAGGER_UI_VERSION", "asset_url", "install"]
