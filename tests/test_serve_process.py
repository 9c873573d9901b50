"""A real ``querydeck serve`` process: what it binds is what the outbound policy refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.served import free_port, served


@pytest.fixture
def serve_dir(tmp_path: Path, demo_files: Path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(demo_files, path / "demo")
    return path


def test_the_bound_port_is_an_own_listener(serve_dir: Path) -> None:
    """``serve --port P`` with the port setting elsewhere: a connection to 127.0.0.1:P (in
    any spelling) is refused as querydeck's own listener, on save and on test, and the
    server never receives the connection attempt."""
    setting = free_port()
    with served(serve_dir, env={"QUERYDECK_PORT": str(setting)}) as server:
        assert server.port != setting
        for host in ("127.0.0.1", "localhost", "::ffff:127.0.0.1", "2002:7f00:1::"):
            options = {"host": host, "port": server.port, "database": "d", "user": "u"}
            for driver in ("postgres", "mysql"):
                status, body = server.call(
                    "POST",
                    "/api/v1/connections",
                    {"name": "loop", "driver": driver, "options": options},
                )
                assert status == 422, body
                assert body["error"]["code"] == "CONNECTION_TARGET_FORBIDDEN", body
                assert "own listener" in body["error"]["message"]
        status, body = server.call("GET", "/api/v1/connections")
        assert "loop" not in {c["name"] for c in body["items"]}
