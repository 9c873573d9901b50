"""``querydeck ask`` and ``querydeck eval`` with ``--server``: a real querydeck server
(uvicorn in a thread on 127.0.0.1) as a logged-in analyst, the model the tests' scripted
server."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from querydeck import logs
from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Action, Role
from querydeck.cli import app as cli_app
from tests.assistant_fixtures import QUESTIONS, add_endpoint, demo_workbench, gold
from tests.llmserver import LLMServer, llm_server, oracle

Invoke = Callable[..., Result]
PASSWORD = "pw-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def model() -> Iterator[LLMServer]:
    with llm_server() as srv:
        srv.use(oracle(gold("chinook"), "sqlite"))
        yield srv


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, demo_files: Path, model: LLMServer
) -> Iterator[tuple[Workbench, str]]:
    logs.configure("WARNING")  # the server's request lines would land in the CLI's stdout
    wb = demo_workbench(tmp_path_factory.mktemp("remote") / "data", demo_files)
    add_endpoint(wb, model.url)
    wb.accounts.create_user(LOCAL, "bob", role=Role.analyst, password=PASSWORD)
    wb.grants.grant("chinook", "user", "bob", [Action.browse, Action.query])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(wb), log_config=None, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert uv.started, "the test server did not start"
    try:
        yield wb, f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        wb.close()


@pytest.fixture
def remote(
    server: tuple[Workbench, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    for key in list(os.environ):
        if key.startswith("QUERYDECK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUERYDECK_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(tmp_path / "unused"))
    runner = CliRunner()
    _, url = server
    login = runner.invoke(
        cli_app, ["login", url, "--username", "bob", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert login.exit_code == 0, login.output

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, ["--server", url, *args])

    return invoke


def test_ask_and_eval_on_a_server(
    remote: Invoke, server: tuple[Workbench, str], model: LLMServer
) -> None:
    wb, _ = server
    model.use(oracle(gold("chinook"), "sqlite"))
    answer = remote("ask", "chinook", "How many albums are there?", "--execute")
    assert answer.exit_code == 0, answer.output + answer.stderr
    assert answer.stdout.strip() == "SELECT COUNT(*) FROM Album"
    assert "succeeded, 1 rows" in answer.stderr
    log = wb.assistant.endpoints.inference_log(actor=LOCAL, user="bob")
    assert {e.purpose for e in log.items} >= {"ask.tables", "ask.sql"}
    report = remote(
        "eval", "chinook", "--questions", str(QUESTIONS / "chinook.jsonl"), "--format", "json"
    )
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["execution_accuracy"] == 1.0
    hidden = remote("ask", "demo", "How many orders are there?")
    assert hidden.exit_code == 1
    assert "CONNECTION_NOT_FOUND" in hidden.stderr
