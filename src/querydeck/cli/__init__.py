"""The ``querydeck`` command line: thin commands over the Workbench (Typer + Rich).

Exit codes: 0 ok; 1 a query or user error (``Error [CODE]: message`` on stderr, never a
traceback); 2 a usage error. Unexpected exceptions print one line naming their type and
exit 1; ``QUERYDECK_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from querydeck.cli.common import ServerChoice, choose_server, print_error
from querydeck.cli.tree import LazyGroup
from querydeck.errors import QueryDeckError

__all__ = ["app", "main"]

#: Typer's own control flow (usage errors, exits, aborts) passes through untouched.
_TYPER_CONTROL = (typer.TyperException, typer.Exit, typer.Abort)


def debug_enabled() -> bool:
    return os.environ.get("QUERYDECK_DEBUG", "").lower() in ("1", "true", "yes")


class ErrorReportingGroup(LazyGroup):
    """Turns every error a command raises into an ``Error [CODE]`` line and exit code 1.

    Its commands (:data:`querydeck.cli.tree.COMMANDS`) are imported and built when used."""

    def invoke(self, ctx: Any) -> Any:  # Any: Typer has no public name for its Context base
        try:
            return super().invoke(ctx)
        except _TYPER_CONTROL:
            raise
        except QueryDeckError as exc:
            print_error(exc.code, exc.message, exc.detail)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(1) from None
        except Exception as exc:
            if debug_enabled():
                raise
            first = (str(exc).splitlines() or [""])[0][:200]
            print_error(
                QueryDeckError.code,
                f"unexpected {type(exc).__name__}"
                + (f": {first}" if first else "")
                + " (QUERYDECK_DEBUG=1 shows the traceback)",
            )
            raise typer.Exit(1) from None
        finally:
            choose_server(None)


def _silence_stdout() -> None:
    """After the reader of stdout went away, point stdout at /dev/null so the final flush
    at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests) or closed
        pass


app = typer.Typer(
    name="querydeck",
    cls=ErrorReportingGroup,
    help="querydeck: a read-only SQL query workbench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="QUERYDECK_SERVER",
            metavar="URL",
            help="Run query, history, runs, export, schema, search, upload, ask, eval, "
            "connections and drivers on this "
            "querydeck server (after `querydeck login URL`) instead of this machine.",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow --server over plain http to another machine (the token travels in clear).",
        ),
    ] = False,
) -> None:
    choose_server(ServerChoice(server or None, insecure, ctx.invoked_subcommand))


def main() -> None:
    """Entry point of the ``querydeck`` console script."""
    from typer.main import get_command

    from querydeck.cli.helptext import tidy

    root = get_command(app)
    root.tidy_help = True  # type: ignore[attr-defined]  # an ErrorReportingGroup
    tidy(root)(prog_name="querydeck")
