"""Files DuckDB cannot read as they are, read through pyarrow and scanned by DuckDB
in-process: ORC (DuckDB has no ORC reader) and CSV in encodings other than UTF-8
(DuckDB's encodings extension fails on GB18030's four-byte sequences, and its size makes
it slow to load into every session; Python's codecs read them all). Datasets are lazy and can be
scanned again, so a view over one behaves like a view over a file."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow.fs as pa_fs

#: Delimiters a CSV file's first lines are sniffed for, when none is set.
DELIMITERS = ",;\t|"


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample (its complete lines), ``,`` when none stands out."""
    lines = text.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def csv_dataset(
    paths: list[str],
    filesystem: pa_fs.FileSystem,
    *,
    encoding: str,
    delimiter: str,
    header: bool,
) -> Any:
    import pyarrow.csv as pa_csv
    import pyarrow.dataset as ds  # imports pandas where installed: for such files only

    read = pa_csv.ReadOptions(encoding=encoding, autogenerate_column_names=not header)
    parse = pa_csv.ParseOptions(delimiter=delimiter)
    return ds.dataset(
        paths,
        format=ds.CsvFileFormat(read_options=read, parse_options=parse),
        filesystem=filesystem,
    )


def orc_dataset(paths: list[str], filesystem: pa_fs.FileSystem) -> Any:
    import pyarrow.dataset as ds

    return ds.dataset(paths, format="orc", filesystem=filesystem)
