"""The background refresh: a thread the Workbench owns refreshes every connection's
catalog on an interval, until it is stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from querydeck.errors import QueryDeckError

log = logging.getLogger("querydeck.catalog")


class BackgroundRefresher:
    """Calls ``refresh(name)`` for each of ``names()`` every ``interval_s`` seconds (the
    first pass right after start). A failing connection is logged (and recorded by the
    refresh itself); the others go on."""

    def __init__(
        self,
        names: Callable[[], list[str]],
        refresh: Callable[[str], object],
        interval_s: float,
    ) -> None:
        self._names = names
        self._refresh = refresh
        self._interval_s = interval_s
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
            self._stop.wait(self._interval_s)

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
                self._refresh(name)
            except QueryDeckError as exc:
                log.warning("background catalog refresh of %s failed: %s", name, exc.code)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
