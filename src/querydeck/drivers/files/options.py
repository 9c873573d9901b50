"""The options every file driver shares (how CSV files read, the session's memory and
threads) and the reading of one table's files as SQL."""

from __future__ import annotations

import codecs
import zlib
from typing import Literal

from pydantic import Field

from querydeck.drivers.base import DriverOptions
from querydeck.drivers.duckdb.driver import MEMORY_LIMIT_PATTERN
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.drivers.files.layout import TableSource

#: Encodings a CSV file may be read with; ``auto`` detects UTF-8 or GB18030 from the
#: file's first bytes.
Encoding = Literal[
    "auto", "utf-8", "utf-16", "latin-1", "gbk", "gb18030", "big5", "shift_jis", "euc-kr"
]
#: Bytes of a CSV file read to detect its encoding.
SAMPLE_BYTES = 64 * 1024


class FileOptions(DriverOptions):
    """How the files read; these apply to every CSV table of the connection."""

    csv_delimiter: str | None = Field(
        default=None,
        min_length=1,
        max_length=1,
        description="The CSV field delimiter (one character); detected when empty.",
    )
    csv_header: bool | None = Field(
        default=None, description="Whether CSV files have a header row; detected when empty."
    )
    encoding: Encoding = Field(
        default="auto",
        description="The encoding of CSV files; 'auto' reads UTF-8, or GB18030 (GBK) when "
        "the first 64 KiB are not UTF-8.",
    )
    memory_limit: str = Field(default="1GB", pattern=MEMORY_LIMIT_PATTERN)
    threads: int = Field(default=2, ge=1, le=256)


def detect_encoding(sample: bytes) -> str:
    """``utf-8`` when ``sample`` (the start of a file, maybe cut inside a character) is
    UTF-8, else ``gb18030`` when it is GB18030 (GBK's superset), else ``latin-1`` (any
    bytes are Latin-1: the text then reads, if not as meant)."""
    for encoding in ("utf-8", "gb18030"):
        # Incremental: a character cut by the end of the sample is not an error.
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            decoder.decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def plain_head(name: str, head: bytes) -> bytes:
    """The first bytes of a file as text bytes: a gzip file's are decompressed (as far as
    they go); a zstd file's are not read (empty: detection then says UTF-8)."""
    lower = name.lower()
    if lower.endswith(".gz"):
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, SAMPLE_BYTES)
        except zlib.error:
            return b""
    if lower.endswith(".zst"):
        return b""
    return head


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_encoding(options: FileOptions, sample: bytes | None) -> str:
    """The encoding to read a CSV table with (GBK as GB18030, its superset)."""
    if options.encoding == "auto":
        return detect_encoding(sample or b"")
    return "gb18030" if options.encoding == "gbk" else options.encoding


def read_sql(table: TableSource, uris: list[str], options: FileOptions, encoding: str) -> str:
    """The ``SELECT`` that reads ``uris`` (the table's files) by column name."""
    files = "[" + ", ".join(text_literal(u) for u in uris) + "]"
    if table.format == "csv":
        args = [files, "union_by_name = true", f"encoding = {text_literal(encoding)}"]
        if options.csv_delimiter is not None:
            args.append(f"delim = {text_literal(options.csv_delimiter)}")
        if options.csv_header is not None:
            args.append(f"header = {str(options.csv_header).lower()}")
        return f"SELECT * FROM read_csv({', '.join(args)})"
    if table.format == "parquet":
        return f"SELECT * FROM read_parquet({files}, union_by_name = true)"
    if table.format == "json":
        return f"SELECT * FROM read_json({files}, union_by_name = true)"
    # DuckDB's avro and excel readers take no union_by_name: the files are united by name
    # in SQL instead.
    if table.format == "avro":
        return " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_avro({text_literal(u)})" for u in uris
        )
    if table.format == "xlsx":
        return " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_xlsx({text_literal(u)}, header = true)" for u in uris
        )
    raise ValueError(f"no SQL reader for {table.format}")
