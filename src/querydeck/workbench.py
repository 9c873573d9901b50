"""The Workbench: querydeck's one application object.

The API routes and the CLI commands each call one Workbench method; they hold no SQL and no
driver code. The Workbench never imports a web or CLI framework.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from querydeck.app import demo
from querydeck.app.sandbox import build_sandbox
from querydeck.audit.log import AuditLog
from querydeck.audit.models import AuditPage
from querydeck.audit.retention import audit_pruner
from querydeck.auth.access import Access, admin_only
from querydeck.auth.accounts import Accounts
from querydeck.auth.grants import Grants
from querydeck.auth.passwords import PasswordHasher, PasswordPolicy
from querydeck.auth.preferences import Preference, Preferences
from querydeck.auth.principal import LOCAL, Principal
from querydeck.auth.ratelimit import RateLimiter
from querydeck.auth.sessions import LoginSessions
from querydeck.auth.tokens import ApiTokens
from querydeck.catalog.background import BackgroundRefresher
from querydeck.catalog.service import CatalogService
from querydeck.catalog.snapshots import CatalogCache
from querydeck.drivers import registry
from querydeck.drivers.base import Sandbox
from querydeck.errors import ConfigError, Conflict, Forbidden, SecretKeyError
from querydeck.runs import recovery
from querydeck.runs.history import History
from querydeck.runs.history_retention import history_pruner
from querydeck.runs.results.retention import Retention
from querydeck.runs.results.store import ResultStore
from querydeck.runs.runner import RunManager
from querydeck.runs.saved import SavedQueries
from querydeck.settings import Settings, load_settings
from querydeck.sources.certificates import CertificateStore, certificates_dir
from querydeck.sources.connections import ConnectionService
from querydeck.sources.keys import KeyRotation, RotationResult, finish_interrupted_rotation
from querydeck.sources.models import CertificateInfo, ConnectionInfo, DriverInfo
from querydeck.sources.secrets import Sealer, load_key
from querydeck.sources.targets import TargetVerifier
from querydeck.sql.checker import Checker
from querydeck.sql.policy import unknown_dialects
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.tables import Meta
from querydeck.workbench_catalog import CatalogMixin
from querydeck.workbench_connections import ConnectionsMixin
from querydeck.workbench_saved import SavedQueriesMixin

_KEY_CHECK = "secret_key_fingerprint"


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


class Workbench(ConnectionsMixin, SavedQueriesMixin, CatalogMixin):
    """Connections, runs and history over one app database. This module holds what ties
    them together (construction, health, drivers, the audit log, preferences, the demo,
    keys and certificates); each family of operations is a mixin of its own module
    (``workbench_connections``, ``workbench_runs``, ``workbench_saved``,
    ``workbench_catalog``, ``workbench_accounts``)."""

    def __init__(self, settings: Settings | None = None, *, checker: Checker | None = None) -> None:
        """``checker`` replaces the guard; only tests pass one (see DEVELOPERS.md)."""
        self.settings = settings or load_settings()
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _check_policy_dialects(self.settings.forbidden_functions)
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
        self.pruners = (
            audit_pruner(self.db, self.audit, self.settings.audit_retention_days),
            history_pruner(self.db, self.audit, self.results, self.settings.history_retention_days),
        )
        self.runs.on_finished = self._after_run
        self.retention.sweep_at_start()
        for pruner in self.pruners:
            pruner.prune_soon()
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
        for pruner in self.pruners:
            pruner.close()
        self.limiter.close()
        self.db.dispose()

    def _after_run(self) -> None:
        """Housekeeping when a run has ended (each starts a thread only when due)."""
        self.retention.sweep_soon()
        for pruner in self.pruners:
            pruner.prune_soon()

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
