"""The web UI: the built single-page application served at ``/`` from the API's own origin.

The files come from ``querydeck/web/`` inside the package (built from ``web/`` by
``make run`` and ``make test``; see DEVELOPERS.md). They are listed once when the app is
built, so a request can only ever name one of those files: there is no path to resolve on
disk, hence nothing to traverse. What the UI is answered:

- a listed file under ``/assets/`` (Vite names them by a hash of their content): cached
  for a year, ``immutable``; a ``.gz`` twin made by the build is sent to a client that
  accepts gzip;
- any other path that is not the API's (``/``, ``/history``, ``/runs/abc``...): the
  application's ``index.html``, never cached, so that a client-side route survives a reload
  and a new build is picked up at once;
- an unknown path under ``/assets/`` or ``/api/``: the API's 404 error envelope (a missing
  script must not come back as HTML).

Every UI answer carries :data:`UI_CSP`: scripts, styles, fonts, images and fetches from
this origin only, nothing from outside. When the UI was not built, ``/`` answers a plain
page that says how to build it (the API works without it).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

#: Where ``vite build`` puts the UI inside the package.
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "web"
ASSETS = "/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: The UI's policy: its own origin for everything, inline styles (CodeMirror and Vega
#: insert style elements; without 'unsafe-inline' Chromium blocks them), data: and blob:
#: images (chart downloads); no eval (Vega runs its expression interpreter, not compiled
#: functions).
UI_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
NOT_BUILT_CSP = "default-src 'none'; frame-ancestors 'none'"
NOT_BUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>querydeck: the web UI is not built</title>
</head><body><main>
<h1>The web UI is not built</h1>
<p>This querydeck server answers its API at <code>/api/v1</code>
(reference: <a href="/api/docs">/api/docs</a>), but its web UI was not built into the
package.</p>
<p>From a source checkout, <code>make run</code> builds it and serves it; or build it once
with <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> and restart the server.</p>
</main></body></html>
"""


@dataclass(frozen=True)
class _File:
    path: Path
    media_type: str
    gzipped: Path | None


def _media_type(path: Path) -> str:
    if path.suffix in (".js", ".mjs"):
        return "text/javascript; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def listing(directory: Path) -> dict[str, _File]:
    """URL path -> file for every file of a built UI (``.gz`` twins attached, not listed)."""
    files: dict[str, _File] = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix == ".gz" or path.name.startswith("."):
            continue
        twin = path.with_name(path.name + ".gz")
        url = "/" + path.relative_to(directory).as_posix()
        files[url] = _File(path, _media_type(path), twin if twin.is_file() else None)
    return files


def _accepts_gzip(request: Request) -> bool:
    accepted = request.headers.get("accept-encoding", "")
    return any(part.split(";")[0].strip() == "gzip" for part in accepted.split(","))


class WebUI:
    """Answers the UI's paths from one built directory (listed once)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        index = directory / "index.html"
        self.files = listing(directory) if index.is_file() else {}
        self.index = self.files.get("/index.html")

    @property
    def built(self) -> bool:
        return self.index is not None

    def answer(self, request: Request) -> Response:
        path = request.url.path
        if path == "/api" or path.startswith("/api/"):  # the API's namespace
            raise HTTPException(404, "No such API path.")
        if self.index is None:
            return HTMLResponse(
                NOT_BUILT_PAGE,
                status_code=503,
                headers={"content-security-policy": NOT_BUILT_CSP, "cache-control": "no-store"},
            )
        found = self.files.get(path)
        if found is None and path.startswith(ASSETS):
            raise HTTPException(404, "No such file of the web UI.")
        if found is None or found is self.index:
            return self._file(request, self.index, REVALIDATE)
        cache = IMMUTABLE if path.startswith(ASSETS) else REVALIDATE
        return self._file(request, found, cache)

    @staticmethod
    def _file(request: Request, found: _File, cache: str) -> Response:
        headers = {"cache-control": cache, "content-security-policy": UI_CSP}
        source = found.path
        if found.gzipped is not None:
            headers["vary"] = "Accept-Encoding"
            if _accepts_gzip(request):
                source = found.gzipped
                headers["content-encoding"] = "gzip"
        return FileResponse(source, media_type=found.media_type, headers=headers)


def install(app: FastAPI, directory: Path | None = None) -> WebUI:
    """Answer the UI at every GET or HEAD path that no route of the API matches: the
    router's default (its "not found") is replaced, so the API's routes, their 404s and
    405s are exactly what they were."""
    ui = WebUI(directory or PACKAGE_DIR)
    not_found = app.router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await not_found(scope, receive, send)
            return
        response = ui.answer(Request(scope, receive))
        await response(scope, receive, send)

    app.router.default = default
    app.state.web_ui = ui
    return ui


__all__ = ["IMMUTABLE", "PACKAGE_DIR", "UI_CSP", "WebUI", "install", "listing"]
