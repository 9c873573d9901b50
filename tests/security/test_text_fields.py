"""Control characters in connection options and bidirectional overrides in names other
users see (issue 16, item 9). Each refusal is checked against the state afterwards: no
connection row, nothing changed, the value never echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Role
from querydeck.errors import QueryDeckError
from querydeck.runs.models import SavedQueryInput
from querydeck.settings import load_settings
from querydeck.text import BIDI_CONTROLS
from tests.apiauth import ensure_user
from tests.tlsfakes import make_ca

SENTINEL = "s3cr3t-SENTINEL"
#: C0 (CR, LF, NUL, tab, ESC), DEL and C1 (NEL, CSI).
CONTROLS = ["\r", "\n", "\x00", "\t", "\x1b", "\x7f", "\x85", "\x9b"]

#: A valid definition of each kind of connection, and the text options to poison.
DEFINITIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "postgres": (
        {"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": "p"},
        ["host", "database", "user", "password"],
    ),
    "mysql": (
        {"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": "p"},
        ["host", "database", "user", "password"],
    ),
    "clickhouse": (
        {"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": "p"},
        ["host", "database", "user", "password"],
    ),
    "spark": ({"host": "127.0.0.1", "port": 1}, ["host", "database", "user_id"]),
    "s3": (
        {"bucket": "b", "endpoint": "127.0.0.1:1", "access_key_id": "k"},
        ["bucket", "prefix", "endpoint", "region", "access_key_id", "secret_access_key"],
    ),
    "sqlite": ({"path": "x.db"}, ["path"]),
}


@pytest.fixture
def wb(tmp_path: Path, data_dir: Path) -> Iterator[Workbench]:
    settings = load_settings(data_dir=data_dir, file_roots=[tmp_path / "files"])
    with Workbench(settings) as workbench:
        yield workbench


def refused(wb: Workbench, code: str, action: Any) -> QueryDeckError:
    before = wb.connections.listing().total
    with pytest.raises(QueryDeckError) as info:
        action()
    assert info.value.code == code, info.value
    assert 400 <= info.value.http_status < 500
    assert wb.connections.listing().total == before
    assert SENTINEL not in info.value.message + str(info.value.detail)
    return info.value


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("driver", sorted(DEFINITIONS))
def test_control_characters_in_every_option_are_refused(
    wb: Workbench, driver: str, control: str
) -> None:
    base, fields = DEFINITIONS[driver]
    for field in fields:
        options = {**base, field: f"{SENTINEL}{control}x"}
        error = refused(
            wb,
            "CONNECTION_OPTIONS_INVALID",
            lambda options=options: wb.connections.create("c", driver=driver, options=options),
        )
        assert error.detail["problems"][0]["option"] == field
        assert f"U+{ord(control):04X}" in error.message


def test_control_characters_in_urls_and_updates(wb: Workbench) -> None:
    for url in (
        "postgresql://u:pa%0Ass@127.0.0.1:1/d",
        "postgresql://u@127.0.0.1:1/d%00x",
        "mysql://u%0D%0Ainit_command@127.0.0.1:1/d",
    ):
        refused(
            wb, "CONNECTION_OPTIONS_INVALID", lambda url=url: wb.connections.create("c", url=url)
        )
    base = DEFINITIONS["postgres"][0]
    wb.connections.create("pg", driver="postgres", options=base)
    for changes in (
        {"database": "d\nsslmode=disable"},
        {"user": "u\x00", "password": "p"},
        {"password": f"{SENTINEL}\r\n"},
    ):
        refused(
            wb,
            "CONNECTION_OPTIONS_INVALID",
            lambda changes=changes: wb.connections.update("pg", changes),
        )
    assert wb.connections.get("pg").options["database"] == "d"


#: Bidi embeddings, overrides and isolates: U+202A–U+202E, U+2066–U+2069.
BIDI = sorted(BIDI_CONTROLS)


@pytest.mark.parametrize("char", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_bidirectional_overrides_in_shared_names_are_refused(wb: Workbench, char: str) -> None:
    name = f"invoice{char}fdp.exe"
    sqlite = {"path": str(wb.settings.allowed_file_roots[0] / "x.db")}
    error = refused(
        wb,
        "CONNECTION_NAME_INVALID",
        lambda: wb.connections.create(name, driver="sqlite", options=sqlite),
    )
    assert f"U+{ord(char):04X}" in error.message
    wb.connections.create("ok", driver="sqlite", options=sqlite)
    refused(wb, "CONNECTION_NAME_INVALID", lambda: wb.connections.rename("ok", name))
    cases: list[tuple[str, Any]] = [
        (
            "SAVED_QUERY_NAME_INVALID",
            lambda: wb.saved.create(SavedQueryInput(name=name, sql="SELECT 1")),
        ),
        (
            "SAVED_QUERY_TAG_INVALID",
            lambda: wb.saved.create(SavedQueryInput(name="q", sql="SELECT 1", tags=[f"a{char}b"])),
        ),
        ("CERTIFICATE_NAME_INVALID", lambda: wb.admin.add_certificate(name, make_ca().pem)),
        ("GROUP_NAME_INVALID", lambda: wb.grants.create_group(name)),
        ("USERNAME_INVALID", lambda: ensure_user(wb, f"bob{char}", Role.analyst)),
    ]
    for code, action in cases:
        with pytest.raises(QueryDeckError) as info:
            action()
        assert info.value.code == code, (code, info.value)
    principal = ensure_user(wb, "bob", Role.analyst)
    with pytest.raises(QueryDeckError) as info:
        wb.accounts.create_token(principal, name)
    assert info.value.code == "TOKEN_NAME_INVALID"
    assert wb.saved.listing(actor=LOCAL).total == 0
    assert wb.grants.list_groups().total == 0


def test_marks_and_right_to_left_text_stay_allowed(wb: Workbench) -> None:
    """Right-to-left names and the plain marks (U+200E, U+200F) are names like any other."""
    sqlite = {"path": str(wb.settings.allowed_file_roots[0] / "x.db")}
    for name in ("מכירות", "مبيعات\u200f", "sales\u200e2024"):
        assert wb.connections.create(name, driver="sqlite", options=sqlite).name == name
    saved = wb.saved.create(SavedQueryInput(name="דוח\u200f", sql="SELECT 1", tags=["שנתי"]))
    assert saved.name == "דוח\u200f"
