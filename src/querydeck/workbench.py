"""The Workbench: querydeck's one application object.

The API routes and the CLI commands each call one Workbench method; they hold no SQL and no
driver code. The Workbench never imports a web or CLI framework.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from querydeck import demo
from querydeck.connections import ConnectionService
from querydeck.drivers import registry
from querydeck.errors import (
    Conflict,
    ExportUnavailable,
    InvalidInput,
    NotFound,
    SecretKeyError,
)
from querydeck.models import (
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
from querydeck.runs.export import Export, ExportFormat, file_name
from querydeck.runs.history import History
from querydeck.runs.results import ResultStore
from querydeck.runs.retention import Retention
from querydeck.runs.runner import RunManager
from querydeck.saved import SavedQueries
from querydeck.secrets import Sealer, load_key
from querydeck.settings import Settings, load_settings
from querydeck.store.database import AppDatabase
from querydeck.store.tables import Meta

#: The user every run belongs to until accounts exist.
LOCAL_USER = "local"
_KEY_CHECK = "secret_key_fingerprint"


class Workbench:
    """Connections, runs and history over one app database."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = AppDatabase(self.settings.app_database_url, retries=self.settings.app_db_retries)
        self.db.migrate()
        self._sealer = self._open_sealer()
        self.connections = ConnectionService(
            self.db, self._sealer, connect_timeout_s=self.settings.connect_timeout_s
        )
        self.results = ResultStore(self.settings.results_dir)
        self.runs = RunManager(self.settings, self.db, self.connections, self.results)
        self.history = History(self.db, self.results)
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

    def _open_sealer(self) -> Sealer:
        with self.db.read() as session:
            stored = session.get(Meta, _KEY_CHECK)
            fingerprint = stored.value if stored else None
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
        self.runs.shutdown()
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
    ) -> ConnectionInfo:
        return self.connections.create(name, driver, url=url, options=options)

    def list_connections(self, *, limit: int = 100, offset: int = 0) -> Page[ConnectionInfo]:
        return self.connections.listing(limit=limit, offset=offset)

    def get_connection(self, name: str) -> ConnectionInfo:
        return self.connections.get(name)

    def update_connection(self, name: str, options: dict[str, Any]) -> ConnectionInfo:
        return self.connections.update(name, options)

    def rename_connection(self, name: str, new_name: str) -> ConnectionInfo:
        return self.connections.rename(name, new_name)

    def delete_connection(self, name: str) -> None:
        self.connections.delete(name)

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

    def run_rows(self, run_id: str, *, offset: int = 0, limit: int = 500) -> RowsPage:
        return self.history.rows(run_id, offset=offset, limit=limit)

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
