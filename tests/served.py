"""A real ``querydeck serve`` subprocess on 127.0.0.1 and a free port, logged in as the
first administrator over HTTP (the session cookie and its CSRF token)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def querydeck_command() -> list[str]:
    script = Path(sys.executable).with_name("querydeck")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from querydeck.cli import main; main()"]


@dataclass
class Served:
    """A running server and an administrator's session on it."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    cookie: str = ""
    csrf: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(
        self, method: str, path: str, body: Any = None, *, timeout: float = 30
    ) -> tuple[int, Any]:
        """One API request as the administrator: (status, decoded JSON body or None)."""
        headers = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                raw, status = answer.read(), answer.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        return status, orjson.loads(raw) if raw else None


@contextmanager
def served(
    data_dir: Path, *, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[Served]:
    """Start ``querydeck serve --host 127.0.0.1 --port <free> ARGS`` on ``data_dir``, wait
    for /healthz, log in as ``admin``; the process is stopped (SIGINT, then SIGKILL) at the
    end unless the test already ended it."""
    port = free_port()
    log = data_dir.with_name(data_dir.name + "-serve.log")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUERYDECK_")}
    environ |= {"QUERYDECK_DATA_DIR": str(data_dir), **(env or {})}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*querydeck_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environ,
        )
    server = Served(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{server.base}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"querydeck serve did not start: {log.read_text()}")
        password = (data_dir / "initial-admin-password").read_text().strip()
        login = urllib.request.Request(
            f"{server.base}/api/v1/auth/login",
            data=orjson.dumps({"username": "admin", "password": password}),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=30) as answer:
            server.cookie = answer.headers["set-cookie"].split(";", 1)[0]
            server.csrf = orjson.loads(answer.read())["csrf_token"]
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
