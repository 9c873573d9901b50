"""A run in flight in this process (its cancel, how it ends: its failure status and its
``run.finish`` audit entry), and the claim of a run worker for a run started on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from querydeck.auth.principal import Principal
from querydeck.drivers.base import EngineSession
from querydeck.errors import QueryCancelled, QueryDeckError, QueryRejected, QueryTimeout
from querydeck.runs.limits import timeout_message
from querydeck.runs.models import RunInfo, RunStatus
from querydeck.sql.positions import position

T = TypeVar("T")
#: How often, and for how long, a cancel is repeated until the run ends.
CANCEL_REPEAT_S = 0.2
CANCEL_RETRY_S = 10.0
#: Seconds a cancel (the user's, or the watchdog's at the deadline) is given before the
#: session's transport is cut (EngineSession.abort): a server that never answers, or
#: cannot be reached for the cancel, then cannot hold the run, its worker or its slot.
ABORT_AFTER_S = 3.0

#: A run's final status as the outcome of its audit entry.
_OUTCOMES = {
    RunStatus.succeeded.value: "ok",
    RunStatus.failed.value: "error",
    RunStatus.timed_out.value: "error",
    RunStatus.cancelled.value: "aborted",
    RunStatus.rejected.value: "denied",
}


@dataclass
class ActiveRun:
    """A run that is queued or executing in this process."""

    id: str
    connection_name: str
    sql: str
    max_rows: int
    timeout_s: float
    driver_name: str
    user: str = ""
    #: The server's longest timeout (QUERY_TIMEOUT says how far the timeout can go).
    max_timeout_s: float | None = None
    #: What the audit entry of the run needs: the user's own SQL, its dialect, the
    #: connection's id and the id of the request that started the run.
    source_sql: str = ""
    dialect: str = ""
    connection_id: str | None = None
    request_id: str | None = None
    principal: Principal | None = None
    future: Future[RunInfo] | None = None
    connection: EngineSession | None = None
    cancel_requested: bool = False
    watchdog_fired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Called with the open session before the statement (the first-use privilege probe).
    before_use: Callable[[EngineSession], None] | None = None
    #: The session pool of the connection: its id and the version of its options.
    pool_key: str = ""
    pool_version: str = ""
    #: True when the history row was inserted as ``running`` (a worker was free).
    started_at_insert: bool = False
    #: The history row as this process wrote it (updated with what it writes later): the
    #: run is answered from it when it ends, without reading it back.
    record: dict[str, Any] = field(default_factory=dict)
    #: The registered connections the statement read through a federated session.
    sources: list[str] = field(default_factory=list)

    # The session is cancelled with the lock held: the worker detaches it under the same
    # lock before the session goes back to its pool, so a late cancel never reaches the
    # statement of the next run that reuses the session.
    def cancel(self) -> None:
        with self.lock:
            self.cancel_requested = True
            if self.connection is not None:
                self.connection.cancel()

    def keep_cancelling(self) -> None:
        """Repeat the cancel until the run ends: a cancel that reaches a session just before
        its statement starts (DuckDB's interrupt, SQLite's interrupt, a PostgreSQL cancel
        request between two round trips) would otherwise be lost. The session is detached
        under the run's lock before it is reused, so a late repeat never reaches the next
        run."""
        future = self.future
        started = time.monotonic()
        deadline = started + CANCEL_RETRY_S
        while future is not None and not future.done() and time.monotonic() < deadline:
            time.sleep(CANCEL_REPEAT_S)
            if not future.done():
                self.cancel()
            if not future.done() and time.monotonic() - started >= ABORT_AFTER_S:
                self.abort()

    def fire_watchdog(self) -> None:
        with self.lock:
            self.watchdog_fired = True
            if self.connection is not None:
                self.connection.cancel()

    def abort(self) -> None:
        """The last resort after a cancel had no effect: cut the session's transport (the
        session is detached under the lock before reuse, so this never reaches the next
        run; an aborted session is never pooled: cancel_requested or watchdog_fired)."""
        with self.lock:
            if self.connection is not None:
                self.connection.abort()


def finish_entry_fields(
    *,
    run_id: str,
    actor: Principal | str | None,
    connection_id: str | None,
    connection_name: str | None,
    driver: str | None,
    sql: str,
    dialect: str,
    request_id: str | None,
    values: dict[str, Any],
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """The ``run.finish`` audit entry (keywords of :meth:`AuditLog.entry`) of a run ending
    with ``values``: the statement's fingerprint and tables, never its text, and the
    connections a federated run read (``sources``)."""
    from querydeck.audit.sql import summarise  # sqlglot: loaded by the first run's end

    status = str(values["status"])
    summary = summarise(sql, dialect)
    entry: dict[str, Any] = {
        "action": "run.finish",
        "actor": actor,
        "outcome": _OUTCOMES.get(status, "error"),
        "target_type": "run",
        "target_id": run_id,
        "connection_id": connection_id,
        "request_id": request_id,
        "detail": {
            "status": status,
            "connection": connection_name,
            "driver": driver,
            "fingerprint": summary.fingerprint,
            "tables": summary.tables,
            "rows": values.get("row_count"),
            "truncated": bool(values.get("truncated")),
            "error_code": values.get("error_code"),
            "duration_ms": values.get("duration_ms"),
        },
    }
    if sources:
        entry["detail"]["sources"] = list(sources)
    return entry


def storable(text: str) -> str:
    """``text`` as the history can store it: lone surrogates (which the guard rejects, and
    no database can encode) are kept visible as ``\\ud800``-style escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class Claim:
    """A run worker held for one run (see ``RunManager.claim``); released once."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def take(self) -> bool:
        """End the claim without giving the worker back (its run now counts as active);
        True the first time."""
        with self._lock:
            held, self._release = self._release is not None, None
        return held

    def release(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


@dataclass
class RunSubmission(Generic[T]):
    """A run started and executed on a claimed worker: ``started`` gives its id once it is
    recorded, ``done`` the answer built from the run as it ended and its first page; both
    raise why it was refused. ``abandoned``: nobody waits for the answer any more (the
    page is not read)."""

    started: Future[str] = field(default_factory=Future)
    done: Future[T] = field(default_factory=Future)
    abandoned: bool = False


def _with_line_column(detail: dict[str, Any], sql: str | None) -> dict[str, Any]:
    """An engine's 1-based character ``position`` in the executed text as ``line`` and
    ``column`` too (the executed text starts with the user's, character for character), so
    that the API and the CLI point at the same place as the guard's errors do."""
    at = detail.get("position")
    if not sql or "line" in detail or not isinstance(at, int) or isinstance(at, bool) or at < 1:
        return detail
    return {**detail, **position(sql, at - 1)}


def failure_values(active: ActiveRun, exc: QueryDeckError) -> dict[str, Any]:
    """The final column values of a run that ``exc`` ended: timed out when the watchdog
    fired, cancelled when asked to, rejected when an engine layer refused the statement as
    not a read, else failed."""
    if active.watchdog_fired or isinstance(exc, QueryTimeout):
        status = RunStatus.timed_out
        exc = QueryTimeout(
            timeout_message(active.timeout_s, active.max_timeout_s),
            detail={
                "limit": "timeout_s",
                "timeout_s": active.timeout_s,
                "max_timeout_s": active.max_timeout_s,
            },
        )
    elif active.cancel_requested or isinstance(exc, QueryCancelled):
        status = RunStatus.cancelled
        if not isinstance(exc, QueryCancelled):
            exc = QueryCancelled("The run was cancelled.")
    elif isinstance(exc, QueryRejected):
        status = RunStatus.rejected
    else:
        status = RunStatus.failed
    return {
        "status": status.value,
        "error_code": exc.code,
        "error_message": exc.message,
        "error_detail": _with_line_column(exc.detail, active.sql) or None,
        "error_status": exc.http_status,
    }
