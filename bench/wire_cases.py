"""One issue-21 benchmark case per process (``python -m bench.wire_cases CASE ARGS``); prints
one JSON line with the case's figures and its peak RSS (see ``bench.cases``).

querydeck's side: ``store`` (a run of ``SELECT *`` into the result store, in process),
``end_to_end`` (a run and its CSV export through the HTTP API of a ``querydeck serve``),
``small`` (a small query through the API: sequential latency and 16-client throughput).
The references: ``duckdb_sqlite`` and ``datasette`` (run by the references' interpreter),
``duckdb_fetch``, ``mariadb_cli`` and ``psql_copy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bench.cases import bench_headers, emit, load, querydeck_server, server, stream_export

#: The small query: ten rows found through the index on ``small``, sorted.
SMALL_SQL = (
    "SELECT id, code, amount, day FROM {table} WHERE small = 4242 AND flag = 0 "
    "ORDER BY id DESC LIMIT 10"
)
SEQUENTIAL = 200
CLIENTS = 16


def connect(name: str, url: str) -> None:
    """Register connection ``name`` for ``url`` when missing. A process of its own: finding
    the driver of a URL loads every driver, which a run's process should not carry."""
    from querydeck.app.workbench import Workbench
    from querydeck.errors import Conflict

    with Workbench() as wb, contextlib.suppress(Conflict):
        wb.connections.create(name, url=url, allow_privileged=True)
    emit({})


def store(name: str, table: str) -> None:
    """``SELECT * FROM table`` of connection ``name`` into the result store (in process),
    timed in a process that has run one statement already (``SELECT 1`` on the same
    connection, timed apart as ``first_seconds``) after the warm-up ``querydeck serve`` does
    before it accepts requests (``Workbench.warm``): as a server runs it. The references
    import their engine and connect before their clock starts too; what a fresh process
    pays first (the runner, the guard, Arrow, the engine's module) is not the wire."""
    from querydeck.app.workbench import Workbench
    from querydeck.runs.models import RunRequest

    with Workbench() as wb:
        started = time.perf_counter()
        wb.warm()
        first = wb.runs.run(RunRequest(connection=name, sql="SELECT 1", timeout_s=600))
        first_seconds = time.perf_counter() - started
        assert first.status.value == "succeeded", first.error_message
        cpu = time.process_time()
        started = time.perf_counter()
        run = wb.runs.run(
            RunRequest(
                connection=name, sql=f"SELECT * FROM {table}", export_all=True, timeout_s=600
            )
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    assert run.status.value == "succeeded", run.error_message
    emit({"seconds": seconds, "rows": run.row_count, "cpu": cpu, "first_seconds": first_seconds})


def duckdb_sqlite(path: str, table: str) -> None:
    """DuckDB's sqlite scanner (from its package) reading the table to an Arrow table."""
    import duckdb

    from bench import refenv

    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    refenv.load_extension(conn, "sqlite_scanner")
    started = time.perf_counter()
    quoted = path.replace("'", "''")
    arrow = conn.execute(f"SELECT * FROM sqlite_scan('{quoted}', '{table}')").to_arrow_table()
    emit({"seconds": time.perf_counter() - started, "rows": arrow.num_rows})


def duckdb_fetch(path: str, table: str) -> None:
    """DuckDB's own record-batch reader over the table."""
    import duckdb

    with duckdb.connect(path, read_only=True) as conn:
        started = time.perf_counter()
        reader = conn.execute(f"SELECT * FROM {table}").to_arrow_reader(8192)
        rows = sum(batch.num_rows for batch in reader)
        emit({"seconds": time.perf_counter() - started, "rows": rows})


def mariadb_cli(url: str, table: str, out: str) -> None:
    """``mariadb --batch --quick`` writing the rows to a file."""
    parts = urlsplit(url)
    command = [
        "mariadb",
        "--batch",
        "--quick",
        f"--host={parts.hostname}",
        f"--port={parts.port or 3306}",
        f"--user={parts.username}",
        parts.path.lstrip("/"),
        "-e",
        f"SELECT * FROM {table}",
    ]
    with open(out, "wb") as handle:
        started = time.perf_counter()
        subprocess.run(command, stdout=handle, check=True)
        seconds = time.perf_counter() - started
    os.unlink(out)
    emit({"seconds": seconds})


def psql_copy(url: str, table: str, out: str) -> None:
    """``psql`` with ``\\copy (SELECT *) TO file CSV HEADER``."""
    command = [
        "psql",
        "-X",
        "-q",
        url,
        "-c",
        f"\\copy (SELECT * FROM {table}) TO '{out}' CSV HEADER",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    os.unlink(out)
    emit({"seconds": seconds})


def _api_run(client: Any, base: str, name: str, sql: str) -> dict[str, Any]:
    """POST a run of connection ``name`` and wait until it has ended (succeeded)."""
    answer = client.post(
        f"{base}/api/v1/runs",
        json={
            "connection": name,
            "sql": sql,
            "export_all": True,
            "timeout_s": 600,
            "wait_ms": 60_000,
            "page_size": 1,
        },
    )
    answer.raise_for_status()
    run: dict[str, Any] = answer.json()["run"]
    while run["status"] in ("queued", "running"):  # past the longest wait
        time.sleep(0.05)
        run = client.get(f"{base}/api/v1/runs/{run['id']}").json()["run"]
    assert run["status"] == "succeeded", run
    return run


def end_to_end(name: str, table: str, out: str) -> None:
    """Through ``querydeck serve``: POST the run of connection ``name`` (waiting for it),
    then stream its CSV export to a file. Timed on a server that has served a run and an
    export already (``SELECT 1`` and its CSV, timed apart as ``first_seconds``): a fresh
    server's first run also imports the run path and the driver, and refreshes every
    connection's catalog in the background, none of which ``psql`` has to do."""
    import httpx

    result: dict[str, Any] = {}
    headers = bench_headers()
    with querydeck_server(result) as base, httpx.Client(timeout=600, headers=headers) as client:
        started = time.perf_counter()
        stream_export(client, base, _api_run(client, base, name, "SELECT 1")["id"], "csv", out)
        result["first_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        run = _api_run(client, base, name, f"SELECT * FROM {table}")
        ran = time.perf_counter() - started
        stream_export(client, base, run["id"], "csv", out)
        result["seconds"] = time.perf_counter() - started
        result["run_seconds"] = ran
    os.unlink(out)
    emit(result)


async def _sequential(
    url: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> list[float]:
    """``SEQUENTIAL`` requests one after the other on one keep-alive connection."""
    from bench.cases import LoadClient

    client = LoadClient(url, body, headers, "POST" if body is not None else "GET")
    reader, writer = await asyncio.open_connection(client.host, client.port)
    samples = []
    try:
        for _ in range(10):  # warm
            await client.send(reader, writer)
        for _ in range(SEQUENTIAL):
            started = time.perf_counter()
            status = await client.send(reader, writer)
            samples.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"status {status}")
    finally:
        writer.close()
    return samples


def small(which: str, name: str, path: str, table: str) -> None:
    """The small query, ``SEQUENTIAL`` requests in a row (p50) and ``CLIENTS`` clients
    for ``bench.cases.DURATION_S`` (throughput), on querydeck (``querydeck``: a run of
    connection ``name``, recorded, guarded and audited) or Datasette (``datasette``:
    ``?sql=`` on the file at ``path``, JSON)."""
    sql = SMALL_SQL.format(table=table)
    result: dict[str, Any] = {}
    headers: dict[str, str] = {}
    body: dict[str, Any] | None
    if which == "querydeck":
        headers = bench_headers()
        context = querydeck_server(result)
        body, route = {"connection": name, "sql": sql}, "/api/v1/runs"
    else:
        context = datasette_server(path, result)
        body, route = None, f"/{Path(path).stem}.json?sql={quote(sql)}&_shape=array"
    with context as base:
        samples = asyncio.run(_sequential(base + route, body, headers))
        result["p50"] = statistics.median(samples) * 1000
        result["p99"] = sorted(samples)[int(len(samples) * 0.99)] * 1000
        method = "POST" if body is not None else "GET"
        loaded = asyncio.run(load(base + route, body, headers, CLIENTS, method))
        # the load's own latencies under other names: ``p50`` stays the sequential one
        result["rps"], result["errors"] = loaded["rps"], loaded["errors"]
        result["load_p50"], result["load_p99"] = loaded["p50"], loaded["p99"]
    emit(result)


def datasette_server(path: str, result: dict[str, Any]) -> Any:
    """``datasette serve`` of the file (immutable: read-only, as querydeck opens it)."""
    from bench import refenv

    refenv.python()  # made when missing
    command = [str(refenv.ENV / "bin" / "datasette"), "serve", "-i", path]
    return server([*command, "--setting", "sql_time_limit_ms", "10000"], result)


CASES = {
    "connect": connect,
    "store": store,
    "duckdb_sqlite": duckdb_sqlite,
    "duckdb_fetch": duckdb_fetch,
    "mariadb_cli": mariadb_cli,
    "psql_copy": psql_copy,
    "end_to_end": end_to_end,
    "small": small,
}

if __name__ == "__main__":
    CASES[sys.argv[1]](*sys.argv[2:])
