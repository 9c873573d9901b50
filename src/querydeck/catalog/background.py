"""The background refresh: a thread the Workbench owns refreshes each connection's catalog
when its interval has passed since its last refresh, until it is stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from querydeck.errors import QueryDeckError

log = logging.getLogger("querydeck.catalog")

#: Longest pause between two looks at which connections are due, seconds.
TICK_S = 60.0
#: A connection's own interval (None: the default) and when its catalog was last read.
Schedule = Callable[[str], tuple[float | None, datetime | None]]


class BackgroundRefresher:
    """Calls ``refresh(name)`` for each of ``names()`` whose interval has passed since its
    catalog was last read (or last tried): ``interval_s`` by default, the connection's own
    interval from ``schedule`` when it has one (0: never). A catalog never read is due at
    once. ``interval_s`` 0 turns the background refresh off. A failing connection is
    logged (and recorded by the refresh itself) and tried again an interval later; the
    others go on."""

    def __init__(
        self,
        names: Callable[[], list[str]],
        refresh: Callable[[str], object],
        interval_s: float,
        schedule: Schedule | None = None,
    ) -> None:
        self._names = names
        self._refresh = refresh
        self._interval_s = interval_s
        self._schedule = schedule
        self._tried: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running or self._interval_s <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="qd-catalog-refresh", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self.passes += 1
            self._stop.wait(min(self._interval_s, TICK_S))

    def due(self, name: str) -> bool:
        """Whether ``name``'s interval has passed since its last refresh or attempt."""
        own, refreshed = self._schedule(name) if self._schedule is not None else (None, None)
        interval = self._interval_s if own is None else own
        if interval <= 0:
            return False
        tried = self._tried.get(name)
        if tried is not None and time.monotonic() - tried < interval:
            return False
        if refreshed is None:
            return True
        return (datetime.now(UTC) - refreshed).total_seconds() >= interval

    def run_once(self) -> None:
        try:
            names = self._names()
        except QueryDeckError as exc:
            log.warning("background catalog refresh cannot list connections: %s", exc.code)
            return
        for name in names:
            if self._stop.is_set():
                return
            try:
                if not self.due(name):
                    continue
                self._tried[name] = time.monotonic()
                self._refresh(name)
            except QueryDeckError as exc:
                log.warning("background catalog refresh of %s failed: %s", name, exc.code)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
