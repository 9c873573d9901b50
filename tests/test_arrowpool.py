"""Arrow's memory pool: jemalloc, else the system allocator; the environment's choice wins;
``querydeck serve`` makes it the default."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from querydeck.runs.results import arrowpool


@pytest.fixture(autouse=True)
def _fresh_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    default = pa.default_memory_pool()
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    arrowpool.memory_pool.cache_clear()
    yield
    arrowpool.memory_pool.cache_clear()
    pa.set_memory_pool(default)


def test_jemalloc_where_pyarrow_has_it() -> None:
    assert arrowpool.memory_pool().backend_name in ("jemalloc", "system")  # as pyarrow was built


def test_the_system_allocator_without_jemalloc(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> pa.MemoryPool:
        raise pa.ArrowNotImplementedError("built without jemalloc")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    assert arrowpool.memory_pool().backend_name == "system"


def test_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    assert arrowpool.memory_pool().backend_name == pa.default_memory_pool().backend_name


def test_make_default() -> None:
    pool = arrowpool.make_default()
    assert pa.default_memory_pool().backend_name == pool.backend_name
    assert pa.array([1, 2, 3]).sum().as_py() == 6
