"""Serving the web UI (querydeck.api.webui): index.html for client-side routes, long-cached
hashed assets with their gzip twins, the UI's Content-Security-Policy, the API's own 404s
and 405s unchanged, and a page that says how to build the UI when it is not built."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.api.webui import IMMUTABLE, UI_CSP
from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings

INDEX = (
    b'<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script>'
    b'</head><body><div id="root"></div></body></html>'
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
SCRIPT = b"console.log('querydeck');\n" * 200


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "assets").mkdir()
    (root / "index.html").write_bytes(INDEX)
    (root / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / "assets" / "app-1a2b.js").write_bytes(SCRIPT)
    (root / "assets" / "app-1a2b.js.gz").write_bytes(gzip.compress(SCRIPT))
    (root / "assets" / "style-3c4d.css").write_text("body{margin:0}")
    return root


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    wb = Workbench(load_settings(data_dir=tmp_path_factory.mktemp("data"))).open()
    try:
        yield wb
    finally:
        wb.close()


@pytest.fixture(scope="module")
def client(workbench: Workbench, built: Path) -> Iterator[TestClient]:
    with TestClient(create_app(workbench, web_root=built)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/", "/history", "/connections/demo%20db", "/runs/abc?x=1"])
def test_client_side_routes_answer_index_html(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == UI_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_cached_for_a_year_and_sent_gzipped(client: TestClient) -> None:
    plain = client.get("/assets/app-1a2b.js", headers={"accept-encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == SCRIPT
    assert plain.headers["cache-control"] == IMMUTABLE
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in plain.headers
    packed = client.get("/assets/app-1a2b.js", headers={"accept-encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == SCRIPT  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(SCRIPT)
    css = client.get("/assets/style-3c4d.css", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in css.headers  # no twin: sent as it is
    assert css.headers["content-type"] == "text/css; charset=utf-8"


def test_other_files_revalidate(client: TestClient) -> None:
    response = client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize(
    "path", ["/assets/missing.js", "/assets/..%2Findex.html", "/api/v1/nope", "/api"]
)
def test_unknown_assets_and_api_paths_are_the_api_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.headers["content-security-policy"] == API_CSP


def test_writes_and_known_routes_are_unchanged(client: TestClient) -> None:
    assert client.post("/somewhere").status_code == 404
    assert client.put("/api/v1/runs").status_code == 405
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/api/v1/auth/me").json()["error"]["code"] == "UNAUTHENTICATED"


def test_head_answers_like_get(client: TestClient) -> None:
    response = client.head("/history")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == UI_CSP


def test_a_server_without_the_built_ui_says_how_to_build_it(
    workbench: Workbench, tmp_path: Path
) -> None:
    with TestClient(create_app(workbench, web_root=tmp_path / "empty")) as client:
        response = client.get("/history")
        assert response.status_code == 503
        assert "The web UI is not built" in response.text
        assert "make run" in response.text
        assert response.headers["content-security-policy"] == API_CSP
        assert client.get("/healthz").status_code == 200
