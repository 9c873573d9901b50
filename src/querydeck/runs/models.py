"""The values the runs service hands to the shells (API, CLI): run requests, runs, their
rows, the history and saved queries. Plain pydantic models, JSON-ready; timestamps are
timezone-aware UTC datetimes (the API writes them ISO-8601 with ``Z``)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from querydeck.store.pages import Page


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    timed_out = "timed_out"
    rejected = "rejected"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.queued, RunStatus.running)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(min_length=1, description="Name of the connection.")
    sql: str = Field(description="One read-only statement.")
    max_rows: int | None = Field(default=None, ge=1, description="Row cap (server-capped).")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Timeout in seconds (server-capped)."
    )
    export_all: bool = Field(
        default=False,
        description='An "export all" run: the row cap defaults to and is capped by the '
        "larger export_max_rows setting.",
    )


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Arrow type of the column, e.g. int64, decimal128(10, 2).")
    native_type: str | None = Field(default=None, description="The engine's own type name.")
    json_type: str = Field(
        description="How values travel in JSON: number, string, boolean, object or "
        "base64 (binary). 64-bit integers beyond 2^53 and decimals travel as strings."
    )
    truncated_values: int = Field(
        default=0,
        description="Values of this column cut to the max_value_bytes setting when the "
        "result was stored.",
    )


class AppliedLimit(BaseModel):
    """A limit the server lowered: the run asked for more than this server allows."""

    limit: str = Field(description="max_rows or timeout_s.")
    requested: float = Field(description="What the run asked for.")
    applied: float = Field(description="What the run got: the server's ceiling.")
    setting: str = Field(description="The setting that holds the ceiling.")
    reason: str = Field(description="Why, in a sentence.")


class RunInfo(BaseModel):
    id: str
    user: str
    connection: str | None
    connection_id: str | None
    driver: str | None
    sql: str
    executed_sql: str | None
    status: RunStatus
    max_rows: int
    timeout_s: float
    row_count: int | None
    truncated: bool
    value_truncated: bool = Field(
        default=False,
        description="Some stored values were cut to max_value_bytes (see the columns' "
        "truncated_values).",
    )
    columns: list[ColumnInfo] | None
    error_code: str | None
    error_message: str | None
    error_detail: dict[str, Any] | None
    error_status: int | None = Field(
        default=None, description="HTTP status that matches the error (the API answers with it)."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None = Field(
        description="Execution time: from started_at (a worker took the run) to finished_at, "
        "connecting included; the same as execution_ms."
    )
    elapsed_ms: float | None = Field(
        default=None, description="Time since the run started (its duration once ended)."
    )
    queue_ms: float | None = Field(
        default=None,
        description="Time before execution: created_at to started_at, checking the statement "
        "and waiting for a free worker (null until started).",
    )
    execution_ms: float | None = Field(
        default=None,
        description="Time executing: started_at to finished_at (null until it ended).",
    )
    limits_applied: list[AppliedLimit] = Field(
        default_factory=list,
        description="Limits the server lowered (the run asked for a larger row cap or a "
        "longer timeout than it allows); empty when it got what it asked for.",
    )
    result_state: str | None = Field(
        default=None,
        description="Where the rows are: stored, writing, expired (evicted by retention), "
        "missing (gone from disk) or corrupt; null when the run has no rows.",
    )


class RowsPage(BaseModel):
    """A page of a run's stored rows."""

    run_id: str
    columns: list[ColumnInfo]
    rows: list[list[Any]]
    offset: int
    limit: int
    total: int
    truncated: bool
    complete: bool = Field(
        default=True,
        description="False while the run is still writing rows: total is the count so far.",
    )
    value_truncated: bool = Field(
        default=False,
        description="Some values are not whole: cut when stored (truncated_columns) or in "
        "this page, to keep it under max_page_bytes (truncated_cells).",
    )
    truncated_columns: list[str] = Field(
        default_factory=list,
        description="Columns with values cut to max_value_bytes when the result was stored.",
    )
    truncated_cells: list[tuple[int, int]] = Field(
        default_factory=list,
        description="(row in this page, column) of the values cut to fit max_page_bytes.",
    )


class HistoryPage(Page[RunInfo]):
    """A page of history. Pass ``next_cursor`` back as ``cursor`` for the next page: cursor
    pages never skip or repeat a run even while new runs are added."""

    next_cursor: str | None = None


class SavedQueryInput(BaseModel):
    """The fields of a saved query, as given when creating one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    sql: str = Field(min_length=1, max_length=1_000_000)
    connection: str | None = Field(default=None, description="Default connection's name.")
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    favourite: bool = False
    shared: bool = Field(
        default=False, description="Visible to every user who may query its connection."
    )
    chart: dict[str, Any] | None = Field(
        default=None,
        description="The chart of its results: a Vega-Lite spec without inline data, at most "
        "64 KB.",
    )


class SavedQueryChanges(BaseModel):
    """Fields to change on a saved query; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    sql: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    connection: str | None = None
    description: str | None = Field(default=None, max_length=10_000)
    tags: list[str] | None = Field(default=None, max_length=50)
    favourite: bool | None = None
    shared: bool | None = None
    chart: dict[str, Any] | None = Field(
        default=None, description="A new chart spec; null removes the chart."
    )


class SavedQuery(BaseModel):
    id: str
    owner: str
    name: str
    description: str
    sql: str
    connection: str | None
    tags: list[str]
    favourite: bool
    shared: bool = False
    chart: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
