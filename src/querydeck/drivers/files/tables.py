"""Planning a session's views from the tables found (engine side: imported on connect)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow.fs as pa_fs

from querydeck.drivers.duckdb.engine import load_packaged_extension
from querydeck.drivers.files import arrow
from querydeck.drivers.files.layout import TableSource
from querydeck.drivers.files.options import (
    SAMPLE_BYTES,
    FileOptions,
    csv_encoding,
    plain_head,
    read_sql,
)
from querydeck.drivers.files.session import Plan, View

#: Formats read by a DuckDB extension from a package, and which.
EXTENSIONS = {"avro": "avro", "xlsx": "excel"}
#: Encodings DuckDB's CSV reader decodes; the others are read through pyarrow (DuckDB
#: refuses valid Latin-1 bytes as "not latin-1 encoded").
DUCKDB_ENCODINGS = frozenset({"utf-8"})


@dataclass(frozen=True)
class Where:
    """Where a connection's files are: ``base`` + a relative name is the path or URL DuckDB
    reads, ``arrow_base`` + the name the path in ``filesystem`` (made on first use)."""

    base: str
    arrow_base: str
    filesystem: Callable[[], pa_fs.FileSystem]

    def head(self, rel: str) -> bytes:
        with self.filesystem().open_input_file(self.arrow_base + rel) as handle:
            return plain_head(rel, handle.read(SAMPLE_BYTES))


def local(base: str) -> Where:
    return Where(base, base, pa_fs.LocalFileSystem)


def plan(
    native: duckdb.DuckDBPyConnection,
    sources: list[TableSource],
    options: FileOptions,
    where: Where,
) -> Plan:
    """A view per table; the extensions the formats need are loaded into ``native`` (not
    yet locked)."""
    result = Plan()
    loaded: set[str] = set()
    for table in sources:
        uris = [where.base + rel for rel in table.files]
        comment = table.describe()
        arrow_paths = [where.arrow_base + rel for rel in table.files]
        if table.format == "orc":
            result.views.append(View(table.name, None, comment, arrow=_orc(arrow_paths, where)))
            continue
        encoding = "utf-8"
        if table.format == "csv":
            head = where.head(table.files[0]) if options.encoding == "auto" else b""
            encoding = csv_encoding(options, head)
            if encoding not in DUCKDB_ENCODINGS:
                result.views.append(_arrow_csv(table, arrow_paths, options, where, encoding))
                continue
        extension = EXTENSIONS.get(table.format)
        if extension is not None and extension not in loaded:
            load_packaged_extension(native, extension)
            loaded.add(extension)
        result.allowed_paths.extend(uris)
        result.views.append(View(table.name, read_sql(table, uris, options, encoding), comment))
    return result


def _orc(paths: list[str], where: Where) -> Callable[[], object]:
    return lambda: arrow.orc_dataset(paths, where.filesystem())


def _arrow_csv(
    table: TableSource, paths: list[str], options: FileOptions, where: Where, encoding: str
) -> View:
    delimiter = options.csv_delimiter
    if delimiter is None:
        delimiter = arrow.sniff_delimiter(
            where.head(table.files[0]).decode(encoding, errors="ignore")
        )
    header = options.csv_header is not False

    def dataset() -> object:
        return arrow.csv_dataset(
            paths, where.filesystem(), encoding=encoding, delimiter=delimiter, header=header
        )

    return View(table.name, None, table.describe(), arrow=dataset)
