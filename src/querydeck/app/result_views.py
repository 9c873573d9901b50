"""Views of stored results, as the shells see them: sorted and filtered pages, column
statistics and chart aggregations. Each reads a run the caller may read (as the run's own
pages do) and never runs its query again."""

from __future__ import annotations

from querydeck.app.runs import RunService
from querydeck.auth.principal import LOCAL, Principal
from querydeck.errors import ResultCorrupt, ResultExpired
from querydeck.runs.history import History
from querydeck.runs.models import RowsPage, RunInfo
from querydeck.runs.results import insights, jsonrows
from querydeck.runs.results.store import ResultStore, StoredResult
from querydeck.runs.results.views import ResultViews, ViewSpec

#: The most rows one page of a view holds (as a page of the result itself).
MAX_VIEW_PAGE = 10_000


class ResultViewService:
    """Sorted and filtered pages, statistics and chart data of stored results."""

    def __init__(self, runs: RunService, history: History, results: ResultStore) -> None:
        self._runs = runs
        self._history = history
        self._results = results
        self.views = ResultViews(results)

    def _stored(self, run_id: str, actor: Principal) -> tuple[RunInfo, StoredResult]:
        run = self._runs.get(run_id, actor=actor)
        return self._history.stored(run.id, run)

    def rows(
        self,
        run_id: str,
        spec: ViewSpec,
        *,
        offset: int = 0,
        limit: int = 500,
        actor: Principal = LOCAL,
    ) -> RowsPage:
        """A page of a run's stored rows sorted and filtered by ``spec``; ``total`` counts
        the rows that pass the filters."""
        run_id = self._runs.resolve(run_id, actor=actor)
        run, stored = self._stored(run_id, actor)
        if spec.plain:
            return self._history.rows(run_id, offset=offset, limit=limit, known=run)
        try:
            table, total = self.views.page(run_id, stored, spec, offset, min(limit, MAX_VIEW_PAGE))
        except ResultCorrupt:
            self._history.mark(run_id, "corrupt")
            raise
        except ResultExpired:  # the run's rows went away while the view was computed
            self._history.stored(run_id)  # raises the run's own error (expired, missing)
            raise
        return RowsPage(
            run_id=run.id,
            columns=run.columns or [],
            rows=jsonrows.rows(table),
            offset=offset,
            limit=limit,
            total=total,
            truncated=run.truncated,
            complete=True,
        )

    def stats(self, run_id: str, column: str, *, actor: Principal = LOCAL) -> insights.ColumnStats:
        """Statistics of one column of a run's stored rows."""
        run_id = self._runs.resolve(run_id, actor=actor)
        _, stored = self._stored(run_id, actor)
        return insights.column_stats(self._results, run_id, stored, column)

    def chart(
        self,
        run_id: str,
        *,
        x: str,
        y: str | None,
        agg: insights.Aggregate,
        color: str | None = None,
        bins: int = 50,
        actor: Principal = LOCAL,
    ) -> insights.Aggregation:
        """A chart's data aggregated from a run's stored rows."""
        run_id = self._runs.resolve(run_id, actor=actor)
        _, stored = self._stored(run_id, actor)
        return insights.aggregate(
            self._results, run_id, stored, x=x, y=y, agg=agg, color=color, bins=bins
        )
