"""Engine pools: engine sessions reused across runs of the same registered connection.

Opening an engine session with a server (TCP, TLS, authentication) costs more than a short
query, so the runner keeps up to ``session_pool_size`` idle sessions per connection. A session
goes back to its pool only when its run ended cleanly (no error, no cancel, no watchdog)
and :meth:`EngineSession.reset` made it as fresh as a new one (drivers that cannot reset are
never pooled); otherwise it is closed. Sessions idle longer than ``session_pool_idle_s``
are closed by a reaper thread. A pool is keyed by the connection's id and the time it was
last changed, so changed options (host, password...) never reuse an old session. A pooled
session was opened through the driver like any other, so the outbound-address policy and
the file roots were checked when it was opened.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from querydeck.drivers.base import EngineSession
from querydeck.errors import QueryDeckError

log = logging.getLogger("querydeck.runs")

#: A session idle longer than this answers a ping before it is handed out again.
PING_AFTER_IDLE_S = 5.0


@dataclass
class _Idle:
    conn: EngineSession
    since: float


@dataclass
class _Pool:
    version: str
    idle: deque[_Idle] = field(default_factory=deque)


class EnginePools:
    """One pool of idle engine sessions per registered connection; thread-safe."""

    def __init__(self, *, size: int, idle_timeout_s: float) -> None:
        self.size = size
        self.idle_timeout_s = idle_timeout_s
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def acquire(self, key: str, version: str, open_: Callable[[], EngineSession]) -> EngineSession:
        """An idle session of connection ``key`` (at ``version``), or a new one from
        ``open_``. Idle sessions that look dead are closed and skipped."""
        while True:
            with self._lock:
                pool = self._pools.get(key)
                if pool is not None and pool.version != version:
                    stale = list(pool.idle)
                    del self._pools[key]
                    pool = None
                else:
                    stale = []
                item = pool.idle.pop() if pool is not None and pool.idle else None
            _close_all(x.conn for x in stale)
            if item is None:
                return open_()
            if self._usable(item):
                return item.conn
            _close(item.conn)

    @staticmethod
    def _usable(item: _Idle) -> bool:
        if not item.conn.alive():
            return False
        if time.monotonic() - item.since < PING_AFTER_IDLE_S:
            return True
        try:
            item.conn.ping()
        except QueryDeckError:
            return False
        return True

    def release(self, key: str, version: str, conn: EngineSession, *, reusable: bool) -> None:
        """Give a session back after a run: reset and keep it when ``reusable`` and there
        is room, else close it."""
        if not reusable or self.size == 0 or self._closed:
            _close(conn)
            return
        try:
            fresh = conn.reset()
        except QueryDeckError as exc:
            log.info("pooled session discarded: reset failed (%s)", exc.code)
            fresh = False
        if not fresh:
            _close(conn)
            return
        with self._lock:
            pool = self._pools.get(key)
            if pool is None or pool.version != version:
                stale = list(pool.idle) if pool is not None else []
                pool = self._pools[key] = _Pool(version)
            else:
                stale = []
            keep = not self._closed and len(pool.idle) < self.size
            if keep:
                pool.idle.append(_Idle(conn, time.monotonic()))
                self._start_reaper()
        _close_all(x.conn for x in stale)
        if not keep:
            _close(conn)

    def idle_count(self, key: str | None = None) -> int:
        """Idle sessions in one pool (or all of them)."""
        with self._lock:
            if key is None:
                return sum(len(p.idle) for p in self._pools.values())
            pool = self._pools.get(key)
            return len(pool.idle) if pool is not None else 0

    def clear(self, key: str | None = None) -> None:
        """Close the idle sessions of one connection (or of all)."""
        with self._lock:
            keys = [key] if key is not None else list(self._pools)
            pools = [self._pools.pop(k) for k in keys if k in self._pools]
        _close_all(x.conn for p in pools for x in p.idle)

    def expire(self, now: float | None = None) -> int:
        """Close sessions idle longer than the idle timeout; returns how many."""
        limit = (time.monotonic() if now is None else now) - self.idle_timeout_s
        old: list[EngineSession] = []
        with self._lock:
            for pool in self._pools.values():
                while pool.idle and pool.idle[0].since <= limit:  # oldest on the left
                    old.append(pool.idle.popleft().conn)
        _close_all(old)
        return len(old)

    def close(self) -> None:
        """Close every idle session and stop the reaper; later releases close theirs."""
        self._closed = True
        self._stop.set()
        reaper = self._reaper
        if reaper is not None:
            reaper.join(timeout=5)
        self.clear()

    def _start_reaper(self) -> None:  # called with the lock held
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="qd-pool-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        interval = min(max(self.idle_timeout_s / 4, 0.05), 30.0)
        while not self._stop.wait(interval):
            try:
                self.expire()
            except Exception:  # the reaper must survive a session that fails to close
                log.exception("closing idle sessions failed")


def _close(conn: EngineSession) -> None:
    with contextlib.suppress(Exception):  # closing is best effort; the session is gone
        conn.close()


def _close_all(conns: Iterable[EngineSession]) -> None:
    for conn in conns:
        _close(conn)
