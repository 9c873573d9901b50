"""The result store: one Arrow IPC file per run, written batch by batch as rows arrive.

Memory stays bounded whatever the result size: a batch is written and dropped. A file is
written under a temporary name and renamed when complete, so a reader never sees half a
file; a failed run's partial file is removed. Pages are read back by random access to the
file's record batches, so a late page costs about what the first does.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from querydeck.errors import ResultExpired, ResultUnavailable


class ResultWriter:
    """Appends record batches to a run's result file."""

    def __init__(self, final: Path, schema: pa.Schema) -> None:
        self.final = final
        self._partial = final.with_suffix(".partial")
        self._sink = pa.OSFile(str(self._partial), "wb")
        self._writer = ipc.new_file(self._sink, schema)
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        self._writer.close()
        self._sink.close()
        os.replace(self._partial, self.final)

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._sink.close()
        self._partial.unlink(missing_ok=True)


class ResultStore:
    """Result files of runs, under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.arrow"

    def writer(self, run_id: str, schema: pa.Schema) -> ResultWriter:
        return ResultWriter(self.path(run_id), schema)

    def read(self, run_id: str, offset: int, limit: int) -> pa.Table:
        """Rows ``offset`` to ``offset + limit`` of a stored result (fewer at the end)."""
        path = self.path(run_id)
        try:
            with pa.memory_map(str(path), "r") as source:
                reader = ipc.open_file(source)
                batches: list[pa.RecordBatch] = []
                start = 0
                for index in range(reader.num_record_batches):
                    if limit <= 0:
                        break
                    batch = reader.get_batch(index)
                    end = start + batch.num_rows
                    if end > offset:
                        lo = max(offset - start, 0)
                        piece = batch.slice(lo, limit)
                        batches.append(piece)
                        limit -= piece.num_rows
                    start = end
                return pa.Table.from_batches(batches, schema=reader.schema)
        except FileNotFoundError:
            raise ResultExpired("This run's rows are no longer stored; run it again.") from None
        except (pa.ArrowInvalid, OSError):
            raise ResultUnavailable(
                "This run's stored rows are damaged and cannot be read; run it again.",
                code="RESULT_CORRUPT",
            ) from None

    def delete(self, run_id: str) -> None:
        self.path(run_id).unlink(missing_ok=True)
