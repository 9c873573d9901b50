"""querydeck: a self-hosted data query workbench."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from querydeck.errors import QueryDeckError

if TYPE_CHECKING:
    from querydeck.app.workbench import Workbench
    from querydeck.settings import Settings, load_settings

__version__ = "0.1.0"

# sqlglot warns through logging when it reads a statement it does not know as an opaque
# Command ("... contains unsupported syntax. Falling back to parsing as a 'Command'"):
# querydeck explains or refuses such statements itself (the guard, the audit's summary),
# and the warning would reach the server's log and a CLI user's terminal.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

__all__ = ["QueryDeckError", "Settings", "Workbench", "__version__", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "Workbench":  # imported lazily: it pulls in the database layers
        from querydeck.app.workbench import Workbench

        return Workbench
    if name in ("Settings", "load_settings"):  # pydantic: not for `querydeck --help`
        from querydeck import settings

        return getattr(settings, name)
    raise AttributeError(name)
