"""The ``delta`` driver: a directory or bucket prefix whose Delta tables are tables.

A table is a folder with a ``_delta_log/`` folder, named by its folder and read at its
latest version; ``"orders@3"`` reads version 3 (DuckDB's delta extension reads versions,
not timestamps). ``delta:///abs/dir`` or ``delta+s3://bucket/prefix?endpoint=…``.

The extension's kernel reads the log itself, outside DuckDB's file sandbox (data files go
through DuckDB, which allows only the listed ones): the guard and the driver's own
table-function check keep ``delta_scan`` to the views the driver makes. See
:mod:`querydeck.drivers.files.lake`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from querydeck.drivers.duckdb.literals import text_literal
from querydeck.drivers.files.lake import LakeDriver, table_name, under, version_at
from querydeck.drivers.files.session import Plan, View
from querydeck.errors import QueryFailed

if TYPE_CHECKING:
    import duckdb

_LOG = "_delta_log/"


def _table_folders(files: list[str]) -> list[str]:
    folders = set()
    for rel in files:
        if rel.startswith(_LOG):
            folders.add("")
        elif f"/{_LOG}" in rel:
            folders.add(rel.split(f"/{_LOG}", 1)[0])
    return sorted(folders)


class DeltaDriver(LakeDriver):
    """Delta Lake tables in a local directory or an S3 bucket prefix."""

    name = "delta"
    title = "Delta"
    url_schemes = ("delta", "delta+s3")
    extensions = ("delta",)

    def plan_tables(self, native: duckdb.DuckDBPyConnection, files: list[str], base: str) -> Plan:
        plan = Plan()
        tables: dict[str, str] = {}
        taken: set[str] = set()
        for folder in _table_folders(files):
            name = table_name(folder, base, taken)
            uri = (base + folder) if folder else base.rstrip("/")
            tables[name.casefold()] = uri
            plan.allowed_paths.extend(base + f for f in under(folder, files))
            shown = f"{folder}/" if folder else "./"
            plan.views.append(
                View(name, f"SELECT * FROM delta_scan({text_literal(uri)})", f"delta table {shown}")
            )

        def resolve(requested: str) -> str | None:
            found = version_at(requested)
            uri = tables.get(found[0].casefold()) if found else None
            if found is None or uri is None:
                return None
            if not isinstance(found[1], int):
                raise QueryFailed(
                    f"Read a Delta table at a version number ({found[0]}@3): DuckDB's delta "
                    "extension reads no timestamps.",
                    detail={"table": found[0]},
                )
            return f"SELECT * FROM delta_scan({text_literal(uri)}, version => {found[1]})"

        plan.resolve = resolve
        return plan
