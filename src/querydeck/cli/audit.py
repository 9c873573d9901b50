"""``querydeck audit``: read the audit log (the local CLI acts as the administrator)."""

from __future__ import annotations

import enum
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.audit.models import AuditEntry, AuditPage, Outcome
from querydeck.auth.principal import LOCAL
from querydeck.cli.common import (
    message,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.cli.output import write_csv, write_ndjson
from querydeck.runs.models import ColumnInfo

#: Characters of an entry's detail shown in a table.
DETAIL_PREVIEW_CHARS = 80
FIELDS = [
    "id",
    "at",
    "actor",
    "actor_role",
    "via",
    "address",
    "request_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "connection_id",
    "detail",
]


class AuditFormat(enum.StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _columns() -> list[ColumnInfo]:
    return [
        ColumnInfo(
            name=name,
            type="int64" if name == "id" else "string",
            json_type="number" if name == "id" else ("object" if name == "detail" else "string"),
        )
        for name in FIELDS
    ]


def _row(entry: AuditEntry) -> list[Any]:
    values = entry.model_dump(mode="json")
    values["at"] = timestamp(entry.at)
    return [values[name] for name in FIELDS]


def _detail_preview(detail: dict[str, Any]) -> str:
    text = orjson.dumps(detail).decode("utf-8") if detail else ""
    return text if len(text) <= DETAIL_PREVIEW_CHARS else text[: DETAIL_PREVIEW_CHARS - 1] + "…"


def _table(page: AuditPage) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("id", "at", "actor", "action", "outcome", "target"):
        table.add_column(name, no_wrap=True, justify="right" if name == "id" else "left")
    table.add_column("detail", ratio=1, overflow="ellipsis", no_wrap=True)
    for entry in page.items:
        target = entry.target_label()
        table.add_row(
            str(entry.id),
            timestamp(entry.at),
            Text(entry.actor or ""),
            entry.action,
            entry.outcome.value,
            Text(target),
            Text(_detail_preview(entry.detail)),
        )
    return table


def audit(
    actor: Annotated[str | None, typer.Option(help="Only entries of this user.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action (run.finish) or family (connection.*)."),
    ] = None,
    outcome: Annotated[Outcome | None, typer.Option(help="Only entries with this outcome.")] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="Only entries of this connection.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Entries at or after (UTC unless zoned).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Entries before (UTC unless zoned).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Entries per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Entries to skip (newest first).")] = 0,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a page: the cursor it printed.")
    ] = None,
    fmt: Annotated[AuditFormat, typer.Option("--format", "-f")] = AuditFormat.table,
) -> None:
    """Show the audit log, newest first: connection changes and tests, runs (fingerprint
    and tables, never the SQL), exports (rows, bytes, SHA-256), logins and user changes."""
    with open_workbench() as workbench:
        page = workbench.admin.audit_log(
            LOCAL,
            limit=limit,
            offset=offset,
            user=actor,
            action=action,
            outcome=outcome.value if outcome is not None else None,
            connection=connection,
            since=_utc(since),
            until=_utc(until),
            cursor=cursor,
        )
    if fmt is AuditFormat.json:
        print_json(page)
        return
    if fmt is AuditFormat.ndjson:
        write_ndjson(sys.stdout, _columns(), [[_row(e) for e in page.items]])
    elif fmt is AuditFormat.csv:
        write_csv(sys.stdout, _columns(), [[_row(e) for e in page.items]])
    elif page.items:
        stdout_console().print(_table(page))
    if cursor is None:
        page_footer(len(page.items), offset, page.total, "entries")
    else:
        message(f"{len(page.items)} of {page.total} entries")
    if page.next_cursor:
        message(f"next page: --cursor {page.next_cursor}")
