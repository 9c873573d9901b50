"""Pausing Python's cyclic garbage collector while a catalog is assembled.

Describing a big schema creates hundreds of thousands of small, acyclic objects; every
few hundred allocations the cyclic collector walks the young heap for nothing, a large
share of a big refresh. Reference counting still
frees everything as usual; the collector is re-enabled when the last pause ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
