"""The ``s3`` driver: a bucket prefix on S3-compatible storage, each object a table.

``s3://bucket/prefix?endpoint=host:port&region=…&url_style=path&use_ssl=false`` (the
access key and secret may be the URL's user and password; they are sealed like passwords).
The objects are listed when a session opens (one request, with their sizes and times: a
pooled session is reused only while a new listing is the same) and read like a ``files``
directory (see :mod:`querydeck.drivers.files`); DuckDB's httpfs extension reads them with
a secret scoped to the prefix, and ``allowed_paths`` holds exactly the objects listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from querydeck.drivers.base import Capabilities, EngineSession, split_url
from querydeck.drivers.files.driver import FILE_URL_PARAMS
from querydeck.drivers.files.family import DuckDBFilesDriver
from querydeck.drivers.files.layout import discover, names
from querydeck.drivers.files.options import FileOptions
from querydeck.drivers.s3 import storage
from querydeck.drivers.s3.storage import S3Options

if TYPE_CHECKING:
    import duckdb

    from querydeck.drivers.files.session import Plan, SessionSpec


class S3DriverOptions(FileOptions, S3Options):
    pass


class S3Driver(DuckDBFilesDriver[S3DriverOptions]):
    """CSV, Parquet, JSON, Avro, ORC and Excel objects under an S3 bucket prefix."""

    name = "s3"
    title = "S3"
    Options = S3DriverOptions
    capabilities = Capabilities(server_timeout=False, schemas=False, arrays=True)
    url_schemes = ("s3",)
    secret_free_options = frozenset(
        {"csv_delimiter", "csv_header", "encoding", "memory_limit", "threads"}
    )

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        parts = split_url(url, cls.url_schemes)
        return storage.s3_url_options(parts, extra=FILE_URL_PARAMS)

    def target(self) -> str:
        return f"{self.options.bucket}/{storage.normalised_prefix(self.options.prefix)}"

    def connect(self, *, timeout_s: float) -> EngineSession:
        from querydeck.drivers.files import session  # the engine, on first use

        return session.open_session(*self.prepare())

    def prepare(self) -> tuple[SessionSpec, Callable[[duckdb.DuckDBPyConnection], Plan]]:
        """The session's settings and its plan (engine side: imports DuckDB)."""
        options = self.options
        prefix = storage.normalised_prefix(options.prefix)
        where = storage.endpoint(options, self.sandbox, self.title)
        base = f"s3://{options.bucket}/{prefix}"
        from querydeck.drivers.files import session, tables  # the engine, on first use

        filesystem = functools.cache(lambda: storage.arrow_filesystem(options, where))
        folder = f"{options.bucket}/{prefix}"
        located = tables.Where(base, folder, filesystem)
        spec = session.SessionSpec(
            base=base,
            shown=self.target(),
            memory_limit=options.memory_limit,
            threads=options.threads,
            extensions=("httpfs",),
            setup=(storage.secret_sql(options, where, base),),
            secrets=tuple(storage.secrets_of(options)),
            fingerprint=lambda: storage.object_fingerprint(filesystem(), folder.rstrip("/")),
        )

        def plan(native: duckdb.DuckDBPyConnection) -> Plan:
            listing = storage.list_objects(native, base, options.bucket)
            planned = tables.plan(native, discover(names(listing)), options, located)
            planned.fingerprint = frozenset(listing)
            return planned

        return spec, plan
