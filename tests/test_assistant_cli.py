"""The assistant's commands: ``querydeck endpoints``, ``ask``, ``eval`` and ``kb``, run
in-process against the tests' scripted model server."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from querydeck.cli import app
from tests.assistant_fixtures import QUESTIONS, gold
from tests.llmserver import LLMServer, llm_server, oracle

Invoke = Callable[..., Result]
KEY = "sk-cli-SENTINEL-abcdef0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server() as srv:
        srv.use(oracle(gold("chinook"), "sqlite"))
        yield srv


@pytest.fixture
def cli(
    tmp_path: Path, demo_files: Path, monkeypatch: pytest.MonkeyPatch, server: LLMServer
) -> Invoke:
    for key in list(os.environ):
        if key.startswith("QUERYDECK_"):
            monkeypatch.delenv(key)
    path = tmp_path / "data"
    shutil.copytree(demo_files, path / "demo")
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(path))
    monkeypatch.setenv("QUERYDECK_ASSISTANT_ALLOW_LOOPBACK", "true")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args), input=stdin)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    invoke("demo")
    return invoke


def test_endpoints_commands(
    cli: Invoke, server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUERYDECK_MODEL_API_KEY", KEY)
    cli("endpoints", "add", "local", "--url", server.url, "--model", "m", "--api-key-from-env")
    listed = cli("endpoints", "list", "--format", "json")
    assert [e["name"] for e in json.loads(listed.stdout)["items"]] == ["local"]
    shown = cli("endpoints", "show", "local")
    assert "set" in shown.stdout
    assert KEY not in shown.stdout + shown.stderr
    probed = cli("endpoints", "test", "local")
    assert "chat" in probed.stdout
    said = cli("endpoints", "invoke", "local", "Question: How many albums are there?")
    assert "I do not know" in said.stdout or "SELECT" in said.stdout
    cli("endpoints", "edit", "local", "--remove-api-key", "--timeout", "5")
    assert (
        json.loads(cli("endpoints", "show", "local", "-f", "json").stdout)["has_api_key"] is False
    )
    assert "local" in cli("endpoints", "list").stdout
    cli("endpoints", "add", "vectors", "--url", server.url, "--model", "e", "--kind", "embeddings")
    vectors = json.loads(cli("endpoints", "invoke", "vectors", "some text").stdout)
    assert len(vectors["embeddings"][0]) == 32
    assert "dimension 32" in cli("endpoints", "test", "vectors").stdout
    no_key = cli("endpoints", "edit", "local", "--api-key-from-env", ok=False)
    assert no_key.exit_code == 0 or "QUERYDECK_MODEL_API_KEY" in no_key.stderr
    assert "probe" in cli("endpoints", "log").stdout
    log = cli("endpoints", "log", "--format", "json")
    purposes = {e["purpose"] for e in json.loads(log.stdout)["items"]}
    assert {"probe", "invoke"} <= purposes
    missing = cli("endpoints", "show", "nope", ok=False)
    assert missing.exit_code == 1
    assert "MODEL_ENDPOINT_NOT_FOUND" in missing.stderr
    cli("endpoints", "remove", "local")


def test_ask_and_eval(cli: Invoke, server: LLMServer) -> None:
    server.use(oracle(gold("chinook"), "sqlite"))
    none = cli("ask", "chinook", "How many albums are there?", ok=False)
    assert "LLM_NOT_CONFIGURED" in none.stderr
    cli("endpoints", "add", "local", "--url", server.url, "--model", "m")
    answer = cli("ask", "chinook", "How many albums are there?", "--execute")
    assert answer.stdout.strip() == "SELECT COUNT(*) FROM Album"
    assert "tables: main.Album" in answer.stderr
    assert "succeeded, 1 rows" in answer.stderr
    as_json = json.loads(
        cli("ask", "chinook", "How many artists are in the catalog?", "-f", "json").stdout
    )
    assert as_json["sql"] == "SELECT COUNT(*) FROM Artist"
    report = json.loads(
        cli(
            "eval", "chinook", "--questions", str(QUESTIONS / "chinook.jsonl"), "--format", "json"
        ).stdout
    )
    assert report["questions"] == len(gold("chinook"))
    assert report["execution_accuracy"] == 1.0
    assert report["recall_at_10"] >= 0.95
    assert {"questions", "execution_accuracy", "recall_at_5", "recall_at_10", "results"} <= set(
        report
    )
    retrieval = json.loads(
        cli(
            "eval",
            "demo",
            "--questions",
            str(QUESTIONS / "tpch.jsonl"),
            "--retrieval-only",
            "-f",
            "json",
        ).stdout
    )
    assert retrieval["execution_accuracy"] is None
    assert retrieval["recall_at_10"] >= 0.95
    table = cli("eval", "chinook", "--questions", str(QUESTIONS / "chinook.jsonl"), "--baseline")
    assert "execution accuracy" in table.stdout
    assert "100.0%" in table.stdout
    bad = cli("eval", "chinook", "--baseline", "--retrieval-only", ok=False)
    assert bad.exit_code == 1
    empty = cli("eval", "chinook", ok=False)
    assert "EVAL_NO_QUESTIONS" in empty.stderr


def test_knowledge_base_commands(cli: Invoke, server: LLMServer, tmp_path: Path) -> None:
    server.use(oracle(gold("chinook"), "sqlite"))
    cli("endpoints", "add", "local", "--url", server.url, "--model", "m")
    added = cli("kb", "add", "chinook", "How many albums are there?", "SELECT COUNT(*) FROM Album")
    assert "tables: main.Album" in added.stderr
    listed = json.loads(cli("kb", "examples", "chinook", "-f", "json").stdout)
    example_id = listed["items"][0]["id"]
    cli("kb", "approve", "chinook", example_id[:8])
    approved = json.loads(
        cli("kb", "examples", "chinook", "--status", "approved", "-f", "json").stdout
    )
    assert approved["total"] == 1
    refused = cli("kb", "add", "chinook", "Bad", "SELECT Nope FROM Album", ok=False)
    assert "EXAMPLE_SQL_INVALID" in refused.stderr
    cli("kb", "define", "chinook", "revenue", "UnitPrice times Quantity of invoice lines")
    assert "revenue" in cli("kb", "glossary", "chinook").stdout
    assert json.loads(cli("kb", "glossary", "chinook", "-f", "json").stdout)["total"] == 1
    assert "How many albums" in cli("kb", "examples", "chinook").stdout
    out = tmp_path / "kb.md"
    cli("kb", "export", "chinook", "--output", str(out))
    text = out.read_text()
    assert "## Example: How many albums are there?" in text
    assert "## Glossary: revenue" in text
    cli("kb", "remove", "chinook", example_id)
    cli("kb", "undefine", "chinook", "revenue")
    imported = cli("kb", "import", "chinook", str(out))
    assert "1 added" in imported.stderr
    again = json.loads(cli("kb", "examples", "chinook", "-f", "json").stdout)
    assert again["items"][0]["status"] == "approved"
    report = json.loads(cli("eval", "chinook", "-f", "json").stdout)  # leave-one-out
    assert report["questions"] == 1
    settings = json.loads(cli("kb", "settings", "chinook", "--sampling").stdout)
    assert settings == {"allow_sampling": True, "send_sample_values": False}
    cli("kb", "unapprove", "chinook", again["items"][0]["id"])
