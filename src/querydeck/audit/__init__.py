"""The audit log: append-only entries of who did what (log.py), what a statement's entry
keeps of it (sql.py), what a detail may hold (redact.py), and how long entries stay
(retention.py).

The names below are imported from their modules on first use: ``log`` pulls in SQLAlchemy's
ORM and ``sql`` pulls in sqlglot, which a command that only prints entries (the CLI's
``audit``, whose import every CLI start paid) does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from querydeck.audit.log import AuditLog
    from querydeck.audit.models import AuditEntry, AuditPage, Outcome
    from querydeck.audit.redact import sanitise
    from querydeck.audit.sql import fingerprint, summarise, tables_read

_HOMES = {
    "AuditLog": "log",
    "AuditEntry": "models",
    "AuditPage": "models",
    "Outcome": "models",
    "sanitise": "redact",
    "fingerprint": "sql",
    "summarise": "sql",
    "tables_read": "sql",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
