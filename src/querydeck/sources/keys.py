"""Key rotation: a new key for every stored secret, in one transaction.

1. The new key is written to ``secret.key.new`` (0600) and the current one copied to
   ``secret.key.old``.
2. One app-database transaction re-seals every connection's secrets with the new key and
   stores the new key's fingerprint.
3. After the commit, ``secret.key.new`` replaces ``secret.key`` (an atomic rename) and the
   backup is removed. A failure before the commit leaves everything as it was; a crash
   between the commit and the rename is finished on the next start
   (:func:`finish_interrupted_rotation`).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from querydeck.errors import ConfigError, SecretKeyError
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.secrets import KEY_FILE_NAME, Sealer, load_key, new_key_text, read_key_file
from querydeck.store.database import AppDatabase

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


KEY_CHECK = "secret_key_fingerprint"


@dataclass(frozen=True)
class RotationResult:
    connections: int
    fingerprint: str


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish_interrupted_rotation(data_dir: Path, fingerprint: str | None) -> None:
    """When the app database already holds the fingerprint of ``secret.key.new`` (the
    rotation committed but the rename did not happen), finish the rename."""
    pending = data_dir / (KEY_FILE_NAME + ".new")
    if fingerprint is None or not pending.exists():
        return
    if Sealer(read_key_file(pending)).fingerprint == fingerprint:
        os.replace(pending, data_dir / KEY_FILE_NAME)
        (data_dir / (KEY_FILE_NAME + ".old")).unlink(missing_ok=True)


def open_sealer(settings: Settings, db: AppDatabase) -> Sealer:
    """The sealer of this installation's key, checked against the fingerprint stored in
    the app database (recorded on first start). A key that is not the one the stored
    credentials were sealed with stops the start."""
    fingerprint = _stored_fingerprint(db)
    if settings.secret_key is None:
        finish_interrupted_rotation(settings.data_dir, fingerprint)
    key = load_key(settings.secret_key, settings.data_dir, expect_existing=fingerprint is not None)
    sealer = Sealer(key)
    if fingerprint is None:  # the first start: recorded with the ORM
        from sqlalchemy.exc import IntegrityError

        from querydeck.store.tables import Meta

        try:
            db.write(lambda s: s.add(Meta(key=KEY_CHECK, value=sealer.fingerprint)))
        except IntegrityError:  # another process started at the same moment
            fingerprint = _stored_fingerprint(db)
    if fingerprint is not None and fingerprint != sealer.fingerprint:
        raise SecretKeyError(
            "The secret key is not the one this installation's credentials were "
            "encrypted with. Restore the original key file (or QUERYDECK_SECRET_KEY)."
        )
    return sealer


def _stored_fingerprint(db: AppDatabase) -> str | None:
    """The fingerprint recorded on first start (a plain read: every command starts so)."""
    with db.read_plain() as cursor:
        found = db.plain.scalars(cursor, "SELECT value FROM qd_meta WHERE key = ?", [KEY_CHECK])
    return str(found[0]) if found else None


class Resealable(Protocol):
    """Other sealed secrets re-sealed in the same transaction (model endpoints' keys)."""

    def reseal(self, session: Session, new: Sealer) -> int: ...

    def use_sealer(self, sealer: Sealer) -> None: ...


class KeyRotation:
    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        connections: ConnectionStore,
        others: Sequence[Resealable] = (),
    ) -> None:
        self._settings = settings
        self._db = db
        self._connections = connections
        self._others = others

    def run(self) -> tuple[RotationResult, Sealer]:
        from querydeck.store.tables import Meta

        if self._settings.secret_key is not None:
            raise ConfigError(
                "The key comes from QUERYDECK_SECRET_KEY, which querydeck cannot change; "
                "unset it to use a key file, then rotate."
            )
        key_path = self._settings.data_dir / KEY_FILE_NAME
        pending = key_path.with_name(KEY_FILE_NAME + ".new")
        backup = key_path.with_name(KEY_FILE_NAME + ".old")
        text = new_key_text()
        sealer = Sealer(base64.b64decode(text))
        _write_private(pending, text)
        backup.unlink(missing_ok=True)
        shutil.copy2(key_path, backup)

        def reseal(tx: Session) -> int:
            count = self._connections.reseal(tx, sealer)
            for other in self._others:
                other.reseal(tx, sealer)
            meta = tx.get(Meta, KEY_CHECK)
            if meta is None:
                tx.add(Meta(key=KEY_CHECK, value=sealer.fingerprint))
            else:
                meta.value = sealer.fingerprint
            return count

        try:
            count = self._db.write(reseal)
        except BaseException:
            pending.unlink(missing_ok=True)
            backup.unlink(missing_ok=True)
            raise
        self._connections.use_sealer(sealer)
        for other in self._others:
            other.use_sealer(sealer)
        os.replace(pending, key_path)
        _sync_directory(key_path.parent)
        backup.unlink(missing_ok=True)
        return RotationResult(connections=count, fingerprint=sealer.fingerprint[:16]), sealer
