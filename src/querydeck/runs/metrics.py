"""Prometheus metrics of runs: counts by status and driver, and a duration histogram."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from querydeck.runs.models import RunStatus

RUNS = Counter("querydeck_runs_total", "Runs finished, by status and driver.", ["status", "driver"])
RUN_SECONDS = Histogram(
    "querydeck_run_duration_seconds",
    "Wall time of finished runs, by driver.",
    ["driver"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def record_finished(driver: str, status: RunStatus, seconds: float) -> None:
    RUNS.labels(status=status.value, driver=driver).inc()
    if status is not RunStatus.rejected:
        RUN_SECONDS.labels(driver=driver).observe(seconds)
