"""The CSV/TSV encoder on stored batches: UTC timestamps written from their zone-less text
(as Arrow writes them, only faster), quoting decided batch by batch; chunk sizes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from querydeck.runs.export import writers as export_module
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.export.writers import Export, _iso_text
from querydeck.runs.results import jsonrows
from querydeck.runs.results.store import ResultStore

#: Microseconds from 1900 to 2100, with values before 1970 and sub-second parts.
MICROS = [
    -2_208_988_800_000_000,
    -1,
    0,
    1,
    1_704_164_645_123_456,
    4_102_444_799_999_999,
    None,
]


@pytest.mark.parametrize("zone", ["UTC", None])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_iso_text_is_the_json_form(unit: str, zone: str | None) -> None:
    """CSV's timestamps are the text of the JSON exports and the API, for every unit."""
    scale = {"s": -6, "ms": -3, "us": 0, "ns": 3}[unit]
    values = [
        None if v is None else (v * 10**scale if scale >= 0 else v // 10**-scale) for v in MICROS
    ]
    column = pa.array(values, pa.timestamp(unit, zone))
    as_json = [row[0] for row in jsonrows.rows(pa.table({"at": column}))]
    assert _iso_text(column).to_pylist() == as_json
    assert all(v is None or ("T" in v and v.endswith("Z") == (zone is not None)) for v in as_json)


def export(tmp_path: Path, batches: list[pa.RecordBatch], fmt: ExportFormat) -> bytes:
    store = ResultStore(tmp_path / "results").prepare()
    writer = store.writer("r", batches[0].schema)
    for batch in batches:
        writer.write(batch)
    writer.commit()
    stored = store.open("r")
    job = Export(store, "r", stored, fmt, "r.csv", stored.rows)
    return b"".join(job.chunks())


def reference(batch: pa.RecordBatch, style: str, delimiter: str = ",", eol: str = "\r\n") -> bytes:
    """The batch as Arrow's writer writes it in ``style``, its timestamps as ISO text."""
    for i, f in enumerate(batch.schema):
        if pa.types.is_timestamp(f.type):
            batch = batch.set_column(i, f.name, _iso_text(batch.column(i)))
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(
        include_header=False, delimiter=delimiter, eol=eol, quoting_style=style
    )
    pacsv.write_csv(batch, sink, write_options=options)
    return bytes(sink.getvalue())


def test_batches_are_quoted_only_where_some_text_needs_it(tmp_path: Path) -> None:
    at = pa.array([1_704_164_645_000_000, None, -1], pa.timestamp("us", "UTC"))

    def batch(texts: list[str | None]) -> pa.RecordBatch:
        return pa.record_batch({"t": pa.array(texts), "at": at, "n": pa.array([1, None, 3])})

    plain = batch(["a", None, "b"])
    comma, quote, newline = (
        batch(["a,b", "x", None]),
        batch(['q"', "x", "y"]),
        batch(["l\n", "", "y"]),
    )
    empty = batch(["", None, "z"])
    batches = [plain, comma, plain, quote, newline, empty, plain]
    body = export(tmp_path, batches, ExportFormat.csv)
    styles = ["none", "needed", "none", "needed", "needed", "needed", "none"]
    expected = b"t,at,n\r\n" + b"".join(
        reference(b, s) for b, s in zip(batches, styles, strict=True)
    )
    assert body == expected
    assert body.startswith(b"t,at,n\r\na,2024-01-02T03:04:05Z,1\r\n,,\r\n")
    assert b'"",' in body  # an empty string is quoted; NULL is not
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[4] == ["a,b", "2024-01-02T03:04:05Z", "1"]
    assert len(rows) == 1 + 3 * len(batches)


def test_tsv_quotes_only_for_tabs_and_not_for_commas(tmp_path: Path) -> None:
    at = pa.array([0, None], pa.timestamp("ms", "UTC"))
    commas = pa.record_batch({"t": pa.array(["a,b", "c"]), "at": at})
    tabs = pa.record_batch({"t": pa.array(["a\tb", "c"]), "at": at})
    body = export(tmp_path, [commas, tabs], ExportFormat.tsv)
    assert body == b"t\tat\n" + reference(commas, "none", "\t", "\n") + reference(
        tabs, "needed", "\t", "\n"
    )
    assert body.splitlines()[1] == b"a,b\t1970-01-01T00:00:00Z"


def test_other_time_zones_are_written_in_utc_as_in_json(tmp_path: Path) -> None:
    zoned = pa.record_batch({"at": pa.array([0, None], pa.timestamp("s", "America/New_York"))})
    body = export(tmp_path, [zoned], ExportFormat.csv)
    assert body == b"at\r\n1970-01-01T00:00:00Z\r\n\r\n"
    assert jsonrows.rows(pa.Table.from_batches([zoned]))[0] == ["1970-01-01T00:00:00Z"]


def test_chunks_are_encoded_batches_or_small_pieces_joined(tmp_path: Path) -> None:
    rows = 40_000
    big = pa.record_batch({"t": pa.array([f"value {i:>24}" for i in range(rows)])})
    small = pa.record_batch({"t": pa.array(["x"])})
    store = ResultStore(tmp_path / "results").prepare()
    writer = store.writer("r", big.schema)
    for batch in (small, small, big, small, big):
        writer.write(batch)
    writer.commit()
    stored = store.open("r")
    sizes = [
        len(c) for c in Export(store, "r", stored, ExportFormat.csv, "r", stored.rows).chunks()
    ]
    line = len(f"value {0:>24}\r\n")
    # the header and two small batches are joined with the first big one; the small one
    # after it goes with the second big one
    assert sizes == [len("t\r\n") + 2 * 3 + rows * line, 3 + rows * line]
    assert all(size >= export_module.CHUNK_BYTES for size in sizes)
