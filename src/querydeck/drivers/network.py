"""Shared pieces of drivers that reach a server over TCP: host checks, URL parsing, the
idle-socket check of pooled sessions and the deadline of a handshake."""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import threading
from typing import Any
from urllib.parse import SplitResult, unquote

from querydeck.drivers.base import url_credentials, url_query
from querydeck.errors import ConnectionTargetForbidden, ConnectionUrlInvalid

_NOT_A_HOST = re.compile(r"[\s=,/\\]")


def check_host(host: str, engine: str) -> str:
    """A host name or IP address: never a Unix socket path, a host list or something a
    client library would read as more parameters."""
    if not host or host.startswith(("/", "@", ".")) or _NOT_A_HOST.search(host):
        raise ConnectionTargetForbidden(
            f"The {engine} host must be a host name or an IP address; Unix sockets, paths, "
            "host lists and parameters are not allowed.",
            detail={"option": "host"},
        )
    return host


def server_url_options(parts: SplitResult, engine: str, example: str) -> dict[str, Any]:
    """Options from ``scheme://user:password@host:port/database?sslmode=…``; other query
    parameters are refused."""
    options: dict[str, Any] = dict(url_query(parts, {"sslmode": "sslmode"}))
    try:
        port = parts.port
    except ValueError:
        raise ConnectionUrlInvalid("The URL's port is not a number from 1 to 65535.") from None
    if not parts.hostname:
        raise ConnectionUrlInvalid(f"The URL must name a host: {example}.")
    options["host"] = check_host(unquote(parts.hostname), engine)
    if port is not None:
        options["port"] = port
    database = unquote(parts.path.lstrip("/"))
    if database:
        options["database"] = database
    options.update(url_credentials(parts))
    return options


def socket_readable(fd: int) -> bool:
    """True when an idle session's socket has something to read or is closed: the server
    ended the session, or sent a message nobody asked for (such a session is not reused)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def shut_down(fd: int) -> None:
    """End a TCP connection under a client library's feet (``shutdown``, not ``close``: the
    descriptor stays the library's, which closes it itself): a read blocked on a server that
    never answers returns at once. Thread-safe; a closed or invalid descriptor is ignored."""
    if fd < 0:
        return
    with contextlib.suppress(OSError, ValueError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


#: TCP keepalives of server sessions: a peer that vanished (a host gone, a cable cut) is
#: found within about a minute even while a statement waits.
KEEPALIVE_IDLE_S = 30
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_COUNT = 3


def keep_alive(sock: socket.socket) -> None:
    """Turn on TCP keepalives (Linux's per-socket timings where available)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
            ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


class HandshakeDeadline:
    """Shuts ``sock``'s connection down when the handshake has not ended ``seconds`` after
    this is made, and says whether it did: a client library's read that the shutdown cut
    reports only a lost connection, and a read timeout of the same length may come first.

    The shutdown goes through a duplicate of the descriptor, owned here until :meth:`end`:
    the library may close ``sock`` on an error before :meth:`end` is called, and the number
    of a closed descriptor may already name another socket."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._spare = socket.socket(fileno=os.dup(sock.fileno()))
        self._lock = threading.Lock()
        self._ended = False
        #: The deadline passed and the connection was shut down.
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.expired = True
            with contextlib.suppress(OSError):
                self._spare.shutdown(socket.SHUT_RDWR)

    def end(self) -> None:
        """The handshake is over (done or failed): nothing is shut down after this."""
        self._timer.cancel()
        with self._lock:
            if not self._ended:
                self._ended = True
                self._spare.close()
