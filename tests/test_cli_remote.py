"""The command line against a real querydeck server (uvicorn in a thread on 127.0.0.1):
``querydeck login``/``logout``, ``--server`` for query, history, export, schema and search,
compared with the same commands run on this machine's Workbench on the same data.
"""

from __future__ import annotations

import http.server
import os
import secrets
import shutil
import signal
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from querydeck import logs
from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Action, Principal, Role
from querydeck.cli import app as cli_app
from querydeck.cli.credentials import Credential, CredentialStore, credentials_path, server_url
from querydeck.cli.remote import RemoteWorkbench, _held_interrupt
from querydeck.errors import ServerUrlInvalid, Unauthenticated
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import load_settings
from tests.tlsfakes import make_ca, make_server

LONG_QUERY = "SELECT count(*) FROM range(100000000) a, range(1000) b"
TRACKS = (
    "SELECT TrackId, Name, Composer, UnitPrice, Milliseconds FROM Track "
    "WHERE TrackId BETWEEN 60 AND 75 ORDER BY TrackId"
)
TOKEN_MAX_DAYS = 60
Invoke = Callable[..., Result]


@dataclass
class Server:
    wb: Workbench
    url: str
    data_dir: Path
    passwords: dict[str, str]


def _password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_files: Path) -> Iterator[Server]:
    """One server for the module: the demo connections; ``alice`` (admin), ``bob`` (analyst
    with a grant on chinook) and ``carol`` (analyst without grants)."""
    logs.configure("WARNING")  # the server's request lines would land in the CLI's stdout
    data_dir = tmp_path_factory.mktemp("server") / "data"
    shutil.copytree(demo_files, data_dir / "demo")  # built once per process
    settings = load_settings(
        data_dir=data_dir,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        token_max_days=TOKEN_MAX_DAYS,  # shorter than login's default 90 days
    )
    wb = Workbench(settings).open()
    wb.admin.create_demo()
    passwords = {}
    for name, role in (("alice", Role.admin), ("bob", Role.analyst), ("carol", Role.analyst)):
        passwords[name] = _password()
        wb.accounts.create_user(LOCAL, name, role=role, password=passwords[name])
    wb.grants.grant("chinook", "user", "bob", [Action.browse, Action.query, Action.export])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(wb), log_config=None, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert uv.started, "the test server did not start"
    try:
        yield Server(wb, f"http://127.0.0.1:{port}", data_dir, passwords)
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        wb.close()


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    return tmp_path / "config" / "querydeck" / "credentials.json"


@pytest.fixture
def cli(
    _isolated_environment: None, server: Server, creds: Path, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    """``querydeck ARGS`` in-process: local mode works on the server's data directory."""
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(server.data_dir))
    monkeypatch.setenv("QUERYDECK_CREDENTIALS", str(creds))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(cli_app, list(args), input=stdin)

    return invoke


@pytest.fixture
def remote(cli: Invoke, server: Server) -> Invoke:
    def invoke(*args: str, stdin: str | None = None) -> Result:
        return cli("--server", server.url, *args, stdin=stdin)

    return invoke


def login(cli: Invoke, server: Server, user: str, password: str | None = None) -> Result:
    return cli(
        "login",
        server.url,
        "--username",
        user,
        "--password-stdin",
        stdin=(password or server.passwords[user]) + "\n",
    )


def logged_in(cli: Invoke, server: Server, user: str) -> None:
    result = login(cli, server, user)
    assert result.exit_code == 0, result.output


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def fails_with(result: Result, code: str) -> str:
    assert result.exit_code == 1, result.output
    assert f"Error [{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


def newest_run(invoke: Invoke) -> dict[str, Any]:
    page = orjson.loads(ok(invoke("history", "--limit", "1", "--format", "json")).stdout)
    run: dict[str, Any] = page["items"][0]
    return run


# --- login and logout ---------------------------------------------------------------------


def test_login_keeps_a_0600_token_that_works(cli: Invoke, remote: Invoke, server: Server) -> None:
    result = login(cli, server, "bob")
    ok(result)
    store = CredentialStore()
    kept = store.get(server.url)
    assert kept is not None
    assert kept.token.startswith("qdt_")
    assert kept.username == "bob"
    assert kept.token not in result.output
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert "Logged in to" in result.stderr
    assert "bob (analyst)" in result.stderr
    # The token is the user's, named after this host; the login session was ended.
    bob = server.wb.accounts.authenticate_token(kept.token)
    assert bob.username == "bob"
    assert bob.role is Role.analyst
    [token] = [t for t in server.wb.accounts.list_tokens(bob).items if t.id == kept.token_id]
    assert token.name == f"cli@{socket.gethostname()}"
    # The default 90 days is more than this server allows: its longest lifetime is used.
    assert token.expires_at - token.created_at == timedelta(days=TOKEN_MAX_DAYS)
    assert kept.expires_at == token.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    ok(remote("query", "chinook", "SELECT 1 AS one", "--format", "csv"))
    assert newest_run(remote)["user"] == "bob"

    # A second login replaces the token and revokes the one it replaces.
    ok(login(cli, server, "bob"))
    with pytest.raises(Unauthenticated):
        server.wb.accounts.authenticate_token(kept.token)
    assert CredentialStore().get(server.url) not in (None, kept)


def test_login_asks_for_the_name_and_password(cli: Invoke, server: Server) -> None:
    result = cli("login", server.url, stdin=f"carol\n{server.passwords['carol']}\n")
    ok(result)
    assert server.passwords["carol"] not in result.output  # not echoed
    kept = CredentialStore().get(server.url)
    assert kept is not None
    assert kept.username == "carol"


def test_wrong_password_and_bad_addresses(cli: Invoke, server: Server, creds: Path) -> None:
    fails_with(login(cli, server, "bob", "not-the-password"), "LOGIN_FAILED")
    fails_with(login(cli, server, "nobody", "whatever-it-is"), "LOGIN_FAILED")
    assert not creds.exists()
    # An explicit lifetime the server does not allow is an error, not silently shortened.
    days = str(TOKEN_MAX_DAYS + 1)
    too_long = cli(
        "login",
        server.url,
        "-u",
        "bob",
        "--password-stdin",
        "--days",
        days,
        stdin=server.passwords["bob"] + "\n",
    )
    fails_with(too_long, "TOKEN_EXPIRY_INVALID")
    assert not creds.exists()
    # Plain http to another machine would send the password and token in clear.
    text = fails_with(
        cli("login", "http://192.0.2.10:8765", "-u", "bob", "--password-stdin", stdin="x\n"),
        "SERVER_URL_INVALID",
    )
    assert "--insecure" in text
    fails_with(cli("login", "ftp://example.com", "-u", "bob"), "SERVER_URL_INVALID")
    fails_with(
        cli("login", server.url, "-u", "bob", "--password-stdin", stdin="\n"), "INVALID_INPUT"
    )
    assert cli("login", server.url, "--password-stdin", stdin="pw\n").exit_code == 2  # no user
    fails_with(cli("logout"), "NOT_LOGGED_IN")
    assert not creds.exists()


def test_logout_revokes_the_token(
    cli: Invoke, remote: Invoke, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(cli, server, "bob")
    kept = CredentialStore().get(server.url)
    assert kept is not None
    result = ok(cli("logout"))  # the only server logged in to
    assert "revoked" in result.stderr
    assert CredentialStore().get(server.url) is None
    with pytest.raises(Unauthenticated):
        server.wb.accounts.authenticate_token(kept.token)
    fails_with(remote("history"), "NOT_LOGGED_IN")
    monkeypatch.setenv("QUERYDECK_TOKEN", kept.token)
    text = fails_with(remote("history"), "UNAUTHENTICATED")
    monkeypatch.delenv("QUERYDECK_TOKEN")
    assert f"querydeck login {server.url}" in text
    fails_with(cli("logout", server.url), "NOT_LOGGED_IN")

    # --forget removes the token here only: it still works on the server.
    logged_in(cli, server, "bob")
    kept = CredentialStore().get(server.url)
    assert kept is not None
    assert "not revoked" in ok(cli("logout", "--forget", server.url)).stderr
    assert CredentialStore().get(server.url) is None
    bob = server.wb.accounts.authenticate_token(kept.token)
    assert kept.token_id is not None
    server.wb.accounts.revoke_token(bob, kept.token_id)


def test_logout_from_an_unreachable_server_keeps_the_token(cli: Invoke) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = CredentialStore()
    store.put(closed, Credential(token="qdt_" + "y" * 43, token_id="t-1", username="bob"))
    store.put("https://other.example", Credential(token="qdt_" + "z" * 43, token_id="t-2"))
    assert cli("logout").exit_code == 2  # two servers: which one?
    text = fails_with(cli("logout", closed + "/"), "SERVER_UNREACHABLE")
    assert f"querydeck logout --forget {closed}" in text
    assert store.get(closed) is not None
    ok(cli("logout", "--forget", closed))
    assert set(store.servers()) == {"https://other.example"}


def test_unreachable_server(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("QUERYDECK_TOKEN", "qdt_" + "x" * 43)
    fails_with(cli("--server", closed, "query", "chinook", "SELECT 1"), "SERVER_UNREACHABLE")
    monkeypatch.setenv("QUERYDECK_SERVER", closed)
    fails_with(cli("history"), "SERVER_UNREACHABLE")
    fails_with(
        cli("login", closed, "-u", "bob", "--password-stdin", stdin="pw\n"), "SERVER_UNREACHABLE"
    )


class _NotQuerydeck(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", "https://elsewhere.example/")
            self.end_headers()
            return
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_https_server_with_a_certificate_nobody_vouches_for_is_refused(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The client's certificate check (built once per process, shared by every client it
    opens) still refuses a certificate signed by an unknown CA, on every request."""
    server = make_server(make_ca(), ["localhost"], "localhost")
    (tmp_path / "cert.pem").write_bytes(server.pem + server.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem")
    other = http.server.HTTPServer(("127.0.0.1", 0), _NotQuerydeck)
    other.socket = context.wrap_socket(other.socket, server_side=True)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    base = f"https://localhost:{other.server_address[1]}"
    monkeypatch.setenv("QUERYDECK_TOKEN", "qdt_" + "x" * 43)
    try:
        for _ in range(2):
            text = fails_with(cli("--server", base, "history"), "SERVER_UNREACHABLE")
            assert "certificate verify failed" in text, text
    finally:
        other.shutdown()


def test_an_answer_that_is_not_querydecks(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    other = http.server.HTTPServer(("127.0.0.1", 0), _NotQuerydeck)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{other.server_address[1]}"
    monkeypatch.setenv("QUERYDECK_TOKEN", "qdt_" + "x" * 43)
    try:
        text = fails_with(cli("--server", base, "history"), "SERVER_ANSWER_INVALID")
        assert "HTTP 502" in text
        text = fails_with(cli("--server", base + "/moved", "history"), "SERVER_ANSWER_INVALID")
        assert "redirect" in text
        assert "elsewhere.example" in text
    finally:
        other.shutdown()
        other.server_close()


def test_credentials_file_readable_by_others_is_refused(
    cli: Invoke, remote: Invoke, server: Server, creds: Path
) -> None:
    logged_in(cli, server, "carol")
    creds.chmod(0o644)
    text = fails_with(remote("history"), "CREDENTIALS_INVALID")
    assert "chmod 600" in text


def test_local_only_commands_refuse_in_server_mode(remote: Invoke) -> None:
    text = fails_with(remote("keys", "rotate"), "LOCAL_ONLY_COMMAND")
    assert "querydeck keys" in text
    fails_with(remote("users", "list"), "LOCAL_ONLY_COMMAND")


def test_connections_over_the_server_as_the_users_grants(
    cli: Invoke, remote: Invoke, server: Server
) -> None:
    logged_in(cli, server, "bob")
    page = orjson.loads(ok(remote("connections", "list", "-f", "json")).stdout)
    assert [c["name"] for c in page["items"]] == ["chinook"]
    assert "chinook" in ok(remote("connections", "list")).stdout
    shown = orjson.loads(ok(remote("connections", "show", "chinook", "-f", "json")).stdout)
    assert shown["driver"] == "sqlite"
    fails_with(remote("connections", "show", "demo"), "CONNECTION_NOT_FOUND")
    refused = remote("connections", "add", "x", "sqlite:///x.db")  # administrators only
    assert refused.exit_code == 1
    assert "administrator" in refused.stderr.lower()
    assert "sqlite" in ok(remote("drivers")).stdout

    logged_in(cli, server, "alice")
    names = orjson.loads(ok(remote("connections", "list", "-f", "json")).stdout)["items"]
    assert {c["name"] for c in names} >= {"chinook", "demo"}
    assert ok(remote("connections", "test", "demo")).stdout.startswith("ok: ")
    path = server.data_dir / "files" / "missing.db"
    fails_with(remote("connections", "add", "gone", f"sqlite:///{path}"), "FILE_NOT_FOUND")
    added = ok(remote("connections", "add", "later", f"sqlite:///{path}", "--no-test"))
    assert "not tested" in added.stderr
    ok(remote("connections", "rename", "later", "later2"))
    ok(remote("connections", "remove", "later2", "--yes"))
    names = orjson.loads(ok(cli("connections", "list", "-f", "json")).stdout)["items"]
    assert "later2" not in {c["name"] for c in names}


def test_saved_queries_over_the_server(cli: Invoke, remote: Invoke, server: Server) -> None:
    logged_in(cli, server, "bob")
    name = f"tracks-{secrets.token_hex(3)}"
    added = ok(remote("saved", "add", name, TRACKS, "-c", "chinook", "-t", "music"))
    assert name in added.stderr
    listed = orjson.loads(ok(remote("saved", "list", "-f", "json")).stdout)
    mine = [q for q in listed["items"] if q["name"] == name]
    assert len(mine) == 1
    assert mine[0]["owner"] == "bob"
    shown = orjson.loads(ok(remote("saved", "show", name, "-f", "json")).stdout)
    assert shown["tags"] == ["music"]
    ok(remote("saved", "edit", name, "--description", "sixteen tracks"))
    assert server.wb.saved.get(shown["id"], actor=_bob(server)).description == "sixteen tracks"
    ran = ok(remote("saved", "run", name, "-f", "csv"))
    here = ok(cli("query", "chinook", TRACKS, "-f", "csv"))
    assert ran.stdout == here.stdout
    assert newest_run(remote)["user"] == "bob"
    ok(remote("saved", "delete", name))
    fails_with(remote("saved", "show", name), "SAVED_QUERY_NOT_FOUND")


# --- the same commands, here and there -----------------------------------------------------


def test_query_output_is_the_same_as_local(cli: Invoke, remote: Invoke, server: Server) -> None:
    logged_in(cli, server, "bob")
    for fmt in ("table", "csv", "json", "ndjson", "tsv"):
        here = ok(cli("query", "chinook", TRACKS, "--format", fmt))
        there = ok(remote("query", "chinook", TRACKS, "--format", fmt))
        assert there.stdout == here.stdout, fmt
        assert "16 rows in" in there.stderr
    assert newest_run(remote)["user"] == "bob"


def test_query_to_a_file_and_export_are_the_same_bytes(
    cli: Invoke, remote: Invoke, server: Server, tmp_path: Path
) -> None:
    logged_in(cli, server, "bob")
    sql = "SELECT * FROM Track ORDER BY TrackId"
    for suffix in ("csv", "json", "parquet"):
        ok(cli("query", "chinook", sql, "-o", str(tmp_path / f"here.{suffix}")))
        local_id = newest_run(cli)["id"]
        ok(remote("query", "chinook", sql, "-o", str(tmp_path / f"there.{suffix}")))
        remote_id = newest_run(remote)["id"]
        assert (tmp_path / f"there.{suffix}").read_bytes() == (
            tmp_path / f"here.{suffix}"
        ).read_bytes()
    assert local_id != remote_id
    for fmt in ("csv", "tsv", "json", "ndjson", "parquet"):
        here, there = tmp_path / f"export-here.{fmt}", tmp_path / f"export-there.{fmt}"
        ok(cli("export", local_id, "-o", str(here)))
        result = ok(remote("export", remote_id, "-o", str(there)))
        assert "3,503 rows written to" in result.stderr
        assert there.read_bytes() == here.read_bytes(), fmt
    assert (
        ok(remote("export", remote_id, "-f", "csv")).stdout_bytes
        == (tmp_path / "export-here.csv").read_bytes()
    )
    # bob cannot export the local user's run: it answers like a run that does not exist.
    fails_with(remote("export", local_id), "RUN_NOT_FOUND")
    assert not list(tmp_path.glob(".*.partial"))


def test_errors_are_the_same_as_local(cli: Invoke, remote: Invoke, server: Server) -> None:
    logged_in(cli, server, "bob")
    for sql, code in (
        ("DROP TABLE Track", "SQL_NOT_READ_ONLY"),
        ("SELECT 1;\n  DELETE FROM Track", "SQL_MULTIPLE_STATEMENTS"),
        ("SELECT nope FROM Track", "QUERY_FAILED"),
    ):
        here = cli("query", "chinook", sql)
        there = remote("query", "chinook", sql)
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), sql
        fails_with(there, code)
    assert newest_run(remote)["status"] == "failed"


def test_no_grant_is_the_same_404_as_a_missing_connection(
    cli: Invoke, remote: Invoke, server: Server
) -> None:
    logged_in(cli, server, "carol")
    no_grant = fails_with(remote("query", "chinook", "SELECT 1"), "CONNECTION_NOT_FOUND")
    missing = fails_with(remote("query", "nosuch", "SELECT 1"), "CONNECTION_NOT_FOUND")
    assert no_grant.replace("'chinook'", "'nosuch'") == missing
    assert fails_with(cli("query", "nosuch", "SELECT 1"), "CONNECTION_NOT_FOUND") == missing
    fails_with(remote("schema", "chinook"), "CONNECTION_NOT_FOUND")


def test_history_shows_the_users_own_runs(cli: Invoke, remote: Invoke, server: Server) -> None:
    logged_in(cli, server, "alice")
    ok(remote("query", "chinook", "SELECT 'alice was here' AS who"))
    ok(cli("query", "chinook", "SELECT 'local was here' AS who"))
    logged_in(cli, server, "bob")
    ok(remote("query", "chinook", "SELECT 'bob was here' AS who"))
    fails_with(remote("query", "chinook", "DELETE FROM Track"), "SQL_NOT_READ_ONLY")
    page = orjson.loads(ok(remote("history", "--limit", "1000", "--format", "json")).stdout)
    assert {run["user"] for run in page["items"]} == {"bob"}
    assert page["total"] == server.wb.runs.listing(user="bob").total
    sqls = [run["sql"] for run in page["items"]]
    assert sqls[:2] == ["DELETE FROM Track", "SELECT 'bob was here' AS who"]
    assert not any("alice" in s or "local" in s for s in sqls)
    since = orjson.loads(ok(remote("history", "--since", "2000-01-01", "-f", "json")).stdout)
    assert since["total"] == page["total"]
    until = orjson.loads(
        ok(remote("history", "--until", "2000-01-01T00:00:00+02:00", "-f", "json")).stdout
    )
    assert until["total"] == 0
    filtered = orjson.loads(
        ok(remote("history", "--sql", "BOB WAS", "--status", "succeeded", "-f", "json")).stdout
    )
    assert [run["sql"] for run in filtered["items"]] == ["SELECT 'bob was here' AS who"]
    table = ok(remote("history", "--limit", "2"))
    assert "DELETE FROM Track" in table.stdout
    assert "SQL_NOT_READ_ONLY" in table.stdout
    run_id = page["items"][1]["id"]
    shown = orjson.loads(ok(remote("runs", "show", run_id, "-f", "json")).stdout)
    assert shown["id"] == run_id
    assert shown["user"] == "bob"
    rerun = orjson.loads(ok(remote("runs", "rerun", run_id, "--info", "-f", "json")).stdout)
    assert rerun["status"] == "succeeded"
    assert rerun["user"] == "bob"
    assert rerun["id"] != run_id
    # Someone else's run answers like one that does not exist.
    alice_run = server.wb.runs.listing(user="alice").items[0].id
    fails_with(remote("runs", "show", alice_run), "RUN_NOT_FOUND")


def test_schema_and_search_are_the_same_as_local(
    cli: Invoke, remote: Invoke, server: Server
) -> None:
    logged_in(cli, server, "bob")
    for args in (
        ("schema", "chinook", "--format", "json"),
        ("schema", "chinook", "main", "--format", "json"),
        ("schema", "chinook", "main.Track", "--format", "json"),
        ("schema", "chinook", "main.Track"),
        ("schema", "settings", "chinook"),
    ):
        here, there = ok(cli(*args)), ok(remote(*args))
        assert there.stdout == here.stdout, args
    hits = orjson.loads(ok(remote("search", "track", "--format", "json")).stdout)["items"]
    assert hits
    assert {hit["connection"] for hit in hits} == {"chinook"}
    fails_with(remote("schema", "refresh", "chinook"), "GRANT_MISSING")  # no manage grant
    fails_with(remote("schema", "settings", "chinook", "--include", "main"), "GRANT_MISSING")


def test_ctrl_c_cancels_the_remote_run(remote: Invoke, cli: Invoke, server: Server) -> None:
    logged_in(cli, server, "alice")

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if server.wb.runs.listing(status=RunStatus.running, user="alice").total:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=interrupt_when_running)
    thread.start()
    try:
        result = remote("query", "demo", LONG_QUERY, "--timeout", "60")
    finally:
        thread.join()
    assert result.exit_code == 1, result.output
    assert "The run was cancelled" in result.stderr
    assert newest_run(remote)["status"] == "cancelled"


def test_remote_export_streams_and_counts_rows(server: Server) -> None:
    _, secret = server.wb.accounts.create_token(_bob(server), "export test")
    with RemoteWorkbench(server.url, secret) as remote:
        run_id = remote.runs.start(RunRequest(connection="chinook", sql="SELECT * FROM Track"))
        assert remote.runs.wait(run_id, None).status is RunStatus.succeeded
        for fmt, estimated in ((ExportFormat.csv, True), (ExportFormat.parquet, False)):
            export = remote.runs.export(run_id, fmt)
            assert export.total_rows == 3503
            seen, size = [], 0
            for chunk in export.chunks():
                size += len(chunk)
                seen.append(export.rows_written)
            assert export.rows_written == 3503
            assert seen == sorted(seen)
            assert all(n <= 3503 for n in seen)
            assert (seen[-1] == 3503) is estimated  # CSV counts line ends as it goes
            assert size > 0


def test_a_ctrl_c_while_a_run_starts_is_held_until_its_id_is_known() -> None:
    with _held_interrupt() as caught:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs between bytecodes; no KeyboardInterrupt here
    assert caught == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):  # Python's own handler again
        _interrupt_self()


def _interrupt_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)


def _bob(server: Server) -> Principal:
    user = server.wb.accounts.get_user(LOCAL, "bob")
    return Principal(user.username, user.role, user_id=user.id, via="token")


# --- addresses and the credentials file ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://QD.Example.com/", "https://qd.example.com"),
        ("https://qd.example.com:443", "https://qd.example.com"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("https://proxy.example/querydeck/", "https://proxy.example/querydeck"),
        ("http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_server_addresses_are_normalised(raw: str, expected: str) -> None:
    assert server_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "qd.example.com",
        "file:///etc/passwd",
        "https://user:pw@qd.example.com",
        "https://qd.example.com/?x=1",
        "https://qd.example.com:99999",
        "https://",
    ],
)
def test_bad_server_addresses(raw: str) -> None:
    with pytest.raises(ServerUrlInvalid):
        server_url(raw)


def test_credentials_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUERYDECK_CREDENTIALS", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert credentials_path() == Path.home() / ".config" / "querydeck" / "credentials.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert credentials_path() == tmp_path / "xdg" / "querydeck" / "credentials.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert credentials_path() == Path.home() / ".config" / "querydeck" / "credentials.json"
    monkeypatch.setenv("QUERYDECK_CREDENTIALS", str(tmp_path / "elsewhere.json"))
    assert credentials_path() == tmp_path / "elsewhere.json"
    (tmp_path / "elsewhere.json").write_text("{not json")
    (tmp_path / "elsewhere.json").chmod(0o600)
    with pytest.raises(Exception, match="not a querydeck credentials file"):
        CredentialStore().servers()
