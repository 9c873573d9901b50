"""The address of querydeck's own database, read without SQLAlchemy.

``QUERYDECK_DATABASE_URL`` is an SQLAlchemy URL (``sqlite:///path``,
``postgresql://user:password@host:port/name?option=value``). Reading one here, in the way
SQLAlchemy reads it, keeps SQLAlchemy off the paths that only read the app database (a
listing: :mod:`querydeck.store.plain`) and off the sandbox's start.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, unquote

from querydeck.errors import ConfigError

_URL = re.compile(
    r"""
    (?P<drivername>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """The parts of a database URL (``drivername`` as written: ``postgresql+psycopg``)."""

    drivername: str
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    @property
    def backend(self) -> str:
        """The database's name without the driver's: ``postgresql``, ``sqlite``."""
        return self.drivername.split("+", 1)[0]


def parse_url(text: str) -> DatabaseUrl:
    """``text`` as SQLAlchemy's ``make_url`` reads it; ``ValueError`` when it is not a URL."""
    found = _URL.match(text)
    if found is None:
        raise ValueError("not a database URL")
    parts = found.groupdict()
    port = parts["port"]
    return DatabaseUrl(
        drivername=parts["drivername"],
        username=None if parts["username"] is None else unquote(parts["username"]),
        password=None if parts["password"] is None else unquote(parts["password"]),
        host=parts["ipv4host"] or parts["ipv6host"],
        port=int(port) if port else None,
        database=None if parts["database"] is None else unquote(parts["database"]),
        query=tuple(parse_qsl(parts["query"])) if parts["query"] is not None else (),
    )


def app_database_url(text: str) -> DatabaseUrl:
    """The URL of querydeck's own database: SQLite or PostgreSQL, else a ``ConfigError``."""
    try:
        url = parse_url(text)
    except ValueError:
        raise ConfigError("QUERYDECK_DATABASE_URL is not a valid database URL.") from None
    if url.backend not in ("sqlite", "postgresql"):
        raise ConfigError("querydeck's own database must be SQLite or PostgreSQL.")
    return url
