"""Executes runs: guard, row cap, timeout watchdog, cancel, result file, history row.

A run moves ``queued → running → succeeded | failed | cancelled | timed_out``, or straight
to ``rejected`` when the guard refuses it (or ``running → rejected`` when an engine layer
refuses a statement as not a read). Every run is a history row from the moment it is
asked for. Execution happens on a bounded thread pool; the caller may wait for the outcome
or come back later. Timeouts are enforced by the engine (driver) and by a client watchdog
that cancels the statement shortly after the deadline.

A short run costs two writes to the app database: its row is inserted as ``running`` when
a worker is free (else ``queued``, and updated when a worker takes it), and updated once
when it ends. A run whose rows keep coming after the first batch is also marked
``result_state = writing`` then, so that its pages can be read while it streams. Sessions
come from the per-connection pools of :mod:`querydeck.runs.pools`.

A caller that must not block (the API) claims a free worker first and has the run started
*and* executed on it (:meth:`RunManager.claim`, :meth:`RunManager.start_here`): one thread
hand-off instead of a thread of its own waiting for another. A claim counts as a busy
worker until its run counts as active, so ``queued`` and ``running`` stay exact.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

from querydeck.audit.log import AuditLog, current_request_id
from querydeck.auth.principal import Principal
from querydeck.errors import (
    AuditUnavailable,
    QueryCancelled,
    QueryDeckError,
    QueryRejected,
    RunNotFound,
    RunNotRunning,
    TooManyRuns,
)
from querydeck.runs import metrics, owner
from querydeck.runs.active import (
    ABORT_AFTER_S,
    ActiveRun,
    Claim,
    failure_values,
    finish_entry_fields,
    storable,
)
from querydeck.runs.history import run_info
from querydeck.runs.limits import applied_limits
from querydeck.runs.models import RunInfo, RunRequest, RunStatus
from querydeck.runs.pools import EnginePools
from querydeck.runs.results import jsonrows
from querydeck.runs.results.store import ResultStore, ResultWriter
from querydeck.runs.watchdog import Deadline, Watchdog
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.models import ConnectionInfo
from querydeck.sql.checker import Checker, StatementChecker
from querydeck.store.database import AppDatabase
from querydeck.store.plain import Cursor, utcnow

log = logging.getLogger("querydeck.runs")
_RUNS = "qd_runs"

#: Seconds past the run's timeout before the client watchdog cancels the statement.
WATCHDOG_GRACE_S = 1.0
#: How many started runs keep their outcome for a wait that has not come yet.
RECENT_FUTURES = 1024


class RunManager:
    """Starts, tracks and cancels runs of this process."""

    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        connections: ConnectionStore,
        results: ResultStore,
        checker: Checker | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._checker: Checker = checker or StatementChecker(
            max_bytes=settings.max_sql_bytes,
            forbidden_functions=settings.forbidden_functions,
            max_tokens=settings.max_sql_tokens,
        )
        self._db = db
        self._connections = connections
        self._results = results
        self._pool = ThreadPoolExecutor(settings.run_workers, thread_name_prefix="qd-run")
        self._watchdog = Watchdog()
        self.pools = EnginePools(
            size=settings.run_workers
            if settings.session_pool_size is None
            else settings.session_pool_size,
            idle_timeout_s=settings.session_pool_idle_s,
        )
        self._active: dict[str, ActiveRun] = {}
        #: The outcome of runs started here, until a wait answers it (oldest dropped).
        self._futures: OrderedDict[str, Future[RunInfo]] = OrderedDict()
        #: Workers held for runs about to start on them (see :meth:`claim`).
        self._claims = 0
        self._lock = threading.Lock()
        #: Called (in the worker thread) after each run has ended: retention hooks here.
        self.on_finished: Callable[[], object] | None = None
        #: Gives a run's driver what it needs of the user who runs it (a federated
        #: connection: the sources that user may query); the driver as it is by default.
        self.bind_driver: Callable[[ConnectionInfo, Any, Principal], Any] | None = None

    # --- starting ---------------------------------------------------------------------

    def start(self, request: RunRequest, *, actor: Principal) -> str:
        """Record and start a run of ``actor``; returns its id. A rejected statement is
        recorded with status ``rejected`` and raised (with the run id in the error's
        detail)."""
        return self._begin(request, actor)[0].id

    # --- a run started and executed on a claimed worker --------------------------------

    def claim(self) -> Claim | None:
        """A free worker held for a run that :meth:`run_claimed` starts on it (the run then
        needs no second thread), or None when no worker is free."""
        with self._lock:
            if len(self._active) + self._claims >= self._settings.run_workers:
                return None
            self._claims += 1
        return Claim(self._unclaim)

    def _unclaim(self) -> None:
        with self._lock:
            self._claims -= 1

    def run_claimed(self, claim: Claim, job: Callable[[], object]) -> None:
        """Run ``job`` on the claimed worker, in the caller's context (its request id);
        the claim is given back when the job ends at the latest."""

        def claimed() -> None:
            try:
                job()
            finally:
                claim.release()

        try:
            self._pool.submit(contextvars.copy_context().run, claimed)
        except BaseException:  # shutting down
            claim.release()
            raise

    def start_here(
        self,
        request: RunRequest,
        *,
        actor: Principal,
        claim: Claim,
        started: Callable[[str], object],
        after: list[Callable[[], None]] | None = None,
    ) -> RunInfo:
        """On a claimed worker: record a run like :meth:`start`, call ``started`` with its
        id, execute it on this thread and return it as it ended. (A refused run's claim is
        given back when its job ends, see :meth:`run_claimed`.) With ``after``, a small
        result's files are written by the action appended to it, which the caller runs
        once it has answered (see :meth:`_execute`)."""
        active, driver = self._begin(request, actor, claim=claim)
        future = active.future
        assert future is not None
        started(active.id)
        try:
            ended = self._execute(active, driver, after)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(ended)
        return ended

    def _begin(
        self, request: RunRequest, actor: Principal, *, claim: Claim | None = None
    ) -> tuple[ActiveRun, Any]:
        """Record a run (see :meth:`start`); with ``claim`` the caller executes it, on the
        worker it claimed. Returns the run and its driver."""
        info, driver = self._connections.driver_for(request.connection)
        if self.bind_driver is not None:
            driver = self.bind_driver(info, driver, actor)
        limits = applied_limits(request, self._settings)
        max_rows, timeout_s = limits.max_rows, limits.timeout_s
        run_id = str(uuid.uuid4())
        now = utcnow()
        row: dict[str, Any] = {
            "id": run_id,
            "user_name": actor.username,
            "connection_id": info.id,
            "connection_name": info.name,
            "driver": info.driver,
            "sql": storable(request.sql),
            "executed_sql": None,
            "status": RunStatus.queued.value,
            "max_rows": max_rows,
            "timeout_s": timeout_s,
            "truncated": False,
            "created_at": now,
            "started_at": None,
            "owner": owner.this_process(),
            "limits": [n.model_dump() for n in limits.lowered] or None,
        }
        active = ActiveRun(run_id, info.name, "", max_rows, timeout_s, info.driver, actor.username)
        active.max_timeout_s = self._settings.max_timeout_s
        active.source_sql, active.dialect = request.sql, driver.dialect
        active.connection_id, active.request_id = info.id, current_request_id()
        active.principal, active.record = actor, row
        try:
            rules = driver.rules_for(driver.options)
            active.sql = self._checker(request.sql, rules=rules, max_rows=max_rows)
        except QueryRejected as exc:
            exc.detail["run_id"] = run_id
            row.update(
                status=RunStatus.rejected.value,
                error_code=exc.code,
                error_message=exc.message,
                error_detail=exc.detail,
                error_status=exc.http_status,
                finished_at=now,
                duration_ms=0.0,
            )
            self._db.write_raw(lambda cursor: self._db.fast(_RUNS).insert(cursor, row))
            metrics.record_finished(info.driver, RunStatus.rejected, 0.0)
            if self._audit is not None:  # nothing was read: the entry is best effort
                values = {"status": row["status"], "error_code": exc.code, "duration_ms": 0.0}
                self._audit.record(**self._entry_fields(active, values))
            raise
        row["executed_sql"] = active.sql
        active.pool_key, active.pool_version = info.id, info.updated_at.isoformat()
        if self._connections.needs_probe(info, self._settings.privilege_recheck_s):
            active.before_use = lambda conn: self._connections.check_privileges(info, conn)
        if self._reserve(active, claim=claim):
            active.started_at_insert = True
            row["status"], row["started_at"] = RunStatus.running.value, now
        try:
            self._db.write_raw(lambda cursor: self._db.fast(_RUNS).insert(cursor, row))
            if claim is not None:
                active.future = Future()
            else:
                active.future = self._pool.submit(self._execute, active, driver)
            with self._lock:
                self._futures[run_id] = active.future
                while len(self._futures) > RECENT_FUTURES:
                    self._futures.popitem(last=False)
        except BaseException:
            with self._lock:
                self._active.pop(run_id, None)
            raise
        return active, driver

    def _reserve(self, active: ActiveRun, *, claim: Claim | None = None) -> bool:
        """Count the run against its user's and its connection's limits, or refuse it
        (429) without recording anything. True when a worker is free for it now (with
        ``claim``: the caller is one; the claim ends here, the run counts instead)."""
        with self._lock:
            if claim is not None and claim.take():
                self._claims -= 1
            mine = sum(1 for a in self._active.values() if a.user == active.user)
            here = sum(
                1 for a in self._active.values() if a.connection_name == active.connection_name
            )
            for scope, used, limit in (
                ("user", mine, self._settings.max_runs_per_user),
                ("connection", here, self._settings.max_runs_per_connection),
            ):
                if used >= limit:
                    raise TooManyRuns(
                        f"Too many runs in flight for this {scope} ({used} of {limit}); "
                        "wait for one to end or cancel one.",
                        detail={"scope": scope, "limit": limit, "retry_after_s": 1},
                    )
            free = (
                claim is not None or len(self._active) + self._claims < self._settings.run_workers
            )
            self._active[active.id] = active
            return free

    def active_ids(self) -> set[str]:
        with self._lock:
            return set(self._active)

    # --- waiting and cancelling -------------------------------------------------------

    def wait(self, run_id: str, timeout_s: float | None) -> RunInfo | None:
        """Wait up to ``timeout_s`` for a run of this process. The run as it ended when it
        ended in time here; None when it is still going or not this process's (read the
        history then)."""
        with self._lock:
            future = self._futures.get(run_id)
        if future is None:
            return None
        try:
            ended = future.result(timeout=timeout_s)
        except FutureTimeout:
            return None
        with self._lock:  # answered once: a later wait reads what the history says then
            self._futures.pop(run_id, None)
        return ended

    def cancel(self, run_id: str) -> None:
        with self._lock:
            active = self._active.get(run_id)
        if active is None:
            from querydeck.store.tables import RunRow

            with self._db.read() as tx:
                row = tx.get(RunRow, run_id)
            if row is None:
                raise RunNotFound("No such run.", detail={"run_id": run_id})
            raise RunNotRunning(
                f"The run has already finished ({row.status}).",
                detail={"status": row.status},
            )
        active.cancel()
        threading.Thread(target=active.keep_cancelling, name="qd-cancel", daemon=True).start()

    def shutdown(self) -> None:
        """Cancel every run in flight and wait for the workers to close them."""
        with self._lock:
            runs = list(self._active.values())
        for active in runs:
            active.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.pools.close()
        self._watchdog.close()

    # --- executing --------------------------------------------------------------------

    def _execute(
        self, active: ActiveRun, driver: Any, after: list[Callable[[], None]] | None = None
    ) -> RunInfo:
        """Execute a recorded run and record how it ended. With ``after``, a result small
        enough to be held in memory whole is not written before the run is answered: its
        files are written by an action appended to ``after`` (readers of this process wait
        for them, see ResultStore.defer)."""
        started = time.perf_counter()
        # started_at is when a worker takes the run, so that finished_at - started_at is
        # the execution time (duration_ms) and started_at - created_at the time queued.
        started_at = utcnow()
        if not active.started_at_insert:
            self._update(active, status=RunStatus.running.value, started_at=started_at)
        writer: ResultWriter | None = None
        deferred = False
        outcome: dict[str, Any] = {}
        timer: Deadline | None = None
        cutter: Deadline | None = None
        try:
            if active.cancel_requested:
                raise QueryCancelled("The run was cancelled before it started.")
            conn = self.pools.acquire(
                active.pool_key,
                active.pool_version,
                lambda: driver.connect(
                    timeout_s=min(self._settings.connect_timeout_s, active.timeout_s)
                ),
            )
            with active.lock:
                active.connection = conn
            clean = False
            try:
                # The deadlines cover the first-use probe too: a server that answers the
                # login and then nothing is cancelled, then cut off (EngineSession.abort).
                timer = self._watchdog.schedule(
                    active.timeout_s + WATCHDOG_GRACE_S, active.fire_watchdog
                )
                cutter = self._watchdog.schedule(
                    active.timeout_s + WATCHDOG_GRACE_S + ABORT_AFTER_S, active.abort
                )
                if active.before_use is not None:
                    active.before_use(conn)
                if active.cancel_requested:
                    raise QueryCancelled("The run was cancelled before it started.")
                try:
                    stream = conn.execute(active.sql, timeout_s=active.timeout_s)
                finally:  # a statement refused or failed may have named sources too
                    active.sources = conn.sources_read()
                try:
                    writer = self._results.writer(active.id, stream.schema)
                except BaseException:
                    stream.close()
                    raise
                stored: dict[str, Any] = {
                    "result_file": writer.final.name,
                    "columns": [c.model_dump() for c in jsonrows.columns(writer.schema)],
                }
                truncated = writer.drain(
                    stream,
                    active.max_rows,
                    lambda: self._update(active, result_state="writing", **stored),
                )
                if after is not None and writer.held:
                    deferred = True
                    self._results.defer(active.id)
                else:
                    writer.commit()
                if writer.truncated:  # values cut to max_value_bytes: said per column
                    for column in stored["columns"]:
                        column["truncated_values"] = writer.truncated.get(column["name"], 0)
                outcome = {
                    "status": RunStatus.succeeded.value,
                    "row_count": writer.rows,
                    "truncated": truncated,
                    "result_state": "stored",
                    **stored,
                }
                clean = True
            finally:
                if timer is not None:
                    timer.cancel()
                if cutter is not None:
                    cutter.cancel()
                with active.lock:
                    active.connection = None
                    reusable = clean and not (active.cancel_requested or active.watchdog_fired)
                self.pools.release(active.pool_key, active.pool_version, conn, reusable=reusable)
        except QueryDeckError as exc:
            outcome = failure_values(active, exc)
        except Exception:  # the last line of defence: never leave a run "running"
            log.exception("run %s failed unexpectedly", active.id)
            outcome = {
                "status": RunStatus.failed.value,
                "error_code": QueryDeckError.code,
                "error_message": "The run failed because of an internal error.",
                "error_status": 500,
            }
        finally:
            if writer is not None and outcome.get("status") != RunStatus.succeeded.value:
                writer.discard()
                outcome.update(result_state=None, result_file=None, columns=None)
            duration = (time.perf_counter() - started) * 1000
            finished_at = started_at + timedelta(milliseconds=duration)
            outcome = self._finish(
                active,
                {
                    "started_at": started_at,
                    "finished_at": finished_at,
                    "duration_ms": round(duration, 3),
                    **outcome,
                },
            )
            if writer is not None and outcome["status"] == RunStatus.succeeded.value:
                self._results.keep(active.id, writer.kept())
                if deferred and after is not None:
                    late = writer
                    after.append(lambda: self._write_late(active, late))
            elif deferred:
                self._results.settle(active.id)
            metrics.record_finished(
                active.driver_name, RunStatus(outcome["status"]), duration / 1000
            )
            with self._lock:
                self._active.pop(active.id, None)
            if self.on_finished is not None:
                try:
                    self.on_finished()
                except Exception:  # housekeeping must never fail the run it follows
                    log.exception("after-run housekeeping failed")
        return run_info(active.record)

    def _write_late(self, active: ActiveRun, writer: ResultWriter) -> None:
        """Write the files of a result held in memory, after its run was answered. When
        they cannot be written (a full disk), the run stays succeeded and its rows are
        marked ``missing`` (its first page was answered from memory)."""
        try:
            writer.commit()
        except Exception:
            log.exception("run %s: its result could not be written", active.id)
            writer.discard()
            try:
                self._update(active, result_state="missing")
            except Exception:
                log.exception("run %s: its result could not be marked missing", active.id)
        finally:
            self._results.settle(active.id)

    # --- the final write and its audit entry ------------------------------------------

    @staticmethod
    def _entry_fields(active: ActiveRun, values: dict[str, Any]) -> dict[str, Any]:
        """The ``run.finish`` audit entry of a run ending with ``values``."""
        return finish_entry_fields(
            run_id=active.id,
            actor=active.principal,
            connection_id=active.connection_id,
            connection_name=active.connection_name,
            driver=active.driver_name,
            sql=active.source_sql,
            dialect=active.dialect,
            request_id=active.request_id,
            values=values,
            sources=active.sources,
        )

    def _finish(self, active: ActiveRun, values: dict[str, Any]) -> dict[str, Any]:
        """Write the run's final status and its audit entry in one transaction; returns the
        values written. Fails closed: when the entry cannot be written, the run ends
        failed (``AUDIT_UNAVAILABLE``) and its stored rows are deleted, so no page or
        export of them is served."""
        if self._audit is None:
            self._update(active, **values)
            return values
        try:
            entry = AuditLog.entry(**self._entry_fields(active, values))
            self._update(active, audit=entry, **values)
            return values
        except Exception as exc:
            AuditLog.failed("run.finish", exc)
        values = {
            **values,
            "status": RunStatus.failed.value,
            "error_code": AuditUnavailable.code,
            "error_message": "The run could not be recorded in the audit log, so its rows "
            "are not kept; try again once the audit log works.",
            "error_detail": None,
            "error_status": AuditUnavailable.http_status,
            "result_state": None,
            "result_file": None,
            "columns": None,
        }
        self._update(active, **values)
        self._results.delete(active.id)
        return values

    def _update(
        self, active: ActiveRun, *, audit: dict[str, Any] | None = None, **values: Any
    ) -> None:
        # One UPDATE, no read first: a SQLite transaction that starts by writing waits for
        # the write lock (busy timeout) instead of failing on a stale read snapshot.
        # Plain driver SQL on a bare connection (querydeck.store.fastsql): the ORM's session
        # and Core's statement machinery cost more than the write itself.

        def work(cursor: Cursor) -> None:
            self._db.fast(_RUNS).update(cursor, "id", active.id, values)
            if audit is not None:
                AuditLog.insert(self._db, cursor, audit)

        self._db.write_raw(work)
        active.record.update(values)
