"""What the lake-table drivers (``iceberg``, ``delta``) share: a location that is a local
directory under the file roots or an S3 bucket prefix, listed when a session opens, whose
table folders the driver recognises; and the versions of a table read by name
(``"orders@3"``, ``"orders@2024-05-01T103000"``), made into views when a statement names
them (a quoted name may not hold ``:`` or ``.``: the guard reads those as file names).
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from querydeck.drivers.base import Capabilities, EngineSession, split_url, url_query
from querydeck.drivers.duckdb.driver import MEMORY_LIMIT_PATTERN
from querydeck.drivers.files.driver import directory_fingerprint, list_directory
from querydeck.drivers.files.family import DuckDBFilesDriver
from querydeck.drivers.files.layout import Entry, names
from querydeck.drivers.s3 import storage
from querydeck.drivers.s3.storage import BUCKET_PATTERN, S3Access
from querydeck.errors import ConnectionUrlInvalid, DataFileNotFound

if TYPE_CHECKING:
    import duckdb

    from querydeck.drivers.files.session import Plan, SessionSpec

_VERSION = re.compile(r"^(?P<table>.+)@(?P<at>[^@]+)$")
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(\d{2})(\d{2})?)?$")


class LakeOptions(S3Access):
    """A local directory (``path``) or a bucket prefix (``bucket``, ``prefix`` and the S3
    options) holding tables."""

    path: str | None = Field(default=None, description="Absolute path of a local directory.")
    bucket: str | None = Field(default=None, pattern=BUCKET_PATTERN)
    prefix: str = Field(default="", max_length=1024)
    memory_limit: str = Field(default="1GB", pattern=MEMORY_LIMIT_PATTERN)
    threads: int = Field(default=2, ge=1, le=256)

    @field_validator("prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        return storage.valid_prefix(value)

    @model_validator(mode="after")
    def _one_place(self) -> LakeOptions:
        if (self.path is None) == (self.bucket is None):
            raise ValueError("give either path (a local directory) or bucket (S3), not both")
        return self


def version_at(name: str) -> tuple[str, int | dt.datetime | str] | None:
    """``("orders", 3)`` for ``orders@3``, a UTC time for ``orders@2024-05-01`` or
    ``orders@2024-05-01T103000``, the word for ``orders@snapshots``; None otherwise."""
    match = _VERSION.match(name)
    if match is None:
        return None
    at = match.group("at")
    if at.isdigit():
        return match.group("table"), int(at)
    timed = _TIME.match(at)
    if timed is not None:
        year, month, day, hour, minute, second = (int(p) if p else 0 for p in timed.groups())
        try:
            return match.group("table"), dt.datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    return match.group("table"), at


def table_name(folder: str, base: str, taken: set[str]) -> str:
    """A table's name: its folder's last part (the location's own for a table at the
    top), with the one before it when that name is taken."""
    parts = [p for p in folder.split("/") if p] or [base.rstrip("/").rsplit("/", 1)[-1]]
    name = parts[-1]
    if name.casefold() in taken and len(parts) > 1:
        name = f"{parts[-2]}_{parts[-1]}"
    suffix = 2
    candidate = name
    while candidate.casefold() in taken:
        candidate = f"{name}_{suffix}"
        suffix += 1
    taken.add(candidate.casefold())
    return candidate


def under(folder: str, files: list[str]) -> list[str]:
    prefix = f"{folder}/" if folder else ""
    return [f for f in files if f.startswith(prefix)]


class LakeDriver(DuckDBFilesDriver[LakeOptions]):
    """A location of lake tables, read by DuckDB's extension for the format."""

    Options = LakeOptions
    capabilities = Capabilities(server_timeout=False, schemas=False, arrays=True, file_based=True)
    secret_free_options = frozenset({"memory_limit", "threads"})
    #: The extensions the format needs, in load order.
    extensions: ClassVar[tuple[str, ...]]

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``<name>:///abs/dir`` (local) or ``<name>+s3://bucket/prefix?endpoint=…``."""
        scheme = url.split(":", 1)[0].lower()
        parts = split_url(url, cls.url_schemes)
        if scheme.endswith("+s3"):
            return storage.s3_url_options(parts)
        if parts.netloc or not parts.path.startswith("/"):
            raise ConnectionUrlInvalid(
                f"A {cls.title} URL is {cls.name}:///abs/dir or {cls.name}+s3://bucket/prefix."
            )
        from urllib.parse import unquote

        return {"path": unquote(parts.path), **url_query(parts, {})}

    def target(self) -> str:
        if self.options.path is not None:
            return Path(self.options.path).name or self.options.path
        return f"{self.options.bucket}/{storage.normalised_prefix(self.options.prefix)}"

    @abc.abstractmethod
    def plan_tables(self, native: duckdb.DuckDBPyConnection, files: list[str], base: str) -> Plan:
        """The views of the tables among ``files`` (relative to ``base``)."""

    def connect(self, *, timeout_s: float) -> EngineSession:
        from querydeck.drivers.files import session  # the engine, on first use

        return session.open_session(*self.prepare())

    def prepare(self) -> tuple[SessionSpec, Callable[[duckdb.DuckDBPyConnection], Plan]]:
        """The session's settings and its plan (engine side: imports DuckDB)."""
        options = self.options
        from querydeck.drivers.files import session  # the engine, on first use

        setup: tuple[str, ...] = ()
        extensions = self.extensions
        lister: Callable[[duckdb.DuckDBPyConnection], list[Entry]]
        if options.path is not None:
            root = Path(options.path)
            if self.sandbox.files is not None:
                self.sandbox.files.check(str(root), self.title)
            if not root.is_dir():
                raise DataFileNotFound(f"The directory {self.target()!r} does not exist.")
            base = os.path.join(os.path.realpath(root), "")

            def fingerprint() -> object:
                return directory_fingerprint(root)

            def lister(_: duckdb.DuckDBPyConnection) -> list[Entry]:
                return list_directory(root)

        else:
            bucket = str(options.bucket)
            where = storage.endpoint(options, self.sandbox, self.title)
            base = f"s3://{bucket}/{storage.normalised_prefix(options.prefix)}"
            setup = (storage.secret_sql(options, where, base),)
            extensions = ("httpfs", *extensions)
            filesystem = functools.cache(lambda: storage.arrow_filesystem(options, where))
            folder = f"{bucket}/{storage.normalised_prefix(options.prefix)}".rstrip("/")

            def fingerprint() -> object:
                return storage.object_fingerprint(filesystem(), folder)

            def lister(native: duckdb.DuckDBPyConnection) -> list[Entry]:
                return storage.list_objects(native, base, bucket)

        spec = session.SessionSpec(
            base=base,
            shown=self.target(),
            memory_limit=options.memory_limit,
            threads=options.threads,
            extensions=extensions,
            setup=setup,
            secrets=tuple(storage.secrets_of(options)),
            fingerprint=fingerprint,
        )

        def plan(native: duckdb.DuckDBPyConnection) -> Plan:
            listing = lister(native)
            planned = self.plan_tables(native, names(listing), base)
            planned.fingerprint = frozenset(listing)
            return planned

        return spec, plan
