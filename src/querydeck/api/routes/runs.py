"""/api/v1/runs: start, wait, read rows, cancel, history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.api.responses import OrjsonResponse
from querydeck.api.schemas import RunCreate, RunView
from querydeck.api.waiting import waited
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal
from querydeck.errors import (
    QueryFailed,
    recorded,
)
from querydeck.runs.models import HistoryPage, RowsPage, RunInfo, RunRequest, RunStatus

router = APIRouter(tags=["runs"])
PageLimit = Annotated[int, Query(ge=1, le=10_000, description="Rows per page.")]
RowOffset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip.")]


def _raise_if_failed(run: RunInfo) -> None:
    """A run that ended without rows is answered with its error (and its id)."""
    if run.status in (RunStatus.succeeded, RunStatus.queued, RunStatus.running):
        return
    detail = {**(run.error_detail or {}), "run_id": run.id, "status": run.status.value}
    raise recorded(
        run.error_code,
        run.error_message or f"The run ended {run.status.value}.",
        detail=detail,
        http_status=run.error_status or QueryFailed.http_status,
    )


def _view(workbench: Workbench, run: RunInfo, page_size: int, *, waited: bool = False) -> RunView:
    """The run and its first page; ``waited``: the caller started the run and waited for
    it (a small result's rows are still in memory then)."""
    page = None
    if run.status is RunStatus.succeeded:
        if waited:
            page = workbench.runs.first_rows(run, page_size)
        else:
            page = workbench.runs.rows(run.id, offset=0, limit=page_size, known=run)
    return RunView(run=run, page=page)


@router.post(
    "/runs",
    response_model=RunView,
    responses={202: {"model": RunView, "description": "Still running."}},
)
async def create_run(
    body: RunCreate, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Response:
    """Run one read-only statement. Waits up to ``wait_ms``: 200 with the first page when
    the run has ended, 202 with the run while it is still going."""
    request = RunRequest.model_validate(body.model_dump(include=set(RunRequest.model_fields)))
    # A free run worker starts the run, executes it, reads its first page and renders the
    # answer: the request needs no thread of its own, and the event loop never blocks.
    submission = workbench.runs.submit(
        request, actor=principal, page_size=body.page_size, answer=_rendered
    )
    if submission is None:  # every worker is busy: the run is queued
        return await run_in_threadpool(_start_and_wait, workbench, request, principal, body)
    answer = await waited(submission.done, body.wait_ms / 1000)
    if answer is None:  # still running
        submission.abandoned = True
        run_id = await waited(submission.started, None)
        assert run_id is not None
        run = await run_in_threadpool(workbench.runs.wait, run_id, 0)
        answer = await run_in_threadpool(_rendered, run, None, workbench, body.page_size)
    status, content = answer
    return Response(content, status_code=status, media_type=OrjsonResponse.media_type)


def _rendered(
    run: RunInfo,
    page: RowsPage | None,
    workbench: Workbench | None = None,
    page_size: int = 0,
) -> tuple[int, bytes]:
    """The answer to a run's start: its status code and JSON body (the run's error for a
    run that ended without rows). ``workbench``: read the first page now if it has one."""
    _raise_if_failed(run)
    if page is None and workbench is not None and run.status is RunStatus.succeeded:
        page = workbench.runs.first_rows(run, page_size)
    view = RunView(run=run, page=page)
    status = 200 if run.status.finished else 202
    return status, orjson.dumps(view.model_dump(mode="json"), option=orjson.OPT_UTC_Z)


def _start_and_wait(
    workbench: Workbench, request: RunRequest, principal: Principal, body: RunCreate
) -> Response:
    run_id = workbench.runs.start(request, actor=principal)
    run = workbench.runs.wait(run_id, body.wait_ms / 1000)
    status, content = _rendered(run, None, workbench, body.page_size)
    return Response(content, status_code=status, media_type=OrjsonResponse.media_type)


@router.get("/runs", response_model=HistoryPage)
def list_runs(
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    offset: Offset = 0,
    connection: str | None = None,
    status: RunStatus | None = None,
    q: Annotated[
        str | None, Query(max_length=1000, description="Text the SQL contains (any case).")
    ] = None,
    since: Annotated[datetime | None, Query(description="Runs created at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Runs created before.")] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="next_cursor of the previous page (no gaps/repeats)."),
    ] = None,
    user: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only this user's runs. Administrators: any user; others: only "
            "their own name (another is refused with HISTORY_USER_FORBIDDEN).",
        ),
    ] = None,
) -> HistoryPage:
    """History, newest first, with filters. Follow ``next_cursor`` to page without gaps or
    repeats while new runs arrive."""
    return workbench.runs.listing(
        limit=limit,
        offset=offset,
        connection=connection,
        status=status,
        text=q,
        since=_aware(since),
        until=_aware(until),
        cursor=cursor,
        user=user,
        actor=principal,
    )


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/runs/{run_id}", response_model=RunView)
def get_run(
    run_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal, page_size: PageLimit = 500
) -> RunView:
    """A run, with its first page of rows when it has succeeded."""
    return _view(workbench, workbench.runs.get(run_id, actor=principal), page_size)


@router.get("/runs/{run_id}/rows", response_model=RowsPage)
def get_rows(
    run_id: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    offset: RowOffset = 0,
    limit: PageLimit = 500,
) -> OrjsonResponse:
    """A page of a finished run's stored rows (an offset past the end gives no rows)."""
    page = workbench.runs.rows(run_id, offset=offset, limit=limit, actor=principal)
    return OrjsonResponse(page.model_dump(mode="json"))


@router.post("/runs/{run_id}/cancel", response_model=RunInfo)
def cancel_run(run_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal) -> RunInfo:
    """Stop a running statement on the engine; answers with the run once it has ended."""
    return workbench.runs.cancel(run_id, actor=principal)
