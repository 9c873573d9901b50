"""/api/v1/audit: the audit log, for administrators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from querydeck.api.auth import AdminPrincipal
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.api.responses import OrjsonResponse
from querydeck.audit.models import AuditPage, Outcome

router = APIRouter(tags=["audit"])


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get(
    "/audit",
    response_model=AuditPage,
    responses={
        401: {"description": "Not logged in."},
        403: {"description": "Not an administrator."},
    },
)
def list_audit(
    principal: AdminPrincipal,
    workbench: WorkbenchDep,
    limit: Limit = 50,
    offset: Offset = 0,
    actor: Annotated[str | None, Query(max_length=200, description="Acting user name.")] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="An action (run.finish) or a family (connection.*)."),
    ] = None,
    outcome: Outcome | None = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    connection: Annotated[
        str | None, Query(max_length=400, description="A connection's current name.")
    ] = None,
    connection_id: Annotated[
        str | None, Query(max_length=36, description="A connection's id (kept after delete).")
    ] = None,
    since: Annotated[datetime | None, Query(description="Entries at or after (UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Entries before (UTC).")] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="next_cursor of the previous page (no gaps/repeats)."),
    ] = None,
) -> OrjsonResponse:
    """The audit log, newest first: logins, user and grant changes, connection changes and
    tests, every run (fingerprint and tables, never the SQL) and every export (format,
    rows, bytes, SHA-256). Follow ``next_cursor`` to page while new entries arrive."""
    page = workbench.admin.audit_log(
        principal,
        limit=limit,
        offset=offset,
        user=actor,
        action=action,
        outcome=outcome.value if outcome is not None else None,
        target_type=target_type,
        target_id=target_id,
        connection=connection,
        connection_id=connection_id,
        since=_aware(since),
        until=_aware(until),
        cursor=cursor,
    )
    return OrjsonResponse(page.model_dump(mode="python"))
