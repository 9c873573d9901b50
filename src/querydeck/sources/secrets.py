"""Encryption of stored credentials.

One 256-bit key per installation, from ``QUERYDECK_SECRET_KEY`` or the key file
``<data dir>/secret.key`` (mode 0600, generated on first start — never a built-in default).
Credentials are sealed with AES-256-GCM, the connection's id as associated data, so a
ciphertext copied to another connection's row does not decrypt. A fingerprint of the key is
kept in the app database: starting with a missing or different key is a clear error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from querydeck.errors import SecretDecryptError, SecretKeyError

KEY_FILE_NAME = "secret.key"
_VERSION = b"\x01"
_NONCE_BYTES = 12


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"The secret key in {source} is not valid base64.") from None
    if len(key) != 32:
        raise SecretKeyError(
            f"The secret key in {source} must be 32 bytes (base64); it has {len(key)}."
        )
    if len(set(key)) < 8:
        raise SecretKeyError(f"The secret key in {source} is not random enough.")
    return key


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(
            f"The key file {path.name} is readable by other users; "
            f"run `chmod 600` on it and start again."
        )
    return _decode_key(path.read_text(encoding="ascii", errors="replace"), path.name)


def create_key_file(path: Path) -> bytes:
    """Write a new random key to ``path`` with mode 0600. Never overwrites: when another
    process or thread created the file first, its key is used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_key_text()
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    try:
        os.link(partial, path)  # atomic, and fails when the file exists
    except FileExistsError:
        return read_key_file(path)
    finally:
        partial.unlink()
    return _decode_key(text, path.name)


class Sealer:
    """Seals and opens secrets for one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.fingerprint = hmac.new(key, b"querydeck key check v1", hashlib.sha256).hexdigest()

    @staticmethod
    def _aad(owner_id: str) -> bytes:
        return b"querydeck/connection/" + owner_id.encode("utf-8")

    def seal(self, plaintext: bytes, owner_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._aad(owner_id))

    def open(self, blob: bytes, owner_id: str) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise SecretDecryptError(
                "A stored credential is damaged and cannot be read; set the connection's "
                "password again."
            )
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._aad(owner_id))
        except InvalidTag:
            raise SecretDecryptError(
                "A stored credential does not decrypt with this key for this connection; "
                "set the connection's password again."
            ) from None


def load_key(configured: str | None, data_dir: Path, *, expect_existing: bool) -> bytes:
    """The installation's key: from the setting, else the key file, created when this is a
    fresh installation (``expect_existing`` is False)."""
    if configured is not None:
        return _decode_key(configured, "QUERYDECK_SECRET_KEY")
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return read_key_file(path)
    if expect_existing:
        raise SecretKeyError(
            f"The key file {KEY_FILE_NAME} is missing from the data directory, but this "
            "installation already has encrypted credentials. Restore the file (or set "
            "QUERYDECK_SECRET_KEY) and start again."
        )
    return create_key_file(path)
