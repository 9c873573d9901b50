"""What every driver whose engine is an in-memory DuckDB session over files declares alike
(``files``, ``s3``, ``iceberg``, ``delta``, ``federated``): DuckDB's dialect, function
table and parser check, quoted names read as files, DDL with comment statements."""

from __future__ import annotations

from typing import Generic

from querydeck.drivers.base import Driver, OptionsT
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.drivers.duckdb.native import check_duckdb
from querydeck.drivers.files.policy import FORBIDDEN_FUNCTIONS, FORBIDDEN_RELATIONS


class DuckDBFilesDriver(Driver[OptionsT], Generic[OptionsT]):
    """The declarations shared by the DuckDB-over-files drivers."""

    dialect = "duckdb"
    forbidden_functions = FORBIDDEN_FUNCTIONS
    forbidden_relations = FORBIDDEN_RELATIONS
    native_check = check_duckdb
    quoted_names_read_files = True
    ddl_style = DdlStyle(comments="statements")
