"""Request and response bodies specific to the HTTP API (the rest are the services' models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from querydeck.runs.models import RowsPage, RunInfo, RunRequest

MAX_WAIT_MS = 60_000


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=400)
    driver: str | None = Field(default=None, description="Driver name; optional with a URL.")
    url: str | None = Field(default=None, description="A pasted URL, parsed into options.")
    options: dict[str, Any] = Field(default_factory=dict, description="Typed driver options.")
    allow_privileged: bool = Field(
        default=False,
        description="Admin override: save a login that can write, flagged 'can write'.",
    )
    test: bool = Field(
        default=True,
        description="Connect and ping before saving; when that fails nothing is saved and "
        "the error is the answer. false saves the connection untested.",
    )


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = Field(
        description="Options to change; a null value resets an option to its default."
    )
    allow_privileged: bool | None = Field(
        default=None,
        description="Admin override for a login that can write; null keeps the current one.",
    )


class ConnectionRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=400)


class RunCreate(RunRequest):
    wait_ms: int = Field(
        default=2000,
        ge=0,
        le=MAX_WAIT_MS,
        description="How long to wait for the run to end before answering 202.",
    )
    page_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Rows in the first page returned with a finished run.",
    )


class RunView(BaseModel):
    """A run, with the first page of its rows when it has succeeded."""

    run: RunInfo
    page: RowsPage | None = None


class Health(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code (see docs/errors.md).")
    message: str
    detail: dict[str, Any]
    request_id: str


class ErrorBody(BaseModel):
    """The one error envelope of every failure."""

    error: ErrorDetail


#: The error envelope's schema in the OpenAPI document's components (ErrorBody is the
#: response model of an operation, so FastAPI puts it there; a test checks that every
#: reference in the document resolves).
ERROR_SCHEMA_REF = "#/components/schemas/ErrorBody"

#: Error answers every /api/v1 operation may give, documented in the OpenAPI schema. They
#: name ErrorBody's schema rather than carry it as a ``model``: FastAPI builds a pydantic
#: TypeAdapter for each model response of each route when the app is built (12 statuses
#: times ~90 routes made 1,100 of its 1,340, most of ``create_app``'s time), though these
#: only ever feed the document, which is the same.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }
    for status, text in (
        (400, "Bad request (e.g. a query error)."),
        (401, "Not logged in, or the session or token is invalid."),
        (403, "The role or the grants do not allow this."),
        (404, "Not found, or not visible to this user."),
        (409, "Conflicts with the current state."),
        (410, "The run's stored rows have expired; re-run it."),
        (413, "The request body is too large."),
        (422, "The input is not valid."),
        (429, "Too many requests; see Retry-After."),
        (502, "The database could not be reached or refused the login."),
        (503, "A service querydeck needs is unavailable; see Retry-After."),
        (504, "The query or the database took too long."),
    )
}
