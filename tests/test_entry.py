"""The ``querydeck`` command chooses pyarrow's memory pool before pyarrow loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "from querydeck.entry import prepare_process; prepare_process(); "
    "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
)


def backend(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


@pytest.mark.skipif(sys.platform != "linux", reason="jemalloc is chosen on Linux only")
def test_the_command_runs_on_jemalloc() -> None:
    assert backend({}) == "jemalloc"


def test_a_pool_named_in_the_environment_is_kept() -> None:
    assert backend({"ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"
