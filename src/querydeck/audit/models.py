"""The audit log as the Workbench hands it out: entries and cursor pages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from querydeck.store.pages import Page


class Outcome(enum.StrEnum):
    """How the audited action ended."""

    ok = "ok"
    error = "error"  # it failed (a bad option, an unreachable server, a failing query)
    denied = "denied"  # a rule refused it (the guard, a target policy, a permission)
    aborted = "aborted"  # it was cut short (a cancelled run, a client gone mid-export)


class AuditEntry(BaseModel):
    """One row of the audit log."""

    id: int = Field(description="Increasing with time; the cursor pages by it.")
    at: datetime = Field(description="When it was recorded (UTC).")
    actor: str | None = Field(description="User name; null when nobody was identified.")
    actor_role: str | None = None
    via: str | None = Field(default=None, description="local, session or token.")
    address: str | None = None
    request_id: str | None = None
    action: str = Field(description="Dotted name, e.g. run.finish, connection.update.")
    outcome: Outcome
    target_type: str | None = None
    target_id: str | None = None
    connection_id: str | None = None
    detail: dict[str, Any] = Field(
        default_factory=dict, description="Sanitised facts; never a secret or SQL text."
    )

    def target_label(self) -> str:
        """``type:id``; for an operation that failed before its target existed (a
        connection create refused), the name it was attempted with: ``connection 'shop'``."""
        if not self.target_type:
            return ""
        if self.target_id is not None:
            return f"{self.target_type}:{self.target_id}"
        name = self.detail.get("name") or self.detail.get("username")
        return f"{self.target_type} {name!r}" if isinstance(name, str) else self.target_type


class AuditPage(Page[AuditEntry]):
    """A page of the audit log, newest first. Pass ``next_cursor`` back as ``cursor``:
    cursor pages never skip or repeat an entry while new ones are added."""

    next_cursor: str | None = None
