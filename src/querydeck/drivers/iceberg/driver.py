"""The ``iceberg`` driver: a directory or bucket prefix whose Iceberg tables are tables.

A table is a folder with a ``metadata/`` folder of ``*.metadata.json`` files, read at the
version ``metadata/version-hint.text`` names or else the newest (highest version number);
it is named by its folder. ``"orders@<snapshot id>"`` reads a snapshot,
``"orders@2024-05-01T103000"`` the snapshot current at that UTC time, and
``"orders@snapshots"`` lists the snapshots. ``iceberg:///abs/dir`` or
``iceberg+s3://bucket/prefix?endpoint=…``. See :mod:`querydeck.drivers.files.lake`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from querydeck.drivers.duckdb.literals import text_literal
from querydeck.drivers.files.lake import LakeDriver, table_name, under, version_at
from querydeck.drivers.files.session import Plan, View

if TYPE_CHECKING:
    import duckdb

_METADATA = re.compile(
    r"^(?:(?P<folder>.+)/)?metadata/(?:v(?P<v>\d+)|(?P<n>\d+)-[^/]+)(?:\.gz)?\.metadata\.json$"
)
_HINT = "metadata/version-hint.text"


def _metadata_files(files: list[str]) -> dict[str, dict[int, str]]:
    """Table folder → metadata version → the metadata file (relative)."""
    found: dict[str, dict[int, str]] = {}
    for rel in files:
        match = _METADATA.match(rel)
        if match is not None:
            version = int(match.group("v") or match.group("n"))
            found.setdefault(match.group("folder") or "", {})[version] = rel
    return found


def _hinted(native: duckdb.DuckDBPyConnection, uri: str) -> int | None:
    import duckdb

    try:
        row = native.execute(f"SELECT content FROM read_text({text_literal(uri)})").fetchone()
    except duckdb.Error:
        return None
    text = str(row[0]).strip() if row else ""
    return int(text) if text.isdigit() else None


class IcebergDriver(LakeDriver):
    """Apache Iceberg tables in a local directory or an S3 bucket prefix."""

    name = "iceberg"
    title = "Iceberg"
    url_schemes = ("iceberg", "iceberg+s3")
    extensions = ("avro", "iceberg")

    def plan_tables(self, native: duckdb.DuckDBPyConnection, files: list[str], base: str) -> Plan:
        plan = Plan()
        metadata: dict[str, str] = {}
        taken: set[str] = set()
        for folder, versions in sorted(_metadata_files(files).items()):
            hint_file = f"{folder}/{_HINT}" if folder else _HINT
            hint = _hinted(native, base + hint_file) if hint_file in files else None
            version = hint if hint in versions else max(versions)
            name = table_name(folder, base, taken)
            uri = base + versions[version]
            metadata[name.casefold()] = uri
            plan.allowed_paths.extend(base + f for f in under(folder, files))
            shown = f"{folder}/" if folder else "./"
            plan.views.append(
                View(
                    name,
                    f"SELECT * FROM iceberg_scan({text_literal(uri)})",
                    f"iceberg table {shown} (metadata version {version})",
                )
            )

        def resolve(requested: str) -> str | None:
            found = version_at(requested)
            uri = metadata.get(found[0].casefold()) if found else None
            if found is None or uri is None:
                return None
            at = found[1]
            if at == "snapshots":
                return f"SELECT * FROM iceberg_snapshots({text_literal(uri)})"
            if isinstance(at, int):
                return f"SELECT * FROM iceberg_scan({text_literal(uri)}, snapshot_from_id => {at})"
            if isinstance(at, dt.datetime):
                stamp = text_literal(at.isoformat(sep=" "))
                return (
                    f"SELECT * FROM iceberg_scan({text_literal(uri)}, "
                    f"snapshot_from_timestamp => TIMESTAMP {stamp})"
                )
            return None

        plan.resolve = resolve
        return plan
