"""One benchmark case per process (``python -m bench.cases CASE ARGS``); prints one JSON line.

Cases that go through the API start ``querydeck serve`` as their own child on a free port and
report that server's peak RSS (``server_rss``) next to their timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

URL = os.environ.get("QD_BENCH_URL", "")
SERVER_ENV = {
    "QUERYDECK_LOG_LEVEL": "WARNING",
    "QUERYDECK_MAX_RUNS_PER_USER": "64",
    "QUERYDECK_MAX_RUNS_PER_CONNECTION": "64",
    "QUERYDECK_RUN_WORKERS": "32",
    # the benchmark starts thousands of runs a minute as one user
    "QUERYDECK_RATE_LIMIT_RUNS_USER": "",
    "QUERYDECK_RATE_LIMIT_RUNS_ADDRESS": "",
}


def bench_headers() -> dict[str, str]:
    """An ``Authorization`` header with a fresh API token of the administrator ``bench``
    (created with a random password when missing): every API call is authenticated, as in
    production."""
    import secrets

    from querydeck.app.workbench import Workbench
    from querydeck.auth.principal import LOCAL, Principal, Role
    from querydeck.errors import UserNotFound

    with Workbench() as wb:
        try:
            user = wb.accounts.get_user(LOCAL, "bench")
        except UserNotFound:
            password = secrets.token_urlsafe(24)
            user = wb.accounts.create_user(LOCAL, "bench", role=Role.admin, password=password)
        owner = Principal(username=user.username, role=user.role, user_id=user.id, via="token")
        _, secret = wb.accounts.create_token(owner, f"bench {secrets.token_hex(4)}", 1)
    return {"Authorization": f"Bearer {secret}"}


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's own peak resident set (VmHWM), MB. (``ru_maxrss`` from ``wait4`` is no
    use here: Linux carries the parent's high-water mark into a forked child, so every
    child of a big benchmark process would report at least the parent's size.)"""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def emit(value: dict[str, Any]) -> None:
    """Print the case's result with the peak RSS of the process that did the work (this
    one, or the server it started)."""
    value["peak_rss_mb"] = max(peak_rss_mb(), float(value.get("server_rss", 0.0)))
    print(json.dumps(value), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def server(command: list[str], result: dict[str, Any]) -> Iterator[str]:
    """A server child on a free port; its peak RSS (MB) lands in ``result['server_rss']``."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **SERVER_ENV},
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        result["server_rss"] = peak_rss_mb(process.pid)
        process.terminate()
        process.wait()


def querydeck_server(result: dict[str, Any]) -> contextlib.AbstractContextManager[str]:
    return server([str(Path(sys.executable).with_name("querydeck")), "serve"], result)


# --- the result store ---------------------------------------------------------------------


def store(table: str) -> None:
    from querydeck.app.workbench import Workbench
    from querydeck.errors import Conflict
    from querydeck.runs.models import RunRequest

    with Workbench() as wb:
        with contextlib.suppress(Conflict):
            wb.connections.create("pg", url=URL, allow_privileged=True)
        started = time.perf_counter()
        run = wb.runs.run(
            RunRequest(
                connection="pg", sql=f"SELECT * FROM {table}", export_all=True, timeout_s=600
            )
        )
        seconds = time.perf_counter() - started
    assert run.status.value == "succeeded", run.error_message
    emit({"seconds": seconds, "run_id": run.id, "rows": run.row_count})


def psycopg_binary(table: str) -> None:
    import psycopg

    with psycopg.connect(URL) as conn:
        started = time.perf_counter()
        rows = 0
        with conn.cursor(name="raw", binary=True) as cur:
            cur.itersize = 8192
            cur.execute(f"SELECT * FROM {table}")
            while batch := cur.fetchmany(8192):
                rows += len(batch)
        emit({"seconds": time.perf_counter() - started, "rows": rows})


# --- exports ------------------------------------------------------------------------------


def copy_csv(table: str, path: str) -> None:
    import psycopg

    with psycopg.connect(URL) as conn, open(path, "wb") as out:
        started = time.perf_counter()
        with conn.cursor().copy(
            f"COPY (SELECT * FROM {table}) TO STDOUT WITH (FORMAT csv, HEADER)"
        ) as copy:
            for chunk in copy:
                out.write(chunk)
        emit({"seconds": time.perf_counter() - started})


def adbc_parquet(table: str, path: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow.parquet as pq

    started = time.perf_counter()
    with adbc.connect(URL) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        reader = cur.fetch_record_batch()
        with pq.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    emit({"seconds": time.perf_counter() - started})


def stream_export(client: Any, base: str, run_id: str, fmt: str, path: str) -> None:
    """Stream the run's export in ``fmt`` through the API to the file ``path``."""
    with (
        client.stream("GET", f"{base}/api/v1/runs/{run_id}/export?format={fmt}") as response,
        open(path, "wb") as out,
    ):
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            out.write(chunk)


def export_api(run_id: str, fmt: str, path: str) -> None:
    import httpx

    result: dict[str, Any] = {}
    headers = bench_headers()
    with querydeck_server(result) as base, httpx.Client(timeout=600, headers=headers) as client:
        started = time.perf_counter()
        stream_export(client, base, run_id, fmt, path)
        result["seconds"] = time.perf_counter() - started
    os.unlink(path)
    emit(result)


# --- pages --------------------------------------------------------------------------------


def pages(run_id: str, table: str) -> None:
    import httpx
    import psycopg

    result: dict[str, Any] = {"n": 30}
    headers = bench_headers()
    with querydeck_server(result) as base, httpx.Client(timeout=60, headers=headers) as client:
        for key, offset in (("first", 0), ("deep", 900_000)):
            url = f"{base}/api/v1/runs/{run_id}/rows?offset={offset}&limit=500"
            client.get(url).raise_for_status()  # warm
            samples = []
            for _ in range(result["n"]):
                started = time.perf_counter()
                body = client.get(url)
                body.raise_for_status()
                assert len(body.json()["rows"]) == 500
                samples.append(time.perf_counter() - started)
            result[key] = statistics.median(samples)
    with psycopg.connect(URL) as conn:
        for key, offset in (("db_first", 0), ("db_deep", 900_000)):
            samples = []
            for _ in range(7):
                started = time.perf_counter()
                conn.execute(f"SELECT * FROM {table} OFFSET {offset} LIMIT 500").fetchall()
                samples.append(time.perf_counter() - started)
            result[key] = statistics.median(samples)
    emit(result)


# --- SELECT 1 through the whole stack -----------------------------------------------------

CLIENTS = 32
DURATION_S = 10.0
WARM_UP_S = 1.0


class LoadClient:
    """A lean HTTP/1.1 keep-alive client for the load test: one prepared request, sent
    again and again on its own connection. A general client (httpx) costs a few ms of CPU
    per request at this concurrency; on a 2-core machine it became the bottleneck of the
    reference and shared the cores with the server under test."""

    def __init__(
        self,
        url: str,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        method: str = "POST",
    ) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [
            f"{method} {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def send(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """Send the request; read the whole response; its status code."""
        writer.write(self.request)
        status = int((await reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if chunked:
            while size := int((await reader.readline()).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readline()
        elif length:
            await reader.readexactly(length)
        return status

    async def worker(self, until: float, latencies: list[float]) -> int:
        """Send requests until ``until``; the latency of each 200 lands in ``latencies``.
        Returns how many failed (another status, a dropped connection: counted, never
        hidden)."""
        failed = 0
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < until:
            try:
                if streams is None:
                    streams = await asyncio.open_connection(self.host, self.port)
                started = time.perf_counter()
                status = await self.send(*streams)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                failed += 1
                if streams is not None:
                    streams[1].close()
                streams = None
                continue
            if status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                failed += 1
        if streams is not None:
            streams[1].close()
        return failed


async def load(
    url: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    clients: int,
    method: str = "POST",
) -> dict[str, float]:
    client = LoadClient(url, body, headers, method)
    warm: list[float] = []
    until = time.perf_counter() + WARM_UP_S
    await asyncio.gather(*(client.worker(until, warm) for _ in range(clients)))
    latencies: list[float] = []
    began = time.perf_counter()
    failures = await asyncio.gather(
        *(client.worker(began + DURATION_S, latencies) for _ in range(clients))
    )
    elapsed = time.perf_counter() - began
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"no request succeeded ({sum(failures)} failed)")
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": sum(failures),
    }


def select1(which: str, clients: str = str(CLIENTS)) -> None:
    """``stack``: ``POST /api/v1/runs`` of ``SELECT 1`` on querydeck; ``starlette``: the
    reference; ``healthz``: querydeck's ``GET /healthz`` (no authentication, no database, no
    run), the floor its HTTP stack sets for any route; ``ceiling``: the least work a
    recorded read-only run must do, written as lean as it gets (``bench/ceiling_app.py``)."""
    result: dict[str, Any] = {}
    headers: dict[str, str] = {}
    method = "POST"
    if which == "ceiling":
        with tempfile.TemporaryDirectory() as home:
            os.environ["QD_CEILING_DIR"] = home
            headers = {"Authorization": "Bearer ceiling"}
            with server(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.ceiling_app:app",
                    "--log-level",
                    "warning",
                ],
                result,
            ) as base:
                body = {"connection": "pg", "sql": "SELECT 1"}
                result.update(asyncio.run(load(base + "/api/v1/runs", body, headers, int(clients))))
        emit(result)
        return
    if which == "healthz":
        context = querydeck_server(result)
        body, path, method = None, "/healthz", "GET"
    elif which == "stack":
        headers = bench_headers()
        context = querydeck_server(result)
        body: dict[str, Any] | None = {"connection": "pg", "sql": "SELECT 1"}
        path = "/api/v1/runs"
    else:
        context = server(
            [sys.executable, "-m", "uvicorn", "bench.reference_app:app", "--log-level", "warning"],
            result,
        )
        body, path = None, "/select1"
    with context as base:
        result.update(asyncio.run(load(base + path, body, headers, int(clients), method)))
    emit(result)


CASES = {
    "store": store,
    "psycopg_binary": psycopg_binary,
    "copy_csv": copy_csv,
    "adbc_parquet": adbc_parquet,
    "export_api": export_api,
    "pages": pages,
    "select1": select1,
}

if __name__ == "__main__":
    CASES[sys.argv[1]](*sys.argv[2:])
