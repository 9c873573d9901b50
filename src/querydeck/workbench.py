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

from querydeck import demo
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
from querydeck.ratelimit import RateLimiter
from querydeck.runs.export import Export, ExportFormat, file_name
from querydeck.runs.history import History
from querydeck.runs.results import ResultStore
from querydeck.runs.retention import Retention
from querydeck.runs.runner import RunManager
from querydeck.sandbox import build_sandbox
from querydeck.saved import SavedQueries
from querydeck.secrets import Sealer, load_key
from querydeck.settings import Settings, load_settings
from querydeck.sql.checker import Checker
from querydeck.store.database import AppDatabase
from querydeck.store.tables import Meta
from querydeck.targets import TargetVerifier

#: The user every run belongs to until accounts exist.
LOCAL_USER = "local"
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
        self.runs = RunManager(
            self.settings, self.db, self.connections, self.results, checker=checker
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
    ) -> ConnectionInfo:
        """Register a connection. ``allow_privileged`` is the admin override that saves a
        login able to write, flagged "can write" (the auth layer will restrict it to
        admins)."""
        return self.connections.create(
            name, driver, url=url, options=options, allow_privileged=allow_privileged
        )

    def list_connections(self, *, limit: int = 100, offset: int = 0) -> Page[ConnectionInfo]:
        return self.connections.listing(limit=limit, offset=offset)

    def get_connection(self, name: str) -> ConnectionInfo:
        return self.connections.get(name)

    def update_connection(
        self, name: str, options: dict[str, Any], *, allow_privileged: bool | None = None
    ) -> ConnectionInfo:
        """Change options; ``allow_privileged`` (admin override) None keeps the stored one."""
        info = self.connections.update(name, options, allow_privileged=allow_privileged)
        self.runs.sessions.clear(info.id)
        return info

    def rename_connection(self, name: str, new_name: str) -> ConnectionInfo:
        return self.connections.rename(name, new_name)

    def delete_connection(self, name: str) -> None:
        connection_id = self.connections.get(name).id
        self.connections.delete(name)
        self.runs.sessions.clear(connection_id)

    def test_connection(self, name: str) -> TestResult:
        return self.connections.test(name)

    # --- runs -------------------------------------------------------------------------

    def start_run(self, request: RunRequest, *, user: str = LOCAL_USER) -> str:
        return self.runs.start(request, user=user)

    def wait_run(self, run_id: str, timeout_s: float | None) -> RunInfo:
        """Wait up to ``timeout_s`` (None: until it ends) and return the run as it is."""
        self.runs.wait(run_id, timeout_s)
        return self.history.get(run_id)

    def run(self, request: RunRequest, *, user: str = LOCAL_USER) -> RunInfo:
        """Start a run and wait for it to end."""
        return self.wait_run(self.start_run(request, user=user), None)

    def get_run(self, run_id: str) -> RunInfo:
        return self.history.get(run_id)

    def run_rows(
        self, run_id: str, *, offset: int = 0, limit: int = 500, known: RunInfo | None = None
    ) -> RowsPage:
        """A page of a run's stored rows; ``known`` is the run if the caller just read it."""
        return self.history.rows(run_id, offset=offset, limit=limit, known=known)

    def cancel_run(self, run_id: str) -> RunInfo:
        """Ask a running run to stop; returns the run once it has ended (or after 5 s)."""
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
    ) -> HistoryPage:
        return self.history.listing(
            limit=limit,
            offset=offset,
            connection=connection,
            status=status,
            text=text,
            since=since,
            until=until,
            cursor=cursor,
        )

    def rerun(self, run_id: str, *, user: str = LOCAL_USER, export_all: bool | None = None) -> str:
        """Start a new run with the same connection, SQL, row cap and timeout."""
        old = self.history.get(run_id)
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
        return self.start_run(request, user=user)

    def export_run(self, run_id: str, fmt: ExportFormat) -> Export:
        """A streaming export of a succeeded run's stored rows (never re-runs the query).

        409 for a run that did not succeed or is still running, 410 when its rows are gone.
        """
        run = self.history.get(run_id)
        if run.status is not RunStatus.succeeded:
            code = "RUN_NOT_FINISHED" if not run.status.finished else "EXPORT_UNAVAILABLE"
            raise ExportUnavailable(
                f"Only a succeeded run can be exported; this one is {run.status.value}.",
                code=code,
                detail={"status": run.status.value, "run_id": run_id},
            )
        run, stored = self.history.stored(run_id)
        return Export(
            store=self.results,
            run_id=run_id,
            stored=stored,
            format=fmt,
            filename=file_name(run_id, fmt),
            total_rows=run.row_count or 0,
        )

    # --- saved queries ----------------------------------------------------------------

    def create_saved_query(self, data: SavedQueryInput, *, user: str = LOCAL_USER) -> SavedQuery:
        return self.saved.create(user, data)

    def list_saved_queries(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
        user: str = LOCAL_USER,
    ) -> Page[SavedQuery]:
        return self.saved.listing(
            user, limit=limit, offset=offset, tag=tag, favourite=favourite, text=text
        )

    def get_saved_query(self, ref: str, *, user: str = LOCAL_USER) -> SavedQuery:
        return self.saved.get(user, ref)

    def update_saved_query(
        self, ref: str, changes: SavedQueryChanges, *, user: str = LOCAL_USER
    ) -> SavedQuery:
        return self.saved.update(user, ref, changes)

    def delete_saved_query(self, ref: str, *, user: str = LOCAL_USER) -> None:
        self.saved.delete(user, ref)

    def run_saved_query(
        self,
        ref: str,
        *,
        connection: str | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        export_all: bool = False,
        user: str = LOCAL_USER,
    ) -> str:
        """Start a run of a saved query (on ``connection``, else its default one)."""
        saved = self.saved.get(user, ref)
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
        return self.start_run(request, user=user)

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
        self, connection: str, path: str = "", *, limit: int = 100, offset: int = 0
    ) -> CatalogLevel:
        """One level of the cached catalog: schemas (empty path), the relations of a
        schema, or the columns of a relation."""
        return self.catalog.level(connection, path, limit=limit, offset=offset)

    def refresh_catalog(self, connection: str, schema: str | None = None) -> RefreshReport:
        return self.catalog.refresh(connection, schema)

    def table_detail(
        self, connection: str, schema: str, table: str, *, preview_rows: int = 0
    ) -> TableDetail:
        """A relation from the cache with generated DDL, and optionally its first rows
        read through the guard like any run."""
        return self.catalog.table_detail(
            connection, schema, table, preview=self._preview, preview_rows=preview_rows
        )

    def _preview(self, connection: str, sql: str, rows: int) -> RowsPage:
        run = self.run(RunRequest(connection=connection, sql=sql, max_rows=rows))
        if run.status is not RunStatus.succeeded:
            raise QueryDeckError(
                run.error_message or f"The preview ended {run.status.value}.",
                code=run.error_code or "QUERY_FAILED",
            )
        return self.run_rows(run.id, offset=0, limit=rows, known=run)

    def search_catalog(self, text: str, *, limit: int = 50, offset: int = 0) -> Page[SearchHit]:
        hits, total = self.catalog.search(text, limit=limit, offset=offset)
        return Page(items=hits, total=total, limit=limit, offset=offset)

    def catalog_settings(self, connection: str) -> CatalogSettings:
        return self.catalog.settings(connection)

    def set_catalog_settings(self, connection: str, values: CatalogSettings) -> CatalogSettings:
        return self.catalog.set_settings(connection, values)

    # --- keys -------------------------------------------------------------------------

    def rotate_key(self) -> RotationResult:
        """Re-seal every stored secret with a new key in one transaction and replace the
        key file atomically (the old key is kept as a backup until the commit)."""
        rotation = KeyRotation(self.settings, self.db, self.connections)
        result, self._sealer = rotation.run()
        return result

    # --- certificates -----------------------------------------------------------------

    def add_certificate(self, name: str, pem: bytes) -> CertificateInfo:
        """Store an uploaded bundle of PEM CA certificates (refused: private keys, other
        blocks, non-CA or expired certificates, more than 64 KB or 32 certificates)."""
        return self.certificates.add(name, pem)

    def list_certificates(self, *, limit: int = 100, offset: int = 0) -> Page[CertificateInfo]:
        return self.certificates.listing(limit=limit, offset=offset)

    def get_certificate(self, certificate_id: str) -> CertificateInfo:
        return self.certificates.get(certificate_id)

    def remove_certificate(self, certificate_id: str) -> None:
        """Remove a certificate; 409 while a connection's ssl_ca_certificate names it."""
        self.certificates.remove(certificate_id)
