"""Arrow columns cut out of a batch of rows held back to back in one buffer.

The drivers that read a wire format themselves (PostgreSQL's binary ``COPY``, MySQL's text
protocol) join a batch of row messages into one buffer and walk it column by column with
numpy: :class:`RowBuffer` reads numbers at any byte offset, :class:`Column` says where one
column's values lie in every row, and :func:`slices` copies variable-length values out in
one pass of Arrow's own. No Python call is made per value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from querydeck.errors import ResultTypeMismatch

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Bytes past the end of every buffer: a read at a NULL's position stays inside.
PAD = 16
_INT32_MAX = np.iinfo(np.int32).max


class RowBuffer:
    """One batch's row messages, back to back (the buffer is kept and padded), with views
    that read a number at any byte offset (numpy reads unaligned, strided data; no copy is
    made)."""

    def __init__(self, rows: bytearray) -> None:
        rows += bytes(PAD)
        self.raw = rows
        self.bytes = np.frombuffer(self.raw, dtype=np.uint8)
        self.arrow = pa.py_buffer(self.raw)
        self._views: dict[str, npt.NDArray[Any]] = {}

    def at(self, offsets: Ints, dtype: str) -> npt.NDArray[Any]:
        """The ``dtype`` numbers (``>i4``, ``<u2``…) starting at each of ``offsets``, in
        native byte order."""
        view = self._views.get(dtype)
        if view is None:
            kind = np.dtype(dtype)
            view = np.ndarray(
                (len(self.raw) - kind.itemsize + 1,), dtype=kind, buffer=self.raw, strides=(1,)
            )
            self._views[dtype] = view
        return view[offsets].astype(view.dtype.newbyteorder("="))


@dataclass
class Column:
    """Where one column's values lie in a batch's buffer: the first byte and the length of
    each row's value, and which are not NULL."""

    buffer: RowBuffer
    start: Ints
    length: Ints
    valid: Bools
    field: pa.Field

    def __post_init__(self) -> None:
        self.nulls = int(len(self.valid) - np.count_nonzero(self.valid))

    def validity(self) -> pa.Buffer | None:
        if not self.nulls:
            return None
        return pa.py_buffer(np.packbits(self.valid, bitorder="little"))

    def null_count(self) -> int:
        return self.nulls

    def any_valid(self, condition: Bools) -> bool:
        """Whether ``condition`` holds for a row whose value is not NULL."""
        return bool((condition & self.valid).any() if self.nulls else condition.any())

    def mismatch(self, what: str) -> ResultTypeMismatch:
        name = self.field.name
        return ResultTypeMismatch(
            f"Column {name!r} has {what}, which its type {self.field.type} cannot hold; "
            "CAST the column to text in the query to read it.",
            detail={"column": name, "type": str(self.field.type)},
        )


def slices(column: Column, arrow_type: pa.DataType, skip: int = 0) -> pa.Array:
    """A string or binary array of each value's bytes (after ``skip`` leading bytes);
    text that is not UTF-8 fails with :class:`~querydeck.errors.ResultTypeMismatch`.

    The buffer is first seen, without a copy, as a binary array of 2n values: each value
    and the bytes between it and the next one; taking the even ones copies the values
    out in one pass of Arrow's own."""
    count = len(column.valid)
    start = column.start + skip
    end = start + np.maximum(column.length - skip, 0)
    if len(column.buffer.raw) > _INT32_MAX:
        raise column.mismatch("more than 2 GB of values in one batch")
    offsets = np.empty(2 * count + 1, dtype=np.int32)
    offsets[0:-1:2] = start
    offsets[1::2] = end
    offsets[-1] = offsets[-2]
    both = pa.Array.from_buffers(
        pa.binary(), 2 * count, [None, pa.py_buffer(offsets), column.buffer.arrow]
    )
    taken = both.take(_evens(count))
    array = pa.Array.from_buffers(
        arrow_type,
        count,
        [column.validity(), *taken.buffers()[1:]],
        null_count=column.null_count(),
    )
    if pa.types.is_string(arrow_type):
        try:
            array.validate(full=True)
        except pa.ArrowInvalid:
            raise column.mismatch("text that is not UTF-8") from None
    return array


_EVENS: dict[int, pa.Array] = {}


def _evens(count: int) -> pa.Array:
    """The indices 0, 2, … 2 × (count - 1) (the last few sizes kept)."""
    found = _EVENS.get(count)
    if found is None:
        if len(_EVENS) > 8:
            _EVENS.clear()
        found = _EVENS[count] = pa.array(np.arange(0, 2 * count, 2, dtype=np.int32))
    return found
