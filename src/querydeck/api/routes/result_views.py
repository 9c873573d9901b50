"""/api/v1/runs/{id}/view, /stats and /aggregate: sorted and filtered pages, column
statistics and chart data of a run's stored rows (the query is never run again)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import WorkbenchDep
from querydeck.api.responses import OrjsonResponse
from querydeck.api.routes.runs import PageLimit, RowOffset
from querydeck.runs.models import RowsPage
from querydeck.runs.results import insights
from querydeck.runs.results.views import MAX_FILTERS, MAX_SORT_KEYS, parse_spec

router = APIRouter(tags=["runs"])
ColumnName = Annotated[str, Query(min_length=1, max_length=1000)]


class TopValue(BaseModel):
    value: Any
    count: int


class ColumnStatsView(BaseModel):
    column: str
    rows: int
    nulls: int
    distinct: int
    min: Any = Field(description="Smallest value (null for lists, maps and structs).")
    max: Any
    top: list[TopValue] = Field(description="The most frequent values, most frequent first.")


class AggregateRow(BaseModel):
    x: Any
    x_end: Any = Field(default=None, description="The end of x's bin (binned x only).")
    color: Any = None
    y: Any


class AggregationView(BaseModel):
    rows: list[AggregateRow]
    binned: bool = Field(description="x was binned into equal ranges [x, x_end).")
    groups: int
    truncated: bool = Field(description="More groups than the answer holds.")


@router.get("/runs/{run_id}/view", response_model=RowsPage)
async def view_rows(
    run_id: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    sort: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description=f'JSON array of up to {MAX_SORT_KEYS} {{"column", "desc"}}.',
        ),
    ] = None,
    filter: Annotated[  # noqa: A002
        str | None,
        Query(
            max_length=40_000,
            description=f'JSON array of up to {MAX_FILTERS} {{"column", "op", "value"}}; op: '
            "eq, ne, lt, le, gt, ge, between ([low, high]), contains (text, any case), "
            "is_null, not_null.",
        ),
    ] = None,
    offset: RowOffset = 0,
    limit: PageLimit = 500,
) -> OrjsonResponse:
    """A page of a finished run's stored rows, sorted and filtered on the server; total
    counts the rows that pass the filters. The first request computes the view (a sort of
    a million rows takes about a second); its pages are then as cheap as the result's."""
    spec = parse_spec(sort, filter)
    page = await run_in_threadpool(
        workbench.result_views.rows, run_id, spec, offset=offset, limit=limit, actor=principal
    )
    return OrjsonResponse(page.model_dump(mode="json"))


@router.get("/runs/{run_id}/stats", response_model=ColumnStatsView)
def column_stats(
    run_id: str, column: ColumnName, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> ColumnStatsView:
    """Rows, NULLs, distinct values, minimum, maximum and the most frequent values of one
    column of a run's stored rows."""
    stats = workbench.result_views.stats(run_id, column, actor=principal)
    return ColumnStatsView.model_validate(stats, from_attributes=True)


@router.get("/runs/{run_id}/aggregate", response_model=AggregationView)
def aggregate(
    run_id: str,
    x: ColumnName,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    agg: insights.Aggregate = "count",
    y: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    color: Annotated[str | None, Query(min_length=1, max_length=1000)] = None,
    bins: Annotated[int, Query(ge=1, le=insights.MAX_BINS)] = 50,
) -> AggregationView:
    """A chart's data: agg of y grouped by x (and colour); a numeric or time x with more
    distinct values than bins is binned. At most 1,000 groups."""
    found = workbench.result_views.chart(
        run_id, x=x, y=y, agg=agg, color=color, bins=bins, actor=principal
    )
    return AggregationView.model_validate(found, from_attributes=True)
