from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from querydeck.app.workbench import Workbench
from querydeck.errors import SecretDecryptError, SecretKeyError
from querydeck.settings import load_settings
from querydeck.sources.secrets import KEY_FILE_NAME, Sealer, load_key, new_key_text


def test_first_start_creates_a_private_key_file(data_dir: Path) -> None:
    key = load_key(None, data_dir, expect_existing=False)
    path = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert load_key(None, data_dir, expect_existing=True) == key


def test_missing_key_file_with_existing_credentials_is_an_error(data_dir: Path) -> None:
    with pytest.raises(SecretKeyError, match="missing"):
        load_key(None, data_dir, expect_existing=True)


def test_key_file_readable_by_others_is_refused(data_dir: Path) -> None:
    load_key(None, data_dir, expect_existing=False)
    (data_dir / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_key(None, data_dir, expect_existing=True)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not base64!!", "base64"),
        (base64.b64encode(b"short").decode(), "32 bytes"),
        (base64.b64encode(b"\x00" * 32).decode(), "random"),
    ],
)
def test_bad_configured_keys(text: str, problem: str, data_dir: Path) -> None:
    with pytest.raises(SecretKeyError, match=problem):
        load_key(text, data_dir, expect_existing=False)


def test_seal_is_bound_to_the_owner_and_detects_tampering() -> None:
    sealer = Sealer(base64.b64decode(new_key_text()))
    blob = sealer.seal(b"hunter2", "conn-a")
    assert b"hunter2" not in blob
    assert sealer.open(blob, "conn-a") == b"hunter2"
    with pytest.raises(SecretDecryptError):
        sealer.open(blob, "conn-b")
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(SecretDecryptError):
        sealer.open(bytes(flipped), "conn-a")
    with pytest.raises(SecretDecryptError, match="damaged"):
        sealer.open(b"\x02short", "conn-a")
    other = Sealer(base64.b64decode(new_key_text()))
    with pytest.raises(SecretDecryptError):
        other.open(blob, "conn-a")


def test_workbench_refuses_a_different_key(data_dir: Path) -> None:
    with Workbench(load_settings(data_dir=data_dir)):
        pass
    (data_dir / KEY_FILE_NAME).unlink()
    with pytest.raises(SecretKeyError, match="missing"):
        Workbench(load_settings(data_dir=data_dir)).open()
    with pytest.raises(SecretKeyError, match="not the one"):
        Workbench(load_settings(data_dir=data_dir, secret_key=new_key_text())).open()


def test_workbench_accepts_a_configured_key(data_dir: Path) -> None:
    key = new_key_text()
    with Workbench(load_settings(data_dir=data_dir, secret_key=key)):
        pass
    assert not (data_dir / KEY_FILE_NAME).exists()
    with Workbench(load_settings(data_dir=data_dir, secret_key=key)):
        pass
