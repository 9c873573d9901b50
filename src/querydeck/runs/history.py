"""Reading runs back: one run, its stored rows, and the history list."""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from querydeck.errors import (
    CursorInvalid,
    QueryDeckError,
    ResultCorrupt,
    ResultExpired,
    ResultMissing,
    ResultUnavailable,
    RunIdAmbiguous,
    RunNotFinished,
    RunNotFound,
)
from querydeck.runs.models import (
    AppliedLimit,
    ColumnInfo,
    HistoryPage,
    RowsPage,
    RunInfo,
    RunStatus,
)
from querydeck.runs.results.store import ResultStore, StoredResult
from querydeck.store.database import AppDatabase

#: How long after a run ended its result's files may still be being written by the
#: process that answered it (see :meth:`History._open`).
SETTLE_S = 2.0

if TYPE_CHECKING:
    import pyarrow as pa

    from querydeck.store.tables import RunRow

MAX_PAGE_ROWS = 10_000
#: Shortest run id prefix accepted (as git), the length of a full id, and how many
#: candidates an ambiguous prefix lists.
MIN_PREFIX = 4
FULL_ID_CHARS = 36
MAX_CANDIDATES = 10
ID_CHARS = "0123456789abcdef-"


def run_info(row: RunRow | Mapping[str, Any], rows_so_far: int | None = None) -> RunInfo:
    """The run of a history row: an ORM row, or the row's column values as the runner
    wrote them (absent columns are NULL)."""
    get: Callable[[str], Any] = (
        row.get if isinstance(row, Mapping) else functools.partial(getattr, row)
    )
    elapsed, started = get("duration_ms"), get("started_at")
    if elapsed is None and started is not None:
        elapsed = round((datetime.now(UTC) - started).total_seconds() * 1000, 3)
    columns = get("columns")
    infos = [ColumnInfo.model_validate(c) for c in columns] if columns else None
    created, finished = get("created_at"), get("finished_at")
    return RunInfo(
        id=get("id"),
        user=get("user_name"),
        connection=get("connection_name"),
        connection_id=get("connection_id"),
        driver=get("driver"),
        sql=get("sql"),
        executed_sql=get("executed_sql"),
        status=RunStatus(get("status")),
        max_rows=get("max_rows"),
        timeout_s=get("timeout_s"),
        row_count=get("row_count") if rows_so_far is None else rows_so_far,
        truncated=bool(get("truncated")),
        value_truncated=any(c.truncated_values for c in infos or ()),
        columns=infos,
        error_code=get("error_code"),
        error_message=get("error_message"),
        error_detail=get("error_detail"),
        error_status=get("error_status"),
        created_at=created,
        started_at=started,
        finished_at=finished,
        duration_ms=get("duration_ms"),
        elapsed_ms=elapsed,
        queue_ms=_between(created, started),
        execution_ms=_between(started, finished),
        limits_applied=[AppliedLimit.model_validate(n) for n in get("limits") or []],
        result_state=get("result_state"),
    )


def _between(start: datetime | None, end: datetime | None) -> float | None:
    """Milliseconds from ``start`` to ``end`` (None when either is unknown)."""
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0) * 1000, 3)


def encode_cursor(run: RunInfo) -> str:
    raw = f"{run.created_at.astimezone(UTC).isoformat()}|{run.id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, run_id = raw.split("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorInvalid("The cursor is not one this server handed out.") from None
    return when, run_id


#: The columns :func:`run_info` reads.
_LISTED = (
    "id, user_name, connection_id, connection_name, driver, sql, executed_sql, status, "
    "max_rows, timeout_s, row_count, truncated, columns, error_code, error_message, "
    "error_detail, error_status, result_state, created_at, started_at, finished_at, "
    "duration_ms, limits"
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class History:
    def __init__(
        self, db: AppDatabase, results: ResultStore, max_page_bytes: int = 16 * 1024**2
    ) -> None:
        self._db = db
        self._results = results
        #: Text and binary values of one page add up to at most this (largest ones cut).
        self.max_page_bytes = max_page_bytes

    def resolve(self, run_id: str, *, user: str | None = None) -> str:
        """The full id of ``run_id``, which may be a unique prefix of one (at least
        :data:`MIN_PREFIX` characters, as git's abbreviated hashes); ``user`` limits the
        runs a prefix may match to that user's. A prefix matching several runs raises
        ``RUN_ID_AMBIGUOUS`` with some of them; one matching none, ``RUN_NOT_FOUND``."""
        text = run_id.strip().lower()
        if len(text) >= FULL_ID_CHARS or len(text) < MIN_PREFIX or text.strip(ID_CHARS):
            return run_id
        # the prefix holds hexadecimal digits and dashes only: no wildcard of LIKE
        where, params = "id LIKE ?", [text + "%"]
        if user is not None:
            where, params = where + " AND user_name = ?", [*params, user]
        with self._db.read_plain() as cursor:
            found = self._db.plain.scalars(
                cursor,
                f"SELECT id FROM qd_runs WHERE {where} ORDER BY id LIMIT ?",
                [*params, MAX_CANDIDATES + 1],
            )
        if len(found) == 1:
            return str(found[0])
        if not found:
            raise RunNotFound(f"No run id starts with {text!r}.", detail={"run_id": run_id})
        shown = found[:MAX_CANDIDATES]
        more = " and more" if len(found) > MAX_CANDIDATES else ""
        raise RunIdAmbiguous(
            f"The run id prefix {text!r} matches several runs ({', '.join(shown)}{more}); "
            "give more characters.",
            detail={"run_id": run_id, "candidates": shown},
        )

    def get(self, run_id: str) -> RunInfo:
        table = self._db.fast("qd_runs")
        with self._db.read_plain() as cursor:
            found = table.select_raw(cursor, "id", run_id)
        if found is None:
            raise RunNotFound("No such run.", detail={"run_id": run_id})
        row = table.converted(found)
        live = None
        if row["status"] == RunStatus.running.value:
            live = self._results.rows_written(run_id)
        return run_info(row, live)

    def stored(self, run_id: str, known: RunInfo | None = None) -> tuple[RunInfo, StoredResult]:
        """A run with rows and its stored result (rows so far while it is running).
        ``known`` is the run as the caller just read it (saves reading it again).

        Raises 409 for a run without rows, 410 for rows evicted or gone from disk (the run
        is marked), 409 ``RESULT_CORRUPT`` for a damaged file (the run is marked)."""
        run = known if known is not None and known.id == run_id else self.get(run_id)
        if run.status is RunStatus.queued or (
            run.status is RunStatus.running and run.result_state is None
        ):
            raise RunNotFinished("The run has no rows yet.", detail={"status": run.status.value})
        if run.status not in (RunStatus.succeeded, RunStatus.running) or run.columns is None:
            raise ResultUnavailable(
                f"The run has no rows: it ended {run.status.value}.",
                detail={"status": run.status.value},
            )
        if run.result_state == "expired":
            raise ResultExpired(
                "This run's rows were removed by the retention policy; run it again.",
                detail={"run_id": run_id},
            )
        try:
            return run, self._open(run)
        except ResultExpired:
            raise self._lost(run_id) from None
        except ResultCorrupt:
            self.mark(run_id, "corrupt")
            raise

    def _open(self, run: RunInfo) -> StoredResult:
        """The run's stored result. A small result's files are written just after its run
        is answered (``ResultStore.defer``): this process waits for them, and another
        process serving the same data directory may find them absent or half-written for a
        moment. Such a run that ended less than :data:`SETTLE_S` ago is read again until
        then, instead of being marked missing or damaged for good."""
        settled_by = None
        if run.status is RunStatus.succeeded and run.finished_at is not None:
            settled_by = run.finished_at + timedelta(seconds=SETTLE_S)
        while True:
            try:
                return self._results.open(run.id)
            except (ResultExpired, ResultCorrupt):
                if settled_by is None or datetime.now(UTC) >= settled_by:
                    raise
                time.sleep(0.02)

    def _lost(self, run_id: str) -> QueryDeckError:
        run = self.get(run_id)
        if run.result_state == "expired":  # evicted while we looked
            return ResultExpired(
                "This run's rows were removed by the retention policy; run it again.",
                detail={"run_id": run_id},
            )
        if run.status is RunStatus.running:
            return RunNotFinished("The run has no rows yet.", detail={"status": "running"})
        self.mark(run_id, "missing")
        return ResultMissing(
            "This run's stored rows are missing on disk; run it again.",
            detail={"run_id": run_id},
        )

    def mark(self, run_id: str, state: str) -> None:
        from sqlalchemy import update

        from querydeck.store.tables import RunRow

        self._db.write(
            lambda s: s.execute(
                update(RunRow).where(RunRow.id == run_id).values(result_state=state)
            )
        )

    def rows(
        self, run_id: str, *, offset: int, limit: int, known: RunInfo | None = None
    ) -> RowsPage:
        run, stored = self.stored(run_id, known)
        try:
            table = self._results.read_from(run_id, stored, offset, min(limit, MAX_PAGE_ROWS))
        except ResultCorrupt:
            self.mark(run_id, "corrupt")
            raise
        except ResultExpired:
            raise self._lost(run_id) from None
        return self.page(run, table, offset=offset, limit=limit, so_far=stored.rows)

    def page(
        self, run: RunInfo, table: pa.Table, *, offset: int, limit: int, so_far: int
    ) -> RowsPage:
        """The page of ``run`` holding ``table`` (its rows from ``offset``); ``so_far`` is
        the stored row count while the run still writes. Values cut (when stored, or now
        to keep the page under ``max_page_bytes``) are reported, never silent."""
        complete = run.status is RunStatus.succeeded
        from querydeck.runs.results import jsonrows  # Arrow: with the first page read

        rows, cells = jsonrows.page_rows(table, self.max_page_bytes)
        stored_cut = [c.name for c in run.columns or [] if c.truncated_values]
        return RowsPage(
            run_id=run.id,
            columns=run.columns or [],
            rows=rows,
            value_truncated=bool(cells or stored_cut),
            truncated_columns=stored_cut,
            truncated_cells=cells,
            offset=offset,
            limit=limit,
            total=(run.row_count or 0) if complete else so_far,
            truncated=run.truncated,
            complete=complete,
        )

    def listing(
        self,
        *,
        limit: int,
        offset: int,
        connection: str | None = None,
        status: RunStatus | None = None,
        user: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        connection_ids: Collection[str] | None = None,
    ) -> HistoryPage:
        """Runs newest first. ``text`` matches the SQL (case-insensitive); ``since`` and
        ``until`` bound the creation time (inclusive, exclusive). With ``cursor`` (the
        previous page's ``next_cursor``) the page starts right after that run."""
        plain = self._db.plain
        where: list[str] = []
        params: list[Any] = []

        def match(condition: str, *values: Any) -> None:
            where.append(condition)
            params.extend(values)

        if connection is not None:
            match("connection_name = ?", connection)
        if status is not None:
            match("status = ?", status.value)
        if user is not None:
            match("user_name = ?", user)
        if connection_ids is not None:
            ids = list(connection_ids)
            match(f"connection_id IN ({plain.marks(len(ids))})" if ids else "1 = 0", *ids)
        if text:
            match("lower(sql) LIKE ? ESCAPE '\\'", _like_pattern(text.lower()))
        if since is not None:
            match("created_at >= ?", plain.time(since))
        if until is not None:
            match("created_at < ?", plain.time(until))
        # the total counts the filtered runs; the page starts after the cursor's run
        total_where = " WHERE " + " AND ".join(where) if where else ""
        total_params = list(params)
        if cursor is not None:
            when, last_id = decode_cursor(cursor)
            at = plain.time(when)
            match("(created_at < ? OR (created_at = ? AND id < ?))", at, at, last_id)
            offset = 0
        page_where = " WHERE " + " AND ".join(where) if where else ""
        with self._db.read_plain() as found:
            counted = plain.scalars(
                found, f"SELECT count(*) FROM qd_runs{total_where}", total_params
            )
            rows = plain.rows(
                found,
                "qd_runs",
                f"SELECT {_LISTED} FROM qd_runs{page_where} "
                "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        items = [run_info(r) for r in rows]
        total = counted[0] or 0
        next_cursor = encode_cursor(items[-1]) if len(items) == limit else None
        return HistoryPage(
            items=items, total=total, limit=limit, offset=offset, next_cursor=next_cursor
        )
