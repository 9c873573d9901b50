"""The catalog values the Workbench hands to its shells (API, CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from querydeck.runs.models import RowsPage


class ErrorInfo(BaseModel):
    code: str
    message: str
    at: datetime | None = None


class CatalogNode(BaseModel):
    """One entry of a catalog level: a schema, a relation or a column."""

    kind: str = Field(
        description="schema, table, view, materialized_view, foreign_table, "
        "partitioned_table or column."
    )
    name: str
    path: str = Field(description="Where the entry is: pass it as ?path= for its children.")
    comment: str | None = None
    native_type: str | None = None
    family: str | None = None
    nullable: bool | None = None
    primary_key: bool | None = None
    row_estimate: int | None = None
    children: int | None = Field(
        default=None, description="Tables of a schema, columns of a relation."
    )
    refreshed_at: datetime | None = None
    partial: bool | None = None
    error: ErrorInfo | None = None


class CatalogLevel(BaseModel):
    """One level of a connection's catalog, from the cache, paginated."""

    connection: str
    path: str
    items: list[CatalogNode]
    total: int
    limit: int
    offset: int
    refreshed_at: datetime | None = None
    partial: bool = False
    problems: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = Field(
        default=None, description="The last failed refresh (the cached entries are kept)."
    )


class ColumnDetail(BaseModel):
    name: str
    ordinal: int
    native_type: str
    family: str
    nullable: bool
    default: str | None = None
    comment: str | None = None


class ForeignKeyDetail(BaseModel):
    name: str | None
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


class IndexDetail(BaseModel):
    name: str
    columns: list[str]
    unique: bool
    primary: bool = False
    definition: str | None = None


class TableDetail(BaseModel):
    connection: str
    schema_name: str = Field(description="The schema of the relation.")
    name: str
    kind: str
    path: str
    comment: str | None = None
    row_estimate: int | None = None
    definition: str | None = Field(default=None, description="A view's query.")
    columns: list[ColumnDetail]
    primary_key: list[str]
    unique: list[list[str]]
    foreign_keys: list[ForeignKeyDetail]
    indexes: list[IndexDetail]
    ddl: str = Field(description="Generated DDL in the engine's dialect.")
    refreshed_at: datetime | None = None
    preview: RowsPage | None = Field(
        default=None, description="The first rows, read through the guard (when asked for)."
    )
    preview_error: ErrorInfo | None = None


class ColumnChange(BaseModel):
    column: str
    change: Literal["added", "removed", "type_changed", "changed"]
    old_type: str | None = None
    new_type: str | None = None


class TableChange(BaseModel):
    table: str
    columns: list[ColumnChange] = Field(default_factory=list)
    other: list[str] = Field(
        default_factory=list, description="Other parts that changed: keys, indexes, comment..."
    )


class SchemaDiff(BaseModel):
    added_tables: list[str] = Field(default_factory=list)
    removed_tables: list[str] = Field(default_factory=list)
    changed_tables: list[TableChange] = Field(default_factory=list)


class SchemaRefresh(BaseModel):
    schema_name: str
    status: Literal["ok", "partial", "failed", "removed"]
    tables: int = 0
    columns: int = 0
    duration_ms: float = 0.0
    problems: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = None
    diff: SchemaDiff = Field(default_factory=SchemaDiff)


class RefreshReport(BaseModel):
    connection: str
    status: Literal["ok", "partial", "failed"]
    started_at: datetime
    duration_ms: float
    schemas: list[SchemaRefresh]


class CatalogSettings(BaseModel):
    """A connection's catalog settings: which schemas are read, the refresh timeout and
    its own background refresh interval."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(
        default_factory=list,
        description="Glob patterns of schemas to read (empty: every schema).",
        max_length=100,
    )
    exclude: list[str] = Field(
        default_factory=list, description="Glob patterns of schemas to skip.", max_length=100
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Timeout of a whole refresh of this connection (default: the setting).",
    )
    refresh_interval_s: float | None = Field(
        default=None,
        ge=0,
        le=31_536_000,
        description="Seconds between background refreshes of this connection (default: the "
        "catalog_refresh_interval_s setting); 0 never refreshes it in the background.",
    )


class SearchHit(BaseModel):
    kind: str
    name: str
    connection: str
    schema_name: str
    table: str
    column: str | None = None
    path: str = Field(description="The catalog path of the hit (schema.table[.column]).")
    comment: str | None = None
    native_type: str | None = None
    match: Literal["exact", "prefix", "substring", "comment", "fuzzy"]


def error_info(code: str | None, message: str | None, at: datetime | None) -> ErrorInfo | None:
    if code is None:
        return None
    return ErrorInfo(code=code, message=message or "", at=at)
