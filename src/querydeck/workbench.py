"""The Workbench: querydeck's one application object.

The API routes and the CLI commands each call one Workbench method; they hold no SQL and no
driver code. The Workbench never imports a web or CLI framework.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from querydeck import demo, ratelimit
from querydeck.audit.log import AuditLog, current_request_id
from querydeck.audit.models import AuditPage
from querydeck.audit.operations import AuditedOperation, outcome_of
from querydeck.auth.access import Access, ad_hoc_sql, admin_only
from querydeck.auth.accounts import INITIAL_PASSWORD_FILE, Accounts, username_key
from querydeck.auth.grants import GrantInfo, Grants, GroupInfo, SubjectKind
from querydeck.auth.models import LoginResult, TokenInfo, UserInfo
from querydeck.auth.passwords import PasswordHasher, PasswordPolicy
from querydeck.auth.principal import LOCAL, Action, Principal, Role
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
    LoginFailed,
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


def _option_names(options: dict[str, Any] | None) -> list[str]:
    """The names of the options given (never their values), for an audit entry."""
    return sorted(str(key)[:64] for key in (options or {}))[:100]


_KEY_CHECK = "secret_key_fingerprint"


class Workbench:
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
            in_flight=self.runs.active_ids,
        )
        self.runs.on_finished = self.retention.maybe_sweep
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

    def _audited(
        self, action: str, actor: Principal, detail: dict[str, Any], name: str | None = None
    ) -> AuditedOperation:
        """An audited change or test of the connection ``name`` (None: a new one); access
        checks run inside it, so refusals are audited too."""
        return AuditedOperation(
            self.audit,
            action,
            actor,
            detail,
            target_type="connection",
            name=name,
            lookup=lambda n: self.connections.get(n).id,
        )

    # --- groups and grants ------------------------------------------------------------

    def create_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        with self._account_op("group.create", actor, None, {"group": name[:200]}, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.create_group(name)

    def list_groups(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[GroupInfo]:
        admin_only(actor, "manage groups")
        return self.grants.list_groups(limit=limit, offset=offset)

    def get_group(self, name: str, *, actor: Principal = LOCAL) -> GroupInfo:
        admin_only(actor, "manage groups")
        return self.grants.get_group(name)

    def delete_group(self, name: str, *, actor: Principal = LOCAL) -> None:
        """Remove a group and every grant it held."""
        with self._account_op("group.delete", actor, None, {"group": name[:200]}, kind="group"):
            admin_only(actor, "manage groups")
            self.grants.delete_group(name)

    def add_group_member(self, group: str, username: str, *, actor: Principal = LOCAL) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_add", actor, None, detail, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.add_member(group, self._known_user(username))

    def remove_group_member(
        self, group: str, username: str, *, actor: Principal = LOCAL
    ) -> GroupInfo:
        detail = {"group": group[:200], "username": username[:128]}
        with self._account_op("group.member_remove", actor, None, detail, kind="group"):
            admin_only(actor, "manage groups")
            return self.grants.remove_member(group, self._user_name(username))

    def list_grants(self, connection: str, *, actor: Principal = LOCAL) -> list[GrantInfo]:
        admin_only(actor, "see a connection's grants")
        info = self.connections.get(connection)
        return self.grants.list_grants(info.id, info.name)

    def grant(
        self,
        connection: str,
        kind: SubjectKind,
        subject: str,
        actions: Iterable[Action | str],
        *,
        actor: Principal = LOCAL,
    ) -> GrantInfo:
        """Set what a user or a group may do on a connection (replaces an earlier grant)."""
        chosen = [str(a) for a in actions][:8]
        detail = {"subject_kind": kind, "subject": subject[:200], "actions": chosen}
        with self._audited("grant.set", actor, detail, connection) as op:
            admin_only(actor, "grant access to a connection")
            info = self.connections.get(connection)
            if kind == "user":
                subject = self._known_user(subject)
            grant = self.grants.grant(info.id, info.name, kind, subject, chosen)
            op.done(info.id, actions=[a.value for a in grant.actions])
        return grant

    def revoke(
        self, connection: str, kind: SubjectKind, subject: str, *, actor: Principal = LOCAL
    ) -> None:
        """Remove a grant; it holds from the next request on."""
        detail = {"subject_kind": kind, "subject": subject[:200]}
        with self._audited("grant.revoke", actor, detail, connection) as op:
            admin_only(actor, "revoke access to a connection")
            info = self.connections.get(connection)
            if kind == "user":
                subject = self._user_name(subject)
            self.grants.revoke(info.id, kind, subject)
            op.done(info.id)

    def _known_user(self, username: str) -> str:
        """The user's stored name (grants and memberships name existing users only;
        USER_NOT_FOUND otherwise)."""
        return self.accounts.get(username).username

    def _user_name(self, username: str) -> str:
        """The stored spelling of a user name, or the name as given when no user has it."""
        try:
            return self._known_user(username)
        except NotFound:
            return username

    # --- runs -------------------------------------------------------------------------

    def start_run(self, request: RunRequest, *, actor: Principal = LOCAL) -> str:
        """Start an ad-hoc statement (``query`` grant; not for viewers)."""
        try:
            ad_hoc_sql(actor)
        except QueryDeckError as exc:
            self._audit_refused_run(request, actor, exc)
            raise
        return self._start(request, actor)

    def _start(self, request: RunRequest, actor: Principal) -> str:
        """Check the rate limits and the grants and start the run; a refusal is audited
        (``run.start``, no run exists), a started run is audited when it ends
        (``run.finish``)."""
        try:
            if actor.via != "local":
                self.limiter.hit(ratelimit.RUNS_USER, actor.username)
                if actor.address:
                    self.limiter.hit(ratelimit.RUNS_ADDRESS, actor.address)
            self.access.connection(actor, request.connection, Action.query)
            if request.export_all:
                self.access.connection(actor, request.connection, Action.export)
        except QueryDeckError as exc:
            self._audit_refused_run(request, actor, exc)
            raise
        return self.runs.start(request, user=actor.username, actor=actor)

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
        self.runs.wait(run_id, timeout_s)
        return self.history.get(run_id)

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

    # --- accounts, sessions and API tokens --------------------------------------------

    def ensure_initial_admin(self) -> str | None:
        """On first start (no user yet): create ``admin`` with a random password, write it
        to ``initial-admin-password`` (0600) in the data directory and return it."""
        return self.accounts.ensure_initial_admin(self.settings.data_dir)

    def login(
        self,
        username: str,
        password: str,
        *,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> LoginResult:
        """Check a user name and password (LOGIN_FAILED, never saying which was wrong) and
        start a login session."""
        # Failed attempts are counted per account name (known or not: no existence leak) and
        # per address; a good login clears the account's count.
        account = username_key(username)[:128] or "-"
        who = {"username": username[:128]}
        try:
            self.limiter.check(ratelimit.LOGIN_USER, account)
            if address:
                self.limiter.check(ratelimit.LOGIN_ADDRESS, address)
            user = self.accounts.verify_login(username, password)
        except LoginFailed:
            self.limiter.hit(ratelimit.LOGIN_USER, account)
            if address:
                self.limiter.hit(ratelimit.LOGIN_ADDRESS, address)
            self.audit.record(
                "auth.login_failed", actor=None, outcome="denied", detail=who, address=address
            )
            raise
        except QueryDeckError as exc:
            self.audit.record(
                "auth.login_failed",
                actor=None,
                outcome=outcome_of(exc)[0],
                detail={**who, "error_code": exc.code},
                address=address,
            )
            raise
        self.limiter.reset(ratelimit.LOGIN_USER, account)
        result = self.login_sessions.start(user, address=address, user_agent=user_agent)
        self.audit.record(
            "auth.login",
            actor=user.username,
            target_type="user",
            target_id=user.id,
            address=address,
        )
        return result

    def authenticate_session(
        self, cookie_value: str, *, address: str | None = None
    ) -> tuple[Principal, str]:
        """The principal of a session cookie and the session's CSRF token (else 401)."""
        return self.login_sessions.authenticate(cookie_value, address=address)

    def authenticate_token(self, bearer: str, *, address: str | None = None) -> Principal:
        """The principal of a personal API token (else 401). Its use is audited at most
        once a minute per token (when its last-used time is refreshed)."""
        return self.tokens.authenticate(bearer, address=address)

    def _token_used(self, principal: Principal) -> None:
        self.audit.record(
            "token.use", actor=principal, target_type="token", target_id=principal.token_id
        )

    def logout(self, principal: Principal) -> None:
        """End the principal's login session (a token's principal has none to end)."""
        if principal.via == "session" and principal.token_id is not None:
            self.login_sessions.end(principal.token_id)
            self.audit.record("auth.logout", actor=principal)

    def me(self, principal: Principal) -> UserInfo:
        """The principal's own account."""
        return self.accounts.by_id(_user_id(principal))

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Change one's own password (the current one proves it is you); the user's other
        login sessions end, their API tokens stay."""
        keep = principal.token_id if principal.via == "session" else None
        with self._account_op("auth.password_change", principal, principal.user_id):
            user = self.accounts.change_password(
                _user_id(principal), current, new, keep_session=keep
            )
        self._forget_initial_password(user.username)

    def create_token(
        self, principal: Principal, name: str, expires_days: int | None = None
    ) -> tuple[TokenInfo, str]:
        """A personal API token and its secret, shown this once."""
        with self._account_op("token.create", principal, None, {"name": name[:100]}) as op:
            info, secret = self.tokens.create(_user_id(principal), name, expires_days)
            op.done(info.id)
        return info, secret

    def list_tokens(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> Page[TokenInfo]:
        return self.tokens.listing(_user_id(principal), limit=limit, offset=offset)

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke one of the principal's tokens; another user's token id answers 404."""
        with self._account_op("token.revoke", principal, token_id[:64], kind="token"):
            self.tokens.revoke(_user_id(principal), token_id)

    def create_user(
        self, actor: Principal, username: str, *, role: Role, password: str
    ) -> UserInfo:
        with self._account_op("user.create", actor, None, {"username": username[:128]}) as op:
            _require_admin(actor)
            info = self.accounts.create(username, role=role, password=password)
            op.done(info.id, role=info.role.value)
        return info

    def list_users(self, actor: Principal, *, limit: int = 100, offset: int = 0) -> Page[UserInfo]:
        _require_admin(actor)
        return self.accounts.listing(limit=limit, offset=offset)

    def get_user(self, actor: Principal, username: str) -> UserInfo:
        _require_admin(actor)
        return self.accounts.get(username)

    def update_user(
        self,
        actor: Principal,
        username: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
    ) -> UserInfo:
        """Change a user's role or disable/enable them (disabling ends their sessions and
        tokens at once)."""
        changes = {"role": role.value if role else None, "disabled": disabled}
        with self._account_op("user.update", actor, None, {"username": username[:128]}) as op:
            _require_admin(actor)
            info = self.accounts.update(username, role=role, disabled=disabled)
            op.done(info.id, **{k: v for k, v in changes.items() if v is not None})
        return info

    def reset_password(self, actor: Principal, username: str, password: str) -> None:
        """An administrator sets a user's password; the user's sessions and tokens end."""
        with self._account_op("user.password_reset", actor, None, {"username": username[:128]}):
            _require_admin(actor)
            self.accounts.reset_password(username, password)
        self._forget_initial_password(username)

    def _account_op(
        self,
        action: str,
        actor: Principal,
        target_id: str | None,
        detail: dict[str, Any] | None = None,
        *,
        kind: str = "user",
    ) -> AuditedOperation:
        op = AuditedOperation(
            self.audit, action, actor, detail or {}, target_type=kind, connection_target=False
        )
        op.done(target_id)
        return op

    def _forget_initial_password(self, username: str) -> None:
        """The first-start password file is stale once ``admin`` has another password."""
        if username_key(username) == "admin":
            (self.settings.data_dir / INITIAL_PASSWORD_FILE).unlink(missing_ok=True)


def _user_id(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden(
            "The local command line acts without an account; log in as a user for this."
        )
    return principal.user_id


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("Only an administrator can manage users.")
