"""HTTP hardening (querydeck.api.hardening): body and JSON depth limits (SECURITY_TESTS.md
I1, I2), security headers, the API docs page's policy and CORS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from querydeck.api import create_app
from querydeck.api.hardening import API_CSP, BodyLimits, SecurityHeaders, json_depth, page_policy
from querydeck.app.workbench import Workbench
from querydeck.errors import ConfigError
from querydeck.settings import load_settings

LIMIT = 1024 * 1024
FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024
ORIGIN = "https://app.example.com"
JSON = {"content-type": "application/json"}


@pytest.fixture
def app(data_dir: Path) -> Iterator[FastAPI]:
    wb = Workbench(
        load_settings(data_dir=data_dir, max_request_bytes=LIMIT, max_json_depth=32)
    ).open()
    try:
        yield create_app(wb)
    finally:
        wb.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "detail", "request_id"}
    return dict(body["error"])


class CountingBody:
    """A 50 MB request body produced on demand; ``pulled`` is how much was taken."""

    def __init__(self, total: int = FIFTY_MB, chunk: bytes = b"[" + b" " * (CHUNK - 1)) -> None:
        self.total = total
        self.chunk = chunk
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.total:
            self.pulled += len(self.chunk)
            yield self.chunk


def call_asgi(
    app: FastAPI,
    headers: dict[str, str],
    body: CountingBody | list[bytes | None],
    path: str = "/api/v1/runs",
) -> tuple[int, dict[str, str], bytes]:
    """One request straight through the ASGI interface, the body pulled chunk by chunk
    (a None chunk: the client disconnects)."""
    chunks = iter(body)
    ended = False
    messages: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal ended
        chunk = next(chunks, b"") if not ended else None
        if chunk is None:
            ended = True
            return {"type": "http.disconnect"}
        if not chunk:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in messages if m["type"] == "http.response.start")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], response_headers, content


# --- I1: body size --------------------------------------------------------------------------


def test_declared_50mb_body_is_refused_without_reading_it(app: FastAPI) -> None:
    body = CountingBody()
    status, headers, content = call_asgi(
        app,
        {"content-type": "application/json", "content-length": str(FIFTY_MB), "x-request-id": "r1"},
        body,
    )
    assert status == 413
    assert body.pulled == 0
    envelope = orjson.loads(content)["error"]
    assert envelope["code"] == "PAYLOAD_TOO_LARGE"
    assert envelope["detail"] == {"limit": LIMIT, "size_at_least": FIFTY_MB}
    assert envelope["request_id"] == "r1" == headers["x-request-id"]
    assert headers["connection"] == "close"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/vnd.api+json", None, "text/plain"]
)
def test_chunked_50mb_body_stops_being_read_past_the_limit(
    app: FastAPI, content_type: str | None
) -> None:
    """No Content-Length: JSON (or untyped, which a route may parse as JSON) is read up to the
    limit by the middleware; other bodies are counted while the route reads them."""
    body = CountingBody()
    headers = {"transfer-encoding": "chunked"}
    if content_type:
        headers["content-type"] = content_type
    status, _, content = call_asgi(app, headers, body)
    assert status == 413
    assert orjson.loads(content)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert LIMIT < body.pulled <= LIMIT + CHUNK


def test_chunked_body_to_an_unknown_path_is_refused_too(app: FastAPI) -> None:
    body = CountingBody()
    status, _, _ = call_asgi(
        app, {"transfer-encoding": "chunked", "content-type": "text/csv"}, body, "/nowhere"
    )
    # 404 answered before the body is read, or 413 once it is: never the whole body.
    assert status in (404, 413)
    assert body.pulled <= LIMIT + CHUNK


@contextmanager
def served(app: FastAPI) -> Iterator[int]:
    """The app behind a real uvicorn on a free port (the process's own event loop thread)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the answer, read until the server closes the connection (after a
    413 it does; it resets it when body bytes it never read are still arriving)."""
    data = b""
    try:
        while more := sock.recv(65536):
            data += more
    except ConnectionResetError:
        pass
    return int(data.split(b" ", 2)[1]), data


def test_real_server_answers_413_before_the_body_is_sent(app: FastAPI) -> None:
    """Over a socket to uvicorn: with Content-Length the 413 comes before any body byte is
    sent; chunked, the client is stopped long before 50 MB (kernel buffers add a few MB)."""
    with served(app) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % FIFTY_MB
            )
            status, answer = read_response(sock)
        assert status == 413
        assert b'"code":"PAYLOAD_TOO_LARGE"' in answer

        body = CountingBody()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
            status, answer = read_response(sock)
        assert status == 413
        assert b'"code":"PAYLOAD_TOO_LARGE"' in answer
        assert body.pulled < FIFTY_MB // 2


def test_a_client_leaving_mid_body_is_not_a_server_error(app: FastAPI) -> None:
    headers = {"transfer-encoding": "chunked", "content-type": "application/json"}
    status, _, content = call_asgi(app, headers, [b'{"connection": ', None])
    assert status == 400
    assert orjson.loads(content)["error"]["code"] == "BAD_REQUEST"


def test_bodies_within_the_limit_reach_the_routes(app: FastAPI) -> None:
    with TestClient(with_probe(app)) as client:
        response = client.post("/probe-json", json={"s": "x" * (LIMIT - 100), "x": [[1]]})
    assert response.status_code == 200, response.text
    assert response.json() == {"depth": 2}


# --- I2: JSON depth -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/saved-queries", "/nowhere"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_100000_deep_is_400_json_too_deep(
    client: TestClient, path: str, opener: str
) -> None:
    closer = "]" if opener == "[" else "}"
    body = opener * 100_000 + "1" + closer * 100_000
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "JSON_TOO_DEEP"
    assert problem["detail"] == {"limit": 32}
    assert response.headers["x-content-type-options"] == "nosniff"


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: Any = None
    s: str = ""


def with_probe(app: FastAPI) -> FastAPI:
    """A public route with a JSON body model, as the API's routes have (theirs need a
    login): proves which bodies reach FastAPI's parsing and parse there."""

    @app.post("/probe-json")
    def probe(body: Probe) -> dict[str, int]:
        depth, value = 0, body.x
        while isinstance(value, list) and value:
            depth, value = depth + 1, value[0]
        return {"depth": depth}

    return app


def nested(levels: int) -> str:
    """An object whose ``x`` holds ``levels - 1`` nested arrays: ``levels`` deep in all."""
    return '{"x": ' + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "}"


def test_depth_limit_is_exact_and_ignores_strings(app: FastAPI) -> None:
    with TestClient(with_probe(app)) as client:
        at_limit = client.post("/probe-json", content=nested(32), headers=JSON)
        too_deep = client.post("/probe-json", content=nested(33), headers=JSON)
        # Without a content type the depth is checked too (a route may parse it as JSON).
        untyped = client.post("/probe-json", content=nested(33))
        in_a_string = client.post(
            "/probe-json", json={"s": "[{" * 500 + '\\" [[[ \\\\"', "x": [[1]]}
        )
        parse_error = client.post("/probe-json", content=b'{"x": [[[1]]', headers=JSON)
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json() == {"depth": 31}
    assert error(too_deep)["code"] == "JSON_TOO_DEEP"
    assert error(untyped)["code"] == "JSON_TOO_DEEP"
    assert in_a_string.json() == {"depth": 2}
    assert parse_error.status_code == 422
    assert error(parse_error)["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": [[]]}]}', 5),
        (b'["[[[[", "]]", "{"]', 1),
        (b'["a\\"[[[", 1]', 1),  # an escaped quote does not end the string
        (b'["a\\\\", [[1]]]', 3),  # an escaped backslash does not escape the quote
        (b'["a\\\\\\"[[", 1]', 1),  # backslash, then an escaped quote
        (b'[["unterminated [[[[[[', 2),
        ("[[[[1]]]]".encode("utf-16-le"), 4),
        ("[\u225b[1]]".encode("utf-16-be"), 2),  # U+225B: a byte that reads as '"'
        (b"]]]][[", 0),  # not JSON: the parser stops at the first "]"
    ],
)
def test_json_depth(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_max_json_depth_setting_bounds(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="max_json_depth"):
        load_settings(data_dir=data_dir, max_json_depth=5000)
    with pytest.raises(ConfigError, match="max_request_bytes"):
        load_settings(data_dir=data_dir, max_request_bytes=10)


def test_deepest_allowed_json_parses_without_error(data_dir: Path) -> None:
    wb = Workbench(load_settings(data_dir=data_dir, max_json_depth=512)).open()
    try:
        with TestClient(with_probe(create_app(wb))) as client:
            at_limit = client.post("/probe-json", content=nested(512), headers=JSON)
            too_deep = client.post("/probe-json", content=nested(513), headers=JSON)
    finally:
        wb.close()
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json() == {"depth": 511}
    assert error(too_deep)["code"] == "JSON_TOO_DEEP"


# --- security headers ---------------------------------------------------------------------


def test_security_headers_on_every_response(client: TestClient) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/api/v1/nowhere"),
        client.post("/api/v1/runs", content="[" * 100),
        client.get("/api/v1/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == API_CSP
        assert "strict-transport-security" not in response.headers  # plain http
    assert "cache-control" not in client.get("/healthz").headers
    assert client.get("/api/v1/nowhere").headers["cache-control"] == "no-store"
    assert client.get("/api/v1/openapi.json").headers["cache-control"] == "no-store"


def test_hsts_only_over_https(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        response = secure.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_docs_page_gets_a_policy_that_lets_swagger_ui_load(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    policy = {}
    for part in response.headers["content-security-policy"].split("; "):
        name, _, sources = part.partition(" ")
        policy[name] = sources
    inline = [
        body
        for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        if "src=" not in attrs
    ]
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    scripts = policy["script-src"].split()
    assert f"'sha256-{digest}'" in scripts
    # Swagger UI's files come from this origin (the package), never from a CDN.
    sources = re.findall(r'<script src="([^"]+)"', html)
    sources += re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert len(sources) == 2
    for src in sources:
        assert src.startswith("/api/docs/assets/"), src
        asset = client.get(src)
        assert asset.status_code == 200
        assert len(asset.content) > 100_000
    assert sorted(scripts) == sorted([f"'sha256-{digest}'", "'self'"])
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert policy["style-src"].split() == ["'self'", "'unsafe-inline'"]
    assert client.get("/api/docs/assets/..%2F..%2Fapidocs.py").status_code == 404
    assert client.get("/api/docs/assets/LICENSE").status_code == 404
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"  # the OpenAPI document and "try it out"
    assert "data:" in policy["img-src"].split()
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    # The OpenAPI document the page fetches is served (with the strict policy).
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_page_policy_allows_only_safe_sources() -> None:
    html = (
        '<link rel="stylesheet" href="/static/app.css"><link rel="icon" href="//evil.example/x">'
        '<link rel="preconnect" href="https://elsewhere.example/">'
        '<script src="http://cdn.example/a.js"></script>'
        '<script src="https://cdn.example/b.js; script-src *"></script>'
        "<script>go()</script>"
    )
    policy = page_policy(html)
    assert "http://cdn.example" not in policy
    assert "evil.example" not in policy
    assert "elsewhere.example" not in policy
    assert "script-src *" not in policy
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert policy.count("'sha256-") == 1


def run_raw(app: Any, path: str, chunks: list[bytes | None]) -> list[dict[str, Any]]:
    """Drive a bare ASGI app; returns what it sent."""
    sent: list[dict[str, Any]] = []
    pending = iter(chunks)

    async def receive() -> dict[str, Any]:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "scheme": "http"}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_page_sent_in_parts_gets_its_policy() -> None:
    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.debug", "info": {}})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"<script>a", "more_body": True})
        await send({"type": "http.response.body", "body": b"()</script>"})

    sent = run_raw(SecurityHeaders(page, api_prefix="/api/v1", pages=["/p"]), "/p", [])
    assert [m["type"] for m in sent] == [
        "http.response.debug",
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    csp = dict(sent[1]["headers"])[b"content-security-policy"].decode()
    digest = base64.b64encode(hashlib.sha256(b"a()").digest()).decode()
    assert f"script-src 'sha256-{digest}';" in csp


def test_a_streamed_answer_is_cut_when_the_body_then_overflows() -> None:
    """An app that answers before reading past the limit cannot be given a 413: the
    connection is aborted (the exception reaches the server) and nothing more is read."""

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] == "http.request":
            pass

    limited = BodyLimits(echo, max_bytes=1024, max_json_depth=8)
    with pytest.raises(Exception) as caught:  # the private signal itself
        run_raw(limited, "/x", [b"x" * 1000, b"x" * 1000, b"x" * 1000])
    assert type(caught.value).__name__ == "_BodyTooLarge"
    # A disconnect within the limit is passed on as it is.
    sent = run_raw(limited, "/x", [b"x" * 1000, None])
    assert [m["type"] for m in sent] == ["http.response.start"]


def test_an_app_that_does_not_catch_the_overflow_still_gives_413() -> None:
    async def reader(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["type"] == "http.request":
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = run_raw(BodyLimits(reader, max_bytes=1024, max_json_depth=8), "/x", [b"x" * 2000])
    assert sent[0]["status"] == 413
    assert b"PAYLOAD_TOO_LARGE" in sent[1]["body"]


# --- CORS ---------------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/api/v1/runs",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-csrf-token",
        },
    )


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = preflight(client, ORIGIN)
    assert not any(h.startswith("access-control-") for h in response.headers)
    response = client.get("/healthz", headers={"Origin": ORIGIN})
    assert not any(h.startswith("access-control-") for h in response.headers)


def test_cors_allow_list(data_dir: Path) -> None:
    wb = Workbench(
        load_settings(
            data_dir=data_dir,
            cors_allowed_origins=[ORIGIN.upper().replace("HTTPS", "https")],
            max_request_bytes=LIMIT,
        )
    ).open()
    try:
        with TestClient(create_app(wb)) as client:
            allowed = preflight(client, ORIGIN)
            refused = preflight(client, "https://evil.example.com")
            simple = client.get("/healthz", headers={"Origin": ORIGIN})
            other = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
            too_large = client.post(
                "/api/v1/runs", content=b"x" * (LIMIT + 1), headers={"Origin": ORIGIN}
            )
    finally:
        wb.close()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    methods = allowed.headers["access-control-allow-methods"]
    assert {m.strip() for m in methods.split(",")} == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert "x-csrf-token" in allowed.headers["access-control-allow-headers"].lower()
    assert allowed.headers["x-content-type-options"] == "nosniff"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert simple.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers
    # A page of the allowed origin can read the limit's answer.
    assert too_large.status_code == 413
    assert too_large.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "ftp://app.example.com",
        "https://user@app.example.com",
        "null",
        "https://a.example:99999",
    ],
)
def test_cors_origins_are_exact(data_dir: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="cors_allowed_origins"):
        load_settings(data_dir=data_dir, cors_allowed_origins=[value])


def test_cors_origins_from_the_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "QUERYDECK_CORS_ALLOWED_ORIGINS", "https://a.example.com, http://localhost:5173"
    )
    settings = load_settings(data_dir=data_dir)
    assert settings.cors_allowed_origins == ["https://a.example.com", "http://localhost:5173"]
    monkeypatch.setenv("QUERYDECK_CORS_ALLOWED_ORIGINS", "https://a.example.com,*")
    with pytest.raises(ConfigError, match="credentials"):
        load_settings(data_dir=data_dir)


# --- slow request bodies --------------------------------------------------------------------


@pytest.fixture
def impatient_app(data_dir: Path) -> Iterator[FastAPI]:
    settings = load_settings(data_dir=data_dir, max_request_bytes=LIMIT, request_body_timeout_s=1)
    wb = Workbench(settings).open()
    try:
        yield create_app(wb)
    finally:
        wb.close()


def _stall(port: int, head: bytes, part: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(head + part)
    return sock


def test_a_stalled_body_is_answered_408_and_its_connection_closed(
    impatient_app: FastAPI,
) -> None:
    """A partial body (Content-Length or chunked, JSON or an upload's multipart) is cut off
    at the deadline: 408 REQUEST_BODY_TIMEOUT, then the server closes the connection."""
    sized = (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    chunked = (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    other = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with served(impatient_app) as port:
        for head, part in (
            (sized, b'{"connection": "x", '),
            (chunked, b'5\r\n{"con\r\n'),
            (other, b"abc"),
        ):
            started = time.monotonic()
            with _stall(port, head, part) as sock:
                status, answer = read_response(sock)  # returns once the server closes
            took = time.monotonic() - started
            assert status == 408, answer
            assert b'"code":"REQUEST_BODY_TIMEOUT"' in answer
            assert b"connection: close" in answer.lower()
            assert 0.9 <= took < 10, took


def test_many_trickling_bodies_do_not_hold_connections(impatient_app: FastAPI) -> None:
    """100 clients sending one byte every 0.3 s: every one is answered and dropped at the
    deadline while a normal request on another connection is served at once."""
    head = (
        b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    with served(impatient_app) as port:
        socks = [_stall(port, head, b"{") for _ in range(100)]
        try:
            started = time.monotonic()
            closed: set[int] = set()
            while len(closed) < len(socks) and time.monotonic() - started < 15:
                for index, sock in enumerate(socks):
                    if index in closed:
                        continue
                    try:
                        sock.sendall(b" ")
                    except OSError:
                        closed.add(index)
                        continue
                    if select.select([sock], [], [], 0)[0]:
                        status, _ = read_response(sock)
                        assert status == 408
                        closed.add(index)
                with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                    probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    assert read_response(probe)[0] == 200
                time.sleep(0.3)
            assert len(closed) == len(socks)
            assert time.monotonic() - started < 10
        finally:
            for sock in socks:
                sock.close()


def test_a_body_in_time_is_not_cut_and_a_streamed_answer_is_not_limited() -> None:
    """The deadline covers the body only: a slow answer after a complete body still gets
    to listen for the client leaving."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        waiting = asyncio.ensure_future(receive())  # listens for a disconnect: no deadline
        await asyncio.sleep(0.3)
        assert not waiting.done()
        waiting.cancel()
        await send({"type": "http.response.body", "body": b"ok"})

    limited = BodyLimits(app, max_bytes=LIMIT, max_json_depth=8, body_timeout_s=0.1)
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not seen:
            return {"type": "http.request", "body": b"x", "more_body": False}
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "path": "/x", "headers": [(b"content-type", b"text/plain")]}
    asyncio.run(limited(scope, receive, send))  # type: ignore[arg-type]
    assert messages[0]["status"] == 200
    assert messages[-1]["body"] == b"ok"
