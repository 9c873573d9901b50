"""The result store on real files: pages by index, reads while writing, damage, a full disk,
retention."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.base import ResultStream
from querydeck.errors import QueryDeckError, ResultStoreFull
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.runs.results.store import ResultStore
from querydeck.runs.results.writebehind import WriteBehind
from querydeck.settings import load_settings

SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("s", pa.string()),
        ("f", pa.float64()),
        ("k", pa.dictionary(pa.int8(), pa.string())),
    ]
)


def batch(start: int, rows: int) -> pa.RecordBatch:
    keys = pa.DictionaryArray.from_arrays(
        pa.array([i % 3 for i in range(rows)], pa.int8()), pa.array(["a", "b", "c"])
    )
    return pa.record_batch(
        [
            pa.array(range(start, start + rows), pa.int64()),
            pa.array([f"row {i}" if i % 7 else None for i in range(start, start + rows)]),
            pa.array([i / 2 for i in range(start, start + rows)]),
            keys,
        ],
        schema=SCHEMA,
    )


def stored(store: ResultStore, run_id: str, sizes: list[int]) -> int:
    writer = store.writer(run_id, SCHEMA)
    start = 0
    for size in sizes:
        writer.write(batch(start, size))
        start += size
    writer.commit()
    return start


class ListStream(ResultStream):
    """A real stream of batches made here (what a driver hands the writer)."""

    def __init__(self, batches: list[pa.RecordBatch]) -> None:
        self.schema = SCHEMA
        self._batches = batches
        self.closed = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        yield from self._batches

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(("max_rows", "truncated"), [(10**9, False), (12_345, True)])
def test_drain_writes_every_batch_in_order_behind_the_stream(
    tmp_path: Path, max_rows: int, truncated: bool
) -> None:
    store = ResultStore(tmp_path)
    writer = store.writer("d", SCHEMA)
    stream = ListStream([batch(start, 1000) for start in range(0, 50_000, 1000)])
    told: list[int] = []
    assert writer.drain(stream, max_rows, lambda: told.append(writer.rows)) is truncated
    writer.commit()
    assert told == [1000]  # once, after the first batch is on disk
    assert stream.closed == 1
    rows = min(max_rows, 50_000)
    assert writer.rows == store.open("d").rows == rows
    assert store.read("d", 0, rows).column("i").to_pylist() == list(range(rows))


def test_a_failing_write_behind_fails_the_drain(tmp_path: Path) -> None:
    """The writer thread's error reaches the caller, which never blocks on the queue."""
    written: list[int] = []

    def write(item: pa.RecordBatch) -> None:
        if len(written) == 3:
            raise ResultStoreFull("full")
        written.append(item.num_rows)

    behind = WriteBehind(write)

    def hand_over() -> None:
        for start in range(0, 100_000, 1000):
            behind.put(batch(start, 1000))
        behind.close()

    with pytest.raises(ResultStoreFull):
        hand_over()
    behind.close()  # closed already: nothing more to raise
    assert written == [1000, 1000, 1000]


def test_pages_come_from_the_index(tmp_path: Path) -> None:
    store = ResultStore(tmp_path).prepare()
    sizes = [1000, 1, 4999, 0, 3000, 1000] * 5
    total = stored(store, "r", sizes)
    snapshot = store.open("r")
    assert snapshot.rows == total == 50_000
    assert len(snapshot.records) == 25  # empty batches are not stored
    assert snapshot.schema.field("k").type == pa.string()  # dictionaries are decoded
    for offset, limit in [
        (0, 10),
        (999, 3),
        (1000, 1),
        (1001, 5000),
        (total - 2, 10),
        (7777, 10_000),
    ]:
        page = store.read("r", offset, limit)
        expected = list(range(offset, min(offset + limit, total)))
        assert page.column("i").to_pylist() == expected
        assert page.column("s").to_pylist() == [f"row {i}" if i % 7 else None for i in expected]
    assert store.read("r", total, 10).num_rows == 0
    assert store.read("r", 10**12, 10).num_rows == 0
    # the file is a plain Arrow IPC stream any Arrow reader opens
    with pa.ipc.open_stream(store.path("r").read_bytes()) as reader:
        assert reader.read_all().num_rows == total


def test_dictionary_values_survive(tmp_path: Path) -> None:
    store = ResultStore(tmp_path).prepare()
    stored(store, "d", [5])
    assert store.read("d", 0, 5).column("k").to_pylist() == ["a", "b", "c", "a", "b"]


def test_readers_never_see_a_torn_batch_while_the_run_writes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path).prepare()
    writer = store.writer("w", SCHEMA)
    writer.flush()  # as the runner does before it lets readers look
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def write() -> None:
        start = 0
        for size in [700, 1300, 50, 2000] * 15:
            writer.write(batch(start, size))
            start += size
            time.sleep(0.001)
        writer.commit()
        done.set()

    def read() -> None:
        while not done.is_set():
            snapshot = store.open("w")
            rows = store.read_from("w", snapshot, 0, 10_000_000).column("i").to_pylist()
            if rows != list(range(snapshot.rows)):
                problems.append(f"not a clean prefix at {snapshot.rows}")
            seen.append(snapshot.rows)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not problems
    assert seen  # the reader read while the run wrote
    assert seen == sorted(seen)  # the total only grows
    assert store.open("w").rows == 4050 * 15


def test_a_half_written_index_record_is_ignored(tmp_path: Path) -> None:
    store = ResultStore(tmp_path).prepare()
    total = stored(store, "h", [10, 20])
    with store.index_path("h").open("ab") as handle:
        handle.write(b"\x01\x02\x03")  # a record cut short, as a crash mid-append leaves it
    assert store.open("h").rows == total
    assert store.rows_written("h") == total
    assert store.rows_written("nothing") == 0


@pytest.mark.parametrize("where", ["batch", "schema", "index"])
def test_damage_is_detected(tmp_path: Path, where: str) -> None:
    store = ResultStore(tmp_path).prepare()
    stored(store, "c", [100, 100])
    if where == "index":
        store.index_path("c").write_bytes(b"\x00" * 40)
    else:
        data = bytearray(store.path("c").read_bytes())
        position = 40 if where == "schema" else len(data) - 200
        data[position] ^= 0xFF
        store.path("c").write_bytes(bytes(data))
    with pytest.raises(QueryDeckError) as info:
        store.read("c", 150, 10)
    assert (info.value.code, info.value.http_status) == ("RESULT_CORRUPT", 409)


def test_missing_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path).prepare()
    stored(store, "m", [10])
    snapshot = store.open("m")
    store.path("m").unlink()
    with pytest.raises(QueryDeckError) as info:
        store.read_from("m", snapshot, 0, 5)
    assert info.value.http_status == 410
    with pytest.raises(QueryDeckError):
        store.open("m")


# --- a full disk ---------------------------------------------------------------------------


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "512k") -> Iterator[Path]:
    """A small tmpfs mounted on ``path`` for the block; always unmounted after. Skips where
    mounting is not allowed (not root, no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        result = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def test_writer_reports_a_full_disk(tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "small") as small:
        store = ResultStore(small).prepare()
        writer = store.writer("big", SCHEMA)

        def fill() -> None:
            for start in range(0, 10_000_000, 5000):
                writer.write(batch(start, 5000))

        with pytest.raises(ResultStoreFull):
            fill()
        writer.discard()
        assert list(small.iterdir()) == []


def demo_workbench(data_dir: Path, demo_files: Path, **settings: object) -> Workbench:
    shutil.copytree(demo_files, data_dir / "demo", dirs_exist_ok=True)
    wb = Workbench(load_settings(data_dir=data_dir, **settings)).open()
    wb.admin.create_demo()
    return wb


def test_a_run_that_fills_the_disk_fails_cleanly(data_dir: Path, demo_files: Path) -> None:
    with tiny_filesystem(data_dir / "results") as results:
        wb = demo_workbench(data_dir, demo_files)
        try:
            run = wb.runs.run(RunRequest(connection="demo", sql="SELECT * FROM lineitem"))
            assert run.status is RunStatus.failed
            assert (run.error_code, run.error_status) == ("RESULT_STORE_FULL", 507)
            assert run.result_state is None
            assert run.columns is None
            # the partial result is gone (".swept" records retention's last sweep)
            assert [p.name for p in results.iterdir()] in ([], [".swept"])
            small = wb.runs.run(RunRequest(connection="demo", sql="SELECT 42 AS n"))
            assert wb.runs.rows(small.id).rows == [[42]]  # the store still works
        finally:
            wb.close()


# --- retention -----------------------------------------------------------------------------


def test_retention_by_age_then_rerun(data_dir: Path, demo_files: Path) -> None:
    wb = demo_workbench(data_dir, demo_files, result_max_age_hours=1)
    try:
        old = wb.runs.run(RunRequest(connection="demo", sql="SELECT 1 AS n"))
        assert wb.retention.sweep() == []
        assert wb.retention.sweep(now=time.time() + 3601) == [old.id]
        with pytest.raises(QueryDeckError) as info:
            wb.runs.rows(old.id)
        assert (info.value.code, info.value.http_status) == ("RESULT_EXPIRED", 410)
        assert wb.runs.get(old.id).result_state == "expired"
        again = wb.runs.wait(wb.runs.rerun(old.id), None)
        assert wb.runs.rows(again.id).rows == [[1]]
    finally:
        wb.close()


def test_retention_by_total_size_keeps_the_newest(data_dir: Path, demo_files: Path) -> None:
    wb = demo_workbench(data_dir, demo_files, result_store_max_bytes=2_500_000)
    try:
        sql = "SELECT * FROM lineitem LIMIT 10000"  # about 1.2 MB stored
        runs = []
        for _ in range(4):
            runs.append(wb.runs.run(RunRequest(connection="demo", sql=sql)))
            wb.retention.sweep()
        assert wb.retention.maybe_sweep() == []  # just swept: not again so soon
        wb.retention.min_interval_s = 0
        assert wb.retention.maybe_sweep() == []  # nothing left to evict
        states = [wb.runs.get(r.id).result_state for r in runs]
        assert states[-1] == "stored"
        assert "expired" in states
        kept = sum(wb.results.size(r.id) for r in runs)
        assert kept <= 2_500_000
        assert states == sorted(states, key=lambda s: s != "expired")  # oldest go first
    finally:
        wb.close()


def test_retention_by_number_of_results_keeps_the_newest(data_dir: Path, demo_files: Path) -> None:
    wb = demo_workbench(data_dir, demo_files, result_store_max_results=2)
    try:
        runs = [
            wb.runs.run(RunRequest(connection="demo", sql=f"SELECT {n} AS n")) for n in range(4)
        ]
        wb.retention.sweep()
        states = [wb.runs.get(r.id).result_state for r in runs]
        assert states == ["expired", "expired", "stored", "stored"]
        assert wb.runs.rows(runs[-1].id).rows == [[3]]
    finally:
        wb.close()


def test_retention_keeps_the_file_systems_free_share(data_dir: Path, demo_files: Path) -> None:
    """On a small file system, a result that leaves less than the free share is followed by
    the eviction of the oldest results, as many as bring the free space back."""
    with tiny_filesystem(data_dir / "results", size="16m"):
        wb = demo_workbench(data_dir, demo_files, result_store_min_free_percent=1)
        try:
            sql = "SELECT * FROM lineitem LIMIT 10000"  # about 1.2 MB stored
            runs = [wb.runs.run(RunRequest(connection="demo", sql=sql)) for _ in range(3)]
            assert wb.retention.sweep() == []
            # a floor between the free space now and what one more result leaves of it
            usage, size = shutil.disk_usage(data_dir / "results"), wb.results.size(runs[0].id)
            wb.retention.min_free_percent = (usage.free - size / 2) / usage.total * 100
            assert wb.retention.sweep() == []
            runs.append(wb.runs.run(RunRequest(connection="demo", sql=sql)))
            assert wb.retention.sweep() == [runs[0].id]
            states = [wb.runs.get(r.id).result_state for r in runs]
            assert states == ["expired", "stored", "stored", "stored"]
        finally:
            wb.close()


def test_the_store_is_bounded_by_default() -> None:
    settings = load_settings()
    assert settings.result_max_age_hours == 168
    assert settings.result_store_max_bytes == 10 * 1024**3
    assert settings.result_store_max_results == 20_000
    assert settings.result_store_min_free_percent == 10


def test_runs_ending_start_sweeps_in_the_background(data_dir: Path, demo_files: Path) -> None:
    wb = demo_workbench(data_dir, demo_files, result_store_max_bytes=2_500_000)
    try:
        wb.retention.min_interval_s = 0
        sql = "SELECT * FROM lineitem LIMIT 10000"  # about 1.2 MB stored
        runs = [wb.runs.run(RunRequest(connection="demo", sql=sql)) for _ in range(4)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sum(wb.results.size(r.id) for r in runs) <= 2_500_000:
                break
            time.sleep(0.05)
        assert sum(wb.results.size(r.id) for r in runs) <= 2_500_000
        assert wb.runs.get(runs[-1].id).result_state == "stored"
    finally:
        wb.close()


def test_failing_housekeeping_never_fails_a_run(data_dir: Path, demo_files: Path) -> None:
    wb = demo_workbench(data_dir, demo_files)
    try:

        def broken() -> None:
            raise OSError("disk went away")

        wb.run_manager.on_finished = broken
        run = wb.runs.run(RunRequest(connection="demo", sql="SELECT 3 AS n"))
        assert run.status is RunStatus.succeeded
        assert wb.runs.rows(run.id).rows == [[3]]
    finally:
        wb.close()


# --- the retention inventory ---------------------------------------------------------------


def _stored(store: ResultStore, run_id: str, batches: int) -> None:
    writer = store.writer(run_id, batch(0, 1).schema)
    for i in range(batches):
        writer.write(batch(i * 100, 100))
    writer.commit()


def test_inventory_counts_the_bytes_on_disk_and_follows_writes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results").prepare()
    assert store.stored_bytes() == 0  # read from the (empty) directory once
    for n, run_id in enumerate(["a", "b", "c"]):
        _stored(store, run_id, n + 1)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "results").iterdir())
    assert store.stored_bytes() == on_disk
    gone = store.writer("d", batch(0, 1).schema)
    gone.write(batch(0, 10))
    gone.discard()  # a failed run's partial result never counts
    assert store.stored_bytes() == on_disk
    keep_b = store.evictable(now=time.time(), max_age_s=3600, max_bytes=0, keep={"b"})
    assert keep_b == ["a", "c"]  # oldest first, runs in flight skipped
    a_size = store.size("a")
    assert store.evictable(
        now=time.time(), max_age_s=3600, max_bytes=on_disk - a_size, keep=()
    ) == ["a"]  # stops at the first result that may stay
    store.delete("a")
    assert store.stored_bytes() == on_disk - a_size
    later = time.time() + 7200
    assert store.evictable(now=later, max_age_s=3600, max_bytes=on_disk, keep=()) == ["b", "c"]


def test_inventory_sees_other_processes_results_at_its_next_reading(tmp_path: Path) -> None:
    mine = ResultStore(tmp_path / "results", rescan_s=3600).prepare()
    _stored(mine, "mine", 1)
    assert mine.stored_bytes() == mine.size("mine")
    other = ResultStore(tmp_path / "results").prepare()  # another worker on the same directory
    _stored(other, "theirs", 2)
    assert mine.stored_bytes() == mine.size("mine")  # not read again yet
    mine.rescan_s = 0
    assert mine.stored_bytes() == mine.size("mine") + mine.size("theirs")


def test_reading_the_directory_holds_up_no_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retention sweep reads the whole directory (seconds for a big store): results
    stored, kept and deleted meanwhile neither wait for it nor get lost from the inventory."""
    store = ResultStore(tmp_path / "results").prepare()
    _stored(store, "old", 1)
    _stored(store, "doomed", 1)
    reading, release = threading.Event(), threading.Event()
    listing = store.stored_ids

    def slow_listing() -> list[tuple[str, float, int]]:
        found = listing()
        reading.set()
        assert release.wait(10)
        return found

    monkeypatch.setattr(store, "stored_ids", slow_listing)
    sweep = threading.Thread(target=store.stored_bytes)
    sweep.start()
    try:
        assert reading.wait(10)
        started = time.monotonic()
        _stored(store, "new", 2)  # a run ends while the directory is read
        store.keep("new", pa.table({"n": [1]}))
        assert store.take("new") is not None
        store.delete("doomed")
        assert time.monotonic() - started < 5  # nothing waited for the reading
    finally:
        release.set()
        sweep.join(10)
    assert store.stored_bytes() == store.size("old") + store.size("new")
    assert store.evictable(now=time.time() + 7200, max_age_s=3600, max_bytes=0, keep=()) == [
        "old",
        "new",
    ]


def test_a_small_result_held_until_commit_is_the_same_file(tmp_path: Path) -> None:
    """The first 64 KiB are held and written with the commit (one write per file): the
    files are byte for byte those written batch by batch, and nothing is on disk before."""
    store = ResultStore(tmp_path).prepare()
    held = store.writer("held", SCHEMA)
    direct = store.writer("direct", SCHEMA)
    direct.flush()
    for start, size in ((0, 3), (3, 5), (8, 2)):
        held.write(batch(start, size))
        direct.write(batch(start, size))
    assert not store.path("held").exists()
    assert not store.index_path("held").exists()
    held.commit()
    direct.commit()
    for path in (store.path, store.index_path):
        assert path("held").read_bytes() == path("direct").read_bytes()
    assert store.read("held", 0, 100).column("i").to_pylist() == list(range(10))
    assert held.kept() is not None
    assert held.kept().num_rows == 10  # type: ignore[union-attr]


def test_a_process_starting_just_after_a_sweep_skips_its_own(
    data_dir: Path, demo_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up sweep lists the whole result directory: a Workbench opened less than
    a minute after any sweep skips it (every CLI command opens one), yet a Workbench opened
    later sweeps. The time of the newest sweep is a file's, not a row of the app database."""
    from querydeck.runs.results import retention as retention_module

    wb = demo_workbench(data_dir, demo_files, result_max_age_hours=1)
    try:
        old = wb.runs.run(RunRequest(connection="demo", sql="SELECT 1 AS n"))
        mark = wb.results.directory / retention_module.SWEPT_MARK
        files = (wb.results.path(old.id), wb.results.index_path(old.id))
    finally:
        wb.close()
    assert abs(time.time() - mark.stat().st_mtime) < 60
    scans: list[int] = []
    listing = ResultStore.stored_ids

    def counted(self: ResultStore) -> list[tuple[str, float, int]]:
        scans.append(1)
        return listing(self)

    monkeypatch.setattr(ResultStore, "stored_ids", counted)
    with Workbench(load_settings(data_dir=data_dir, result_max_age_hours=1)) as wb:
        assert scans == []  # the first Workbench swept a moment ago
        assert wb.retention.maybe_sweep() == []  # and this one counts as having swept
    os.utime(mark, (0, 0))  # the last sweep was long ago
    two_hours_ago = time.time() - 7200
    for path in files:  # and the result is past its age
        os.utime(path, (two_hours_ago, two_hours_ago))
    with Workbench(load_settings(data_dir=data_dir, result_max_age_hours=1)) as wb:
        assert scans == [1]
        assert wb.runs.get(old.id).result_state == "expired"


def test_many_small_runs_keep_the_file_count_bounded(data_dir: Path, demo_files: Path) -> None:
    """Issue 16, item 13: small runs ending faster than the sweep interval piled up files
    (8 clients on SQLite: 40,821 files in 4 minutes). A store over its bound by a batch
    sweeps at once, whatever the interval: files stay within 2 per kept result, plus the
    batch and the runs that end while a sweep runs in the background (on a loaded machine,
    a few; before, every run's pair stayed: 600 files)."""
    wb = demo_workbench(data_dir, demo_files, result_store_max_results=20)
    try:
        assert wb.retention.min_interval_s >= 10  # no sweep by the clock in this test
        results = wb.settings.results_dir
        bound = 2 * (20 + wb.retention.overshoot + 20)
        most = 0
        for n in range(300):
            run = wb.runs.run(RunRequest(connection="chinook", sql=f"SELECT {n} AS n"))
            assert run.status is RunStatus.succeeded
            most = max(most, sum(1 for p in results.iterdir() if p.suffix in (".arrow", ".idx")))
        assert most <= bound, f"{most} result files > {bound}"
        wb.retention.sweep()  # after the background sweep still running, if one is
        kept = [p for p in results.iterdir() if p.suffix == ".arrow"]
        assert len(kept) <= 20 + wb.retention.overshoot
        assert wb.runs.rows(run.id).rows == [[299]]  # the newest stays
    finally:
        wb.close()
