"""Finds drivers through the ``querydeck.drivers`` entry-point group.

``names()`` lists them without importing any driver module; ``load(name)`` imports one and
checks it is a :class:`~querydeck.drivers.base.Driver` subclass that declares what the
guard needs (a driver without a function policy would be a silent hole in the read-only
guarantee, so it is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from querydeck.drivers.base import Driver
from querydeck.errors import DriverInvalid, UnknownDriver

GROUP = "querydeck.drivers"

AnyDriver = type[Driver[Any]]


@cache
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """Names of every installed driver, sorted, without importing them."""
    return sorted(_entry_points())


@cache
def load(name: str) -> AnyDriver:
    """The driver class registered as ``name``."""
    ep = _entry_points().get(name)
    if ep is None:
        raise UnknownDriver(
            f"Unknown driver {name!r}; installed drivers: {', '.join(names())}.",
            detail={"driver": name, "available": names()},
        )
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)) or cls.name != name:
        raise DriverInvalid(
            f"The entry point {name!r} does not name a querydeck driver class.",
            detail={"driver": name},
        )
    if not isinstance(getattr(cls, "forbidden_functions", None), Mapping):
        raise DriverInvalid(
            f"The driver {name!r} declares no function policy (forbidden_functions): "
            "querydeck cannot guard statements for it, so it is not loaded.",
            detail={"driver": name},
        )
    return cls


def dialects() -> dict[str, str]:
    """Each installed driver's name → its dialect (imports every driver)."""
    return {name: load(name).dialect for name in names()}


def for_url(url: str) -> AnyDriver:
    """The driver whose URL schemes include the scheme of ``url``."""
    scheme = url.split(":", 1)[0].lower().split("+", 1)[0] if ":" in url else ""
    for name in names():
        cls = load(name)
        if scheme in cls.url_schemes:
            return cls
    raise UnknownDriver(
        f"No driver accepts URLs starting with {scheme or '(none)'}://.",
        detail={"scheme": scheme},
    )


def describe(name: str) -> dict[str, Any]:
    """Name, title, dialect, capabilities and the options' JSON schema of one driver."""
    cls = load(name)
    return {
        "name": cls.name,
        "title": cls.title,
        "dialect": cls.dialect,
        "url_schemes": list(cls.url_schemes),
        "capabilities": cls.capabilities.model_dump(),
        "options_schema": cls.Options.model_json_schema(),
    }
