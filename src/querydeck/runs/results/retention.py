"""Retention of stored results: by age and by the total size of the result store.

A sweep removes the result files of finished runs older than ``result_max_age_hours``, then
the oldest ones until the store fits in ``result_store_max_bytes`` and
``result_store_max_results``, and until ``result_store_min_free_percent`` of the file system
holding it is free (a store sized for an empty disk must not fill a shared one). Every bound
has a default, so a server nobody configured keeps a bounded store. Results of runs still in
flight are never touched. Each evicted run is marked ``result_state = expired``, so it
answers ``RESULT_EXPIRED`` (410) and can be run again. Sweeps run at start and after runs
end (at most every ``min_interval_s``, or as soon as the store holds a batch of results
beyond ``result_store_max_results`` or bytes beyond its size, in a background thread so that
a sweep never delays the run that just ended); a lock keeps them from overlapping. A
starting process skips its sweep when any process swept less than a minute ago (the
modification time of a file in the result directory). A sweep walks the result store's
inventory oldest first and stops at the first result that may stay: it costs what it evicts,
not what the store holds (the inventory itself is read from the directory at start and every
``RESCAN_S``).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from querydeck.runs.results.store import ResultStore
from querydeck.store.database import AppDatabase

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


log = logging.getLogger("querydeck.runs")

#: A file in the result directory whose modification time is that of the newest sweep by
#: any process (a file, not a row: a sweep changes nothing in the app database but the
#: runs it expires).
SWEPT_MARK = ".swept"
#: A starting process skips its sweep when a process swept less than this ago.
SHARED_INTERVAL_S = 60.0


class Retention:
    """Evicts stored results by age and total size."""

    def __init__(
        self,
        store: ResultStore,
        db: AppDatabase,
        *,
        max_age_s: float,
        max_bytes: int,
        in_flight: Callable[[], set[str]],
        max_results: int | None = None,
        min_free_percent: float = 0.0,
        min_interval_s: float = 10.0,
    ) -> None:
        self._store = store
        self._db = db
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.max_results = max_results
        self.min_free_percent = min_free_percent
        self._in_flight = in_flight
        self._lock = threading.Lock()
        self.min_interval_s = min_interval_s
        self._last = float("-inf")

    def sweep(self, now: float | None = None) -> list[str]:
        """Evict what retention says must go; returns the evicted run ids. A sweep already
        running (one started as runs end) is waited for first, so that what the caller
        reads afterwards (the runs marked expired) is its outcome, never a sweep half-way."""
        self._lock.acquire()
        try:
            self._last = time.monotonic()
            evicted = self._sweep(time.time() if now is None else now)
            self._mark_swept()
            return evicted
        finally:
            self._lock.release()

    def _mark_swept(self) -> None:
        mark = self._store.directory / SWEPT_MARK
        try:
            mark.touch(mode=0o600)  # now, also when it is there already
        except OSError:  # only an optimisation of the next start is lost
            log.warning("could not record the retention sweep's time")

    def sweep_at_start(self) -> list[str]:
        """The sweep of a starting process, unless any process swept less than
        ``SHARED_INTERVAL_S`` ago: the first sweep lists the whole result directory (seconds
        for a big store), and every CLI command starts a process. Skipped, it still ends
        the runs that stopped processes left behind, and this process's next sweep comes
        when runs end, as after a sweep."""
        try:
            swept_at: float | None = (self._store.directory / SWEPT_MARK).stat().st_mtime
        except OSError:
            swept_at = None
        if swept_at is None or not 0 <= time.time() - swept_at < SHARED_INTERVAL_S:
            return self.sweep()
        self._in_flight()
        self._last = time.monotonic()
        return []

    @property
    def overshoot(self) -> int:
        """Results beyond ``max_results`` that start a sweep before its interval: a sweep
        then evicts a batch (2 % of the bound), not one result after every run."""
        return 1 + (self.max_results or 0) // 50

    def maybe_sweep(self, *, early: bool = False) -> list[str]:
        """A sweep, unless one ran less than ``min_interval_s`` ago and ``early`` is
        False (a sweep reads the runs in flight and marks what it evicts: not after every
        one of many small runs)."""
        if not early and time.monotonic() - self._last < self.min_interval_s:
            return []
        return self.sweep()

    def sweep_soon(self) -> None:
        """Start a sweep in a background thread when one is due (called as runs end): every
        ``min_interval_s``, and sooner once the store holds ``overshoot`` more results than
        ``max_results`` (or more bytes than ``max_bytes``): many small runs a second must
        not pile up thousands of files between two sweeps."""
        if self._lock.locked():
            return
        if time.monotonic() - self._last < self.min_interval_s and not self._store.over(
            max_results=None if self.max_results is None else self.max_results + self.overshoot,
            max_bytes=self.max_bytes,
        ):
            return
        threading.Thread(target=self._background, name="querydeck-retention", daemon=True).start()

    def _background(self) -> None:
        try:
            self.maybe_sweep(early=True)
        except Exception:  # a failing sweep must not kill anything; it is tried again later
            log.exception("result retention sweep failed")

    def _sweep(self, now: float) -> list[str]:
        evicted = self._store.evictable(
            now=now,
            max_age_s=self.max_age_s,
            max_bytes=self.max_bytes,
            keep=self._in_flight(),
            max_results=self.max_results,
            free_bytes=self._missing_free_bytes(),
        )
        for run_id in evicted:
            self._store.delete(run_id)
        if evicted:
            self._mark(evicted)
            log.info("evicted %d stored result(s)", len(evicted))
        return evicted

    def _missing_free_bytes(self) -> int:
        """How many bytes must be freed for the file system to have its free share."""
        if self.min_free_percent <= 0:
            return 0
        try:
            usage = shutil.disk_usage(self._store.directory)
        except OSError:  # unknown: the other bounds still hold
            return 0
        return max(0, int(usage.total * self.min_free_percent / 100) - usage.free)

    def _mark(self, run_ids: list[str]) -> None:
        from sqlalchemy import update

        from querydeck.store.tables import RunRow

        def change(tx: Session) -> None:
            tx.execute(update(RunRow).where(RunRow.id.in_(run_ids)).values(result_state="expired"))

        self._db.write(change)
