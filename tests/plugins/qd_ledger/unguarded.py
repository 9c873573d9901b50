"""A driver that forgets to declare its function policy: the registry must refuse it."""

from __future__ import annotations

from typing import Any

from querydeck.drivers.base import Driver, DriverOptions, EngineSession


class UnguardedDriver(Driver[DriverOptions]):
    name = "unguarded"
    title = "Unguarded"
    dialect = "sqlite"
    Options = DriverOptions

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        return {}

    def connect(self, *, timeout_s: float) -> EngineSession:
        raise AssertionError("never loaded, so never connected")
