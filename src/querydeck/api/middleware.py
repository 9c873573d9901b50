"""ASGI middleware: request ids, structured access logs and HTTP latency metrics."""

from __future__ import annotations

import re
import time
import uuid

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from querydeck import logs

log = logs.get("querydeck.http")
HTTP_SECONDS = Histogram(
    "querydeck_http_request_duration_seconds",
    "HTTP request latency, by route and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Gives every request an id (a safe client ``X-Request-ID`` or a new one), echoes it in
    the response, logs one line per request and observes its latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = supplied if _SAFE_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        with logs.request_scope(rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                HTTP_SECONDS.labels(scope["method"], path, str(status)).observe(elapsed)
                log.info(
                    "http_request",
                    method=scope["method"],
                    route=path,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
