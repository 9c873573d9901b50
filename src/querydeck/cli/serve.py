"""``querydeck serve``: the API (and UI) over HTTP with uvicorn."""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from querydeck.cli.common import message, open_workbench
from querydeck.errors import AddressUnavailable

if TYPE_CHECKING:
    from querydeck.settings import Settings


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


def _how_to_choose(port: int) -> str:
    other = port + 1 if port < 65535 else 8765
    return (
        f"Choose another port: `querydeck serve --port {other}`, or set "
        f"QUERYDECK_PORT={other} (or `port` in the settings file)."
    )


def bind_address(host: str, port: int) -> socket.socket:
    """The listening socket for ``host:port``, bound before anything else happens (no
    migration, no administrator, no demo), so that a taken port stops the start at once
    and the server never races another process for it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise AddressUnavailable(
            f"Cannot serve on {host!r}: it is not an address or a known host name "
            f"({exc.strerror}). Set another one with --host or QUERYDECK_HOST."
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            text = (
                f"Port {port} on {host} is already in use by another process (another "
                f"querydeck serve?). {_how_to_choose(port)}"
            )
        elif exc.errno == errno.EACCES:
            text = (
                f"Not allowed to listen on port {port} (ports below 1024 need privileges). "
                f"{_how_to_choose(port)}"
            )
        else:
            text = (
                f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another address "
                "with --host or QUERYDECK_HOST, or another port with --port or QUERYDECK_PORT."
            )
        raise AddressUnavailable(text, detail={"host": host, "port": port}) from None
    sock.set_inheritable(True)
    return sock


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: the host setting).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to bind (default: the port setting, QUERYDECK_PORT, 8765).",
        ),
    ] = None,
) -> None:
    """Serve the API; registers the demo connections when there are none yet, and creates
    the administrator ``admin`` (password printed once) when there is no user yet."""
    from querydeck.settings import load_settings

    settings = load_settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    listening = bind_address(bind_host, bind_port)  # before anything else
    try:
        _serve(settings, listening, bind_host, bind_port)
    finally:
        listening.close()


def _serve(settings: Settings, listening: socket.socket, bind_host: str, bind_port: int) -> None:
    import uvicorn

    from querydeck import logs
    from querydeck.api import create_app, prepare_routes
    from querydeck.runs.results import arrowpool

    with open_workbench(settings) as workbench:
        logs.configure(settings.log_level)
        if not workbench.connections.any_registered():
            made = workbench.admin.create_demo()
            names = ", ".join(f"{c.name} ({c.driver})" for c in made)
            message(f"No connections yet: registered the demo connections {names}.")
        url_host = f"[{bind_host}]" if ":" in bind_host else bind_host
        base = f"http://{url_host}:{bind_port}"
        message(f"querydeck is serving at {base} (API docs: {base}/api/docs); Ctrl-C stops it.")
        _login_hint(workbench.accounts.ensure_initial_admin())
        if workbench.catalog.start_background_refresh():
            every = settings.catalog_refresh_interval_s
            message(f"Catalogs are refreshed in the background every {every:g} s.")
        arrowpool.make_default()  # a long-lived process: freed Arrow memory goes back
        workbench.warm()  # everything loaded before the first (concurrent) requests
        app = create_app(workbench)
        prepare_routes(app)  # before the first request, as the warm-up above
        bound_host, bound_port = listening.getsockname()[:2]
        # The outbound policy refuses connections to this very listener, as bound.
        workbench.sandbox.addresses.add_listener(bind_host, bound_port)
        workbench.sandbox.addresses.add_listener(str(bound_host), bound_port)
        server = uvicorn.Server(
            uvicorn.Config(app, host=bind_host, port=bind_port, log_config=None)
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listening])
        if not server.started:
            raise typer.Exit(3)  # uvicorn logged why (as uvicorn.run exits)
