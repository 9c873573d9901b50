"""Arrow's memory pool in querydeck: jemalloc where pyarrow has it, else the system
allocator, instead of pyarrow's usual default (mimalloc).

With short-lived buffers allocated and freed across threads (exports), mimalloc keeps
more memory resident than jemalloc or the system allocator, at no gain in speed (the
figures are in BENCHMARKS.md). Exports pass :func:`memory_pool` to the Arrow calls that
take a pool; ``querydeck serve`` also makes it pyarrow's default (:func:`make_default`)
for the Arrow calls made from Python without one (the drivers' conversions of fetched
rows). Arrow's C++ internals that take no pool
(the Parquet writer's column writers) keep the one chosen when the process started, by
``ARROW_DEFAULT_MEMORY_POOL``, which the ``querydeck`` command sets on Linux before pyarrow
loads (:mod:`querydeck.entry`); set in the environment, that variable also wins here.
"""

from __future__ import annotations

import functools
import os

import pyarrow as pa


@functools.cache
def memory_pool() -> pa.MemoryPool:
    """jemalloc, else the system allocator; the default pool when
    ``ARROW_DEFAULT_MEMORY_POOL`` chooses one."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return pa.default_memory_pool()
    try:
        return pa.jemalloc_memory_pool()
    except pa.ArrowNotImplementedError:  # a pyarrow built without jemalloc
        return pa.system_memory_pool()


def make_default() -> pa.MemoryPool:
    """Make :func:`memory_pool` pyarrow's default pool in this process; returns it."""
    pool = memory_pool()
    pa.set_memory_pool(pool)
    return pool
