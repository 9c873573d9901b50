"""How the command tree's help reads: the docstrings' ``code`` marks (reStructuredText, as
every docstring in querydeck writes them) shown as `code`, and no ``<bool>`` after a flag
(a flag takes no value; Typer labels every option with its type).

Typer builds the commands from the functions when the CLI starts; :func:`tidy` rewrites
the built tree once (its own click copy is duck-typed: commands, params, flags)."""

from __future__ import annotations

import re
from typing import Any

_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str | None:
    """``x`` becomes `x`."""
    return _DOUBLE_BACKTICKS.sub(r"`\1`", text) if text else text


def _flag_without_type(param: Any) -> Any:
    if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""  # shown instead of the type label
    return param


def tidy(command: Any) -> Any:
    """Rewrite the help of ``command`` and every command under it, in place."""
    command.help = plain(command.help)
    command.short_help = plain(command.short_help)
    for param in command.params:
        if hasattr(param, "help"):
            param.help = plain(param.help)
        _flag_without_type(param)
    make_help_option = command.get_help_option  # --help is made per context
    command.get_help_option = lambda ctx: _flag_without_type(make_help_option(ctx))
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    return command


__all__ = ["plain", "tidy"]
