"""A connection is tested when it is saved (CLI ``connections add``, ``POST
/api/v1/connections``): a wrong password, an unknown host, a closed port or an unknown
database is the answer and nothing is saved; ``--no-test`` / ``"test": false`` saves it
untested. Real MariaDB and PostgreSQL servers, a closed local port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
from typer.testing import CliRunner, Result

from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.settings import Settings
from tests.apiauth import api_client
from tests.services import POSTGRES_URL, mysql_database, mysql_reader, with_database

Invoke = Callable[..., Result]


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wrong_password(url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def reader_url() -> Iterator[str]:
    """A MariaDB login that may only read its own database."""
    with mysql_database() as url, mysql_reader(url) as reader:
        yield reader


def bad_targets(reader_url: str) -> dict[str, tuple[str, str]]:
    """name -> (URL, expected error code) of definitions whose test must fail."""
    return {
        "wrong-password": (wrong_password(reader_url), "CONNECTION_AUTH_FAILED"),
        "closed-port": (f"postgresql://u@127.0.0.1:{closed_port()}/d", "UPSTREAM_UNAVAILABLE"),
        "missing-host": ("postgresql://u@no-such-host.invalid:5432/d", "UPSTREAM_UNAVAILABLE"),
        "wrong-database": (with_database(POSTGRES_URL, "qd_no_such_database"), ""),
    }


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(settings.data_dir))
    if settings.file_roots:
        monkeypatch.setenv("QUERYDECK_FILE_ROOTS", str(settings.file_roots[0]))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args))

    return invoke


def listed(cli: Invoke) -> list[str]:
    page = orjson.loads(cli("connections", "list", "-f", "json").stdout)
    return [c["name"] for c in page["items"]]


def test_cli_add_tests_first_and_saves_nothing_that_fails(cli: Invoke, reader_url: str) -> None:
    for name, (url, code) in bad_targets(reader_url).items():
        result = cli("connections", "add", name, url)
        assert result.exit_code == 1, (name, result.output)
        assert "Error [" in result.stderr
        if code:
            assert f"Error [{code}]" in result.stderr, (name, result.stderr)
        assert "not-the-password" not in result.output
        assert result.stdout == ""
    assert listed(cli) == []

    good = cli("connections", "add", "maria", reader_url, "-f", "json")
    assert good.exit_code == 0, good.output
    assert "tested ok (" in good.stderr
    status = orjson.loads(good.stdout)["status"]
    assert status["ok"] is True
    assert status["server_version"]
    assert status["latency_ms"] > 0
    assert listed(cli) == ["maria"]


def test_cli_no_test_saves_untested(cli: Invoke, reader_url: str) -> None:
    url, _ = bad_targets(reader_url)["wrong-password"]
    result = cli("connections", "add", "later", url, "--no-test", "-f", "json")
    assert result.exit_code == 0, result.output
    assert "not tested" in result.stderr
    assert orjson.loads(result.stdout)["status"]["ok"] is None
    assert listed(cli) == ["later"]
    tested = cli("connections", "test", "later")
    assert "Error [CONNECTION_AUTH_FAILED]" in tested.stderr


def test_cli_add_of_a_missing_file_is_refused(cli: Invoke, settings: Settings) -> None:
    assert settings.file_roots
    missing = Path(settings.file_roots[0]) / "missing.db"
    result = cli("connections", "add", "gone", f"sqlite:///{missing}")
    assert "Error [FILE_NOT_FOUND]" in result.stderr, result.output
    assert listed(cli) == []


def test_api_create_tests_by_default(workbench: Workbench, reader_url: str) -> None:
    with api_client(workbench) as client:
        for name, (url, code) in bad_targets(reader_url).items():
            answer = client.post("/api/v1/connections", json={"name": name, "url": url})
            assert answer.status_code >= 400, (name, answer.text)
            if code:
                assert answer.json()["error"]["code"] == code, (name, answer.text)
        assert client.get("/api/v1/connections").json()["total"] == 0

        url, _ = bad_targets(reader_url)["closed-port"]
        kept = client.post("/api/v1/connections", json={"name": "x", "url": url, "test": False})
        assert kept.status_code == 201, kept.text
        assert kept.json()["status"]["ok"] is None

        made = client.post("/api/v1/connections", json={"name": "maria", "url": reader_url})
        assert made.status_code == 201, made.text
        assert made.json()["status"]["ok"] is True
        assert made.json()["status"]["server_version"]
        names = [c["name"] for c in client.get("/api/v1/connections").json()["items"]]
        assert names == ["maria", "x"]


def test_service_default_is_untested_for_scripts(workbench: Workbench) -> None:
    """The Workbench's own ``create`` (tests, the demo) keeps saving without a test."""
    url = f"postgresql://u@127.0.0.1:{closed_port()}/d"
    info = workbench.connections.create("later", url=url)
    assert info.status.ok is None
