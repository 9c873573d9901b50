"""Retention of the run history: runs that ended more than ``history_retention_days`` ago
(by when they were asked for) are deleted with their stored results.

Off unless the setting is given. Runs still queued or running are never touched, whatever
their age. The deleting is :class:`querydeck.audit.pruning.Pruner`'s: oldest first, in
batches, in the background, each prune recorded as a ``history.prune`` audit entry. The
result files of a batch are removed once its rows are gone (a run's page then answers
``RUN_NOT_FOUND``, as for any run that does not exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner, PruneTarget
from querydeck.runs.models import RunStatus
from querydeck.runs.results.store import ResultStore
from querydeck.store.database import AppDatabase

_ENDED = [status.value for status in RunStatus if status.finished]


def history_pruner(
    db: AppDatabase, audit: AuditLog, results: ResultStore, max_age_days: float | None
) -> Pruner:
    def remove_results(run_ids: Sequence[Any]) -> None:
        for run_id in run_ids:
            results.delete(run_id)

    return Pruner(
        db,
        audit,
        action="history.prune",
        max_age_days=max_age_days,
        target=PruneTarget(
            table="qd_runs",
            key="id",
            age="created_at",
            where=f"status IN ({', '.join('?' * len(_ENDED))})",
            params=tuple(_ENDED),
        ),
        after=remove_results,
    )
