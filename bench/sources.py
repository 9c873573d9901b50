"""Files and joins across sources: Parquet on a local S3 server, and a federated join.

- **Parquet over S3**: 1,000,000 rows in one Parquet object on moto's S3 server (started on
  127.0.0.1 for the run): ``SELECT *`` through an ``s3`` connection into the result store,
  next to DuckDB reading the same object with httpfs into Arrow batches.
- **Federated join**: a 1,000,000-row PostgreSQL table joined with a 1,000,000-row Parquet
  file through a ``federated`` connection into the result store, next to DuckDB alone
  attaching the same table and reading the same file, into Arrow batches.

Each case runs in its own process (``python -m bench.sources CASE ARGS``, one JSON line);
querydeck and the reference alternate, and each figure is the median of the rounds. The
clocks leave out what a process does once, on both sides: the reference's DuckDB and
pyarrow imports and its ``duckdb.connect()``; querydeck's engine modules and a first run
(``SELECT 1`` on an in-memory DuckDB connection: the run manager, the guard and its
dialect, the history's prepared statements), as a server has done before its next run.
Neither side has loaded the extension it reads with before its clock starts. Each side's
CPU seconds (all its threads, inside the clock) are noted beside the times.
The PostgreSQL table lives in the results benchmark's database (``qd_bench``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.results import BASE_URL, DATABASE, db_url, fmt_s, ratio

ROWS = 1_000_000
ROUNDS = int(os.environ.get("QD_BENCH_SOURCE_ROUNDS", "3"))
FED_TABLE = f"bench_fed_{ROWS}"
COLUMNS = """
    range::BIGINT AS id,
    (range % 100000)::INTEGER AS small,
    range * 1.5 AS ratio,
    'k' || (range % 5000) AS code,
    md5(range::VARCHAR) || ' note ' || range AS note,
    TIMESTAMP '2024-01-01' + range * INTERVAL 1 SECOND AS at"""


def prepare_postgres() -> None:
    """The 1M-row table of the federated join, when missing or of the wrong size."""
    import psycopg

    with psycopg.connect(BASE_URL, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    with psycopg.connect(db_url(), autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (FED_TABLE,)).fetchone()
        if exists and exists[0]:
            count = conn.execute(f"SELECT count(*) FROM {FED_TABLE}").fetchone()
            if count and count[0] == ROWS:
                return
        conn.execute(f"DROP TABLE IF EXISTS {FED_TABLE}")
        conn.execute(
            f"CREATE TABLE {FED_TABLE} AS SELECT g::bigint AS id, 'name ' || g AS name, "
            f"g % 1000 AS grp FROM generate_series(1, {ROWS}) g"
        )
        conn.execute(f"VACUUM ANALYZE {FED_TABLE}")


def write_parquet(path: Path, select: str) -> None:
    import duckdb

    with duckdb.connect() as conn:
        conn.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")


def run_case(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.sources", *args],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def alternate(mine: tuple[str, ...], reference: tuple[str, ...]) -> tuple[float, float, str]:
    """Medians of querydeck's and the reference's seconds over alternated rounds, and
    their CPU seconds (all threads of the process, inside the clock) as a note."""
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(run_case(*mine))
        theirs.append(run_case(*reference))
    cpu = (
        f"CPU {statistics.median(r['cpu'] for r in ours):.2f} s vs "
        f"{statistics.median(r['cpu'] for r in theirs):.2f} s"
    )
    return (
        statistics.median(r["seconds"] for r in ours),
        statistics.median(r["seconds"] for r in theirs),
        cpu,
    )


def run() -> list[tuple[str, str, str, str]]:
    from tests import s3server

    prepare_postgres()
    rows: list[tuple[str, str, str, str]] = []
    server = s3server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="qd-bench-sources-") as tmp:
            root = Path(tmp)
            wide = root / "wide.parquet"
            write_parquet(wide, f"SELECT {COLUMNS} FROM range({ROWS})")
            bucket = server.new_bucket()
            server.put(bucket, "bench/wide.parquet", wide.read_bytes())
            options = json.dumps(server.options(bucket, "bench"))
            mine, ref, cpu = alternate(
                ("s3_store", str(root / "data-s3"), options), ("s3_duckdb", options)
            )
            rows.append(
                (
                    f"SELECT * of a {ROWS:,}-row Parquet object on local S3 into the result store",
                    fmt_s(mine),
                    f"DuckDB reading the same object (httpfs) into Arrow: {fmt_s(ref)} ({cpu})",
                    ratio(mine, ref, "goal ≤ 1.3×"),
                )
            )
            lake = root / "files" / "lake"
            lake.mkdir(parents=True)
            write_parquet(
                lake / "cities.parquet",
                f"SELECT range + 1 AS id, 'city ' || (range % 977) AS city FROM range({ROWS})",
            )
            mine, ref, cpu = alternate(
                ("federated_store", str(root), db_url()),
                ("federated_duckdb", str(lake / "cities.parquet"), db_url()),
            )
            rows.append(
                (
                    f"federated join of a {ROWS:,}-row PostgreSQL table with a {ROWS:,}-row "
                    "Parquet file into the result store",
                    fmt_s(mine),
                    f"DuckDB alone (postgres attach + read_parquet) into Arrow: {fmt_s(ref)} "
                    f"({cpu})",
                    ratio(mine, ref, "goal ≤ 1.3×"),
                )
            )
    finally:
        server.stop()
    return rows


# --- the cases, each in its own process ---------------------------------------------------

JOIN = "SELECT p.id, p.name, p.grp, c.city FROM {people} p JOIN {cities} c ON c.id = p.id"


def emit(seconds: float, rows: int, cpu: float) -> None:
    print(json.dumps({"seconds": seconds, "rows": rows, "cpu": cpu}), flush=True)


def warm_reference() -> None:
    """What the reference's process loads before its clock starts: DuckDB, and pyarrow,
    which its first ``to_arrow_reader`` would otherwise import inside the clock (querydeck's
    engine module imports it already; said here so that it stays so)."""
    import duckdb  # noqa: F401
    import pyarrow  # noqa: F401


def _store(
    settings: dict[str, Any], connections: list[tuple[str, dict[str, Any]]], sql: str
) -> None:
    # What a server has loaded once it has answered a run (the reference imports DuckDB
    # and pyarrow before its clock starts too): the engine side of the file drivers here,
    # and the rest by a first run on an in-memory DuckDB connection below.
    import querydeck.drivers.federated.session
    import querydeck.drivers.files.tables  # noqa: F401
    from querydeck.app.workbench import Workbench
    from querydeck.runs.models import RunRequest
    from querydeck.settings import Settings

    with Workbench(Settings(**settings)) as wb:
        for name, definition in connections:
            with contextlib.suppress(Exception):
                wb.connections.create(name, **definition)
        # A server's first run builds the run manager, imports the guard with its DuckDB
        # dialect and prepares the history's statements, once: this one does, on a
        # connection that loads no extension and reads nothing of the benchmark's.
        with contextlib.suppress(Exception):
            wb.connections.create("warm", driver="duckdb", options={})
        warm = wb.runs.run(RunRequest(connection="warm", sql="SELECT 1 AS one"))
        assert warm.status.value == "succeeded", warm.error_message
        started, cpu = time.perf_counter(), time.process_time()
        run = wb.runs.run(
            RunRequest(connection=connections[-1][0], sql=sql, export_all=True, timeout_s=600)
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert run.status.value == "succeeded", run.error_message
    emit(seconds, int(run.row_count or 0), cpu)


def s3_store(data_dir: str, options: str) -> None:
    _store(
        {"data_dir": data_dir, "export_max_rows": ROWS},
        [("s3", {"driver": "s3", "options": json.loads(options)})],
        "SELECT * FROM wide",
    )


def _arrow_rows(conn: Any, sql: str) -> int:
    reader = conn.execute(sql).to_arrow_reader(8192)
    return sum(batch.num_rows for batch in reader)


def s3_duckdb(options: str) -> None:
    import duckdb

    from querydeck.drivers.duckdb.engine import load_packaged_extension

    o = json.loads(options)
    warm_reference()
    with duckdb.connect() as conn:
        started, cpu = time.perf_counter(), time.process_time()
        load_packaged_extension(conn, "httpfs")
        conn.execute(
            f"CREATE SECRET (TYPE s3, KEY_ID '{o['access_key_id']}', SECRET "
            f"'{o['secret_access_key']}', ENDPOINT '{o['endpoint']}', URL_STYLE 'path', "
            "USE_SSL false, REGION 'us-east-1')"
        )
        rows = _arrow_rows(conn, f"SELECT * FROM 's3://{o['bucket']}/bench/wide.parquet'")
        emit(time.perf_counter() - started, rows, time.process_time() - cpu)


def federated_store(root: str, url: str) -> None:
    base = Path(root)
    _store(
        {
            "data_dir": str(base / "data-fed"),
            "file_roots": [base / "files"],
            "export_max_rows": ROWS,
        },
        [
            ("pg", {"url": url, "allow_privileged": True}),
            ("lake", {"driver": "files", "options": {"path": str(base / "files" / "lake")}}),
            ("fed", {"driver": "federated", "options": {"sources": ["pg", "lake"]}}),
        ],
        JOIN.format(people=f"pg.public.{FED_TABLE}", cities="lake.main.cities"),
    )


def federated_duckdb(parquet: str, url: str) -> None:
    import duckdb

    from querydeck.drivers.duckdb.engine import load_packaged_extension

    warm_reference()
    with duckdb.connect() as conn:
        started, cpu = time.perf_counter(), time.process_time()
        load_packaged_extension(conn, "postgres_scanner")
        conn.execute(f"ATTACH '{url}' AS pg (TYPE postgres, READ_ONLY)")
        rows = _arrow_rows(
            conn,
            JOIN.format(people=f"pg.public.{FED_TABLE}", cities=f"read_parquet('{parquet}')"),
        )
        emit(time.perf_counter() - started, rows, time.process_time() - cpu)


CASES = {
    "s3_store": s3_store,
    "s3_duckdb": s3_duckdb,
    "federated_store": federated_store,
    "federated_duckdb": federated_duckdb,
}

if __name__ == "__main__":
    CASES[sys.argv[1]](*sys.argv[2:])
