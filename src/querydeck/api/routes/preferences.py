"""/api/v1/me/preferences: the current user's own preferences (key -> JSON value).

``PUT`` takes ``{"value": <any JSON>}`` (``application/json``) and answers the preference
``{"key", "value", "updated_at", "created_at"}``, 201 when it was created and 200 when it
replaced one; ``GET`` answers the same shape. Keys may contain ``/`` (a path parameter) and
percent-encoded Unicode. The request body is read with a bound before it is parsed; the value
itself is limited to 64 KB of compact JSON by the core (413 either way).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.bodies import bounded_body
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.auth.preferences import MAX_VALUE_BYTES, Preference
from querydeck.errors import UnsupportedMediaType
from querydeck.store.pages import Page

router = APIRouter(tags=["preferences"])
#: Room for a 64 KB value written with ASCII escapes (up to 3x) plus whitespace and framing.
MAX_BODY_BYTES = 4 * MAX_VALUE_BYTES + 4096
_BODY_SCHEMA = {
    "type": "object",
    "properties": {"value": {"description": "Any JSON value (at most 64 KB compact)."}},
    "required": ["value"],
    "additionalProperties": False,
}


def _invalid(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "value_error"}])


def _value_of(body: bytes) -> Any:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not valid JSON") from None
    if not isinstance(parsed, dict) or set(parsed) != {"value"}:
        raise _invalid('the body must be {"value": <any JSON value>}')
    return parsed["value"]


@router.get("/me/preferences", response_model=Page[Preference])
def list_preferences(
    principal: CurrentPrincipal, workbench: WorkbenchDep, limit: Limit = 100, offset: Offset = 0
) -> Page[Preference]:
    """Your preferences, by key (code point order)."""
    return workbench.preferences.listing(principal, limit=limit, offset=offset)


@router.get("/me/preferences/{key:path}", response_model=Preference)
def get_preference(key: str, principal: CurrentPrincipal, workbench: WorkbenchDep) -> Preference:
    """One of your preferences; 404 ``PREFERENCE_NOT_FOUND``."""
    return workbench.preferences.get(principal, key)


@router.put(
    "/me/preferences/{key:path}",
    response_model=Preference,
    responses={201: {"model": Preference, "description": "Created."}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
)
async def put_preference(
    key: str,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    workbench: WorkbenchDep,
) -> Preference:
    """Create (201) or replace (200) one of your preferences with ``{"value": …}``."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType('Send the preference as application/json: {"value": …}.')
    value = _value_of(await bounded_body(request, MAX_BODY_BYTES, "A preference request body"))
    preference, created = await run_in_threadpool(workbench.preferences.put, principal, key, value)
    response.status_code = 201 if created else 200
    return preference


@router.delete("/me/preferences/{key:path}", status_code=204)
def delete_preference(key: str, principal: CurrentPrincipal, workbench: WorkbenchDep) -> Response:
    """Remove one of your preferences; 404 ``PREFERENCE_NOT_FOUND``."""
    workbench.preferences.delete(principal, key)
    return Response(status_code=204)
