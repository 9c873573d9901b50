"""/api/v1/runs/{id}/export and /rerun: streaming exports of stored results, re-runs."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import WorkbenchDep
from querydeck.api.responses import OrjsonResponse
from querydeck.api.routes.runs import _raise_if_failed, _view
from querydeck.api.schemas import MAX_WAIT_MS, RunView
from querydeck.runs.export.formats import ExportFormat

router = APIRouter(tags=["runs"])


@router.get(
    "/runs/{run_id}/export",
    responses={
        200: {"description": "The rows, streamed.", "content": {"text/csv": {}}},
        409: {"description": "The run did not succeed (failed, cancelled...) or is running."},
        410: {"description": "The run's rows were evicted or are gone; run it again."},
    },
)
def export_run(
    run_id: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    format: Annotated[ExportFormat, Query(description="File format.")] = ExportFormat.csv,  # noqa: A002
) -> StreamingResponse:
    """Stream a succeeded run's stored rows as CSV, TSV, JSON, NDJSON or Parquet, in
    constant memory. The query is never run again."""
    export = workbench.runs.export(run_id, format, actor=principal)
    headers = {
        "Content-Disposition": f'attachment; filename="{export.filename}"; '
        f"filename*=UTF-8''{quote(export.filename)}",
        "X-Querydeck-Rows": str(export.total_rows),
    }
    if export.truncated_columns:  # values cut to max_value_bytes when stored: never silent
        headers["X-Querydeck-Value-Truncated"] = ",".join(
            quote(name, safe="") for name in export.truncated_columns
        )
    chunks = export.chunks()
    # Runs after the response, also when the client went away mid-stream: closing the
    # generator reports the export (aborted, with the bytes sent so far) right away.
    return StreamingResponse(
        chunks,
        media_type=export.media_type,
        headers=headers,
        background=BackgroundTask(_close, chunks),
    )


def _close(chunks: Generator[bytes, None, None]) -> None:
    with contextlib.suppress(ValueError):  # still running in a worker: it reports at its end
        chunks.close()


@router.post(
    "/runs/{run_id}/rerun",
    response_model=RunView,
    responses={202: {"model": RunView, "description": "Still running."}},
)
def rerun(
    run_id: str,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    wait_ms: Annotated[int, Query(ge=0, le=MAX_WAIT_MS)] = 2000,
    page_size: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> OrjsonResponse:
    """Run a past run's statement again on its connection (same row cap and timeout)."""
    new_id = workbench.runs.rerun(run_id, actor=principal)
    run = workbench.runs.wait(new_id, wait_ms / 1000)
    _raise_if_failed(run)
    status = 200 if run.status.finished else 202
    return OrjsonResponse(
        _view(workbench, run, page_size, waited=True).model_dump(mode="json"),
        status_code=status,
    )
