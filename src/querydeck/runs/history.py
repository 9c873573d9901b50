"""Reading runs back: one run, its stored rows, and the history list."""

from __future__ import annotations

from sqlalchemy import func, select

from querydeck.errors import NotFound, ResultUnavailable, RunNotFinished
from querydeck.models import ColumnInfo, Page, RowsPage, RunInfo, RunStatus
from querydeck.runs import jsonrows
from querydeck.runs.results import ResultStore
from querydeck.store.database import AppDatabase
from querydeck.store.tables import RunRow

MAX_PAGE_ROWS = 10_000


def run_info(row: RunRow) -> RunInfo:
    return RunInfo(
        id=row.id,
        user=row.user_name,
        connection=row.connection_name,
        connection_id=row.connection_id,
        driver=row.driver,
        sql=row.sql,
        executed_sql=row.executed_sql,
        status=RunStatus(row.status),
        max_rows=row.max_rows,
        timeout_s=row.timeout_s,
        row_count=row.row_count,
        truncated=row.truncated,
        columns=[ColumnInfo.model_validate(c) for c in row.columns] if row.columns else None,
        error_code=row.error_code,
        error_message=row.error_message,
        error_detail=row.error_detail,
        error_status=row.error_status,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
    )


class History:
    def __init__(self, db: AppDatabase, results: ResultStore) -> None:
        self._db = db
        self._results = results

    def get(self, run_id: str) -> RunInfo:
        with self._db.read() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFound("No such run.", code="RUN_NOT_FOUND", detail={"run_id": run_id})
            return run_info(row)

    def rows(self, run_id: str, *, offset: int, limit: int) -> RowsPage:
        run = self.get(run_id)
        if not run.status.finished:
            raise RunNotFinished(
                "The run has not finished yet.", detail={"status": run.status.value}
            )
        if run.status is not RunStatus.succeeded or run.columns is None:
            raise ResultUnavailable(
                f"The run has no rows: it ended {run.status.value}.",
                detail={"status": run.status.value},
            )
        table = self._results.read(run_id, offset, min(limit, MAX_PAGE_ROWS))
        return RowsPage(
            run_id=run_id,
            columns=run.columns,
            rows=jsonrows.rows(table),
            offset=offset,
            limit=limit,
            total=run.row_count or 0,
            truncated=run.truncated,
        )

    def listing(
        self,
        *,
        limit: int,
        offset: int,
        connection: str | None = None,
        status: RunStatus | None = None,
        user: str | None = None,
    ) -> Page[RunInfo]:
        query = select(RunRow)
        if connection is not None:
            query = query.where(RunRow.connection_name == connection)
        if status is not None:
            query = query.where(RunRow.status == status.value)
        if user is not None:
            query = query.where(RunRow.user_name == user)
        with self._db.read() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return Page(items=[run_info(r) for r in rows], total=total, limit=limit, offset=offset)
