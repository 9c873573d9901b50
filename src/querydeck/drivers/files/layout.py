"""Which tables a set of files makes: each file is a table named by its stem
(``cities.csv`` → ``cities``), and each top-level folder is one table of the files of one
format inside it (``sales/2024.parquet``, ``sales/2025.parquet`` → ``sales``, read by name so
that a file with an added column does not break the others). Files of unknown formats,
hidden files (``.x``, ``_x``: Spark and Delta markers) and their folders are left out.

Nothing here touches a file system: the caller lists the files (relative names with ``/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: File name endings → the format read; compressed text files keep their format.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".csv.gz": "csv",
    ".tsv.gz": "csv",
    ".csv.zst": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".json.gz": "json",
    ".ndjson": "json",
    ".jsonl": "json",
    ".ndjson.gz": "json",
    ".jsonl.gz": "json",
    ".avro": "avro",
    ".orc": "orc",
    ".xlsx": "xlsx",
}
#: Longest endings first, so ``x.csv.gz`` is a CSV file named ``x``.
_ENDINGS = sorted(FORMATS, key=len, reverse=True)

#: A file as a listing finds it: its relative name (``/``-separated), its size in bytes and
#: its modification time (in the listing's own unit). A session's listing, as a set, is
#: what its files looked like: it is reused only while a new listing is the same.
Entry = tuple[str, int, int]


def names(entries: Iterable[Entry]) -> list[str]:
    """The relative names of a listing."""
    return [entry[0] for entry in entries]


def split_name(name: str) -> tuple[str, str] | None:
    """``(stem, format)`` of a file name, or None when its format is not read."""
    lower = name.lower()
    for ending in _ENDINGS:
        if lower.endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)], FORMATS[ending]
    return None


def _hidden(part: str) -> bool:
    return part.startswith((".", "_"))


@dataclass
class TableSource:
    """One table: its name, its format and its files (relative names, sorted)."""

    name: str
    format: str
    files: list[str] = field(default_factory=list)
    #: The folder the table is (empty for a single file).
    folder: str = ""

    def describe(self) -> str:
        """Where the table comes from, for the catalog's comment."""
        if self.folder:
            count = len(self.files)
            return f"{self.format} files in {self.folder}/ ({count} file{'s' * (count != 1)})"
        return f"{self.format} file {self.files[0]}"


def discover(files: Iterable[str]) -> list[TableSource]:
    """The tables of ``files`` (relative names), sorted by name. A name taken twice (a
    ``cities.csv`` beside a ``cities.parquet``, or a folder of that name) gets its
    format appended to the later ones: ``cities_parquet``."""
    singles: list[TableSource] = []
    folders: dict[str, dict[str, list[str]]] = {}
    for rel in sorted(set(files)):
        parts = rel.split("/")
        if any(_hidden(p) for p in parts) or not parts[-1]:
            continue
        parsed = split_name(parts[-1])
        if parsed is None:
            continue
        stem, fmt = parsed
        if len(parts) == 1:
            singles.append(TableSource(stem, fmt, [rel]))
        else:
            folders.setdefault(parts[0], {}).setdefault(fmt, []).append(rel)
    tables = list(singles)
    for folder, by_format in sorted(folders.items()):
        # The folder's format is the one most of its files have (ties: by name).
        fmt = sorted(by_format, key=lambda f: (-len(by_format[f]), f))[0]
        tables.append(TableSource(folder, fmt, by_format[fmt], folder=folder))
    taken: set[str] = set()
    for table in tables:
        key = table.name.casefold()
        if key in taken:
            table.name = f"{table.name}_{table.format}"
            key = table.name.casefold()
        suffix = 2
        base = table.name
        while key in taken:
            table.name = f"{base}_{suffix}"
            key = table.name.casefold()
            suffix += 1
        taken.add(key)
    return sorted(tables, key=lambda t: t.name.casefold())
