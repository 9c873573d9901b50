"""The CLI's credentials file under concurrent writers: ``querydeck login`` in two terminals
at once must keep both entries (each write reads the file, changes it and renames a new
one over it)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from querydeck.cli.credentials import Credential, CredentialStore

WRITERS = 6
ROUNDS = 15


def _log_in_repeatedly(path: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    store = CredentialStore(Path(path))
    start.wait()
    for round_ in range(ROUNDS):
        store.put(f"https://server-{writer}-{round_}.example", Credential(token=f"t{writer}"))


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "querydeck" / "credentials.json"
    context = multiprocessing.get_context("fork")
    start = context.Event()
    writers = [
        context.Process(target=_log_in_repeatedly, args=(str(path), n, start))
        for n in range(WRITERS)
    ]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    kept = CredentialStore(path).servers()
    assert len(kept) == WRITERS * ROUNDS
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".credentials.json.lock",
        "credentials.json",
    ]


def test_remove_and_put_interleave_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    store = CredentialStore(path)
    for n in range(5):
        store.put(f"https://s{n}.example", Credential(token=f"t{n}"))
    assert store.remove("https://s2.example")
    assert not store.remove("https://s2.example")
    assert sorted(store.servers()) == [f"https://s{n}.example" for n in (0, 1, 3, 4)]
