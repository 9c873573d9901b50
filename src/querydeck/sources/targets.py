"""Checking where a connection points before it is saved, updated, tested or used.

File drivers: the path must lie inside the file roots (see :mod:`querydeck.sandbox.fileroots`).
Server drivers: querydeck connects — the driver resolves, checks and pins the host with the
outbound-address policy (see :mod:`querydeck.sandbox.addresses`) — and probes the login's
privileges. A login that can write or reach the server's files or programs is refused
unless the caller passes the explicit override ``allow_privileged`` (a parameter the
Workbench keeps for admins); it is then saved flagged "can write" with
the reasons.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from querydeck.drivers.base import (
    CA_CERTIFICATE_OPTION,
    Driver,
    DriverOptions,
    EngineSession,
    Sandbox,
)
from querydeck.drivers.tls import ca_file
from querydeck.errors import ConnectionFailed, ConnectionPrivileged, ConnectionTargetForbidden
from querydeck.sandbox.fileroots import FileRoots
from querydeck.store.plain import utcnow


@contextmanager
def bounded(session: EngineSession, seconds: float) -> Iterator[EngineSession]:
    """Use ``session`` for at most ``seconds``: past that its transport is cut
    (:meth:`EngineSession.abort`), so a probe or a test of a server that answers the login
    and then nothing fails instead of holding the request."""
    timer = threading.Timer(seconds, session.abort)
    timer.daemon = True
    timer.start()
    try:
        yield session
    finally:
        timer.cancel()


@dataclass(frozen=True)
class Probe:
    """What a privilege probe found. ``reasons`` is None when the server could not be
    reached (the probe runs again on the next test or first use)."""

    reasons: list[str] | None
    checked_at: datetime | None


def refuse_privileged(reasons: list[str], target: str) -> ConnectionPrivileged:
    return ConnectionPrivileged(
        f"The login of {target} can do more than read: {'; '.join(reasons)}. Use a read-only "
        "login, or save it flagged 'can write' with the admin override (allow_privileged).",
        detail={"reasons": reasons, "override": "allow_privileged"},
    )


class TargetVerifier:
    """Applies the file roots, the address policy and the privilege probe."""

    def __init__(self, sandbox: Sandbox, *, connect_timeout_s: float) -> None:
        if sandbox.files is None:
            raise ValueError("a Workbench sandbox has file roots")
        self.sandbox = sandbox
        self.files: FileRoots = sandbox.files
        self._timeout_s = connect_timeout_s

    def driver(self, cls: type[Driver[Any]], options: DriverOptions) -> Driver[Any]:
        """A driver instance bound to this installation's sandbox."""
        return cls(options, sandbox=self.sandbox)

    def check_file(self, cls: type[Driver[Any]], options: DriverOptions) -> None:
        path = getattr(options, "path", None)
        if cls.capabilities.file_based and isinstance(path, str):
            self.files.check(path, cls.title)

    def verify_certificate(self, options: DriverOptions) -> None:
        """Refuse a CA certificate option that names no uploaded bundle."""
        ca_file(self.sandbox, getattr(options, CA_CERTIFICATE_OPTION, None))

    def verify(
        self, cls: type[Driver[Any]], options: DriverOptions, *, allow_privileged: bool
    ) -> Probe:
        """Check a definition before it is saved: raises when the target is forbidden or
        the login is privileged without the override."""
        if cls.capabilities.file_based:
            self.check_file(cls, options)
            return Probe(reasons=[], checked_at=utcnow())
        self.verify_certificate(options)
        driver = self.driver(cls, options)
        try:
            with driver.connect(timeout_s=self._timeout_s) as conn, bounded(conn, self._timeout_s):
                reasons = conn.privileges()
        except ConnectionTargetForbidden:
            raise
        except ConnectionFailed:
            return Probe(reasons=None, checked_at=None)
        if reasons and not allow_privileged:
            raise refuse_privileged(reasons, driver.target())
        return Probe(reasons=reasons, checked_at=utcnow())
