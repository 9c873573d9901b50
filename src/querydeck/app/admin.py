"""Administration, as the shells see it: the audit log, the key that seals connection
secrets and its rotation, uploaded CA certificates, and the demo connections."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime

from querydeck.app import demo
from querydeck.app.connections import ConnectionService
from querydeck.audit.log import AuditLog
from querydeck.audit.models import AuditPage
from querydeck.auth.access import admin_only
from querydeck.auth.grants import Grants
from querydeck.auth.principal import LOCAL, Principal
from querydeck.errors import AdminRequired, Conflict, RoleForbidden
from querydeck.settings import Settings
from querydeck.sources.certificates import CertificateStore
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.keys import KeyRotation, Resealable, RotationResult
from querydeck.sources.models import CertificateInfo, ConnectionInfo
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page


class AdminService:
    """What administrators (and the local command line) do to the installation itself."""

    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        *,
        audit: AuditLog,
        certificates: CertificateStore,
        store: ConnectionStore,
        connections: ConnectionService,
        grants: Grants,
        resealed: Callable[[], Sequence[Resealable]] = tuple,
    ) -> None:
        """``resealed``: the other sealed secrets a key rotation re-seals (model
        endpoints'), asked for when a rotation runs."""
        self._settings = settings
        self._db = db
        self._audit = audit
        self._certificates = certificates
        self._store = store
        self._connections = connections
        self._grants = grants
        self._resealed = resealed

    def audit_log(
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
            raise AdminRequired("Only an administrator can read the audit log.")
        if connection is not None:
            connection_id = self._store.get(connection).id
        return self._audit.listing(
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

    def rotate_key(self) -> RotationResult:
        """Re-seal every stored secret with a new key in one transaction and replace the
        key file atomically (the old key is kept as a backup until the commit)."""
        result, _ = KeyRotation(self._settings, self._db, self._store, self._resealed()).run()
        return result

    def add_certificate(
        self, name: str, pem: bytes, *, actor: Principal = LOCAL
    ) -> CertificateInfo:
        """Store an uploaded bundle of PEM CA certificates (refused: private keys, other
        blocks, non-CA or expired certificates, more than 64 KB or 32 certificates)."""
        admin_only(actor, "upload certificates")
        return self._certificates.add(name, pem)

    def _certificate_readers(self, actor: Principal) -> frozenset[str] | None:
        """The connection ids whose names ``used_by`` may show ``actor`` (None: all).
        Certificates are for those who set connection options: viewers never do."""
        if actor.is_admin:
            return None
        if not actor.may_write_sql:
            raise RoleForbidden("The viewer role cannot read uploaded certificates.")
        return frozenset(self._grants.connection_ids(actor))

    def list_certificates(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[CertificateInfo]:
        """Uploaded certificates; ``used_by`` names only connections ``actor`` may see."""
        visible = self._certificate_readers(actor)
        return self._certificates.listing(limit=limit, offset=offset, visible=visible)

    def get_certificate(self, certificate_id: str, *, actor: Principal = LOCAL) -> CertificateInfo:
        visible = self._certificate_readers(actor)
        return self._certificates.get(certificate_id, visible=visible)

    def remove_certificate(self, certificate_id: str, *, actor: Principal = LOCAL) -> None:
        """Remove a certificate; 409 while a connection's ssl_ca_certificate names it."""
        admin_only(actor, "remove certificates")
        self._certificates.remove(certificate_id)

    def create_demo(self) -> list[ConnectionInfo]:
        """Create the demo files (when missing) and register ``demo`` and ``chinook``
        (when no connection has those names)."""
        tpch, chinook = demo.prepare(self._settings.data_dir / "demo")
        made = []
        for name, driver, path in (("demo", "duckdb", tpch), ("chinook", "sqlite", chinook)):
            try:
                made.append(
                    self._connections.create(name, driver=driver, options={"path": os.fspath(path)})
                )
            except Conflict:
                made.append(self._connections.get(name))
        return made
