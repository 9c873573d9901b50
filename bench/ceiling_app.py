"""The ceiling for the whole-stack benchmark: the least work a recorded, read-only run must
do, written as lean as it gets (``uvicorn bench.ceiling_app:app``, one process, one event
loop, no framework beyond Starlette, no threads).

Per ``POST /api/v1/runs`` it does what every querydeck run does at the least, and nothing
else: look the bearer token up (SHA-256, one SQLite read), record the run (one SQLite
transaction), run the statement in a read-only transaction with a statement timeout through
a server-side cursor and reset the session afterwards (four PostgreSQL round trips, as
querydeck's driver), write the rows as an Arrow IPC result file with its index, record the
run's end with its audit entry (one transaction), and answer the run and its first page as
JSON. No guard, no grants, no rate limits, no watchdog, no cancel, no validation.

Whatever querydeck does on top of this is what its own code costs; what this does against
the reference (one ``SELECT 1`` round trip, nothing recorded) is what the work costs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import sqlite3
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pyarrow as pa
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: The bearer token the load client sends (``Authorization: Bearer ceiling``).
TOKEN = "ceiling"
_HOME = Path(os.environ["QD_CEILING_DIR"])
_RESULTS = _HOME / "results"
_RECORD = struct.Struct("<qqqqI4x")
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_SETUP = (
    b"BEGIN READ ONLY; SET LOCAL statement_timeout = 30000; SET LOCAL IntervalStyle = 'postgres'"
)
_RESET = (
    b"ROLLBACK; CLOSE ALL; RESET ALL; DEALLOCATE ALL; UNLISTEN *; "
    b"SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, user_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL, sql TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, finished_at TEXT, row_count INTEGER, columns TEXT);
CREATE INDEX IF NOT EXISTS runs_user ON runs (user_name, created_at);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""

POOL = AsyncConnectionPool(os.environ["QD_BENCH_URL"], min_size=8, max_size=8, open=False)
DB = sqlite3.connect(_HOME / "app.db", isolation_level=None, check_same_thread=False)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write(path: Path, payload: bytes) -> None:
    with open(path, "wb", buffering=0) as handle:
        handle.write(payload)


async def create_run(request: Request) -> Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    found = DB.execute("SELECT user_name FROM tokens WHERE digest = ?", (_digest(token),))
    user = found.fetchone()
    if user is None:
        return Response(b'{"code":"UNAUTHENTICATED"}', status_code=401)
    sql = str(orjson.loads(await request.body())["sql"])
    run_id, created = str(uuid.uuid4()), _now()
    with DB:
        DB.execute(
            "INSERT INTO runs (id, user_name, sql, status, created_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, user[0], sql, "running", created),
        )
    async with POOL.connection() as conn:
        cursor = conn.cursor()
        await cursor.execute(_SETUP)
        await cursor.execute(b'DECLARE "c" NO SCROLL CURSOR FOR ' + sql.encode(), binary=True)
        await cursor.execute(b'FETCH FORWARD 1000 FROM "c"')
        rows = await cursor.fetchall()
        names = [column.name for column in cursor.description or ()]
        await cursor.execute(_RESET)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([row[i] for row in rows]) for i in range(len(names))], names=names
    )
    header, message = batch.schema.serialize(), batch.serialize()
    _write(_RESULTS / f"{run_id}.arrow", b"".join([header, message, _EOS]))
    _write(
        _RESULTS / f"{run_id}.idx",
        _RECORD.pack(1, header.size, 0, 0, zlib.crc32(header))
        + _RECORD.pack(0, batch.num_rows, header.size, message.size, zlib.crc32(message)),
    )
    finished = _now()
    columns = [{"name": f.name, "type": str(f.type)} for f in batch.schema]
    with DB:
        DB.execute(
            "UPDATE runs SET status = ?, finished_at = ?, row_count = ?, columns = ? WHERE id = ?",
            ("succeeded", finished, len(rows), orjson.dumps(columns).decode(), run_id),
        )
        DB.execute(
            "INSERT INTO audit (at, action, actor, detail) VALUES (?, ?, ?, ?)",
            (finished, "run.finish", user[0], orjson.dumps({"run": run_id, "sql": sql}).decode()),
        )
    answer = {
        "run": {"id": run_id, "status": "succeeded", "row_count": len(rows)},
        "page": {"columns": columns, "rows": [list(row) for row in rows], "offset": 0},
    }
    return Response(orjson.dumps(answer), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    _RESULTS.mkdir(parents=True, exist_ok=True)
    DB.execute("PRAGMA journal_mode=WAL")
    DB.execute("PRAGMA synchronous=NORMAL")
    DB.executescript(_SCHEMA)
    with DB:
        DB.execute("INSERT OR IGNORE INTO tokens VALUES (?, ?)", (_digest(TOKEN), "bench"))
    await POOL.open()
    yield
    await POOL.close()


app = Starlette(routes=[Route("/api/v1/runs", create_run, methods=["POST"])], lifespan=lifespan)
