"""The Workbench: querydeck's one application object.

The API routes and the CLI commands each call one Workbench method; they hold no SQL and no
driver code. The Workbench never imports a web or CLI framework.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from querydeck import demo
from querydeck.connections import ConnectionService
from querydeck.drivers import registry
from querydeck.errors import Conflict, SecretKeyError
from querydeck.models import (
    ConnectionInfo,
    DriverInfo,
    Page,
    RowsPage,
    RunInfo,
    RunRequest,
    RunStatus,
    TestResult,
)
from querydeck.runs.history import History
from querydeck.runs.results import ResultStore
from querydeck.runs.runner import RunManager
from querydeck.secrets import Sealer, load_key
from querydeck.settings import Settings, load_settings
from querydeck.sql.checker import Checker
from querydeck.store.database import AppDatabase
from querydeck.store.tables import Meta

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
        self.connections = ConnectionService(
            self.db, self._sealer, connect_timeout_s=self.settings.connect_timeout_s
        )
        self.results = ResultStore(self.settings.results_dir)
        self.runs = RunManager(
            self.settings, self.db, self.connections, self.results, checker=checker
        )
        self.history = History(self.db, self.results)

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
    ) -> Page[RunInfo]:
        return self.history.listing(
            limit=limit, offset=offset, connection=connection, status=status
        )

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
