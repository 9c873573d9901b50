"""The ``federated`` driver: one DuckDB session in which the connections it names are
attached read-only under their own names, so that one statement joins them
(``SELECT … FROM pg.public.orders o JOIN files.main.cities c ON …``).

The sources are bound to the user who runs a statement (:meth:`FederatedDriver.bound`,
called by the run manager): only the sources that user may query are attached, so a
source they may not query is as absent as one that does not exist. PostgreSQL and
MySQL/MariaDB sources go through DuckDB's postgres and mysql extensions (their address
checked and pinned, their password in an in-memory secret), SQLite and DuckDB files are
attached read-only, and ``files``, ``s3``, ``iceberg`` and ``delta`` sources become views in
an attached in-memory database of their name. The session is then sandboxed and checked
like a files session (:mod:`querydeck.drivers.files.session`): exactly the sources' files
allowed, external access off (no further ``ATTACH``), the configuration locked, only
generator table functions (no ``postgres_query``, ``mysql_query``, ``duckdb_secrets``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import Field, field_validator

from querydeck.drivers.base import (
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    split_url,
    url_query,
)
from querydeck.drivers.duckdb.driver import MEMORY_LIMIT_PATTERN
from querydeck.drivers.files.family import DuckDBFilesDriver

#: Most sources one federated connection names.
MAX_SOURCES = 32


class FederatedOptions(DriverOptions):
    sources: list[str] = Field(
        min_length=1,
        max_length=MAX_SOURCES,
        description="Names of the connections to attach (each under its own name).",
    )
    memory_limit: str = Field(default="1GB", pattern=MEMORY_LIMIT_PATTERN)
    threads: int = Field(default=2, ge=1, le=256)

    @field_validator("sources", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sources")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > 128 or "\x00" in name:
                raise ValueError("a source is the name of a registered connection")
        if len({n.casefold() for n in value}) != len(value):
            raise ValueError("a source is named twice")
        return value


@dataclasses.dataclass(frozen=True)
class BoundSource:
    """A source as one user may read it: the connection's name and its driver (its
    options decrypted, bound to the installation's sandbox)."""

    name: str
    driver: Driver[Any]


class FederatedDriver(DuckDBFilesDriver[FederatedOptions]):
    """Registered connections attached read-only to one DuckDB session."""

    name = "federated"
    title = "Federated"
    Options = FederatedOptions
    capabilities = Capabilities(server_timeout=False, catalog=False, arrays=True)
    url_schemes = ("federated",)
    #: The sources bound for the user who runs a statement (None: not bound, as when the
    #: connection is saved or tested: then nothing is attached).
    bound_sources: tuple[BoundSource, ...] | None = None

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``federated:///?sources=pg,files``."""
        return url_query(split_url(url, cls.url_schemes), {"sources": "sources"})

    def target(self) -> str:
        return ", ".join(self.options.sources)

    def bound(self, sources: list[BoundSource]) -> FederatedDriver:
        """This driver with ``sources`` to attach (those the user may query)."""
        copy = FederatedDriver(self.options, sandbox=self.sandbox)
        copy.bound_sources = tuple(sources)
        return copy

    def connect(self, *, timeout_s: float) -> EngineSession:
        from querydeck.drivers.federated import session  # the engine, on first use

        return session.open_federated(
            list(self.bound_sources or ()), self.options.memory_limit, self.options.threads
        )
