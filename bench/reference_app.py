"""The reference for the whole-stack benchmark: a minimal Starlette endpoint running
``SELECT 1`` on a psycopg-pool connection (``uvicorn bench.reference_app:app``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

POOL = AsyncConnectionPool(os.environ["QD_BENCH_URL"], min_size=8, max_size=8, open=False)


async def select1(request: Request) -> JSONResponse:
    async with POOL.connection() as conn:
        cur = await conn.execute("SELECT 1")
        row = await cur.fetchone()
    return JSONResponse({"rows": [list(row or ())]})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await POOL.open()
    yield
    await POOL.close()


app = Starlette(routes=[Route("/select1", select1, methods=["POST"])], lifespan=lifespan)
