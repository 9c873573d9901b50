"""The export formats and their media types, apart from the writers (which need Arrow):
the CLI's command signatures name them, and building the command tree should not load
Arrow."""

from __future__ import annotations

import enum


class ExportFormat(enum.StrEnum):
    csv = "csv"
    #: CSV for spreadsheets: a byte-order mark, formula-like text neutralised (excel.py).
    excel = "excel"
    tsv = "tsv"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


MEDIA_TYPES = {
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.excel: "text/csv; charset=utf-8",
    ExportFormat.tsv: "text/tab-separated-values; charset=utf-8",
    ExportFormat.json: "application/json",
    ExportFormat.ndjson: "application/x-ndjson",
    ExportFormat.parquet: "application/vnd.apache.parquet",
}
