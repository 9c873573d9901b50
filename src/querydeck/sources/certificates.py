"""Uploaded CA certificates: checked (see :mod:`querydeck.sources.pem`), kept as a table row and as
a file ``<data dir>/certificates/<id>.pem`` (mode 0600, written atomically) that libpq and
PyMySQL read when a connection's ``ssl_ca_certificate`` names it.

The directory is one of querydeck's own: no file root may hold it and no connection may
point into it (see :mod:`querydeck.app.sandbox`). A certificate that connections use cannot be
removed. The row is the source of truth: a missing or altered file is written again from it
before a client library reads it.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from querydeck.drivers.base import CA_CERTIFICATE_OPTION
from querydeck.errors import (
    CertificateInUse,
    CertificateNameInvalid,
    CertificateNameTaken,
    CertificateNotFound,
    CertificateUnknown,
    Conflict,
)
from querydeck.sources import pem
from querydeck.sources.models import CertificateDetail, CertificateInfo
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.text import bidi_controls

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from querydeck.store.tables import CertificateRow

#: The directory under the data directory that holds the stored PEM files.
CERTIFICATES_DIR = "certificates"
MAX_NAME_LENGTH = 128


def certificates_dir(data_dir: Path) -> Path:
    return data_dir / CERTIFICATES_DIR


def _name(name: str) -> str:
    value = unicodedata.normalize("NFC", name).strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise CertificateNameInvalid(
            f"A certificate name has 1 to {MAX_NAME_LENGTH} characters.",
        )
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in value) or bidi_controls(value):
        raise CertificateNameInvalid(
            "A certificate name must not contain control characters or bidirectional overrides.",
        )
    return value


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name.casefold())


def _canonical_id(certificate_id: str) -> str | None:
    try:
        return str(uuid.UUID(certificate_id))
    except (ValueError, AttributeError, TypeError):
        return None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename), mode 0600."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class CertificateStore:
    """Add, list, read and remove uploaded certificates; hand drivers their files."""

    def __init__(self, db: AppDatabase, directory: Path) -> None:
        self._db = db
        self.directory = directory

    def _file(self, certificate_id: str) -> Path:
        return self.directory / f"{certificate_id}.pem"

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- writing ----------------------------------------------------------------------

    def add(self, name: str, data: bytes) -> CertificateInfo:
        """Check and store an upload; the name must be free (409 otherwise)."""
        from sqlalchemy import select
        from sqlalchemy.exc import IntegrityError

        from querydeck.store.tables import CertificateRow

        stored_name = _name(name)
        bundle = pem.parse(data)
        row_id = str(uuid.uuid4())
        text = bundle.pem.decode("ascii")
        self._ensure_dir()
        write_private(self._file(row_id), bundle.pem)

        def insert(tx: Session) -> CertificateInfo:
            if tx.scalar(
                select(CertificateRow.id).where(CertificateRow.name_key == _key(stored_name))
            ):
                raise self._taken(stored_name)
            row = CertificateRow(
                id=row_id,
                name=stored_name,
                name_key=_key(stored_name),
                pem=text,
                created_at=utcnow(),
            )
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:
                raise self._taken(stored_name) from None
            return self._info(row, [])

        try:
            return self._db.write(insert)
        except BaseException:
            self._file(row_id).unlink(missing_ok=True)
            raise

    @staticmethod
    def _taken(name: str) -> Conflict:
        return CertificateNameTaken(
            f"A certificate named {name!r} already exists.",
            detail={"certificate": name},
        )

    def remove(self, certificate_id: str) -> None:
        """Remove a certificate no connection uses (409 ``CERTIFICATE_IN_USE`` otherwise)."""

        def delete(tx: Session) -> str:
            row = self._row(tx, certificate_id)
            users = _users(tx, None).get(row.id, [])
            if users:
                raise CertificateInUse(
                    f"The certificate {row.name!r} is used by {len(users)} connection(s): "
                    f"{', '.join(sorted(users))}. Change or remove them first.",
                    detail={"certificate_id": row.id, "connections": sorted(users)},
                )
            tx.delete(row)
            return row.id

        removed = self._db.write(delete)
        self._file(removed).unlink(missing_ok=True)

    # --- reading ----------------------------------------------------------------------

    def _row(self, tx: Session, certificate_id: str) -> CertificateRow:
        from querydeck.store.tables import CertificateRow

        canonical = _canonical_id(certificate_id)
        row = tx.get(CertificateRow, canonical) if canonical else None
        if row is None:
            raise CertificateNotFound(
                "No certificate with this id.", detail={"certificate_id": certificate_id[:64]}
            )
        return row

    def get(self, certificate_id: str, *, visible: frozenset[str] | None = None) -> CertificateInfo:
        """A certificate; ``used_by`` names the connections among ``visible`` ids (None:
        all) that verify with it."""
        with self._db.read() as tx:
            row = self._row(tx, certificate_id)
            return self._info(row, _users(tx, visible).get(row.id, []))

    def listing(
        self, *, limit: int, offset: int, visible: frozenset[str] | None = None
    ) -> Page[CertificateInfo]:
        from sqlalchemy import func, select

        from querydeck.store.tables import CertificateRow

        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(CertificateRow)) or 0
            rows = tx.scalars(
                select(CertificateRow)
                .order_by(CertificateRow.name_key, CertificateRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
            users = _users(tx, visible)
            items = [self._info(r, users.get(r.id, [])) for r in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    def path(self, certificate_id: str) -> str:
        """The stored PEM file (written again from the row when missing or altered);
        ``CertificateUnknown`` (422) for an id never uploaded or removed."""
        from querydeck.store.tables import CertificateRow

        canonical = _canonical_id(certificate_id)
        with self._db.read() as tx:
            row = tx.get(CertificateRow, canonical) if canonical else None
            data = row.pem.encode("ascii") if row is not None else None
        if canonical is None or data is None:
            raise CertificateUnknown(
                "The option ssl_ca_certificate names no uploaded certificate; upload it first "
                "(POST /api/v1/certificates, or `querydeck certificates add`).",
                detail={"option": CA_CERTIFICATE_OPTION},
            )
        file = self._file(canonical)
        try:
            current = file.read_bytes()
        except OSError:
            current = None
        if current != data:
            self._ensure_dir()
            write_private(file, data)
        return os.fspath(file)

    @staticmethod
    def _info(row: CertificateRow, users: list[str]) -> CertificateInfo:
        certs = [pem.describe(c) for c in pem.load_bundle(row.pem.encode("ascii"))]
        details = [
            CertificateDetail(
                subject=c.subject,
                issuer=c.issuer,
                not_before=c.not_before,
                not_after=c.not_after,
                fingerprint_sha256=c.fingerprint_sha256,
                is_ca=c.is_ca,
            )
            for c in certs
        ]
        first = details[0]
        not_after = min(d.not_after for d in details)
        return CertificateInfo(
            id=row.id,
            name=row.name,
            subject=first.subject,
            issuer=first.issuer,
            not_before=first.not_before,
            not_after=not_after,
            fingerprint_sha256=first.fingerprint_sha256,
            expired=not_after < datetime.now(UTC),
            count=len(details),
            certificates=details,
            used_by=sorted(users),
            created_at=row.created_at,
        )


def _users(tx: Session, visible: frozenset[str] | None) -> dict[str, list[str]]:
    """Certificate id → names of the connections whose options name it, among the
    ``visible`` connection ids (None: all): a name nobody granted is never shown."""
    from sqlalchemy import select

    from querydeck.store.tables import ConnectionRow

    users: dict[str, list[str]] = {}
    query = select(ConnectionRow.name, ConnectionRow.options)
    if visible is not None:
        query = query.where(ConnectionRow.id.in_(visible))
    for name, options in tx.execute(query):
        certificate_id = (options or {}).get(CA_CERTIFICATE_OPTION)
        if isinstance(certificate_id, str):
            canonical = _canonical_id(certificate_id) or certificate_id
            users.setdefault(canonical, []).append(name)
    return users
