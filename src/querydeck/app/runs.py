"""Runs, as the shells see them: start (ad hoc, submitted to a free worker, re-run), wait,
pages, cancel, history and exports. Rate limits and grants are checked here, and every
refusal is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from querydeck.audit.log import AuditLog, current_request_id
from querydeck.audit.operations import outcome_of
from querydeck.auth import ratelimit
from querydeck.auth.access import Access, ad_hoc_sql
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.auth.ratelimit import RateLimiter
from querydeck.errors import (
    ConnectionNotFound,
    ExportUnavailable,
    HistoryUserForbidden,
    NotFound,
    QueryDeckError,
    RunNotFinished,
)
from querydeck.runs.active import RunSubmission
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.history import History
from querydeck.runs.models import HistoryPage, RowsPage, RunInfo, RunRequest, RunStatus
from querydeck.runs.results.store import ResultStore
from querydeck.runs.saved import SavedQueryStore
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionStore

if TYPE_CHECKING:  # the runner (the guard's parser) and the exports (Arrow) load on use
    from querydeck.runs.export.writers import Export, ExportReceipt
    from querydeck.runs.runner import RunManager

T = TypeVar("T")


class RunService:
    """Runs, their pages, history and exports."""

    def __init__(
        self,
        settings: Settings,
        manager: Callable[[], RunManager],
        history: History,
        results: ResultStore,
        *,
        access: Access,
        grants: Grants,
        connections: ConnectionStore,
        limiter: RateLimiter,
        audit: AuditLog,
        saved: SavedQueryStore,
    ) -> None:
        self._settings = settings
        self._saved = saved
        self._manager_of = manager
        self._history = history
        self._results = results
        self._access = access
        self._grants = grants
        self._connections = connections
        self._limiter = limiter
        self._audit = audit

    @property
    def _manager(self) -> RunManager:
        """The run manager, built when first needed: the history and pages need none."""
        return self._manager_of()

    def start(self, request: RunRequest, *, actor: Principal = LOCAL) -> str:
        """Start an ad-hoc statement (``query`` grant; not for viewers)."""
        self._ad_hoc(request, actor)
        return self.start_vetted(request, actor)

    def submit(
        self,
        request: RunRequest,
        *,
        actor: Principal,
        page_size: int,
        answer: Callable[[RunInfo, RowsPage | None], T],
    ) -> RunSubmission[T] | None:
        """Start an ad-hoc statement like :meth:`start` and execute it on a free run
        worker, which also reads its first page and builds ``answer(run, page)`` from them:
        a caller that must not block (the API's event loop) needs no thread of its own.
        None when no worker is free (then start and wait: the run is queued)."""
        claim = self._manager.claim()
        if claim is None:
            return None
        submission: RunSubmission[T] = RunSubmission()

        def job() -> None:
            # A small result's files are written once the answer is handed over: the
            # request does not wait for them (readers of this process do, see
            # ResultStore.defer).
            after: list[Callable[[], None]] = []
            try:
                self._ad_hoc(request, actor)
                run = self._admitted(
                    request,
                    actor,
                    lambda: self._manager.start_here(
                        request,
                        actor=actor,
                        claim=claim,
                        started=submission.started.set_result,
                        after=after,
                    ),
                )
                page = None
                if run.status is RunStatus.succeeded and not submission.abandoned:
                    page = self.first_rows(run, page_size, unwritten=after)
                submission.done.set_result(answer(run, page))
            except BaseException as exc:  # handed to the waiter, whatever it is
                if not submission.started.done():
                    submission.started.set_exception(exc)
                submission.done.set_exception(exc)
            finally:
                for action in after:
                    action()

        self._manager.run_claimed(claim, job)
        return submission

    def _ad_hoc(self, request: RunRequest, actor: Principal) -> None:
        try:
            ad_hoc_sql(actor)
        except QueryDeckError as exc:
            self._audit_refused_run(request, actor, exc)
            raise

    def start_vetted(self, request: RunRequest, actor: Principal) -> str:
        """Start a statement the caller vouches for (a saved query, a re-run, a table
        preview): the rate limits and the grants are checked, not the ad-hoc SQL rule."""
        return self._admitted(request, actor, lambda: self._manager.start(request, actor=actor))

    def _admitted(self, request: RunRequest, actor: Principal, begin: Callable[[], T]) -> T:
        """Check the rate limits and the grants, then ``begin`` the run; a refusal is
        audited (``run.start``, no run exists), a started run is audited when it ends
        (``run.finish``)."""
        try:
            if actor.via != "local":
                self._limiter.hit(ratelimit.RUNS_USER, actor.username)
                if actor.address:
                    self._limiter.hit(ratelimit.RUNS_ADDRESS, actor.address)
            wanted = (Action.query, Action.export) if request.export_all else (Action.query,)
            self._access.check(actor, request.connection, *wanted)
        except QueryDeckError as exc:
            self._audit_refused_run(request, actor, exc)
            raise
        try:
            return begin()
        except NotFound as exc:  # the connection is gone (admins are not checked before)
            self._audit_refused_run(request, actor, exc)
            raise

    def _audit_refused_run(
        self, request: RunRequest, actor: Principal, exc: QueryDeckError
    ) -> None:
        self._audit.record(
            "run.start",
            actor=actor,
            outcome=outcome_of(exc)[0],
            target_type="connection",
            detail={"connection": request.connection, "error_code": exc.code},
        )

    def wait(self, run_id: str, timeout_s: float | None) -> RunInfo:
        """Wait up to ``timeout_s`` (None: until it ends) and return the run as it is."""
        ended = self._manager.wait(run_id, timeout_s)
        return ended if ended is not None else self._history.get(run_id)

    def run(self, request: RunRequest, *, actor: Principal = LOCAL) -> RunInfo:
        """Start a run and wait for it to end."""
        return self.wait(self.start(request, actor=actor), None)

    def resolve(self, run_id: str, *, actor: Principal = LOCAL) -> str:
        """The full id of ``run_id`` or of a unique prefix of it (among ``actor``'s runs;
        administrators': everyone's); ``RUN_ID_AMBIGUOUS`` lists the candidates."""
        return self._history.resolve(run_id, user=None if actor.is_admin else actor.username)

    def get(self, run_id: str, *, actor: Principal = LOCAL) -> RunInfo:
        """A run: its owner's (with a grant still on its connection) or any for admins.
        ``run_id`` may be a unique prefix of the id."""
        run = self._history.get(self.resolve(run_id, actor=actor))
        self._access.run(actor, run, Action.browse)
        return run

    def rows(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int = 500,
        known: RunInfo | None = None,
        actor: Principal = LOCAL,
    ) -> RowsPage:
        """A page of a run's stored rows; ``known`` is the run if the caller just read it
        (and checked it may)."""
        if known is None:
            known = self.get(run_id, actor=actor)
        return self._history.rows(known.id, offset=offset, limit=limit, known=known)

    def first_rows(
        self,
        run: RunInfo,
        limit: int,
        *,
        unwritten: list[Callable[[], None]] | None = None,
    ) -> RowsPage:
        """The first page of a run the caller started and waited for: from memory when its
        result was small (see ``ResultStore.keep``), else from the stored result.
        ``unwritten``: the caller's actions that write the result's files (see
        ``RunManager.start_here``), run first when the rows must be read from them."""
        table = self._results.take(run.id) if run.status is RunStatus.succeeded else None
        if table is None:
            for action in unwritten or ():
                action()
            if unwritten:
                unwritten.clear()
            return self._history.rows(run.id, offset=0, limit=limit, known=run)
        return self._history.page(run, table.slice(0, limit), offset=0, limit=limit, so_far=0)

    def cancel(self, run_id: str, *, actor: Principal = LOCAL) -> RunInfo:
        """Ask a running run to stop; returns the run once it has ended (or after 5 s)."""
        run_id = self.get(run_id, actor=actor).id
        self._manager.cancel(run_id)
        return self.wait(run_id, 5.0)

    def listing(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        connection: str | None = None,
        status: RunStatus | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        user: str | None = None,
        actor: Principal = LOCAL,
    ) -> HistoryPage:
        """History: a user sees their own runs on connections they still hold a grant on;
        administrators see everyone's (``user`` narrows to one user). A non-administrator
        asking for another user's runs is refused (``HISTORY_USER_FORBIDDEN``)."""
        connection_ids = None
        if not actor.is_admin:
            if user is not None and user != actor.username:
                raise HistoryUserForbidden(
                    f"Only administrators see other users' runs; you see your own "
                    f"({actor.username!r}): drop the user filter.",
                    detail={"user": user},
                )
            user = actor.username
            connection_ids = self._grants.connection_ids(actor)
        return self._history.listing(
            limit=limit,
            offset=offset,
            connection=connection,
            status=status,
            user=user,
            text=text,
            since=since,
            until=until,
            cursor=cursor,
            connection_ids=connection_ids,
        )

    def rerun(
        self, run_id: str, *, export_all: bool | None = None, actor: Principal = LOCAL
    ) -> str:
        """Start a new run with the same connection, SQL, row cap and timeout."""
        old = self.get(run_id, actor=actor)
        run_id = old.id
        if old.connection_id is None:
            raise ConnectionNotFound(
                "The run's connection no longer exists.",
                detail={"run_id": run_id},
            )
        connection = self._connections.name_of(old.connection_id)
        request = RunRequest(
            connection=connection,
            sql=old.sql,
            max_rows=old.max_rows,
            timeout_s=old.timeout_s,
            export_all=bool(export_all) or old.max_rows > self._settings.max_rows_limit,
        )
        if not actor.may_write_sql:
            # A viewer may re-run a run of a query shared with them, while it is (the same
            # SQL, shared on the same connection), never other SQL their history holds.
            shared_on = frozenset(self._grants.connection_ids(actor, Action.query))
            if not self._saved.shares(old.connection_id, old.sql, shared_on):
                self._ad_hoc(request, actor)
        return self.start_vetted(request, actor)

    def export(self, run_id: str, fmt: ExportFormat, *, actor: Principal = LOCAL) -> Export:
        """A streaming export of a succeeded run's stored rows (never re-runs the query).

        409 for a run that did not succeed or is still running, 410 when its rows are gone.
        Each export is audited (``export.finish``) when its stream ends: format, rows,
        bytes and the SHA-256 of the bytes handed on; ``aborted`` when the consumer stopped
        early; a refused export is audited too.
        """
        request_id = current_request_id()
        try:
            run_id = self.resolve(run_id, actor=actor)
            export, connection_id = self._export(run_id, fmt, actor)
        except QueryDeckError as exc:
            self._audit.record(
                "export.finish",
                actor=actor,
                outcome=outcome_of(exc)[0],
                target_type="run",
                target_id=run_id,
                request_id=request_id,
                detail={"format": fmt.value, "error_code": exc.code},
            )
            raise

        def finished(receipt: ExportReceipt) -> None:
            self._audit.record(
                "export.finish",
                actor=actor,
                outcome=receipt.outcome,
                target_type="run",
                target_id=run_id,
                connection_id=connection_id,
                request_id=request_id,
                detail={
                    "format": fmt.value,
                    "rows": receipt.rows,
                    "bytes": receipt.bytes,
                    "sha256": receipt.sha256,
                    "error_code": receipt.error_code,
                },
            )

        export.on_finished = finished
        return export

    def _export(
        self, run_id: str, fmt: ExportFormat, actor: Principal
    ) -> tuple[Export, str | None]:
        run = self._history.get(run_id)
        self._access.run(actor, run, Action.export)
        if run.status is not RunStatus.succeeded:
            error = RunNotFinished if not run.status.finished else ExportUnavailable
            raise error(
                f"Only a succeeded run can be exported; this one is {run.status.value}.",
                detail={"status": run.status.value, "run_id": run_id},
            )
        run, stored = self._history.stored(run_id)
        from querydeck.runs.export.writers import Export, file_name

        export = Export(
            store=self._results,
            run_id=run_id,
            stored=stored,
            format=fmt,
            filename=file_name(run_id, fmt),
            total_rows=run.row_count or 0,
            truncated_columns=[c.name for c in run.columns or [] if c.truncated_values],
        )
        return export, run.connection_id
