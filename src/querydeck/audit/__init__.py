"""The audit log: append-only entries of who did what (log.py), what a statement's entry
keeps of it (sql.py), and what a detail may hold (redact.py)."""

from __future__ import annotations

from querydeck.audit.log import AuditLog
from querydeck.audit.models import AuditEntry, AuditPage, Outcome
from querydeck.audit.redact import sanitise
from querydeck.audit.sql import fingerprint, summarise, tables_read

__all__ = [
    "AuditEntry",
    "AuditLog",
    "AuditPage",
    "Outcome",
    "fingerprint",
    "sanitise",
    "summarise",
    "tables_read",
]
