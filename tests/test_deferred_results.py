"""A small result of POST /api/v1/runs is written to its files after the answer: the
request does not wait for them, readers of the same process do, and a result that cannot
be written then is marked missing (its run stays succeeded)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from querydeck.app.workbench import Workbench
from querydeck.runs.results.store import ResultWriter
from tests.apiauth import api_client
from tests.test_result_store import tiny_filesystem

SMALL = "SELECT GenreId, Name FROM Genre WHERE GenreId <= 5 ORDER BY GenreId"


@pytest.fixture
def client(workbench: Workbench, demo_files: Path) -> Iterator[TestClient]:
    shutil.copytree(demo_files, workbench.settings.data_dir / "demo")
    workbench.admin.create_demo()
    with api_client(workbench) as test_client:
        yield test_client


def test_the_answer_does_not_wait_for_a_small_results_files(
    client: TestClient, workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    writing = threading.Event()
    commit = ResultWriter.commit

    def held_commit(writer: ResultWriter) -> None:
        writing.set()
        assert gate.wait(30), "the test never let the files be written"
        commit(writer)

    monkeypatch.setattr(ResultWriter, "commit", held_commit)
    response = client.post("/api/v1/runs", json={"connection": "chinook", "sql": SMALL})
    # answered while the files are still held back
    assert response.status_code == 200, response.text
    body = response.json()
    run_id = body["run"]["id"]
    assert body["run"]["result_state"] == "stored"
    assert [row[1] for row in body["page"]["rows"]] == [
        "Rock",
        "Jazz",
        "Metal",
        "Alternative & Punk",
        "Rock And Roll",
    ]
    assert writing.wait(30)
    store = workbench.results
    assert not store.path(run_id).exists()

    # a reader of this process waits for the files
    read: dict[str, Any] = {}
    reader = threading.Thread(target=lambda: read.update(table=store.read(run_id, 0, 10)))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive()
    gate.set()
    reader.join(30)
    assert read["table"].column("Name").to_pylist() == [r[1] for r in body["page"]["rows"]]
    assert store.path(run_id).exists()
    assert store.index_path(run_id).exists()
    assert os.stat(store.path(run_id)).st_mode & 0o777 == 0o600
    # pages and exports read the stored files
    page = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 0, "limit": 500}).json()
    assert page == body["page"]
    csv = client.get(f"/api/v1/runs/{run_id}/export", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.text.splitlines()[1:] == [f"{r[0]},{r[1]}" for r in body["page"]["rows"]]


def test_a_big_result_is_stored_before_the_answer(client: TestClient, workbench: Workbench) -> None:
    """A result past what is held in memory is on disk when the run is answered (its
    pages may be read while it streams)."""
    body = client.post(
        "/api/v1/runs",
        json={"connection": "demo", "sql": "SELECT * FROM lineitem", "page_size": 3},
    ).json()
    run_id = body["run"]["id"]
    assert body["run"]["status"] == "succeeded"
    assert not workbench.results._pending  # nothing was left to write
    assert workbench.results.path(run_id).exists()


def test_a_small_result_that_cannot_be_written_is_marked_missing(
    client: TestClient, workbench: Workbench
) -> None:
    results = workbench.settings.data_dir / "results"
    with tiny_filesystem(results, "256k"):
        with open(results / "filler", "wb") as filler:  # the disk is full
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        response = client.post("/api/v1/runs", json={"connection": "chinook", "sql": SMALL})
        assert response.status_code == 200, response.text
        body = response.json()
        run_id = body["run"]["id"]
        assert len(body["page"]["rows"]) == 5  # answered from memory
        assert not workbench.results.exists(run_id)  # waits for the late write
        run = workbench.history.get(run_id)
        assert (run.status.value, run.result_state) == ("succeeded", "missing")
        gone = client.get(f"/api/v1/runs/{run_id}/rows")
        assert (gone.status_code, gone.json()["error"]["code"]) == (410, "RESULT_MISSING")
        assert [p.name for p in results.iterdir() if p.name != ".swept"] == ["filler"]
        (results / "filler").unlink()


def test_another_process_waits_for_files_written_just_after_the_answer(
    client: TestClient, workbench: Workbench
) -> None:
    """A server sharing this data directory does not know of this process's pending
    writes: a result whose run ended a moment ago is read again until its files are
    there, and is not marked missing for good."""
    run_id = client.post("/api/v1/runs", json={"connection": "chinook", "sql": SMALL}).json()[
        "run"
    ]["id"]
    store = workbench.results
    assert store.read(run_id, 0, 10).num_rows == 5  # written (this process waited)
    # as another process sees it: the files not written yet, then written
    aside = {p: p.with_suffix(p.suffix + ".aside") for p in (store.path(run_id),)}
    aside[store.index_path(run_id)] = store.index_path(run_id).with_suffix(".aside-index")
    for path, moved in aside.items():
        path.rename(moved)
    timer = threading.Timer(0.3, lambda: [m.rename(p) for p, m in aside.items()])
    timer.start()
    try:
        page = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 0, "limit": 10})
    finally:
        timer.join()
    assert page.status_code == 200, page.text
    assert len(page.json()["rows"]) == 5
    run = client.get(f"/api/v1/runs/{run_id}").json()["run"]
    assert run["result_state"] == "stored"


def test_files_gone_after_the_settling_time_are_missing(
    client: TestClient, workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    from querydeck.runs import history

    monkeypatch.setattr(history, "SETTLE_S", 0.0)
    run_id = client.post("/api/v1/runs", json={"connection": "chinook", "sql": SMALL}).json()[
        "run"
    ]["id"]
    store = workbench.results
    store.read(run_id, 0, 10)
    store.path(run_id).unlink()
    page = client.get(f"/api/v1/runs/{run_id}/rows", params={"offset": 0, "limit": 10})
    assert page.status_code == 410
    assert page.json()["error"]["code"] == "RESULT_MISSING"
