"""The soak (issue 16, item 13): ``QD_SOAK_CLIENTS`` clients (8) for
``QD_SOAK_S`` seconds (600) of mixed small queries, pages and CSV exports against a real
``querydeck serve`` on the demo's SQLite database, rate limits off (a run still going when
its request returns, 202, is waited for: its latency counts until it ended). It reports
every error, the p50/p99 of each kind of request, and the server's RSS, open file
descriptors and result files sampled every few seconds: after the warm-up (the first half),
the last half must stay within 10 % of its median and the result files within what the
retention settings allow.

``python -m bench.soak [SECONDS] [CLIENTS]`` runs it alone (2 minutes is enough while
developing: the machine is shared); ``make bench`` runs it with the defaults.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.cases import SERVER_ENV, querydeck_server

Row = tuple[str, str, str, str]

SECONDS = float(os.environ.get("QD_SOAK_S", "600"))
CLIENTS = int(os.environ.get("QD_SOAK_CLIENTS", "8"))
#: The retention bound under test: results kept at most (two files each).
MAX_RESULTS = int(os.environ.get("QD_SOAK_MAX_RESULTS", "2000"))
SAMPLE_S = 5.0
FLAT = 0.10
QUERIES = (
    "SELECT TrackId, Name, Milliseconds FROM Track WHERE GenreId = {n} ORDER BY Name LIMIT 10",
    "SELECT a.Title, count(*) AS tracks FROM Album a JOIN Track t USING (AlbumId) "
    "WHERE a.ArtistId = {n} GROUP BY a.Title",
    "SELECT CustomerId, sum(Total) AS spent FROM Invoice GROUP BY CustomerId "
    "ORDER BY spent DESC LIMIT {n}",
    "SELECT * FROM Employee WHERE EmployeeId <= {n}",
    "SELECT {n} AS n, 'x' AS s",
)


def _status(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def _files(directory: Path) -> int:
    count = 0
    for _root, _dirs, files in os.walk(directory):
        count += len(files)
    return count


def _server_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (the ``querydeck serve`` child)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inode = fields[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on {port}")


class Sampler(threading.Thread):
    """Every ``SAMPLE_S``: the server's RSS (MB), open descriptors and result files."""

    def __init__(self, pid: int, results: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.results = pid, results
        self.samples: list[tuple[float, float, int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            self.samples.append(
                (
                    time.monotonic() - started,
                    _status(self.pid, "VmRSS:"),
                    len(os.listdir(f"/proc/{self.pid}/fd")),
                    _files(self.results),
                )
            )
            self.stop.wait(SAMPLE_S)


async def _client(
    base: str, headers: dict[str, str], until: float, seed: int, got: dict[str, Any]
) -> None:
    import httpx

    rng = random.Random(seed)
    last: str | None = None
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        while time.monotonic() < until:
            roll = rng.random()
            if last is None or roll < 0.6:
                kind = "run"
                sql = rng.choice(QUERIES).format(n=rng.randint(1, 20))
                call = http.post("/api/v1/runs", json={"connection": "chinook", "sql": sql})
            elif roll < 0.85:
                kind = "page"
                call = http.get(f"/api/v1/runs/{last}/rows", params={"offset": 2, "limit": 5})
            else:
                kind = "export"
                call = http.get(f"/api/v1/runs/{last}/export", params={"format": "csv"})
            started = time.perf_counter()
            try:
                response = await call
            except httpx.HTTPError as exc:
                got["errors"].append(f"{kind}: {type(exc).__name__}")
                continue
            if kind == "run" and response.status_code == 202:  # still running: wait for it
                response = await _finished(http, response.json()["run"]["id"])
            got[kind].append(time.perf_counter() - started)
            if response.status_code != 200:
                got["errors"].append(f"{kind}: {response.status_code} {response.text[:120]}")
            elif kind == "run":
                last = response.json()["run"]["id"]


async def _finished(http: Any, run_id: str) -> Any:
    """The run once it has ended (a busy machine answers a small run 202 at first)."""
    while True:
        response = await http.get(f"/api/v1/runs/{run_id}", params={"page_size": 10})
        if response.status_code != 200 or response.json()["run"]["finished_at"] is not None:
            return response
        await asyncio.sleep(0.05)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


def _spread(values: list[float]) -> float:
    """How far the values stray from their median: the largest |value - median| / median."""
    if not values:
        return 0.0
    middle = statistics.median(values)
    return max(abs(v - middle) for v in values) / middle if middle else 0.0


def soak(seconds: float = SECONDS, clients: int = CLIENTS) -> dict[str, Any]:
    from querydeck.app.workbench import Workbench

    with tempfile.TemporaryDirectory(prefix="qd-soak-") as tmp:
        data = Path(tmp) / "data"
        os.environ["QUERYDECK_DATA_DIR"] = str(data)
        os.environ["QUERYDECK_RESULT_STORE_MAX_RESULTS"] = str(MAX_RESULTS)
        with Workbench() as wb:
            wb.admin.create_demo()
            results = wb.settings.results_dir
        from bench.cases import bench_headers

        headers = bench_headers()
        result: dict[str, Any] = {}
        with querydeck_server(result) as base:
            pid = _server_pid(int(base.rsplit(":", 1)[1]))
            sampler = Sampler(pid, results)
            sampler.start()
            got: dict[str, Any] = {"run": [], "page": [], "export": [], "errors": []}
            until = time.monotonic() + seconds

            async def all_clients() -> None:
                await asyncio.gather(
                    *(_client(base, headers, until, seed, got) for seed in range(clients))
                )

            began = time.perf_counter()
            asyncio.run(all_clients())
            elapsed = time.perf_counter() - began
            sampler.stop.set()
            sampler.join()
    samples = sampler.samples
    half = [s for s in samples if s[0] >= seconds / 2]
    every = got["run"] + got["page"] + got["export"]
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": len(every),
        "rps": round(len(every) / elapsed, 1),
        "runs": len(got["run"]),
        "errors": len(got["errors"]),
        "first_errors": got["errors"][:5],
        "p50_ms": round(_percentile(every, 0.5), 1),
        "p99_ms": round(_percentile(every, 0.99), 1),
        **{f"p99_{k}_ms": round(_percentile(got[k], 0.99), 1) for k in ("run", "page", "export")},
        "rss_mb": [round(s[1]) for s in samples],
        "fds": [s[2] for s in samples],
        "result_files": [s[3] for s in samples],
        "rss_spread_last_half": round(_spread([s[1] for s in half]), 3),
        "fd_spread_last_half": round(_spread([float(s[2]) for s in half]), 3),
        "max_result_files": max((s[3] for s in samples), default=0),
        "file_bound": file_bound(),
        "server_peak_rss_mb": round(float(result.get("server_rss", 0.0))),
    }


def file_bound() -> int:
    """The result files retention allows: two per kept result, the batch a store may be
    over its bound before it sweeps (``Retention.overshoot``), the runs in flight (never
    evicted) and the sweep's mark file."""
    batch = 1 + MAX_RESULTS // 50
    in_flight = int(SERVER_ENV["QUERYDECK_RUN_WORKERS"])
    return 2 * (MAX_RESULTS + batch + in_flight) + 1


def verdict(found: dict[str, Any]) -> list[str]:
    """What failed, in words (empty: the soak passed)."""
    failed = []
    if found["errors"]:
        failed.append(f"{found['errors']} errors ({'; '.join(found['first_errors'])})")
    if found["rss_spread_last_half"] > FLAT:
        failed.append(f"RSS moved {found['rss_spread_last_half']:.0%} in the last half")
    if found["fd_spread_last_half"] > FLAT:
        failed.append(f"descriptors moved {found['fd_spread_last_half']:.0%} in the last half")
    if found["max_result_files"] > found["file_bound"]:
        failed.append(f"{found['max_result_files']} result files > {found['file_bound']}")
    return failed


def run(seconds: float = SECONDS, clients: int = CLIENTS) -> list[Row]:
    found = soak(seconds, clients)
    failed = verdict(found)
    rss, fds = found["rss_mb"], found["fds"]
    return [
        (
            f"soak: {clients} clients × {seconds:.0f} s of small runs (60 %), pages (25 %) and "
            "CSV exports (15 %) on SQLite through `querydeck serve`, rate limits off, "
            f"result_store_max_results {MAX_RESULTS:,}",
            f"{found['requests']:,} requests ({found['rps']} req/s), {found['errors']} errors, "
            f"p50 {found['p50_ms']} ms, p99 {found['p99_ms']} ms (run "
            f"{found['p99_run_ms']}, page {found['p99_page_ms']}, export "
            f"{found['p99_export_ms']}); RSS {rss[0]} → {max(rss)} → {rss[-1]} MB (last half "
            f"±{found['rss_spread_last_half']:.1%}), fds {fds[0]} → {max(fds)} → {fds[-1]} "
            f"(±{found['fd_spread_last_half']:.1%}), result files at most "
            f"{found['max_result_files']:,}",
            f"bounds: no error, last half within {FLAT:.0%} of its median, result files ≤ "
            f"{found['file_bound']:,}",
            "pass" if not failed else "FAIL: " + "; ".join(failed),
        )
    ]


if __name__ == "__main__":
    import json

    args = sys.argv[1:]
    found = soak(float(args[0]) if args else SECONDS, int(args[1]) if len(args) > 1 else CLIENTS)
    print(json.dumps({**found, "failed": verdict(found)}, indent=1))
