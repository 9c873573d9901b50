"""The HTTP transport of a ClickHouse session, with sockets that can be cut.

urllib3's read timeout bounds each read, not a response: a server that drips one byte a
second within one response (its headers, or a block) holds a request for as long as it
drips. Each session's connection pool therefore records the sockets it opens
(:class:`Sockets`), and :meth:`Sockets.cut` shuts them down from any thread, so that a
blocked read fails at once. It is what :meth:`ClickHouseSession.abort` does (the runner
calls it after a cancel that had no effect), and what :func:`deadline` does when
connecting, or a ``KILL QUERY``, takes longer than the connect timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection


class Sockets:
    """The open sockets of one connection pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.cut_count = 0

    def add(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._open.add(sock)

    def cut(self) -> None:
        """Shut every socket down: a read blocked on one fails, and the pool opens new
        ones for later requests."""
        with self._lock:
            opened = list(self._open)
            self.cut_count += 1
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def pool_manager(sockets: Sockets, **options: Any) -> urllib3.PoolManager:
    """A pool manager (``options`` as urllib3's) whose connections record their sockets
    in ``sockets``."""

    class Http(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class Https(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self.sock)

    class HttpPool(urllib3.HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = Https

    manager = urllib3.PoolManager(**options)
    manager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}
    return manager


@contextlib.contextmanager
def deadline(seconds: float, sockets: Sockets) -> Iterator[None]:
    """Cut ``sockets`` if the block has not ended after ``seconds``."""
    timer = threading.Timer(seconds, sockets.cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
