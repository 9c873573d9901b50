"""The Workbench: querydeck's one application object.

It wires one service per noun and exposes each as an attribute — ``runs``,
``result_views``, ``saved``, ``catalog``, ``connections``, ``accounts``, ``grants``,
``preferences``, ``uploads``, ``admin``, ``assistant`` — which the API routes and the CLI
commands call; they hold no SQL and no driver code. Each service is imported and built on
its first use, so that a command pays only for what it calls (a CLI process lives for one
command). Building a Workbench does no I/O;
:meth:`Workbench.open` does the start-up work (the data directory, migrations, the key
check, the result store's start-up sweep, the retention pruners) and
:meth:`Workbench.close` stops what it started. The Workbench never imports a web or CLI
framework.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from querydeck.app.sandbox import build_sandbox, prepare_file_roots
from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner
from querydeck.audit.retention import audit_pruner
from querydeck.auth.ratelimit import RateLimiter
from querydeck.drivers import registry
from querydeck.drivers.base import Sandbox
from querydeck.errors import ConfigError, QueryDeckError
from querydeck.runs import recovery
from querydeck.runs.history_retention import history_pruner
from querydeck.runs.results.retention import Retention
from querydeck.runs.results.store import ResultStore
from querydeck.settings import Settings, load_settings
from querydeck.sources.certificates import CertificateStore, certificates_dir
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.keys import open_sealer
from querydeck.sources.targets import TargetVerifier
from querydeck.sql.policy import unknown_dialects
from querydeck.store.database import AppDatabase

if TYPE_CHECKING:
    from querydeck.app.accounts import AccountService
    from querydeck.app.admin import AdminService
    from querydeck.app.catalog import CatalogService
    from querydeck.app.connections import ConnectionService
    from querydeck.app.grants import GrantService
    from querydeck.app.preferences import PreferenceService
    from querydeck.app.result_views import ResultViewService
    from querydeck.app.runs import RunService
    from querydeck.app.saved import SavedQueryService
    from querydeck.app.uploads import UploadService
    from querydeck.assistant.service import Assistant
    from querydeck.auth.access import Access
    from querydeck.auth.grants import Grants
    from querydeck.auth.tokens import ApiTokens
    from querydeck.catalog.background import BackgroundRefresher
    from querydeck.catalog.service import Catalogs
    from querydeck.runs.history import History
    from querydeck.runs.runner import RunManager
    from querydeck.runs.saved import SavedQueryStore
    from querydeck.sources.secrets import Sealer
    from querydeck.sql.checker import Checker

T = TypeVar("T")

#: Modules the run path imports on first use (see :meth:`Workbench.warm`).
_RUN_PATH_MODULES = (
    "querydeck.runs.results.jsonrows",
    "querydeck.runs.export.writers",
    "querydeck.sql.guard",
    "pyarrow.compute",
    "pyarrow.ipc",
)


class _Part(Generic[T]):
    """A part of the Workbench built on first use, once: a command imports and builds
    only the services it calls (``querydeck connections list`` never loads the guard's
    parser, Arrow or the assistant). Built under the Workbench's lock, so threads that
    ask at the same time share one instance; after that the attribute is a plain one."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, workbench: None, owner: type[Any]) -> _Part[T]: ...
    @overload
    def __get__(self, workbench: Workbench, owner: type[Any]) -> T: ...
    def __get__(self, workbench: Workbench | None, owner: type[Any]) -> _Part[T] | T:
        if workbench is None:
            return self
        with workbench._lock:
            if self._name not in workbench.__dict__:
                workbench.__dict__[self._name] = self._build(workbench)
            value: T = workbench.__dict__[self._name]
            return value


class Workbench:
    """The services over one app database, and the parts they share."""

    def __init__(self, settings: Settings | None = None, *, checker: Checker | None = None) -> None:
        """Wire the parts every command needs; no I/O. The services are built on first
        use (see :class:`_Part`). ``checker`` replaces the guard; only tests pass one (see
        DEVELOPERS.md)."""
        self.settings = settings = settings or load_settings()
        self._checker = checker
        self._lock = threading.RLock()
        self._opened = False
        self._sealer: Sealer | None = None
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

    def _built(self, name: str) -> bool:
        """Whether the part ``name`` has been built (closing never builds one)."""
        return name in self.__dict__

    # --- the parts the services share ---------------------------------------------------

    @_Part
    def run_manager(self) -> RunManager:
        from querydeck.app.federation import binder
        from querydeck.runs.runner import RunManager

        manager = RunManager(
            self.settings,
            self.db,
            self.connection_store,
            self.results,
            checker=self._checker,
            audit=self.audit,
        )
        manager.on_finished = self._after_run
        manager.bind_driver = binder(self.connection_store, self._grant_store)
        return manager

    @_Part
    def history(self) -> History:
        from querydeck.runs.history import History

        return History(self.db, self.results, self.settings.max_page_bytes)

    @_Part
    def tokens(self) -> ApiTokens:
        from querydeck.auth.tokens import ApiTokens

        return ApiTokens(self.db, max_days=self.settings.token_max_days)

    @_Part
    def _grant_store(self) -> Grants:
        from querydeck.auth.grants import Grants

        return Grants(self.db)

    @_Part
    def _access(self) -> Access:
        from querydeck.auth.access import Access

        return Access(self._grant_store, self.connection_store)

    @_Part
    def _catalogs(self) -> Catalogs:
        from querydeck.catalog.service import Catalogs
        from querydeck.catalog.snapshots import CatalogCache

        return Catalogs(
            CatalogCache(self.db),
            self.connection_store,
            connect_timeout_s=self.settings.connect_timeout_s,
            default_timeout_s=self.settings.catalog_refresh_timeout_s,
        )

    @_Part
    def _saved_queries(self) -> SavedQueryStore:
        from querydeck.runs.saved import SavedQueryStore

        return SavedQueryStore(self.db, self.connection_store)

    @_Part
    def refresher(self) -> BackgroundRefresher:
        from querydeck.catalog.background import BackgroundRefresher

        return BackgroundRefresher(
            self.connection_store.names,
            self._catalogs.refresh,
            self.settings.catalog_refresh_interval_s,
            schedule=self._catalogs.schedule,
        )

    # --- the services -------------------------------------------------------------------

    @_Part
    def accounts(self) -> AccountService:
        from querydeck.app.accounts import AccountService
        from querydeck.auth.accounts import Accounts
        from querydeck.auth.passwords import PasswordHasher, PasswordPolicy
        from querydeck.auth.sessions import LoginSessions

        settings = self.settings
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
        return AccountService(
            settings, accounts, login_sessions, self.tokens, limiter=self.limiter, audit=self.audit
        )

    @_Part
    def runs(self) -> RunService:
        from querydeck.app.runs import RunService

        return RunService(
            self.settings,
            lambda: self.run_manager,
            self.history,
            self.results,
            access=self._access,
            grants=self._grant_store,
            connections=self.connection_store,
            limiter=self.limiter,
            audit=self.audit,
            saved=self._saved_queries,
        )

    @_Part
    def result_views(self) -> ResultViewService:
        from querydeck.app.result_views import ResultViewService

        return ResultViewService(self.runs, self.history, self.results)

    @_Part
    def connections(self) -> ConnectionService:
        from querydeck.app.connections import ConnectionService

        return ConnectionService(
            self.connection_store,
            self._clear_pools,
            access=self._access,
            grants=self._grant_store,
            audit=self.audit,
            # the catalog of a connection registered and tested is read at once
            on_registered=lambda info: self.catalog.refresh_registered(info),
        )

    @_Part
    def grants(self) -> GrantService:
        from querydeck.app.grants import GrantService

        return GrantService(
            self._grant_store,
            self.accounts,
            self.connections,
            tokens=self.tokens,
            audit=self.audit,
        )

    @_Part
    def saved(self) -> SavedQueryService:
        from querydeck.app.saved import SavedQueryService

        return SavedQueryService(
            self._saved_queries,
            self.runs,
            access=self._access,
            grants=self._grant_store,
        )

    @_Part
    def catalog(self) -> CatalogService:
        from querydeck.app.catalog import CatalogService

        return CatalogService(
            self._catalogs,
            self.refresher,
            self.runs,
            access=self._access,
            grants=self._grant_store,
        )

    @_Part
    def preferences(self) -> PreferenceService:
        from querydeck.app.preferences import PreferenceService
        from querydeck.auth.preferences import Preferences

        return PreferenceService(Preferences(self.db))

    @_Part
    def uploads(self) -> UploadService:
        from querydeck.app.sandbox import UPLOADS_DIR
        from querydeck.app.uploads import UploadService
        from querydeck.sources.uploads import UploadStore

        return UploadService(
            UploadStore(
                self.settings.data_dir / UPLOADS_DIR, max_bytes=self.settings.upload_max_bytes
            ),
            self.connection_store,
            self._grant_store,
            audit=self.audit,
        )

    @_Part
    def assistant(self) -> Assistant:
        """The assistant (its models, index and inference log); opened with the
        installation's sealer when the Workbench is open."""
        from querydeck.assistant.service import Assistant

        assistant = Assistant(
            self.settings,
            self.db,
            addresses=self.sandbox.addresses,
            catalog=self._catalogs,
            connections=self.connection_store,
            access=self._access,
            audit=self.audit,
            limiter=self.limiter,
            start_run=lambda request, actor: self.runs.start(request, actor=actor),
        )
        if self._sealer is not None:
            assistant.open(self._sealer)
        return assistant

    @_Part
    def admin(self) -> AdminService:
        from querydeck.app.admin import AdminService

        return AdminService(
            self.settings,
            self.db,
            audit=self.audit,
            certificates=self.certificates,
            store=self.connection_store,
            connections=self.connections,
            grants=self._grant_store,
            resealed=lambda: (self.assistant.registry,),
        )

    # --- the lifetime -------------------------------------------------------------------

    def warm(self) -> None:
        """Build every part and load what the run path imports on first use, now: a server
        calls it before it accepts requests, so that its first concurrent requests do not
        import modules in several threads at once (some libraries' circular imports
        deadlock then) and the first run does not pay for the imports."""
        import importlib

        self.db.open_pool()  # concurrent requests read through the engine's pool
        for name, value in vars(type(self)).items():
            if isinstance(value, _Part):
                getattr(self, name)
        self.limiter.prepare()
        modules = list(_RUN_PATH_MODULES)
        for name in self.connection_store.drivers_in_use():
            with contextlib.suppress(QueryDeckError):  # not installed: its runs say so
                modules += registry.load(name).run_path_modules
        for module in modules:
            importlib.import_module(module)

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
        with self._lock:
            self._sealer = sealer
            if self._built("assistant"):
                self.assistant.open(sealer)
        self._opened = True
        self.retention.sweep_at_start()
        for pruner in self.pruners:
            pruner.prune_soon()
        return self

    def close(self) -> None:
        """Stop the background work and release the app database."""
        if self._built("refresher"):
            self.refresher.stop()
        if self._built("assistant"):
            self.assistant.close()
        if self._built("run_manager"):
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

    def _clear_pools(self, connection_id: str) -> None:
        """Close the engine sessions pooled for a connection (none before the first run)."""
        if self._built("run_manager"):
            self.run_manager.pools.clear(connection_id)

    def _runs_in_flight(self) -> set[str]:
        """The runs whose results retention must keep: this process's, and those other
        processes still run. Runs whose process has stopped are ended first
        (:mod:`querydeck.runs.recovery`)."""
        mine = self.run_manager.active_ids() if self._built("run_manager") else set()
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
