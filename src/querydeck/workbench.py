"""The Workbench: querydeck's one application object.

The API routes and the CLI commands each call one Workbench method; they hold no SQL and no
driver code. The Workbench never imports a web or CLI framework.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from querydeck import demo, ratelimit
from querydeck.audit.log import AuditLog, current_request_id
from querydeck.audit.models import AuditPage
from querydeck.audit.operations import outcome_of
from querydeck.auth.access import Access, ad_hoc_sql, admin_only
from querydeck.auth.accounts import Accounts
from querydeck.auth.grants import Grants
from querydeck.auth.passwords import PasswordHasher, PasswordPolicy
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.auth.sessions import LoginSessions
from querydeck.auth.tokens import ApiTokens
from querydeck.catalog.background import BackgroundRefresher
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.catalog.service import CatalogService
from querydeck.catalog.snapshots import CatalogCache
from querydeck.certificates import CertificateStore, certificates_dir
from querydeck.connections import ConnectionService
from querydeck.drivers import registry
from querydeck.drivers.base import Sandbox
from querydeck.errors import (
    Conflict,
    ExportUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    QueryDeckError,
    SecretKeyError,
)
from querydeck.keys import KeyRotation, RotationResult, finish_interrupted_rotation
from querydeck.models import (
    CertificateInfo,
    ConnectionInfo,
    DriverInfo,
    HistoryPage,
    Page,
    RowsPage,
    RunInfo,
    RunRequest,
    RunStatus,
    SavedQuery,
    SavedQueryChanges,
    SavedQueryInput,
    TestResult,
)
from querydeck.preferences import Preference, Preferences
from querydeck.ratelimit import RateLimiter
from querydeck.runs import recovery
from querydeck.runs.active import RunSubmission
from querydeck.runs.export import Export, ExportFormat, ExportReceipt, file_name
from querydeck.runs.history import History
from querydeck.runs.results import ResultStore
from querydeck.runs.retention import Retention
from querydeck.runs.runner import RunManager
from querydeck.sandbox import build_sandbox
from querydeck.saved import Reader, SavedQueries
from querydeck.secrets import Sealer, load_key
from querydeck.settings import Settings, load_settings
from querydeck.sql.checker import Checker
from querydeck.store.database import AppDatabase
from querydeck.store.tables import Meta
from querydeck.targets import TargetVerifier
from querydeck.workbench_accounts import AccountsMixin

T = TypeVar("T")


def _option_names(options: dict[str, Any] | None) -> list[str]:
    """The names of the options given (never their values), for an audit entry."""
    return sorted(str(key)[:64] for key in (options or {}))[:100]


_KEY_CHECK = "secret_key_fingerprint"


class Workbench(AccountsMixin):
    """Connections, runs and history over one app database."""

    def __init__(self, settings: Settings | None = None, *, checker: Checker | None = None) -> None:
        """``checker`` replaces the guard; only tests pass one (see DEVELOPERS.md)."""
        self.settings = settings or load_settings()
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = AppDatabase(self.settings.app_database_url, retries=self.settings.app_db_retries)
        self.db.migrate()
        self._sealer = self._open_sealer()
        self.certificates = CertificateStore(self.db, certificates_dir(data_dir))
        self.sandbox: Sandbox = dataclasses.replace(
            build_sandbox(self.settings), certificates=self.certificates
        )
        self.connections = ConnectionService(
            self.db,
            self._sealer,
            TargetVerifier(self.sandbox, connect_timeout_s=self.settings.connect_timeout_s),
            connect_timeout_s=self.settings.connect_timeout_s,
        )
        self.results = ResultStore(self.settings.results_dir)
        self.audit = AuditLog(self.db)
        self.runs = RunManager(
            self.settings,
            self.db,
            self.connections,
            self.results,
            checker=checker,
            audit=self.audit,
        )
        self.history = History(self.db, self.results)
        self.catalog = CatalogService(
            CatalogCache(self.db),
            self.connections,
            connect_timeout_s=self.settings.connect_timeout_s,
            default_timeout_s=self.settings.catalog_refresh_timeout_s,
        )
        self.refresher = BackgroundRefresher(
            self._connection_names,
            self.catalog.refresh,
            self.settings.catalog_refresh_interval_s,
        )
        self.retention = Retention(
            self.results,
            self.db,
            max_age_s=self.settings.result_max_age_hours * 3600,
            max_bytes=self.settings.result_store_max_bytes,
            in_flight=self._runs_in_flight,
        )
        self.runs.on_finished = self.retention.sweep_soon
        self.retention.sweep()
        self.saved = SavedQueries(self.db, self.connections)
        hasher = PasswordHasher(
            time_cost=self.settings.argon2_time_cost,
            memory_kib=self.settings.argon2_memory_kib,
            parallelism=self.settings.argon2_parallelism,
        )
        self.accounts = Accounts(self.db, hasher, PasswordPolicy(self.settings.password_min_length))
        self.login_sessions = LoginSessions(
            self.db,
            idle_minutes=self.settings.session_idle_minutes,
            absolute_hours=self.settings.session_absolute_hours,
        )
        self.tokens = ApiTokens(self.db, max_days=self.settings.token_max_days)
        self.tokens.on_use = self._token_used
        self.grants = Grants(self.db)
        self.access = Access(self.grants, self.connections)
        self.preferences = Preferences(self.db)
        self.limiter = RateLimiter(self.settings)

    def _open_sealer(self) -> Sealer:
        with self.db.read() as session:
            stored = session.get(Meta, _KEY_CHECK)
            fingerprint = stored.value if stored else None
        if self.settings.secret_key is None:
            finish_interrupted_rotation(self.settings.data_dir, fingerprint)
        key = load_key(
            self.settings.secret_key,
            self.settings.data_dir,
            expect_existing=fingerprint is not None,
        )
        sealer = Sealer(key)
        if fingerprint is None:
            try:
                self.db.write(lambda s: s.add(Meta(key=_KEY_CHECK, value=sealer.fingerprint)))
            except IntegrityError:  # another process started at the same moment
                with self.db.read() as session:
                    stored = session.get(Meta, _KEY_CHECK)
                    fingerprint = stored.value if stored else None
        if fingerprint is not None and fingerprint != sealer.fingerprint:
            raise SecretKeyError(
                "The secret key is not the one this installation's credentials were "
                "encrypted with. Restore the original key file (or QUERYDECK_SECRET_KEY)."
            )
        return sealer

    def close(self) -> None:
        self.refresher.stop()
        self.runs.shutdown()
        self.limiter.close()
        self.db.dispose()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- health -----------------------------------------------------------------------

    def ready(self) -> None:
        """Raises when querydeck's own database cannot be reached."""
        self.db.ping()

    # --- drivers ----------------------------------------------------------------------

    def drivers(self) -> list[DriverInfo]:
        return [DriverInfo.model_validate(registry.describe(n)) for n in registry.names()]

    def driver(self, name: str) -> DriverInfo:
        return DriverInfo.model_validate(registry.describe(name))

    # --- connections ------------------------------------------------------------------

    def create_connection(
        self,
        name: str,
        *,
        driver: str | None = None,
        url: str | None = None,
        options: dict[str, Any] | None = None,
        allow_privileged: bool = False,
        actor: Principal = LOCAL,
    ) -> ConnectionInfo:
        """Register a connection (administrators only). ``allow_privileged`` is the admin
        override that saves a login able to write, flagged "can write"."""
        detail = {
            "name": name,
            "driver": driver,
            "from_url": url is not None,
            "options": _option_names(options),
            "allow_privileged": allow_privileged,
        }
        with self._audited("connection.create", actor, detail) as audit:
            admin_only(actor, "add a connection")
            info = self.connections.create(
                name, driver, url=url, options=options, allow_privileged=allow_privileged
            )
            audit.done(info.id, driver=info.driver)
        return info

    def list_connections(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[ConnectionInfo]:
        """The connections ``actor`` may browse (administrators: all)."""
        ids = None if actor.is_admin else self.grants.connection_ids(actor)
        return self.connections.listing(limit=limit, offset=offset, ids=ids)

    def get_connection(self, name: str, *, actor: Principal = LOCAL) -> ConnectionInfo:
        return self.access.connection(actor, name, Action.browse)

    def update_connection(
        self,
        name: str,
        options: dict[str, Any],
        *,
        allow_privileged: bool | None = None,
        actor: Principal = LOCAL,
    ) -> ConnectionInfo:
        """Change options (``manage``); ``allow_privileged`` (the administrators' override)
        None keeps the stored one. The audit entry names the options changed, never their
        values."""
        detail = {
            "name": name,
            "options": _option_names(options),
            "allow_privileged": allow_privileged,
        }
        with self._audited("connection.update", actor, detail, name) as audit:
            self.access.manage(actor, name)
            if allow_privileged is not None:
                admin_only(actor, "allow a login that can write")
            info = self.connections.update(name, options, allow_privileged=allow_privileged)
            audit.done(info.id)
        self.runs.sessions.clear(info.id)
        return info

    def rename_connection(
        self, name: str, new_name: str, *, actor: Principal = LOCAL
    ) -> ConnectionInfo:
        detail = {"name": name, "new_name": new_name}
        with self._audited("connection.rename", actor, detail, name) as audit:
            self.access.manage(actor, name)
            info = self.connections.rename(name, new_name)
            audit.done(info.id, new_name=info.name)
        return info

    def delete_connection(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a connection with its grants (administrators only)."""
        with self._audited("connection.delete", actor, {"name": name}, name) as audit:
            self.access.connection(actor, name, Action.browse)
            admin_only(actor, "delete a connection")
            info = self.connections.get(name)
            self.connections.delete(name)
            audit.done(info.id)
        self.runs.sessions.clear(info.id)

    def test_connection(self, name: str, *, actor: Principal = LOCAL) -> TestResult:
        with self._audited("connection.test", actor, {"name": name}, name) as audit:
            self.access.manage(actor, name)
            result = self.connections.test(name)
            audit.done(latency_ms=result.latency_ms)
        return result

    # --- runs -------------------------------------------------------------------------

    def start_run(self, request: RunRequest, *, actor: Principal = LOCAL) -> str:
        """Start an ad-hoc statement (``query`` grant; not for viewers)."""
        self._ad_hoc(request, actor)
        return self._start(request, actor)

    def submit_run(
        self,
        request: RunRequest,
        *,
        actor: Principal,
        page_size: int,
        answer: Callable[[RunInfo, RowsPage | None], T],
    ) -> RunSubmission[T] | None:
        """Start an ad-hoc statement like :meth:`start_run` and execute it on a free run
        worker, which also reads its first page and builds ``answer(run, page)`` from them:
        a caller that must not block (the API's event loop) needs no thread of its own.
        None when no worker is free (then start_run and wait_run: the run is queued)."""
        claim = self.runs.claim()
        if claim is None:
            return None
        submission: RunSubmission[T] = RunSubmission()

        def job() -> None:
            try:
                self._ad_hoc(request, actor)
                run = self._admitted(
                    request,
                    actor,
                    lambda: self.runs.start_here(
                        request, actor=actor, claim=claim, started=submission.started.set_result
                    ),
                )
                page = None
                if run.status is RunStatus.succeeded and not submission.abandoned:
                    page = self.first_rows(run, page_size)
                submission.done.set_result(answer(run, page))
            except BaseException as exc:  # handed to the waiter, whatever it is
                if not submission.started.done():
                    submission.started.set_exception(exc)
                submission.done.set_exception(exc)

        self.runs.run_claimed(claim, job)
        return submission

    def _ad_hoc(self, request: RunRequest, actor: Principal) -> None:
        try:
            ad_hoc_sql(actor)
        except QueryDeckError as exc:
            self._audit_refused_run(request, actor, exc)
            raise

    def _start(self, request: RunRequest, actor: Principal) -> str:
        """Check the rate limits and the grants and start the run on the run workers."""
        return self._admitted(request, actor, lambda: self.runs.start(request, actor=actor))

    def _admitted(self, request: RunRequest, actor: Principal, begin: Callable[[], T]) -> T:
        """Check the rate limits and the grants, then ``begin`` the run; a refusal is
        audited (``run.start``, no run exists), a started run is audited when it ends
        (``run.finish``)."""
        try:
            if actor.via != "local":
                self.limiter.hit(ratelimit.RUNS_USER, actor.username)
                if actor.address:
                    self.limiter.hit(ratelimit.RUNS_ADDRESS, actor.address)
            wanted = (Action.query, Action.export) if request.export_all else (Action.query,)
            self.access.check(actor, request.connection, *wanted)
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
        self.audit.record(
            "run.start",
            actor=actor,
            outcome=outcome_of(exc)[0],
            target_type="connection",
            detail={"connection": request.connection, "error_code": exc.code},
        )

    def wait_run(self, run_id: str, timeout_s: float | None) -> RunInfo:
        """Wait up to ``timeout_s`` (None: until it ends) and return the run as it is."""
        ended = self.runs.wait(run_id, timeout_s)
        return ended if ended is not None else self.history.get(run_id)

    def run(self, request: RunRequest, *, actor: Principal = LOCAL) -> RunInfo:
        """Start a run and wait for it to end."""
        return self.wait_run(self.start_run(request, actor=actor), None)

    def get_run(self, run_id: str, *, actor: Principal = LOCAL) -> RunInfo:
        """A run: its owner's (with a grant still on its connection) or any for admins."""
        run = self.history.get(run_id)
        self.access.run(actor, run, Action.browse)
        return run

    def run_rows(
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
            known = self.get_run(run_id, actor=actor)
        return self.history.rows(run_id, offset=offset, limit=limit, known=known)

    def first_rows(self, run: RunInfo, limit: int) -> RowsPage:
        """The first page of a run the caller started and waited for: from memory when its
        result was small (see ``ResultStore.keep``), else from the stored result."""
        table = self.results.take(run.id) if run.status is RunStatus.succeeded else None
        if table is None:
            return self.history.rows(run.id, offset=0, limit=limit, known=run)
        return self.history.page(run, table.slice(0, limit), offset=0, limit=limit, so_far=0)

    def cancel_run(self, run_id: str, *, actor: Principal = LOCAL) -> RunInfo:
        """Ask a running run to stop; returns the run once it has ended (or after 5 s)."""
        self.get_run(run_id, actor=actor)
        self.runs.cancel(run_id)
        return self.wait_run(run_id, 5.0)

    def list_runs(
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
        administrators see everyone's (``user`` narrows to one user)."""
        connection_ids = None
        if not actor.is_admin:
            user = actor.username
            connection_ids = self.grants.connection_ids(actor)
        return self.history.listing(
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
        old = self.get_run(run_id, actor=actor)
        if old.connection_id is None:
            raise NotFound(
                "The run's connection no longer exists.",
                code="CONNECTION_NOT_FOUND",
                detail={"run_id": run_id},
            )
        connection = self.connections.name_of(old.connection_id)
        request = RunRequest(
            connection=connection,
            sql=old.sql,
            max_rows=old.max_rows,
            timeout_s=old.timeout_s,
            export_all=bool(export_all) or old.max_rows > self.settings.max_rows_limit,
        )
        # Re-running a run is not new SQL: a viewer may re-run their saved-query runs.
        return self._start(request, actor)

    def export_run(self, run_id: str, fmt: ExportFormat, *, actor: Principal = LOCAL) -> Export:
        """A streaming export of a succeeded run's stored rows (never re-runs the query).

        409 for a run that did not succeed or is still running, 410 when its rows are gone.
        Each export is audited (``export.finish``) when its stream ends: format, rows,
        bytes and the SHA-256 of the bytes handed on; ``aborted`` when the consumer stopped
        early; a refused export is audited too.
        """
        request_id = current_request_id()
        try:
            export, connection_id = self._export(run_id, fmt, actor)
        except QueryDeckError as exc:
            self.audit.record(
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
            self.audit.record(
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
        run = self.history.get(run_id)
        self.access.run(actor, run, Action.export)
        if run.status is not RunStatus.succeeded:
            code = "RUN_NOT_FINISHED" if not run.status.finished else "EXPORT_UNAVAILABLE"
            raise ExportUnavailable(
                f"Only a succeeded run can be exported; this one is {run.status.value}.",
                code=code,
                detail={"status": run.status.value, "run_id": run_id},
            )
        run, stored = self.history.stored(run_id)
        export = Export(
            store=self.results,
            run_id=run_id,
            stored=stored,
            format=fmt,
            filename=file_name(run_id, fmt),
            total_rows=run.row_count or 0,
        )
        return export, run.connection_id

    # --- audit ------------------------------------------------------------------------

    def list_audit(
        self,
        actor: Principal,
        *,
        limit: int = 50,
        offset: int = 0,
        user: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        connection: str | None = None,
        connection_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
    ) -> AuditPage:
        """The audit log, newest first (administrators only: 403 otherwise). ``user``
        filters by the acting user; ``connection`` is a connection's current name (a
        deleted one is found by ``connection_id``)."""
        if not actor.is_admin:
            raise Forbidden("Only an administrator can read the audit log.")
        if connection is not None:
            connection_id = self.connections.get(connection).id
        return self.audit.listing(
            limit=limit,
            offset=offset,
            actor=user,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=target_id,
            connection_id=connection_id,
            since=since,
            until=until,
            cursor=cursor,
        )

    # --- saved queries ----------------------------------------------------------------

    def _reader(self, actor: Principal) -> Reader:
        if actor.is_admin:
            return Reader(actor.username, admin=True)
        return Reader(
            actor.username, shared_on=frozenset(self.grants.connection_ids(actor, Action.query))
        )

    def create_saved_query(self, data: SavedQueryInput, *, actor: Principal = LOCAL) -> SavedQuery:
        ad_hoc_sql(actor)
        if data.connection is not None:
            self.access.connection(actor, data.connection, Action.query)
        return self.saved.create(actor.username, data)

    def list_saved_queries(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
        actor: Principal = LOCAL,
    ) -> Page[SavedQuery]:
        """The actor's saved queries and those shared on connections they may query."""
        return self.saved.listing(
            self._reader(actor), limit=limit, offset=offset, tag=tag, favourite=favourite, text=text
        )

    def get_saved_query(self, ref: str, *, actor: Principal = LOCAL) -> SavedQuery:
        return self.saved.get(self._reader(actor), ref)

    def update_saved_query(
        self, ref: str, changes: SavedQueryChanges, *, actor: Principal = LOCAL
    ) -> SavedQuery:
        ad_hoc_sql(actor)
        if changes.connection is not None:
            self.access.connection(actor, changes.connection, Action.query)
        return self.saved.update(self._reader(actor), ref, changes)

    def delete_saved_query(self, ref: str, *, actor: Principal = LOCAL) -> None:
        self.saved.delete(self._reader(actor), ref)

    def run_saved_query(
        self,
        ref: str,
        *,
        connection: str | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        export_all: bool = False,
        actor: Principal = LOCAL,
    ) -> str:
        """Start a run of a saved query (on ``connection``, else its default one). Viewers
        run shared queries on their own connection only."""
        saved = self.saved.get(self._reader(actor), ref)
        if connection is not None and connection != saved.connection:
            ad_hoc_sql(actor)
        target = connection or saved.connection
        if target is None:
            raise InvalidInput(
                "The saved query has no connection; name one to run it on.",
                code="CONNECTION_REQUIRED",
            )
        request = RunRequest(
            connection=target,
            sql=saved.sql,
            max_rows=max_rows,
            timeout_s=timeout_s,
            export_all=export_all,
        )
        return self._start(request, actor)

    # --- preferences ------------------------------------------------------------------

    def list_preferences(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> Page[Preference]:
        """The principal's own preferences, by key."""
        return self.preferences.list(principal.username, limit=limit, offset=offset)

    def get_preference(self, principal: Principal, key: str) -> Preference:
        return self.preferences.get(principal.username, key)

    def put_preference(self, principal: Principal, key: str, value: Any) -> tuple[Preference, bool]:
        """Create or replace one of the principal's preferences; ``True`` when created."""
        return self.preferences.put(principal.username, key, value)

    def delete_preference(self, principal: Principal, key: str) -> None:
        self.preferences.delete(principal.username, key)

    # --- demo -------------------------------------------------------------------------

    def create_demo(self) -> list[ConnectionInfo]:
        """Create the demo files (when missing) and register ``demo`` and ``chinook``
        (when no connection has those names)."""
        tpch, chinook = demo.prepare(self.settings.data_dir / "demo")
        made = []
        for name, driver, path in (("demo", "duckdb", tpch), ("chinook", "sqlite", chinook)):
            try:
                made.append(
                    self.create_connection(name, driver=driver, options={"path": os.fspath(path)})
                )
            except Conflict:
                made.append(self.get_connection(name))
        return made

    def has_connections(self) -> bool:
        from querydeck.store.tables import ConnectionRow

        with self.db.read() as session:
            return session.scalar(select(ConnectionRow.id).limit(1)) is not None

    def _runs_in_flight(self) -> set[str]:
        """The runs whose results retention must keep: this process's, and those other
        processes still run. Runs whose process has stopped are ended first
        (:mod:`querydeck.runs.recovery`)."""
        mine = self.runs.active_ids()
        _, elsewhere = recovery.recover(self.db, self.results, mine=mine)
        return mine | elsewhere

    # --- catalog ----------------------------------------------------------------------

    def _connection_names(self) -> list[str]:
        names: list[str] = []
        while True:
            page = self.list_connections(limit=1000, offset=len(names))
            names.extend(c.name for c in page.items)
            if not page.items or len(names) >= page.total:
                return names

    def start_background_refresh(self) -> bool:
        """Start the background catalog refresh (``querydeck serve`` does); False when the
        interval setting is 0."""
        self.refresher.start()
        return self.refresher.running

    def catalog_level(
        self,
        connection: str,
        path: str = "",
        *,
        limit: int = 100,
        offset: int = 0,
        actor: Principal = LOCAL,
    ) -> CatalogLevel:
        """One level of the cached catalog: schemas (empty path), the relations of a
        schema, or the columns of a relation."""
        self.access.connection(actor, connection, Action.browse)
        return self.catalog.level(connection, path, limit=limit, offset=offset)

    def refresh_catalog(
        self, connection: str, schema: str | None = None, *, actor: Principal = LOCAL
    ) -> RefreshReport:
        self.access.connection(actor, connection, Action.manage)
        return self.catalog.refresh(connection, schema)

    def table_detail(
        self,
        connection: str,
        schema: str,
        table: str,
        *,
        preview_rows: int = 0,
        actor: Principal = LOCAL,
    ) -> TableDetail:
        """A relation from the cache with generated DDL, and optionally its first rows
        read through the guard like any run (``query`` grant)."""
        self.access.connection(actor, connection, Action.browse)

        def preview(name: str, sql: str, rows: int) -> RowsPage:
            run = self.wait_run(
                self._start(RunRequest(connection=name, sql=sql, max_rows=rows), actor), None
            )
            if run.status is not RunStatus.succeeded:
                raise QueryDeckError(
                    run.error_message or f"The preview ended {run.status.value}.",
                    code=run.error_code or "QUERY_FAILED",
                )
            return self.run_rows(run.id, offset=0, limit=rows, known=run)

        return self.catalog.table_detail(
            connection, schema, table, preview=preview, preview_rows=preview_rows
        )

    def search_catalog(
        self, text: str, *, limit: int = 50, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[SearchHit]:
        """Tables and columns by name or comment, in the connections ``actor`` may browse."""
        allowed = None if actor.is_admin else self.grants.connection_ids(actor)
        hits, total = self.catalog.search(text, limit=limit, offset=offset, allowed=allowed)
        return Page(items=hits, total=total, limit=limit, offset=offset)

    def catalog_settings(self, connection: str, *, actor: Principal = LOCAL) -> CatalogSettings:
        self.access.connection(actor, connection, Action.browse)
        return self.catalog.settings(connection)

    def set_catalog_settings(
        self, connection: str, values: CatalogSettings, *, actor: Principal = LOCAL
    ) -> CatalogSettings:
        self.access.connection(actor, connection, Action.manage)
        return self.catalog.set_settings(connection, values)

    # --- keys -------------------------------------------------------------------------

    def rotate_key(self) -> RotationResult:
        """Re-seal every stored secret with a new key in one transaction and replace the
        key file atomically (the old key is kept as a backup until the commit)."""
        rotation = KeyRotation(self.settings, self.db, self.connections)
        result, self._sealer = rotation.run()
        return result

    # --- certificates -----------------------------------------------------------------

    def add_certificate(
        self, name: str, pem: bytes, *, actor: Principal = LOCAL
    ) -> CertificateInfo:
        """Store an uploaded bundle of PEM CA certificates (refused: private keys, other
        blocks, non-CA or expired certificates, more than 64 KB or 32 certificates)."""
        admin_only(actor, "upload certificates")
        return self.certificates.add(name, pem)

    def list_certificates(self, *, limit: int = 100, offset: int = 0) -> Page[CertificateInfo]:
        return self.certificates.listing(limit=limit, offset=offset)

    def get_certificate(self, certificate_id: str) -> CertificateInfo:
        return self.certificates.get(certificate_id)

    def remove_certificate(self, certificate_id: str, *, actor: Principal = LOCAL) -> None:
        """Remove a certificate; 409 while a connection's ssl_ca_certificate names it."""
        admin_only(actor, "remove certificates")
        self.certificates.remove(certificate_id)
