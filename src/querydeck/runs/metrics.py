"""Prometheus metrics of runs: counts by status and driver, and a duration histogram.

They are kept in a process that exposes them: the API (``create_app``) calls
:func:`enable`, which registers them (at zero, on ``/metrics`` from then on). A CLI process
has no ``/metrics``: its runs record nothing and it never imports prometheus_client.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from querydeck.runs.models import RunStatus

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

_lock = threading.Lock()
_collectors: tuple[Counter, Histogram] | None = None


def enable() -> None:
    """Register the run metrics with prometheus_client's registry (once per process)."""
    global _collectors  # one registry per process, as prometheus_client's own
    with _lock:
        if _collectors is not None:
            return
        from prometheus_client import Counter, Histogram

        _collectors = (
            Counter(
                "querydeck_runs_total", "Runs finished, by status and driver.", ["status", "driver"]
            ),
            Histogram(
                "querydeck_run_duration_seconds",
                "Wall time of finished runs, by driver.",
                ["driver"],
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            ),
        )


def record_finished(driver: str, status: RunStatus, seconds: float) -> None:
    collectors = _collectors
    if collectors is None:
        return
    runs, run_seconds = collectors
    runs.labels(status=status.value, driver=driver).inc()
    if status is not RunStatus.rejected:
        run_seconds.labels(driver=driver).observe(seconds)
