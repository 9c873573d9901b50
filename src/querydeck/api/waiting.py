"""Waiting on the event loop for work that a thread of the core finishes."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # not cancelled by a timeout meanwhile
        waiter.set_result(None)


async def waited(future: Future[T], timeout_s: float | None) -> T | None:
    """The result of ``future`` (its exception raised) once it is done, or None when
    ``timeout_s`` passes first (None: no limit). No thread waits for it: the thread that
    completes it wakes the event loop."""
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def done(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
                loop.call_soon_threadsafe(_wake, waiter)

        future.add_done_callback(done)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None
    return future.result()
