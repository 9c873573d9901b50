"""``querydeck login URL`` and ``querydeck logout [URL]``: a personal API token for the CLI.

Login checks the user name and password through ``POST /api/v1/auth/login``, creates a
personal API token named ``cli@<this host>`` with that session, ends the session, and keeps
the token in the credentials file (see :mod:`querydeck.cli.credentials`). The token is never
printed. Logout revokes the token on the server and removes it here.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel

from querydeck.cli.common import message, server_choice, timestamp
from querydeck.cli.credentials import (
    Credential,
    CredentialStore,
    check_transport,
    server_url,
)
from querydeck.errors import (
    InvalidInput,
    NotLoggedIn,
    QueryDeckError,
    ServerAnswerInvalid,
    ServerUnreachable,
    TokenExpiryInvalid,
    Unauthenticated,
)

if TYPE_CHECKING:  # the HTTP client loads when a command talks to a server
    from querydeck.cli.remote import ServerClient

SESSION_COOKIE = "qd_session"
CSRF_HEADER = "X-CSRF-Token"
#: Days a token made by `querydeck login` lasts unless --days says otherwise.
DEFAULT_DAYS = 90
#: Longest token name the server accepts.
TOKEN_NAME_CHARS = 100


class _LoginAnswer(BaseModel):
    csrf_token: str


class _TokenRef(BaseModel):
    id: str
    name: str
    expires_at: datetime


class _NewToken(BaseModel):
    token: _TokenRef
    secret: str


class _User(BaseModel):
    username: str
    role: str


class _Me(BaseModel):
    user: _User


def token_name() -> str:
    return f"cli@{socket.gethostname() or 'unknown'}"[:TOKEN_NAME_CHARS]


def _session_cookie(client: ServerClient, headers: list[str]) -> str:
    for header in headers:
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(header)
        if SESSION_COOKIE in jar and jar[SESSION_COOKIE].value:
            return jar[SESSION_COOKIE].value
    raise ServerAnswerInvalid(
        f"The server at {client.server} accepted the login but sent no session cookie; is "
        "it a querydeck server?"
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin and not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:  # a terminal: never echo it
        password = typer.prompt("Password", hide_input=True)
    if not password:
        raise InvalidInput("The password is empty.")
    return password


def _new_token(client: ServerClient, session: dict[str, str], days: int | None) -> _NewToken:
    """A token expiring after ``days``; None: :data:`DEFAULT_DAYS`, or the server's longest
    token lifetime when that is shorter."""
    body = {"name": token_name(), "expires_days": days or DEFAULT_DAYS}
    try:
        return client.call(_NewToken, "POST", "/me/tokens", json=body, headers=session)
    except InvalidInput as exc:
        longest = exc.detail.get("max_days")
        if days is not None or exc.code != TokenExpiryInvalid.code or not isinstance(longest, int):
            raise
        body["expires_days"] = longest
        return client.call(_NewToken, "POST", "/me/tokens", json=body, headers=session)


def _create_token(
    client: ServerClient, username: str, password: str, days: int | None
) -> tuple[_NewToken, _User]:
    """Log in, make a token with that session, log the session out; the token and the
    user's name as the server spells it."""
    from querydeck.cli.remote import ServerClient, parse

    answer = client.send("POST", "/auth/login", json={"username": username, "password": password})
    csrf = parse(client.server, _LoginAnswer, answer.content).csrf_token
    cookie = _session_cookie(client, answer.headers.get_list("set-cookie"))
    session = {"Cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: csrf}
    try:
        made = _new_token(client, session, days)
    finally:
        with contextlib.suppress(QueryDeckError):
            client.send("POST", "/auth/logout", headers=session)
    with ServerClient(client.server, made.secret) as as_token:
        me = as_token.call(_Me, "GET", "/auth/me")
    return made, me.user


def _revoke(server: str, credential: Credential) -> None:
    """Revoke a kept token with itself; a token the server no longer accepts is done."""
    if credential.token_id is None:
        return
    from querydeck.cli.remote import ServerClient, segment

    with ServerClient(server, credential.token) as client, contextlib.suppress(Unauthenticated):
        client.send("DELETE", f"/me/tokens/{segment(credential.token_id)}")


def login(
    url: Annotated[
        str, typer.Argument(metavar="URL", help="The server, e.g. https://qd.example.com.")
    ],
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="User name (asked when not given).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help=f"Days until the token expires (default: {DEFAULT_DAYS}, or the server's "
            "longest token lifetime when shorter).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Allow plain http to another machine (the token travels in clear)."
        ),
    ] = False,
) -> None:
    """Log in to a querydeck server and keep an API token for it (0600 credentials file);
    then `--server URL` (or QUERYDECK_SERVER) runs query, history, export... there."""
    server = server_url(url)
    check_transport(server, insecure=insecure)
    if username is None:
        if password_stdin:
            raise typer.BadParameter("give the user name with --username", param_hint="--username")
        username = typer.prompt("Username")
    password = _read_password(password_stdin)
    store = CredentialStore()
    previous = store.get(server)
    from querydeck.cli.remote import ServerClient

    with ServerClient(server) as client:
        made, user = _create_token(client, username, password, days)
    store.put(
        server,
        Credential(
            token=made.secret,
            token_id=made.token.id,
            username=user.username,
            insecure=insecure,
            expires_at=timestamp(made.token.expires_at),
        ),
    )
    if previous is not None:
        with contextlib.suppress(QueryDeckError):
            _revoke(server, previous)  # the token this login replaces
    message(
        f"Logged in to {server} as {user.username} ({user.role}). The API token "
        f"{made.token.name!r} expires {timestamp(made.token.expires_at)}; it is kept in "
        f"{store.path}."
    )


def logout(
    url: Annotated[
        str | None,
        typer.Argument(
            metavar="[URL]", help="The server (default: --server, or the only one logged in to)."
        ),
    ] = None,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget", help="Only remove the token here, without revoking it on the server."
        ),
    ] = False,
) -> None:
    """Revoke this CLI's API token on a server and remove it from the credentials file."""
    store = CredentialStore()
    server = _logout_target(url, store)
    credential = store.get(server)
    if credential is None:
        raise NotLoggedIn(f"Not logged in to {server}.", detail={"server": server})
    if not forget:
        try:
            _revoke(server, credential)
        except ServerUnreachable as exc:
            raise ServerUnreachable(
                f"{exc.message} The token is kept; `querydeck logout --forget {server}` "
                "removes it here without revoking it."
            ) from None
    store.remove(server)
    done = "removed here (not revoked)" if forget else "revoked and removed"
    message(f"Logged out of {server}: the API token was {done}.")


def _logout_target(url: str | None, store: CredentialStore) -> str:
    if url is not None:
        return server_url(url)
    chosen = server_choice().server
    if chosen is not None:
        return server_url(chosen)
    known = sorted(store.servers())
    if len(known) == 1:
        return known[0]
    if not known:
        raise NotLoggedIn("Not logged in to any server.")
    raise typer.BadParameter(
        "logged in to several servers: name one (" + ", ".join(known) + ")", param_hint="URL"
    )
