"""One error envelope for every failure the API reports.

``{"error": {"code": ..., "message": ..., "detail": {...}, "request_id": ...}}`` with the
HTTP status of the error class. Validation problems name the field and the rule, never echo
the value (it may be a password). Unexpected exceptions are logged and answered with a
generic 500: never a stack trace in a response.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from querydeck import logs
from querydeck.api.responses import OrjsonResponse
from querydeck.errors import (
    BadRequest,
    Forbidden,
    HttpError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    QueryDeckError,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
)

log = logs.get("querydeck.api")

#: The error class of each HTTP status the framework itself answers with.
_HTTP_ERRORS: dict[int, type[QueryDeckError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def request_id(request: Request) -> str:
    value = getattr(request.state, "request_id", None)
    return str(value) if value else ""


def envelope(
    status: int, code: str, message: str, request: Request, detail: dict[str, Any] | None = None
) -> OrjsonResponse:
    headers = {}
    if detail and "retry_after_s" in detail:
        headers["Retry-After"] = str(int(detail["retry_after_s"]))
    return OrjsonResponse(
        status_code=status,
        content={
            "error": {
                "code": code,
                "message": message,
                "detail": detail or {},
                "request_id": request_id(request),
            }
        },
        headers=headers,
    )


def _audit_refusal(request: Request, exc: QueryDeckError) -> None:
    """A signed-in user refused (403) or answered "not found" (404) leaves an audit entry:
    probing for other users' objects shows up in the log."""
    principal = getattr(request.state, "principal", None)
    if principal is None or exc.http_status not in (403, 404):
        return
    request.app.state.workbench.audit.record(
        "api.refused",
        actor=principal,
        outcome="denied",
        detail={
            "method": request.method,
            "path": request.url.path[:300],
            "status": exc.http_status,
            "error_code": exc.code,
        },
    )


async def _querydeck_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, QueryDeckError)
    if exc.http_status >= 500:
        log.warning("request_failed", code=exc.code, status=exc.http_status)
    _audit_refusal(request, exc)
    return envelope(exc.http_status, exc.code, exc.message, request, exc.detail)


def _line_column(document: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset (as Python's json module counts)."""
    line = document.count("\n", 0, position) + 1
    return line, position - (document.rfind("\n", 0, position) + 1) + 1


def _malformed_json(request: Request, exc: RequestValidationError) -> OrjsonResponse | None:
    """A body that is not JSON at all: where it breaks (line and column), never the
    character offset as if it were a field name."""
    for err in exc.errors():
        if err.get("type") != "json_invalid":
            continue
        loc = err.get("loc", ())
        position = loc[-1] if loc and isinstance(loc[-1], int) else 0
        document = exc.body if isinstance(exc.body, str) else ""
        line, column = _line_column(document, min(position, len(document)))
        problem = str((err.get("ctx") or {}).get("error", "not valid JSON"))
        where = f"line {line}, column {column}"
        return envelope(
            422,
            InvalidInput.code,
            f"The request body is not valid JSON: {problem} at {where}.",
            request,
            {
                "line": line,
                "column": column,
                "problems": [{"field": "body", "problem": f"not valid JSON: {problem} at {where}"}],
            },
        )
    return None


async def _validation_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    malformed = _malformed_json(request, exc)
    if malformed is not None:
        return malformed
    problems = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
            "problem": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    return envelope(
        422,
        InvalidInput.code,
        f"The request is not valid: {text}.",
        request,
        {"problems": problems},
    )


async def _http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_ERRORS.get(exc.status_code, HttpError).code
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    return envelope(exc.status_code, code, message, request)


async def _unexpected(request: Request, exc: Exception) -> OrjsonResponse:
    log.error("unhandled_error", error_type=type(exc).__name__)
    return envelope(
        500, QueryDeckError.code, "An internal error occurred; it has been logged.", request
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(QueryDeckError, _querydeck_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
