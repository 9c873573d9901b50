"""The result store: one Arrow IPC stream file per run, plus a batch-offset index.

A run's rows are appended batch by batch as they arrive, so memory stays bounded whatever
the result size. ``<id>.arrow`` is a plain Arrow IPC *stream* (the schema message, the
record-batch messages, the end-of-stream marker once complete) that any Arrow tool reads.
``<id>.idx`` is its index: fixed-size records ``(first row, rows, byte offset, byte length,
CRC-32)``, one per batch, appended only *after* the batch's bytes are written. Readers take
the complete records of the index, so they never see a torn batch, and find a page's
batches by binary search — a page at offset 900,000 costs what the first page costs, and
pages can be read while the run is still writing.

The CRC of each batch is checked when it is read back, so a damaged file is reported
(``RESULT_CORRUPT``) instead of answering wrong rows. A full disk while writing raises
``RESULT_STORE_FULL`` and the caller discards the partial files.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from querydeck.drivers.base import ResultStream
from querydeck.errors import ResultCorrupt, ResultExpired, ResultStoreFull
from querydeck.runs.results.writebehind import WriteBehind

if TYPE_CHECKING:
    import pyarrow as pa

#: Index record: first row, rows, byte offset, byte length, CRC-32 (+ 4 pad bytes).
_RECORD = struct.Struct("<qqqqI4x")
#: The index's first record: magic, schema length, 0, 0, CRC-32 of the schema message.
_MAGIC = 0x51444958_00000001
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with dictionary columns replaced by their value type (a stored batch must
    be self-contained)."""

    import pyarrow as pa

    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def _plain_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    columns = [
        col.dictionary_decode() if pa.types.is_dictionary(col.type) else col
        for col in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _sized(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    )


def _cut(value: str | bytes, limit: int) -> str | bytes:
    if isinstance(value, str):
        return value.encode("utf-8")[:limit].decode("utf-8", "ignore")  # whole characters
    return value[:limit]


def cap_values(batch: pa.RecordBatch, limit: int, counts: dict[str, int]) -> pa.RecordBatch:
    """``batch`` with every text or binary value longer than ``limit`` bytes cut to it;
    adds the values cut to ``counts`` (by column name). One pass over the offsets per
    column; only a column holding such a value is rebuilt."""
    import pyarrow as pa

    columns = list(batch.columns)
    changed = False
    for index, (column, field) in enumerate(zip(columns, batch.schema, strict=True)):
        # nbytes (what the column references, read without a pass over it) is at least
        # its longest value: a column of small values needs no kernel.
        if not _sized(field.type) or column.null_count == len(column) or column.nbytes <= limit:
            continue
        import pyarrow.compute as pc  # Arrow's kernels: for a column of large values only

        lengths = pc.binary_length(column)
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= limit:
            continue
        values = column.to_pylist()
        cut = 0
        for row, size in enumerate(lengths.to_pylist()):
            if size is not None and size > limit:
                values[row] = _cut(values[row], limit)
                cut += 1
        columns[index] = pa.array(values, type=field.type)
        counts[field.name] = counts.get(field.name, 0) + cut
        changed = True
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _full(exc: OSError) -> ResultStoreFull:
    return ResultStoreFull(
        "The result store ran out of disk space while saving the rows; the run was stopped "
        "and its partial result removed.",
        detail={"errno": errno.errorcode.get(exc.errno or 0, "")},
    )


#: Seconds between two readings of the result directory for the retention inventory.
RESCAN_S = 600.0
#: A result of at most this many bytes (Arrow IPC) is also kept in memory when its run
#: ends, for the first page of the request that waited for it (not read back from disk);
#: at most RECENT_RESULTS of them, oldest dropped.
KEEP_BYTES = 64 * 1024
RECENT_RESULTS = 64
#: Seconds a reader in this process waits for a result whose files are being written
#: after its run was answered (see :meth:`ResultStore.defer`).
PENDING_WAIT_S = 10.0


def _private(path: Path) -> BinaryIO:
    """``path`` opened for writing (created or truncated) with mode 0600: a result holds
    another user's rows, whatever the process's umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an earlier run keeps no wider mode
    return os.fdopen(fd, "wb", buffering=0)


class ResultWriter:
    """Appends record batches to a run's result file and its index.

    The first bytes (up to ``keep_bytes``) are held until :meth:`flush` or :meth:`commit`:
    a small result costs one write per file instead of one per message. The runner flushes
    before it tells readers that rows are coming (pages read while a run writes)."""

    def __init__(
        self,
        data: Path,
        index: Path,
        schema: pa.Schema,
        on_change: Callable[[int | None], None] | None = None,
        keep_bytes: int = 0,
        max_value_bytes: int | None = None,
    ) -> None:
        self.data = data
        #: Text and binary values longer than this are cut to it when stored (None: no
        #: cap); ``truncated`` counts the values cut, by column name.
        self.max_value_bytes = max_value_bytes
        self.truncated: dict[str, int] = {}
        self.index = index
        self.final = data
        #: Called with the bytes of both files once they are complete, None once removed.
        self._on_change = on_change
        self._index_bytes = _RECORD.size
        self.schema = _plain_schema(schema)
        self._dictionaries = self.schema != schema
        self.rows = 0
        self.bytes = 0
        #: The batches written, while they add up to at most ``keep_bytes`` (a small
        #: result's first page is then answered without reading the file back).
        self._keep_bytes = keep_bytes
        self._kept: list[pa.RecordBatch] | None = [] if keep_bytes > 0 else None
        self._data: BinaryIO | None = None
        self._index: BinaryIO | None = None
        header = self.schema.serialize()
        self.bytes = header.size
        #: Bytes not written yet (None once the files are open): data and index pieces.
        self._held: tuple[list[Any], list[bytes]] | None = (
            [header],
            [_RECORD.pack(_MAGIC, header.size, 0, 0, zlib.crc32(header))],
        )
        if keep_bytes <= 0:
            self.flush()

    def flush(self) -> None:
        """Open the files and write what is held (nothing once they are open)."""
        if self._held is None:
            return
        data, index = self._held
        self._held = None
        try:
            try:
                self._data = _private(self.data)
                self._index = _private(self.index)
            except OSError as exc:
                if exc.errno in _FULL:
                    raise _full(exc) from None
                raise
            self._write(self._data, b"".join(data))
            self._write(self._index, b"".join(index))
        except BaseException:
            self.discard()
            raise

    @staticmethod
    def _write(handle: object, payload: object) -> None:
        view = memoryview(payload)  # type: ignore[arg-type]
        try:
            while view:
                written = handle.write(view)  # type: ignore[attr-defined]
                view = view[written:]
        except OSError as exc:
            if exc.errno in _FULL:
                raise _full(exc) from None
            raise

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._dictionaries:
            batch = _plain_batch(batch, self.schema)
        if self.max_value_bytes is not None:
            batch = cap_values(batch, self.max_value_bytes, self.truncated)
        message = batch.serialize()
        record = _RECORD.pack(
            self.rows, batch.num_rows, self.bytes, message.size, zlib.crc32(message)
        )
        if self._held is not None and self.bytes + message.size <= self._keep_bytes:
            self._held[0].append(message)
            self._held[1].append(record)
        else:
            self.flush()
            self._write(self._data, message)
            self._write(self._index, record)
        self._index_bytes += _RECORD.size
        self.rows += batch.num_rows
        self.bytes += message.size
        if self._kept is not None:
            self._kept = [*self._kept, batch] if self.bytes <= self._keep_bytes else None

    def drain(self, stream: ResultStream, max_rows: int, streaming: Callable[[], None]) -> bool:
        """Copy ``stream``'s batches to the file up to ``max_rows`` and close it; True when
        rows were left over. ``streaming`` is called once, after the first batch is on
        disk, unless the stream knows it has ended (a small result needs no progress
        write). The batches after the first are written by a thread of their own while
        the stream fetches the next ones (see :mod:`.writebehind`)."""
        behind: WriteBehind | None = None
        taken = self.rows
        try:
            for batch in stream:
                room = max_rows - taken
                truncated = batch.num_rows > room
                if truncated:
                    batch = batch.slice(0, max(room, 0))
                if not taken:
                    self.write(batch)
                    if batch.num_rows and not truncated and not stream.finished():
                        self.flush()  # readers may look now
                        streaming()
                else:  # a second batch: the result is big enough for a writer thread
                    behind = behind or WriteBehind(self.write)
                    behind.put(batch)
                taken += batch.num_rows
                if truncated:
                    return True
            return False
        finally:
            try:
                if behind is not None:
                    behind.close()  # every batch written, or the writer's error raised
            finally:
                stream.close()

    @property
    def held(self) -> bool:
        """Whether nothing is on disk yet (the whole result is in memory)."""
        return self._held is not None

    def kept(self) -> pa.Table | None:
        """All the rows written, when they were few enough to keep (else None)."""
        import pyarrow as pa

        if self._kept is None:
            return None

        return pa.Table.from_batches(self._kept, schema=self.schema)

    def commit(self) -> None:
        """Write the end-of-stream marker and close the files."""
        if self._held is not None:
            self._held[0].append(_EOS)
            self.flush()
        else:
            self._write(self._data, _EOS)
        self.bytes += len(_EOS)
        self._close()
        if self._on_change is not None:
            self._on_change(self.bytes + self._index_bytes)

    def _close(self) -> None:
        for handle in (self._data, self._index):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()

    def discard(self) -> None:
        """Close and remove both files (a failed, cancelled or aborted run)."""
        self._held = None
        self._close()
        self.data.unlink(missing_ok=True)
        self.index.unlink(missing_ok=True)
        if self._on_change is not None:
            self._on_change(None)


@dataclass(frozen=True)
class StoredResult:
    """A snapshot of a stored result: its schema and the batches written so far."""

    schema: pa.Schema
    #: ``(first row, rows, byte offset, byte length, crc)`` per batch.
    records: list[tuple[int, int, int, int, int]]
    #: First row of each batch (for the binary search).
    starts: list[int]

    @property
    def rows(self) -> int:
        if not self.records:
            return 0
        first, rows, *_ = self.records[-1]
        return first + rows


class ResultStore:
    """Result files of runs, under one directory."""

    def __init__(
        self, directory: Path, *, rescan_s: float = RESCAN_S, max_value_bytes: int | None = None
    ) -> None:
        self.directory = directory
        #: Text and binary values longer than this are cut when stored (reported per column).
        self.max_value_bytes = max_value_bytes
        # The inventory: run id -> (stored at, bytes) of complete results, oldest first, and
        # their total. Kept up to date by this process's writes and deletes, and read from
        # the directory again every ``rescan_s`` (other processes share the directory), so
        # a retention sweep costs what it evicts, not what the store holds. The reading runs
        # without the lock (a store of 100,000 files takes seconds): runs that end meanwhile
        # are not held up, and what they store or delete is applied on top of the reading.
        self.rescan_s = rescan_s
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._inventory: dict[str, tuple[float, int]] | None = None
        self._inventoryd_bytes = 0
        self._scanned_at = 0.0
        #: While the directory is read: what this process stored (stamp) or deleted (None).
        self._changes: dict[str, tuple[float, int] | None] | None = None
        self._recent_lock = threading.Lock()
        self._recent: OrderedDict[str, pa.Table] = OrderedDict()
        #: Results whose files this process writes after their run was answered.
        self._pending: dict[str, threading.Event] = {}

    def prepare(self) -> ResultStore:
        """Create the directory (when missing); returns the store."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.arrow"

    def index_path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.idx"

    def writer(self, run_id: str, schema: pa.Schema) -> ResultWriter:
        try:
            return ResultWriter(
                self.path(run_id),
                self.index_path(run_id),
                schema,
                on_change=lambda size: self._inventory_set(run_id, size),
                keep_bytes=KEEP_BYTES,
                max_value_bytes=self.max_value_bytes,
            )
        except OSError as exc:
            if exc.errno in _FULL:
                raise _full(exc) from None
            raise

    # --- results written after their run was answered ---------------------------------

    def defer(self, run_id: str) -> None:
        """The files of ``run_id`` (a small result, held in memory) will be written after
        its run is answered: until :meth:`settle`, readers in this process wait for them."""
        with self._recent_lock:
            self._pending[run_id] = threading.Event()

    def settle(self, run_id: str) -> None:
        """The deferred files of ``run_id`` are written (or will never be)."""
        with self._recent_lock:
            event = self._pending.pop(run_id, None)
        if event is not None:
            event.set()

    def _written(self, run_id: str) -> None:
        event = self._pending.get(run_id)
        if event is not None:
            event.wait(PENDING_WAIT_S)

    def exists(self, run_id: str) -> bool:
        self._written(run_id)
        return self.path(run_id).exists() and self.index_path(run_id).exists()

    def rows_written(self, run_id: str) -> int:
        """Rows stored so far (0 when nothing is stored yet): cheap, for progress."""
        self._written(run_id)
        try:
            size = self.index_path(run_id).stat().st_size
        except OSError:
            return 0
        count = size // _RECORD.size - 1
        if count <= 0:
            return 0
        with open(self.index_path(run_id), "rb") as handle:
            handle.seek(count * _RECORD.size)
            first, rows, *_ = _RECORD.unpack(handle.read(_RECORD.size))
        return int(first + rows)

    def open(self, run_id: str) -> StoredResult:
        """The stored result as it is now (complete batches only)."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self._written(run_id)
        try:
            raw = self.index_path(run_id).read_bytes()
            usable = len(raw) - len(raw) % _RECORD.size
            if usable < _RECORD.size:
                raise _corrupt()
            entries = list(_RECORD.iter_unpack(raw[:usable]))
            magic, schema_len, _, _, crc = entries[0]
            if magic != _MAGIC:
                raise _corrupt()
            with open(self.path(run_id), "rb") as handle:
                header = handle.read(schema_len)
            if len(header) != schema_len or zlib.crc32(header) != crc:
                raise _corrupt()
            schema = ipc.read_schema(pa.py_buffer(header))
        except FileNotFoundError:
            raise ResultExpired("This run's rows are no longer stored; run it again.") from None
        except (pa.ArrowInvalid, ValueError):
            raise _corrupt() from None
        records = entries[1:]
        return StoredResult(schema, records, [r[0] for r in records])

    def batches(
        self, run_id: str, stored: StoredResult, first: int = 0, last: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches ``first`` to ``last`` (exclusive) of a stored result, CRC-checked."""

        import pyarrow as pa
        import pyarrow.ipc as ipc

        last = len(stored.records) if last is None else last
        try:
            with open(self.path(run_id), "rb", buffering=0) as handle:
                fd = handle.fileno()
                for index in range(first, last):
                    _, rows, offset, length, crc = stored.records[index]
                    payload = os.pread(fd, length, offset)
                    if len(payload) != length or zlib.crc32(payload) != crc:
                        raise _corrupt()
                    batch = ipc.read_record_batch(pa.py_buffer(payload), stored.schema)
                    if batch.num_rows != rows:
                        raise _corrupt()
                    yield batch
        except FileNotFoundError:
            raise ResultExpired("This run's rows are no longer stored; run it again.") from None
        except pa.ArrowInvalid:
            raise _corrupt() from None

    def read(self, run_id: str, offset: int, limit: int) -> pa.Table:
        """Rows ``offset`` to ``offset + limit`` of a stored result (fewer at the end)."""
        return self.read_from(run_id, self.open(run_id), offset, limit)

    def read_from(self, run_id: str, stored: StoredResult, offset: int, limit: int) -> pa.Table:
        import pyarrow as pa

        if limit <= 0 or offset >= stored.rows:
            return stored.schema.empty_table()
        first = bisect.bisect_right(stored.starts, offset) - 1
        last = bisect.bisect_left(stored.starts, offset + limit)
        pieces: list[pa.RecordBatch] = []
        for batch in self.batches(run_id, stored, first, last):
            start = offset - stored.starts[first] if not pieces else 0
            piece = batch.slice(max(start, 0), limit)
            pieces.append(piece)
            limit -= piece.num_rows

        return pa.Table.from_batches(pieces, schema=stored.schema)

    def size(self, run_id: str) -> int:
        self._written(run_id)
        total = 0
        for path in (self.path(run_id), self.index_path(run_id)):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def keep(self, run_id: str, table: pa.Table | None) -> None:
        """Keep the rows of a small result that was just stored (see KEEP_BYTES)."""
        if table is None:
            return
        with self._recent_lock:
            self._recent[run_id] = table
            while len(self._recent) > RECENT_RESULTS:
                self._recent.popitem(last=False)

    def take(self, run_id: str) -> pa.Table | None:
        """The rows kept for a result, once (None when it was not small, was taken or
        dropped already: read the stored result)."""
        with self._recent_lock:
            return self._recent.pop(run_id, None)

    def delete(self, run_id: str) -> None:
        self.take(run_id)
        self.settle(run_id)  # a deferred result that is not kept after all
        self.path(run_id).unlink(missing_ok=True)
        self.index_path(run_id).unlink(missing_ok=True)
        self._inventory_set(run_id, None)

    # --- the inventory (for retention) ------------------------------------------------

    def _inventory_set(self, run_id: str, size: int | None) -> None:
        """A result stored just now with ``size`` bytes (the newest), or gone (None)."""
        with self._lock:
            stamp = None if size is None else (time.time(), size)
            if self._changes is not None:  # the directory is being read
                self._changes[run_id] = stamp
            if self._inventory is None:
                return
            _, before = self._inventory.pop(run_id, (0.0, 0))
            self._inventoryd_bytes -= before
            if stamp is not None:
                self._inventory[run_id] = stamp
                self._inventoryd_bytes += stamp[1]

    def _due(self) -> bool:  # lock held
        return self._inventory is None or time.monotonic() - self._scanned_at >= self.rescan_s

    def _fresh_inventory(self) -> None:
        """Read the directory again when the inventory is missing or due (without the lock:
        one reading at a time, this process's changes meanwhile applied on top)."""
        with self._lock:
            if not self._due():
                return
        with self._scan_lock:
            with self._lock:
                if not self._due():  # another thread has just read it
                    return
                self._changes = {}
            try:
                found = self.stored_ids()
            except BaseException:
                with self._lock:
                    self._changes = None
                raise
            inventory = {run_id: (mtime, size) for run_id, mtime, size in found}
            total = sum(size for _, _, size in found)
            with self._lock:  # the changes and the new inventory in one step: none is lost
                changes, self._changes = self._changes or {}, None
                for run_id, stamp in changes.items():
                    total -= inventory.pop(run_id, (0.0, 0))[1]
                    if stamp is not None:
                        inventory[run_id] = stamp
                        total += stamp[1]
                self._inventory = inventory
                self._inventoryd_bytes = total
                self._scanned_at = time.monotonic()

    def stored_bytes(self) -> int:
        """What the complete results take on disk, as the inventory knows it."""
        self._fresh_inventory()
        with self._lock:
            return self._inventoryd_bytes

    def over(self, *, max_results: int | None, max_bytes: int) -> bool:
        """Whether the results this process knows of exceed ``max_results`` in number or
        ``max_bytes`` in total (no directory read: False until the inventory is made)."""
        with self._lock:
            if self._inventory is None:
                return False
            too_many = max_results is not None and len(self._inventory) > max_results
            return too_many or self._inventoryd_bytes > max_bytes

    def evictable(
        self,
        *,
        now: float,
        max_age_s: float,
        max_bytes: int,
        keep: Collection[str],
        max_results: int | None = None,
        free_bytes: int = 0,
    ) -> list[str]:
        """Oldest first, the results older than ``max_age_s``, then those over ``max_bytes``
        in total or ``max_results`` in number, then as many as free ``free_bytes``; never
        those in ``keep`` (runs in flight). Stops at the first result that may stay."""
        chosen: list[str] = []
        self._fresh_inventory()
        with self._lock:
            inventory = self._inventory or {}
            total, count, freed = self._inventoryd_bytes, len(inventory), 0
            limit = count if max_results is None else max_results
            for run_id, (stored_at, size) in inventory.items():
                if (
                    now - stored_at <= max_age_s
                    and total <= max_bytes
                    and count <= limit
                    and freed >= free_bytes
                ):
                    break
                if run_id in keep:
                    continue
                chosen.append(run_id)
                total -= size
                count -= 1
                freed += size
        return chosen

    def stored_ids(self) -> list[tuple[str, float, int]]:
        """``(run id, modified time, bytes)`` of every stored result, oldest first. One pass
        over the directory (a busy store holds tens of thousands of files)."""
        data: dict[str, tuple[float, int]] = {}
        indexes: dict[str, int] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                run_id, _, kind = entry.name.rpartition(".")
                if kind not in ("arrow", "idx") or not run_id or run_id.startswith("."):
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue
                if kind == "arrow":
                    data[run_id] = (stat.st_mtime, stat.st_size)
                else:
                    indexes[run_id] = stat.st_size
        found = [(rid, mtime, size + indexes.get(rid, 0)) for rid, (mtime, size) in data.items()]
        return sorted(found, key=lambda item: item[1])


def _corrupt() -> ResultCorrupt:
    return ResultCorrupt("This run's stored rows are damaged and cannot be read; run it again.")
