"""PostgreSQL → Arrow: the ways to read a 1,000,000-row table, side by side (issue 21).

``python -m bench.wire`` runs each candidate in a process of its own, alternated over
``QD_WIRE_ROUNDS`` rounds (default 3), and prints the median wall time and peak RSS of each
with the Arrow types it produced. ``python -m bench.wire CASE`` runs one and prints its JSON.

The table (``wire_<rows>`` in the ``qd_bench`` database, built by ``bench.results.prepare``)
has the issue's ten columns: bigint, int, float8, numeric(12,2), short and long text,
timestamptz, date, bool and Chinese text, with NULLs in two of them.

Candidates: the driver as it is (``driver``: psycopg's cursor path), ADBC (``adbc_table``,
``adbc_reader``), psycopg's binary cursor with Arrow building each column from the loaded
values (``psycopg_vector``), binary ``COPY`` decoded with numpy (``copy_numpy``) and DuckDB's
postgres scanner from its package (``duckdb_scanner``, in the references' own environment,
see ``bench.refenv``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import refenv
from bench.results import DATABASE, db_url, prepare

ROWS = int(os.environ.get("QD_WIRE_ROWS", "1000000"))
ROUNDS = int(os.environ.get("QD_WIRE_ROUNDS", "3"))
WIRE_COLUMNS = """
    g::bigint AS id,
    (g % 100000)::int AS small,
    g * 1.5::float8 AS ratio,
    ((g % 100000) / 3.0)::numeric(12, 2) AS amount,
    'k' || (g % 5000) AS code,
    CASE WHEN g % 50 = 0 THEN NULL ELSE repeat(md5(g::text), 2) || ' long text ' || g END
        AS note,
    timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at,
    CASE WHEN g % 40 = 0 THEN NULL ELSE date '2020-01-01' + (g % 3000) END AS day,
    g % 3 = 0 AS flag,
    substr('甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥', (g % 20)::int + 1, 3)
        || '客户' || (g % 977) || '号，北京市海淀区' AS zh"""


def wire_table(rows: int = ROWS) -> str:
    return f"wire_{rows}"


def prepare_wire() -> None:
    prepare([ROWS], wire_table, WIRE_COLUMNS)


def emit(value: dict[str, Any]) -> None:
    """Print a case's result with this process's peak RSS (``bench.cases`` imports
    querydeck, which the references' environment lacks)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                value["peak_rss_mb"] = int(line.split()[1]) / 1024
    print(json.dumps(value), flush=True)


def _result(started: float, rows: int, schema: Any) -> None:
    emit(
        {
            "seconds": time.perf_counter() - started,
            "cpu": time.process_time(),
            "rows": rows,
            "types": [str(f.type) for f in schema],
        }
    )


def driver() -> None:
    """The PostgreSQL driver's stream of record batches (today's path or the new one)."""
    from querydeck.drivers.postgres.driver import PostgresDriver

    options = PostgresDriver.Options.model_validate(PostgresDriver.options_from_url(db_url()))
    with PostgresDriver(options).connect(timeout_s=10) as conn:
        started = time.perf_counter()
        stream = conn.execute(f"SELECT * FROM {wire_table()}", timeout_s=600)
        rows = sum(batch.num_rows for batch in stream)
        _result(started, rows, stream.schema)


def adbc_table() -> None:
    import adbc_driver_postgresql.dbapi as adbc

    started = time.perf_counter()
    with adbc.connect(db_url()) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {wire_table()}")
        table = cur.fetch_arrow_table()
    _result(started, table.num_rows, table.schema)


def adbc_reader() -> None:
    import adbc_driver_postgresql.dbapi as adbc

    started = time.perf_counter()
    with adbc.connect(db_url()) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {wire_table()}")
        reader = cur.fetch_record_batch()
        rows = sum(batch.num_rows for batch in reader)
    _result(started, rows, reader.schema)


def psycopg_vector() -> None:
    """psycopg's binary cursor (its C loaders make the Python values) and ``pa.array`` per
    column of each batch (Arrow converts the values in C)."""
    import psycopg
    import pyarrow as pa

    types = [
        pa.int64(),
        pa.int32(),
        pa.float64(),
        pa.decimal128(12, 2),
        pa.string(),
        pa.string(),
        pa.timestamp("us", tz="UTC"),
        pa.date32(),
        pa.bool_(),
        pa.string(),
    ]
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(db_url()) as conn, conn.cursor(name="raw", binary=True) as cur:
        cur.itersize = 8192
        cur.execute(f"SELECT * FROM {wire_table()}")
        while batch := cur.fetchmany(8192):
            columns = list(zip(*batch, strict=True))
            arrays = [pa.array(c, type=t) for c, t in zip(columns, types, strict=True)]
            rows += pa.RecordBatch.from_arrays(arrays, names=[str(i) for i in range(10)]).num_rows
    emit(
        {
            "seconds": time.perf_counter() - started,
            "cpu": time.process_time(),
            "rows": rows,
            "types": [str(t) for t in types],
        }
    )


def copy_numpy() -> None:
    """Binary ``COPY (SELECT …) TO STDOUT`` with the rows decoded by numpy
    (``querydeck.drivers.postgres.binary``), the columns' types from a described cursor."""
    import psycopg
    import pyarrow as pa

    from querydeck.drivers.postgres import types as postgres_types
    from querydeck.drivers.postgres.binary import BinaryRowDecoder

    sql = f"SELECT * FROM {wire_table()}"
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(db_url()) as conn, conn.cursor() as cur:
        cur.execute(f"DECLARE c NO SCROLL CURSOR FOR {sql}")
        described = conn.pgconn.describe_portal(b"c")
        oids = [described.ftype(i) for i in range(described.nfields)]
        names = [described.fname(i).decode() for i in range(described.nfields)]
        schema = pa.schema(
            [
                pa.field(n, postgres_types.column_type(o, *_precision(o, described.fmod(i))))
                for i, (n, o) in enumerate(zip(names, oids, strict=True))
            ]
        )
        decoder = BinaryRowDecoder(schema, oids, conn)
        with cur.copy(f"COPY ({sql}\n) TO STDOUT (FORMAT binary)") as copy:
            pending: list[Any] = []
            first = True
            while data := copy.read():
                if first:
                    data = bytes(data)[19:]
                    first = False
                if len(data) == 2:  # the trailer
                    continue
                pending.append(data)
                if len(pending) == 8192:
                    rows += decode(decoder, pending)
                    pending = []
            if pending:
                rows += decode(decoder, pending)
    _result(started, rows, schema)


def decode(decoder: Any, pending: list[Any]) -> int:
    joined = bytearray(b"".join(pending))
    return int(decoder.decode(joined, [len(row) for row in pending]).num_rows)


def _precision(oid: int, fmod: int) -> tuple[int | None, int | None]:
    if oid == 1700 and fmod >= 4:
        return ((fmod - 4) >> 16) & 0xFFFF, (fmod - 4) & 0xFFFF
    return None, None


def duckdb_scanner(mode: str = "table") -> None:
    """DuckDB's postgres scanner (the extension loaded from its package) reading the table
    to Arrow; run in the references' environment."""
    import duckdb

    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    refenv.load_extension(conn, "postgres_scanner")
    started = time.perf_counter()
    dsn = db_url().replace("'", "''")
    conn.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY)")
    relation = conn.execute(f"SELECT * FROM pg.public.{wire_table()}")
    if mode == "table":
        table = relation.fetch_arrow_table()
        rows, schema = table.num_rows, table.schema
    else:
        reader = relation.to_arrow_reader(8192)
        rows = sum(batch.num_rows for batch in reader)
        schema = reader.schema
    _result(started, rows, schema)


CASES = {
    "driver": driver,
    "adbc_table": adbc_table,
    "adbc_reader": adbc_reader,
    "psycopg_vector": psycopg_vector,
    "copy_numpy": copy_numpy,
    "duckdb_scanner": duckdb_scanner,
}
#: Cases run by the references' interpreter (packages querydeck does not depend on).
IN_REFENV = {"duckdb_scanner"}


def run_one(name: str, *args: str) -> dict[str, Any]:
    """Run case ``name`` in a child. ``driver_before`` is the ``driver`` case on the
    querydeck sources in ``QD_WIRE_BEFORE_SRC`` (an export of an older ``src/``)."""
    python = refenv.python() if name in IN_REFENV else sys.executable
    env = {**os.environ, "QD_BENCH_URL": db_url(), "PYTHONPATH": refenv.path_with_project()}
    if name == "driver_before":
        name = "driver"
        env["PYTHONPATH"] = os.pathsep.join((os.environ["QD_WIRE_BEFORE_SRC"], env["PYTHONPATH"]))
    out = subprocess.run(
        [python, "-m", "bench.wire", name, *args],
        check=True,
        stdout=subprocess.PIPE,
        env=env,
    ).stdout
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def main(names: list[str]) -> None:
    prepare_wire()
    chosen = names or list(CASES)
    samples: dict[str, list[dict[str, Any]]] = {n: [] for n in chosen}
    for _ in range(ROUNDS):
        for name in chosen:
            samples[name].append(run_one(name))
    print(f"{ROWS:,} rows of {DATABASE}.{wire_table()}, medians of {ROUNDS} alternated rounds")
    for name, runs in samples.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(
            f"{name:16} {seconds:6.2f} s ({each})  process CPU {cpu:5.2f} s  "
            f"peak RSS {rss:5.0f} MB  rows {runs[0]['rows']}"
        )
        print(f"{'':16} {', '.join(runs[0]['types'])}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in CASES:
        CASES[sys.argv[1]](*sys.argv[2:])
    else:
        main(sys.argv[1:])
