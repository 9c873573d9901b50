"""The engine side of the federated driver: attaching each source to one DuckDB session
(see :mod:`querydeck.drivers.federated.driver`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from querydeck.drivers.base import EngineSession
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.drivers.federated.driver import BoundSource
from querydeck.drivers.files.options import quote_name
from querydeck.drivers.files.session import (
    FilesSession,
    Plan,
    SessionSpec,
    open_session,
    text_list,
)
from querydeck.drivers.files.statement import Names
from querydeck.drivers.tls import ca_file
from querydeck.errors import CatalogUnsupported, ConnectionFailed

FILE_DRIVERS = frozenset({"files", "s3", "iceberg", "delta"})
_MYSQL_SSL = {
    "disable": "DISABLED",
    "require": "REQUIRED",
    "verify-ca": "VERIFY_CA",
    "verify-full": "VERIFY_IDENTITY",
}


#: The sources' databases holding a table or view of that name (literals, not parameters:
#: see :func:`~querydeck.drivers.files.session.text_list`).
_HOLDER = """
SELECT database_name FROM duckdb_tables() WHERE table_name = {name}
    AND database_name IN (SELECT unnest({aliases}))
UNION ALL
SELECT database_name FROM duckdb_views() WHERE view_name = {name} AND NOT internal
    AND database_name IN (SELECT unnest({aliases}))
"""


class FederatedSession(FilesSession):
    """A files session whose tables are the sources' (never pooled: its sources are those
    one user may query)."""

    #: The sources' names, in the order of the search path.
    aliases: tuple[str, ...] = ()
    _read: tuple[str, ...] = ()

    # Never pooled: the sources attached are those one user may query.
    reset = EngineSession.reset

    def schemas(self) -> list[str]:
        raise CatalogUnsupported(
            "A federated connection has no catalog of its own: browse its sources."
        )

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        raise CatalogUnsupported(
            "A federated connection has no catalog of its own: browse its sources."
        )

    def sources_read(self) -> list[str]:
        return list(self._read)

    def _checked(self, names: Names) -> None:
        """The sources a statement reads: those it names a table in, and for a table named
        alone, the first source on the search path that holds it."""
        named = {q.casefold() for q in names.qualifiers}
        for table in names.tables:
            found = {
                str(row[0]).casefold()
                for row in self._native.execute(
                    _HOLDER.format(name=text_literal(table), aliases=text_list(self.aliases))
                ).fetchall()
            }
            first = next((a for a in self.aliases if a.casefold() in found), None)
            if first is not None:
                named.add(first.casefold())
        self._read = tuple(a for a in self.aliases if a.casefold() in named)


@dataclass
class _Attachments:
    """What the sources add to the session: extensions, set-up statements (secrets and
    ``ATTACH``), secrets to hide, paths to allow, and the file sources' plans."""

    extensions: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    places: list[tuple[str, str]] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    plans: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], Plan]]] = field(
        default_factory=list
    )
    #: Where a table named alone is looked for: each source's main schema, in order.
    search: list[str] = field(default_factory=list)

    def extension(self, name: str) -> None:
        if name not in self.extensions:
            self.extensions.append(name)


def _secret(kind: str, name: str, values: dict[str, Any]) -> str:
    parts = [f"TYPE {kind}"]
    for key, value in values.items():
        if value is not None:
            parts.append(f"{key} {value if isinstance(value, int) else text_literal(str(value))}")
    return f"CREATE TEMPORARY SECRET {quote_name(name)} ({', '.join(parts)})"


def _attach_server(source: BoundSource, index: int, into: _Attachments) -> None:
    options: Any = source.driver.options
    sandbox = source.driver.sandbox
    title = source.driver.title
    address = sandbox.addresses.pin(options.host, options.port, title)
    password = options.password.get_secret_value() if options.password else None
    if password:
        into.secrets.append(password)
    ca = ca_file(sandbox, options.ssl_ca_certificate)
    secret = f"qd_source_{index}"
    if source.driver.name == "postgres":
        into.extension("postgres_scanner")
        values = {
            "HOST": options.host,
            "HOSTADDR": address,
            "PORT": options.port,
            "DATABASE": options.database,
            "USER": options.user,
            "PASSWORD": password,
            "SSLMODE": options.sslmode,
            "SSLROOTCERT": ca,
        }
        into.setup.append(_secret("postgres", secret, values))
        into.search.append(f"{quote_name(source.name)}.public")
        kind = "postgres"
    else:
        into.extension("mysql_scanner")
        values = {
            "HOST": address,
            "PORT": options.port,
            "DATABASE": options.database,
            "USER": options.user,
            "PASSWORD": password,
            "SSL_MODE": _MYSQL_SSL[options.sslmode],
            "SSL_CA": ca,
        }
        into.setup.append(_secret("mysql", secret, values))
        if options.database:
            into.search.append(f"{quote_name(source.name)}.{quote_name(options.database)}")
        kind = "mysql"
    into.setup.append(
        f"ATTACH '' AS {quote_name(source.name)} (TYPE {kind}, SECRET {quote_name(secret)}, "
        "READ_ONLY)"
    )


def _attach_file(source: BoundSource, into: _Attachments) -> None:
    path = getattr(source.driver.options, "path", None)
    if path is None:
        raise ConnectionFailed(
            f"The source {source.name!r} is an in-memory database: there is nothing to attach."
        )
    kind = "sqlite" if source.driver.name == "sqlite" else "duckdb"
    if kind == "sqlite":
        into.extension("sqlite_scanner")
    into.allowed.append(str(path))
    into.places.append((str(path), source.name))
    into.setup.append(
        f"ATTACH {text_literal(str(path))} AS {quote_name(source.name)} (TYPE {kind}, READ_ONLY)"
    )
    into.search.append(f"{quote_name(source.name)}.main")


def _attachments(sources: list[BoundSource]) -> _Attachments:
    into = _Attachments()
    for index, source in enumerate(sources):
        name = source.driver.name
        if name in FILE_DRIVERS:
            spec, plan = source.driver.prepare()  # type: ignore[attr-defined]
            for extension in spec.extensions:
                into.extension(extension)
            into.setup.extend(spec.setup)
            into.secrets.extend(spec.secrets)
            into.places.append((spec.base, source.name))
            into.setup.append(f"ATTACH ':memory:' AS {quote_name(source.name)}")
            into.search.append(f"{quote_name(source.name)}.main")
            into.plans.append((source.name, plan))
        elif name in ("postgres", "mysql"):
            _attach_server(source, index, into)
        elif name in ("sqlite", "duckdb"):
            _attach_file(source, into)
        else:
            raise ConnectionFailed(
                f"The source {source.name!r} ({source.driver.title}) cannot be attached to a "
                "federated session.",
                detail={"source": source.name, "driver": name},
            )
    if into.search:
        into.setup.append(f"SET search_path = {text_literal(','.join(into.search))}")
    return into


def open_federated(sources: list[BoundSource], memory_limit: str, threads: int) -> FederatedSession:
    """A session with ``sources`` attached read-only, sandboxed and locked."""
    into = _attachments(sources)
    spec = SessionSpec(
        base="",
        shown="the federated session",
        memory_limit=memory_limit,
        threads=threads,
        extensions=tuple(into.extensions),
        setup=tuple(into.setup),
        secrets=tuple(into.secrets),
        places=tuple(into.places),
    )

    def plan(native: duckdb.DuckDBPyConnection) -> Plan:
        merged = Plan(allowed_paths=list(into.allowed))
        for alias, source_plan in into.plans:
            part = source_plan(native)
            for view in part.views:
                view.catalog = alias
            merged.views.extend(part.views)
            merged.allowed_paths.extend(part.allowed_paths)
            merged.allowed_directories.extend(part.allowed_directories)
        return merged

    conn = open_session(spec, plan, connection=FederatedSession)
    assert isinstance(conn, FederatedSession)
    conn.aliases = tuple(s.name for s in sources)
    return conn
