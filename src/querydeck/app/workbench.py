"""The Workbench: querydeck's one application object.

It wires one service per noun and exposes each as an attribute — ``runs``,
``result_views``, ``saved``, ``catalog``, ``connections``, ``accounts``, ``grants``,
``preferences``, ``uploads``, ``admin`` — which the API routes and the CLI commands call;
they hold no SQL and no driver code. Building a Workbench does no I/O;
:meth:`Workbench.open` does the start-up work (the data directory, migrations, the key
check, the result store's start-up sweep, the retention pruners) and
:meth:`Workbench.close` stops what it started. The Workbench never imports a web or CLI
framework.
"""

from __future__ import annotations

import dataclasses

from querydeck.app.accounts import AccountService
from querydeck.app.admin import AdminService
from querydeck.app.catalog import CatalogService
from querydeck.app.connections import ConnectionService
from querydeck.app.federation import binder
from querydeck.app.grants import GrantService
from querydeck.app.preferences import PreferenceService
from querydeck.app.result_views import ResultViewService
from querydeck.app.runs import RunService
from querydeck.app.sandbox import UPLOADS_DIR, build_sandbox, prepare_file_roots
from querydeck.app.saved import SavedQueryService
from querydeck.app.uploads import UploadService
from querydeck.assistant.service import Assistant
from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner
from querydeck.audit.retention import audit_pruner
from querydeck.auth.access import Access
from querydeck.auth.accounts import Accounts
from querydeck.auth.grants import Grants
from querydeck.auth.passwords import PasswordHasher, PasswordPolicy
from querydeck.auth.preferences import Preferences
from querydeck.auth.ratelimit import RateLimiter
from querydeck.auth.sessions import LoginSessions
from querydeck.auth.tokens import ApiTokens
from querydeck.catalog.background import BackgroundRefresher
from querydeck.catalog.service import Catalogs
from querydeck.catalog.snapshots import CatalogCache
from querydeck.drivers import registry
from querydeck.drivers.base import Sandbox
from querydeck.errors import ConfigError
from querydeck.runs import recovery
from querydeck.runs.history import History
from querydeck.runs.history_retention import history_pruner
from querydeck.runs.results.retention import Retention
from querydeck.runs.results.store import ResultStore
from querydeck.runs.runner import RunManager
from querydeck.runs.saved import SavedQueryStore
from querydeck.settings import Settings, load_settings
from querydeck.sources.certificates import CertificateStore, certificates_dir
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.keys import open_sealer
from querydeck.sources.targets import TargetVerifier
from querydeck.sources.uploads import UploadStore
from querydeck.sql.checker import Checker
from querydeck.sql.policy import unknown_dialects
from querydeck.store.database import AppDatabase


class Workbench:
    """The services over one app database, and the parts they share."""

    def __init__(self, settings: Settings | None = None, *, checker: Checker | None = None) -> None:
        """Wire the services; no I/O. ``checker`` replaces the guard; only tests pass one
        (see DEVELOPERS.md)."""
        self.settings = settings = settings or load_settings()
        self._opened = False
        self.db = AppDatabase(settings.app_database_url, retries=settings.app_db_retries)
        self.audit = AuditLog(self.db)
        self.limiter = RateLimiter(settings)
        self.certificates = CertificateStore(self.db, certificates_dir(settings.data_dir))
        self.sandbox: Sandbox = dataclasses.replace(
            build_sandbox(settings), certificates=self.certificates
        )
        timeout = settings.connect_timeout_s
        self.connection_store = ConnectionStore(
            self.db,
            TargetVerifier(self.sandbox, connect_timeout_s=timeout),
            connect_timeout_s=timeout,
        )
        self.results = ResultStore(settings.results_dir, max_value_bytes=settings.max_value_bytes)
        self.run_manager = RunManager(
            settings,
            self.db,
            self.connection_store,
            self.results,
            checker=checker,
            audit=self.audit,
        )
        self.history = History(self.db, self.results, settings.max_page_bytes)
        self.retention = Retention(
            self.results,
            self.db,
            max_age_s=settings.result_max_age_hours * 3600,
            max_bytes=settings.result_store_max_bytes,
            max_results=settings.result_store_max_results,
            min_free_percent=settings.result_store_min_free_percent,
            in_flight=self._runs_in_flight,
        )
        self.pruners: tuple[Pruner, ...] = (
            audit_pruner(self.db, self.audit, settings.audit_retention_days),
            history_pruner(self.db, self.audit, self.results, settings.history_retention_days),
        )
        self.run_manager.on_finished = self._after_run
        self.tokens = ApiTokens(self.db, max_days=settings.token_max_days)
        grants = Grants(self.db)
        self.run_manager.bind_driver = binder(self.connection_store, grants)
        access = Access(grants, self.connection_store)
        hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        accounts = Accounts(self.db, hasher, PasswordPolicy(settings.password_min_length))
        login_sessions = LoginSessions(
            self.db,
            idle_minutes=settings.session_idle_minutes,
            absolute_hours=settings.session_absolute_hours,
        )
        self.accounts = AccountService(
            settings, accounts, login_sessions, self.tokens, limiter=self.limiter, audit=self.audit
        )
        saved_queries = SavedQueryStore(self.db, self.connection_store)
        self.runs = RunService(
            settings,
            self.run_manager,
            self.history,
            self.results,
            access=access,
            grants=grants,
            connections=self.connection_store,
            limiter=self.limiter,
            audit=self.audit,
            saved=saved_queries,
        )
        self.result_views = ResultViewService(self.runs, self.history, self.results)
        self.connections = ConnectionService(
            self.connection_store, self.run_manager, access=access, grants=grants, audit=self.audit
        )
        self.grants = GrantService(
            grants, self.accounts, self.connections, tokens=self.tokens, audit=self.audit
        )
        self.saved = SavedQueryService(saved_queries, self.runs, access=access, grants=grants)
        catalogs = Catalogs(
            CatalogCache(self.db),
            self.connection_store,
            connect_timeout_s=settings.connect_timeout_s,
            default_timeout_s=settings.catalog_refresh_timeout_s,
        )
        self.refresher = BackgroundRefresher(
            self.connection_store.names,
            catalogs.refresh,
            settings.catalog_refresh_interval_s,
            schedule=catalogs.schedule,
        )
        self.catalog = CatalogService(
            catalogs, self.refresher, self.runs, access=access, grants=grants
        )
        self.connections.on_registered = self.catalog.refresh_registered
        self.preferences = PreferenceService(Preferences(self.db))
        self.uploads = UploadService(
            UploadStore(settings.data_dir / UPLOADS_DIR, max_bytes=settings.upload_max_bytes),
            self.connection_store,
            grants,
            audit=self.audit,
        )
        self.assistant = Assistant(
            settings,
            self.db,
            addresses=self.sandbox.addresses,
            catalog=catalogs,
            connections=self.connection_store,
            access=access,
            audit=self.audit,
            limiter=self.limiter,
            start_run=lambda request, actor: self.runs.start(request, actor=actor),
        )
        self.admin = AdminService(
            settings,
            self.db,
            audit=self.audit,
            certificates=self.certificates,
            store=self.connection_store,
            connections=self.connections,
            grants=grants,
            resealed=(self.assistant.registry,),
        )

    def open(self) -> Workbench:
        """The start-up work, once: the data directory (0700), migrations, the check of
        the key that seals connection secrets, the result store's start-up sweep (it also
        ends the runs stopped processes left behind) and the retention pruners. Returns
        the Workbench."""
        if self._opened:
            return self
        _check_policy_dialects(self.settings.forbidden_functions)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        prepare_file_roots(self.settings)
        self.results.prepare()
        self.db.migrate()
        sealer = open_sealer(self.settings, self.db)
        self.connection_store.use_sealer(sealer)
        self.assistant.open(sealer)
        self._opened = True
        self.retention.sweep_at_start()
        for pruner in self.pruners:
            pruner.prune_soon()
        return self

    def close(self) -> None:
        """Stop the background work and release the app database."""
        self.refresher.stop()
        self.assistant.close()
        self.run_manager.shutdown()
        for pruner in self.pruners:
            pruner.close()
        self.limiter.close()
        self.db.dispose()

    def __enter__(self) -> Workbench:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> None:
        """Raises when querydeck's own database cannot be reached."""
        self.db.ping()

    def _after_run(self) -> None:
        """Housekeeping when a run has ended (each starts a thread only when due)."""
        self.retention.sweep_soon()
        for pruner in self.pruners:
            pruner.prune_soon()

    def _runs_in_flight(self) -> set[str]:
        """The runs whose results retention must keep: this process's, and those other
        processes still run. Runs whose process has stopped are ended first
        (:mod:`querydeck.runs.recovery`)."""
        mine = self.run_manager.active_ids()
        _, elsewhere = recovery.recover(self.db, self.results, mine=mine)
        return mine | elsewhere


def _check_policy_dialects(entries: list[str]) -> None:
    """An administrator's function policy entry for a dialect no installed driver uses is
    a typo that would leave the intended engine unprotected: refuse to start."""
    if not entries:
        return
    dialects = sorted(set(registry.dialects().values()))
    unknown = unknown_dialects(entries, dialects)
    if unknown:
        raise ConfigError(
            f"QUERYDECK_FORBIDDEN_FUNCTIONS names a dialect no installed driver uses: "
            f"{', '.join(unknown)}. Installed dialects: {', '.join(dialects)} (or * for all).",
            detail={"entries": unknown, "dialects": dialects},
        )
