"""Results that scale, on PostgreSQL: the result store, exports, pages and the whole stack.

Each case runs in its own process, so its peak RSS is its own (VmHWM read from ``/proc``;
see ``bench.cases.peak_rss_mb``). Every figure sits next to its physical reference measured
in the same run: a raw psycopg binary fetch, PostgreSQL's own
``COPY … TO STDOUT (FORMAT csv)``, a raw Arrow fetch (ADBC) + Parquet write, ``OFFSET`` on
the database, and a minimal Starlette + psycopg-pool endpoint.

The data: tables of 1,000,000 and 10,000,000 rows × 10 mixed columns in a database of their
own (``QD_BENCH_DATABASE``, default ``qd_bench``), generated once and reused while
their row counts match. ``QD_BENCH_ROWS=1000000`` skips the 10M cases.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_URL = os.environ.get(
    "QUERYDECK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE = os.environ.get("QD_BENCH_DATABASE", "qd_bench")
SIZES = [int(s) for s in os.environ.get("QD_BENCH_ROWS", "1000000,10000000").split(",")]
COLUMNS = """
    g::bigint AS id,
    (g % 100000)::int AS small,
    g * 1.5::float8 AS ratio,
    (g % 1000)::float4 / 7 AS score,
    (g % 100000)::numeric(12, 2) / 3 AS amount,
    'k' || (g % 5000) AS code,
    repeat(md5(g::text), 2) || ' long text ' || g AS note,
    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at,
    date '2020-01-01' + (g % 3000) AS day,
    g % 3 = 0 AS flag"""


def db_url() -> str:
    return urlunsplit(urlsplit(BASE_URL)._replace(path="/" + DATABASE))


def table(rows: int) -> str:
    return f"bench_{rows}"


def prepare(sizes: list[int] | None = None, name_of: Any = None, columns: str = COLUMNS) -> None:
    """Create the database and the tables (``name_of(rows)`` of ``columns``, by default
    the ``bench_<rows>`` tables) when missing or of the wrong size."""
    import psycopg

    with psycopg.connect(BASE_URL, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(db_url(), autocommit=True) as conn:
        for rows in sizes or SIZES:
            name = (name_of or table)(rows)
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            if exists and exists[0]:
                count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
                if count and count[0] == rows:
                    continue
            print(f"generating {name} ({rows:,} rows)…", file=sys.stderr)
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(
                f"CREATE TABLE {name} AS SELECT {columns} FROM generate_series(1, {rows}) g"
            )
            conn.execute(f"VACUUM ANALYZE {name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_case(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Run ``python -m bench.cases ARGS`` in a child; its JSON result and peak RSS (MB)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.cases", *args],
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    out = process.stdout.read()
    if process.wait() != 0:
        raise RuntimeError(f"bench case {args} failed ({process.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return result, float(result["peak_rss_mb"])


def fmt_s(value: float) -> str:
    return f"{value:.2f} s"


def ratio(mine: float, ref: float, goal: str) -> str:
    return f"{mine / ref:.2f}× ({goal})"


def run() -> list[tuple[str, str, str, str]]:
    prepare()
    rows_out: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="qd-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {"QUERYDECK_DATA_DIR": str(data_dir), "QD_BENCH_URL": db_url()}
        stored: dict[int, str] = {}
        for rows in SIZES:
            mine, mine_rss = run_case("store", table(rows), env=env)
            stored[rows] = mine["run_id"]
            if rows == SIZES[0]:
                raw, raw_rss = run_case("psycopg_binary", table(rows), env=env)
                rows_out.append(
                    (
                        f"SELECT * of {rows:,} rows into the result store",
                        f"{fmt_s(mine['seconds'])}, peak RSS {mine_rss:.0f} MB",
                        f"psycopg binary fetch: {fmt_s(raw['seconds'])}, {raw_rss:.0f} MB",
                        ratio(mine["seconds"], raw["seconds"], "goal ≤ 1.5×, RSS ≤ 250 MB"),
                    )
                )
            else:
                rows_out.append(
                    (
                        f"SELECT * of {rows:,} rows into the result store",
                        f"{fmt_s(mine['seconds'])}, peak RSS {mine_rss:.0f} MB",
                        "(setup of the export case)",
                        "",
                    )
                )
        for rows in SIZES:
            copy, copy_rss = run_case("copy_csv", table(rows), str(Path(tmp) / "c.csv"), env=env)
            arrow, arrow_rss = run_case(
                "adbc_parquet", table(rows), str(Path(tmp) / "a.parquet"), env=env
            )
            for fmt, ref, ref_rss, label in (
                ("csv", copy, copy_rss, "COPY … TO STDOUT (FORMAT csv)"),
                ("parquet", arrow, arrow_rss, "ADBC Arrow fetch + Parquet write"),
            ):
                mine, rss = run_case(
                    "export_api", stored[rows], fmt, str(Path(tmp) / f"e.{fmt}"), env=env
                )
                rows_out.append(
                    (
                        f"export {rows:,} rows to {fmt.upper()} through the API",
                        f"{fmt_s(mine['seconds'])}, peak RSS {rss:.0f} MB",
                        f"{label}: {fmt_s(ref['seconds'])}, {ref_rss:.0f} MB",
                        ratio(mine["seconds"], ref["seconds"], "goal ≤ 1.3×, RSS ≤ 250 MB"),
                    )
                )
            Path(tmp, "c.csv").unlink(missing_ok=True)
            Path(tmp, "a.parquet").unlink(missing_ok=True)
        first = SIZES[0]
        pages, _ = run_case("pages", stored[first], table(first), env=env)
        for label, key in (("first page", "first"), ("page at offset 900,000", "deep")):
            rows_out.append(
                (
                    f"{label} (500 rows) of the {first:,}-row result, API",
                    f"{pages[key] * 1000:.1f} ms (median of {pages['n']})",
                    f"OFFSET on the database: {pages['db_' + key] * 1000:.1f} ms",
                    f"{pages[key] / pages['db_' + key]:.2f}× (goal ≤ 50 ms)",
                )
            )
        for clients in (32, 1):
            rows_out.extend(select1_rows(clients, env))
    return rows_out


#: Alternated rounds of the whole-stack case: single runs on these machines vary by a
#: third within minutes, so the row reports medians and the median of the paired ratios.
SELECT1_ROUNDS = 3


def select1_rows(clients: int, env: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """The whole-stack ``SELECT 1`` row and, at 32 clients, the floor row (querydeck's
    ``GET /healthz``) and the ceiling row (the least work a recorded read-only run must do,
    ``bench/ceiling_app.py``), all against the same reference rounds."""
    stacks: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    for _ in range(SELECT1_ROUNDS):
        stacks.append(run_case("select1", "stack", str(clients), env=env)[0])
        refs.append(run_case("select1", "starlette", str(clients), env=env)[0])
        if clients == 32:
            floors.append(run_case("select1", "healthz", str(clients), env=env)[0])
            ceilings.append(run_case("select1", "ceiling", str(clients), env=env)[0])
    goal = "goal ≥ 0.5×, p99 ≤ 60 ms" if clients == 32 else "one client: latency"
    rows = [
        _select1_row(
            f"SELECT 1, {clients} concurrent client{'s' if clients > 1 else ''}, whole stack "
            f"(uvicorn; lean asyncio HTTP client; medians of {SELECT1_ROUNDS} alternated "
            "rounds)",
            stacks,
            refs,
            goal,
        )
    ]
    if floors:
        rows.append(
            _select1_row(
                "querydeck's floor: GET /healthz (no authentication, no database, no run), "
                f"{clients} clients, same rounds",
                floors,
                refs,
                "what any route costs at least",
            )
        )
    if ceilings:
        shares = [s["rps"] / c["rps"] for s, c in zip(stacks, ceilings, strict=True)]
        rows.append(
            _select1_row(
                "the work alone: a recorded read-only run written as lean as it gets "
                "(bench/ceiling_app.py: token read, run row, read-only transaction with "
                "timeout, cursor and reset, Arrow result file, end row and audit entry; "
                f"no guard, grants or framework), {clients} clients, same rounds",
                ceilings,
                refs,
                f"what the work costs; querydeck reaches {median(shares):.2f}× of it",
            )
        )
    return rows


def _select1_row(
    label: str, stacks: list[dict[str, Any]], refs: list[dict[str, Any]], goal: str
) -> tuple[str, str, str, str]:
    ratios = [s["rps"] / r["rps"] for s, r in zip(stacks, refs, strict=True)]
    errors = sum(int(s["errors"]) for s in stacks)

    def figures(cases: list[dict[str, Any]]) -> str:
        each = ", ".join(f"{c['rps']:.0f}" for c in cases)
        return (
            f"{median([c['rps'] for c in cases]):.0f} req/s ({each}), "
            f"p50 {median([c['p50'] for c in cases]):.1f} ms, "
            f"p99 {median([c['p99'] for c in cases]):.1f} ms"
        )

    return (
        label,
        figures(stacks),
        f"Starlette + psycopg-pool: {figures(refs)}",
        f"{median(ratios):.2f}× throughput, median of the pairs ({goal})"
        + (f"; failed requests: {errors}" if errors else ""),
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def now() -> float:
    return time.perf_counter()
