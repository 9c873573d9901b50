"""HTTP hardening as pure ASGI middleware: request body limits, JSON depth, security headers
and CORS.

- :class:`BodyLimits` answers 413 ``PAYLOAD_TOO_LARGE`` for a body over
  ``max_request_bytes`` (an upload's: ``upload_max_bytes`` and room for the framing): at
  once when Content-Length says so (nothing is read), else as soon as the received bytes
  pass the limit (nothing more is read). A JSON body (or one
  without a content type, which a route may still parse as JSON) is read up to the limit, scanned
  for its nesting depth (400 ``JSON_TOO_DEEP`` beyond ``max_json_depth``) and replayed to
  the application.
  The whole body must arrive within ``request_body_timeout_s`` of the request's start
  (an upload's: ten times that), else 408 ``REQUEST_BODY_TIMEOUT`` and the connection is
  closed: a client trickling or stalling its body cannot hold a connection.
- :class:`SecurityHeaders` adds ``nosniff``, ``DENY`` framing, ``no-referrer``, a strict
  Content-Security-Policy (the API answers JSON only), ``Cache-Control: no-store`` under
  /api/v1 and HSTS over https. The Swagger UI page gets a policy derived from its own
  HTML: its exact script and stylesheet URLs and the hash of its inline script.
- CORS is off unless ``cors_allowed_origins`` lists exact origins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections.abc import Collection
from itertools import accumulate

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from querydeck.api.bodies import too_large
from querydeck.api.errors import envelope
from querydeck.api.routes.uploads import MULTIPART_OVERHEAD
from querydeck.errors import JsonTooDeep, PayloadTooLarge, QueryDeckError, RequestBodyTimeout
from querydeck.settings import Settings

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Content-Type", "Authorization", "X-CSRF-Token", "X-Request-ID")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
_STATIC_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


async def _answer(scope: Scope, receive: Receive, send: Send, error: QueryDeckError) -> None:
    """The API's error envelope (request id included), closing the connection: the rest
    of the body is never read."""
    response = envelope(error.http_status, error.code, error.message, Request(scope), error.detail)
    response.headers["connection"] = "close"
    await response(scope, receive, send)


# --- body size and JSON depth -------------------------------------------------------------


_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = [0] * 256
for _open, _close in ((b"[", b"]"), (b"{", b"}")):
    _DELTA[_open[0]], _DELTA[_close[0]] = 1, -1


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, counting brackets outside
    strings (an unterminated string runs to the end). Linear, and no recursion."""
    encoding = json.detect_encoding(body)
    if encoding not in ("utf-8", "utf-8-sig"):  # RFC 8259 says UTF-8; json.loads takes more
        body = body.decode(encoding, errors="replace").encode("utf-8")
    # Drop escaped backslashes, then escaped quotes: every quote left delimits a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = b"".join(unescaped.split(b'"')[0::2])  # outside strings (an open one included)
    brackets = text.translate(None, _NOT_BRACKET)
    return max(accumulate(map(_DELTA.__getitem__, brackets), initial=0))


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class _BodyTooLarge(Exception):
    """Raised into the application by the counting ``receive`` once the limit is passed."""


class _BodyTooSlow(Exception):
    """Raised into the application by ``receive`` once the body's deadline has passed."""


#: An upload's body may take this many times ``request_body_timeout_s``.
UPLOAD_TIME_FACTOR = 10


class _Deadline:
    """``receive`` with a deadline until the body's last part has arrived (then plain: a
    streamed answer listens for the client leaving for as long as it takes)."""

    def __init__(self, receive: Receive, timeout_s: float) -> None:
        self._receive = receive
        self._until = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self._done = False

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()
        # A timeout on this task (asyncio.wait_for would run the receive as a task of its
        # own: one more task and loop iteration for every request with a body).
        try:
            async with asyncio.timeout(max(self._until - time.monotonic(), 0.0)):
                message = await self._receive()
        except TimeoutError:
            raise _BodyTooSlow from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message

    def error(self) -> RequestBodyTimeout:
        return RequestBodyTimeout(
            f"The request body did not arrive within {self.timeout_s:g} s.",
            detail={"limit_s": self.timeout_s},
        )


class BodyLimits:
    """413 for bodies over ``max_bytes`` (or a path's own limit in ``path_limits``: an
    upload's); 400 ``JSON_TOO_DEEP`` for JSON nested deeper than ``max_json_depth``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_json_depth: int,
        path_limits: dict[str, int] | None = None,
        body_timeout_s: float = 30.0,
        slow_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        #: Paths whose bodies may take UPLOAD_TIME_FACTOR times as long (uploads).
        self.slow_paths = slow_paths
        self.max_json_depth = max_json_depth
        self.path_limits = dict(path_limits or {})

    def _too_large(self, size: int, limit: int) -> PayloadTooLarge:
        return too_large("A request body", limit, size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        factor = UPLOAD_TIME_FACTOR if scope["path"] in self.slow_paths else 1
        receive = _Deadline(receive, self.body_timeout_s * factor)
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "").strip()
        size = int(declared) if declared.isdigit() else None
        if size is not None and size > limit:
            await _answer(scope, receive, send, self._too_large(size, limit))
            return
        has_body = bool(size) or "transfer-encoding" in headers
        if has_body and _is_json(headers.get("content-type")):
            await self._buffered(scope, receive, send, limit)
        else:
            await self._counted(scope, receive, send, limit)

    async def _buffered(self, scope: Scope, receive: _Deadline, send: Send, limit: int) -> None:
        """Read the JSON body up to the limit, check its depth, replay it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await receive()
            except _BodyTooSlow:
                await _answer(scope, receive, send, receive.error())
                return
            if message["type"] != "http.request":  # the client left; let the app see it
                first = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _answer(scope, receive, send, self._too_large(size, limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        if first["type"] == "http.request" and json_depth(first["body"]) > self.max_json_depth:
            error = JsonTooDeep(
                f"The JSON body nests arrays and objects more than {self.max_json_depth} "
                "levels deep.",
                detail={"limit": self.max_json_depth},
            )
            await _answer(scope, receive, send, error)
            return
        pending = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _counted(self, scope: Scope, receive: _Deadline, send: Send, limit: int) -> None:
        """Pass the body through, counting; past the limit (or the deadline) the
        application's reading fails and the client gets the 413 (408) instead of whatever
        the application answered."""
        received = 0
        overflow = False
        slow = False
        started = False

        async def counting() -> Message:
            nonlocal received, overflow, slow
            try:
                message = await receive()
            except _BodyTooSlow:
                slow = True
                raise
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if (overflow or slow) and not started:
                return  # the application's answer to the failed read; ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, guarded)
        except (_BodyTooLarge, _BodyTooSlow):
            if started:  # a response already on its way: abort the connection
                raise
        if overflow and not started:
            await _answer(scope, receive, send, self._too_large(received, limit))
        elif slow and not started:
            await _answer(scope, receive, send, receive.error())


# --- security headers ---------------------------------------------------------------------


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_LINK = re.compile(r"<link\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SAFE_SOURCE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d+)?/[A-Za-z0-9._~/@%+-]*$")


def _attrs(text: str) -> dict[str, str]:
    return {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _ATTR.finditer(text)}


def _source(url: str) -> str | None:
    """A CSP source for an asset URL: 'self' for a local path, the exact URL for an https
    one; None (not allowed) for anything else."""
    if url.startswith("/") and not url.startswith("//"):
        return "'self'"
    return url if _SAFE_SOURCE.match(url) else None


def page_policy(html: str) -> str:
    """A Content-Security-Policy allowing exactly what a generated page (Swagger UI) loads:
    its script and stylesheet URLs, its inline scripts by hash, inline styles (the Swagger
    UI bundle sets them), data: images (its icons) and fetches to this origin."""
    scripts: list[str] = []
    styles: list[str] = []
    images = ["'self'", "data:"]
    for match in _SCRIPT.finditer(html):
        src = _attrs(match[1]).get("src")
        if src is not None:
            scripts.append(_source(src) or "")
        else:
            digest = hashlib.sha256(match[2].encode("utf-8")).digest()
            scripts.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    for match in _LINK.finditer(html):
        attrs = _attrs(match[1])
        rel, href = attrs.get("rel", "").lower(), attrs.get("href", "")
        target = styles if rel == "stylesheet" else images if "icon" in rel else None
        if target is not None:
            target.append(_source(href) or "")
    styles.append("'unsafe-inline'")

    def join(sources: list[str]) -> str:
        unique = dict.fromkeys(s for s in sources if s)
        return " ".join(unique) or "'none'"

    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {join(scripts)}",
            f"style-src {join(styles)}",
            f"img-src {join(images)}",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


class SecurityHeaders:
    """Security headers on every response (a header the application set is kept)."""

    def __init__(self, app: ASGIApp, *, api_prefix: str, pages: Collection[str]) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.pages = frozenset(pages)

    def _decorate(self, scope: Scope, message: Message, csp: str) -> None:
        headers = MutableHeaders(scope=message)
        for name, value in _STATIC_HEADERS:
            headers.setdefault(name, value)
        headers.setdefault("content-security-policy", csp)
        path: str = scope["path"]
        if path == self.api_prefix or path.startswith(self.api_prefix + "/"):
            headers.setdefault("cache-control", "no-store")
        if scope.get("scheme") == "https":
            headers.setdefault("strict-transport-security", HSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.pages:
            await self._page(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._decorate(scope, message, API_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold a generated HTML page's (small) response to derive its policy from it."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            if message["type"] not in ("http.response.start", "http.response.body"):
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.start" or message.get("more_body", False):
                return
            start, *bodies = held
            html = b"".join(m.get("body", b"") for m in bodies).decode("utf-8", "replace")
            self._decorate(scope, start, page_policy(html))
            held.clear()
            for part in (start, *bodies):
                await send(part)

        await self.app(scope, receive, hold)


# --- wiring -------------------------------------------------------------------------------


def install(
    app: FastAPI, settings: Settings, *, api_prefix: str, pages: Collection[str] = ()
) -> None:
    """Add the middleware; call it before the request-id middleware so that these run
    inside it (their error answers carry the request id). Order, outermost first:
    security headers, CORS (when configured), body limits. ``pages`` are the paths of
    generated HTML pages (the API reference): each gets a policy derived from its HTML."""
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_bytes,
        max_json_depth=settings.max_json_depth,
        # An upload's file has its own limit (the route enforces it exactly).
        path_limits={f"{api_prefix}/uploads": settings.upload_max_bytes + MULTIPART_OVERHEAD},
        body_timeout_s=settings.request_body_timeout_s,
        slow_paths=frozenset({f"{api_prefix}/uploads"}),
    )
    if settings.cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allowed_origins),
            allow_credentials=True,
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=[
                "Retry-After",
                "X-Request-ID",
                "Content-Disposition",
                "X-Querydeck-Value-Truncated",
            ],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, api_prefix=api_prefix, pages=pages)


__all__ = ["BodyLimits", "SecurityHeaders", "install", "json_depth", "page_policy"]
