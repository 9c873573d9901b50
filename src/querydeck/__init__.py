"""querydeck: a self-hosted data query workbench."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from querydeck.errors import QueryDeckError
from querydeck.settings import Settings, load_settings

if TYPE_CHECKING:
    from querydeck.app.workbench import Workbench

__version__ = "0.1.0"

__all__ = ["QueryDeckError", "Settings", "Workbench", "__version__", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "Workbench":  # imported lazily: it pulls in the database layers
        from querydeck.app.workbench import Workbench

        return Workbench
    raise AttributeError(name)
