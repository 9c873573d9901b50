"""``querydeck serve``: the API (and UI) over HTTP with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from querydeck.cli.common import message, open_workbench


def _login_hint(initial_password: str | None) -> None:
    from querydeck.auth.accounts import INITIAL_ADMIN, INITIAL_PASSWORD_FILE  # the ORM: lazily

    if initial_password is None:
        message("Log in with your user name and password (`querydeck users` manages users).")
        return
    message(
        f"First start: created the administrator {INITIAL_ADMIN!r} with the password "
        f"{initial_password} (shown this once; also in {INITIAL_PASSWORD_FILE} in the data "
        "directory, readable only by you). Log in and change it; the file is removed then."
    )


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: the host setting).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to bind (default: the port setting)."),
    ] = None,
) -> None:
    """Serve the API; registers the demo connections when there are none yet, and creates
    the administrator ``admin`` (password printed once) when there is no user yet."""
    import uvicorn

    from querydeck import logs
    from querydeck.api import create_app
    from querydeck.runs.results import arrowpool

    with open_workbench() as workbench:
        settings = workbench.settings
        logs.configure(settings.log_level)
        if not workbench.connections.any_registered():
            made = workbench.admin.create_demo()
            names = ", ".join(f"{c.name} ({c.driver})" for c in made)
            message(f"No connections yet: registered the demo connections {names}.")
        bind_host, bind_port = host or settings.host, port or settings.port
        url_host = f"[{bind_host}]" if ":" in bind_host else bind_host
        base = f"http://{url_host}:{bind_port}"
        message(f"querydeck is serving at {base} (API docs: {base}/api/docs); Ctrl-C stops it.")
        _login_hint(workbench.accounts.ensure_initial_admin())
        if workbench.catalog.start_background_refresh():
            every = settings.catalog_refresh_interval_s
            message(f"Catalogs are refreshed in the background every {every:g} s.")
        arrowpool.make_default()  # a long-lived process: freed Arrow memory goes back
        app = create_app(workbench)
        uvicorn.run(app, host=bind_host, port=bind_port, log_config=None)
