"""The browser suite: one real ``querydeck serve`` per run (the demo connections and a
Chinook database on the real PostgreSQL), driven by Debian's Chromium through Playwright.

Users, grants and connections are set up with the Workbench on the server's data directory
before the server starts; the journeys then go through the UI only. Every test gets a
fresh browser context (no cookies, no storage); each page it visits can be kept as a
screenshot in ``tests/browser/artefacts/`` (git-ignored). A page error or a
Content-Security-Policy violation fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Role
from querydeck.runs.models import SavedQueryInput
from querydeck.settings import load_settings
from tests.chinook import load_postgres
from tests.conftest import CHEAP_ARGON2
from tests.services import mysql_database, mysql_reader, postgres_database, postgres_reader

CHROMIUM = Path(os.environ.get("QUERYDECK_TEST_CHROMIUM", "/usr/bin/chromium"))
#: The flags that work on the project's machines (no GPU, no network but loopback).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
# The machine is shared: a first catalog read or a million-row sort can take seconds.
expect.set_options(timeout=15_000)
WEB_BUILT = Path(__file__).resolve().parents[2] / "src" / "querydeck" / "web" / "index.html"
PASSWORDS = {
    "admin": "admin-pass-123",
    "ana": "analyst-pass-123",
    "bob": "analyst-pass-456",
    "vera": "viewer-pass-123",
}
ROLES = {"admin": Role.admin, "ana": Role.analyst, "bob": Role.analyst, "vera": Role.viewer}


@dataclass
class Server:
    url: str
    data_dir: Path
    postgres_admin_url: str
    postgres_url: str
    #: A MariaDB login that checks its password (the local PostgreSQL trusts every
    #: password on loopback, so a wrong one cannot be refused there).
    mysql_url: str
    process: subprocess.Popen[bytes]
    log: Path
    users: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(data_dir: Path, demo_files: Path, reader_url: str) -> None:
    """Users, connections and grants, written before the server starts."""
    shutil.copytree(demo_files, data_dir / "demo")
    cheap = {key.removeprefix("QUERYDECK_").lower(): int(v) for key, v in CHEAP_ARGON2.items()}
    wb = Workbench(load_settings(data_dir=data_dir, **cheap)).open()
    try:
        wb.admin.create_demo()
        for name, password in PASSWORDS.items():
            wb.accounts.create_user(LOCAL, name, role=ROLES[name], password=password)
        wb.connections.create("chinook_pg", url=reader_url)
        for user in ("ana", "bob"):
            for connection in ("demo", "chinook_pg", "chinook"):
                wb.grants.grant(connection, "user", user, ["query", "export"])
        wb.grants.grant("chinook", "user", "vera", ["browse", "query"])
        wb.saved.create(
            SavedQueryInput(
                name="Top artists",
                sql='SELECT "Name" FROM "Artist" ORDER BY "Name" LIMIT 5',
                connection="chinook",
                shared=True,
                tags=["music"],
            )
        )
    finally:
        wb.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, demo_files: Path) -> Iterator[Server]:
    if not WEB_BUILT.is_file():
        pytest.fail("The web UI is not built: run `make web` first.", pytrace=False)
    with (
        postgres_database() as admin_url,
        mysql_database() as mysql_admin_url,
        mysql_reader(mysql_admin_url) as mysql_url,
    ):
        load_postgres(admin_url)
        with postgres_reader(admin_url) as reader_url:
            data_dir = tmp_path_factory.mktemp("browser") / "data"
            _prepare(data_dir, demo_files, reader_url)
            port = _free_port()
            log = data_dir.parent / "serve.log"
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith("QUERYDECK_") or key.startswith("QUERYDECK_TEST_")
            }
            env.update(CHEAP_ARGON2)
            env.update(
                {
                    "QUERYDECK_DATA_DIR": str(data_dir),
                    # Request lines with their status, for a failure's post-mortem.
                    "QUERYDECK_LOG_LEVEL": "INFO",
                    # The journeys start many runs in a minute from one address.
                    "QUERYDECK_RATE_LIMIT_RUNS_USER": "",
                    "QUERYDECK_RATE_LIMIT_RUNS_ADDRESS": "",
                    "QUERYDECK_RATE_LIMIT_LOGIN_USER": "",
                    "QUERYDECK_RATE_LIMIT_LOGIN_ADDRESS": "",
                    # The assistant's journeys ask a scripted model on this machine's
                    # loopback (tests/llmserver.py), which an administrator must allow.
                    "QUERYDECK_ASSISTANT_ALLOW_LOOPBACK": "true",
                    "QUERYDECK_RATE_LIMIT_ASSISTANT_USER": "",
                }
            )
            command = [str(Path(sys.executable).parent / "querydeck"), "serve", "--port", str(port)]
            with log.open("wb") as out:
                process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_up(url, process, log)
                yield Server(url, data_dir, admin_url, reader_url, mysql_url, process, log)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"querydeck serve exited:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"querydeck serve did not come up:\n{log.read_text()[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs it.", pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Problems:
    """What went wrong in the page while a test drove it."""

    errors: list[str] = field(default_factory=list)


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=server.url,
        viewport={"width": 1280, "height": 800},
        accept_downloads=True,
    )
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    problems = Problems()
    pg = context.new_page()
    pg.on("pageerror", lambda error: problems.errors.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.errors.append(f"CSP: {message.text}")

    pg.on("console", console)
    yield pg
    ARTEFACTS.mkdir(exist_ok=True)
    name = request.node.name.replace("/", "_")[:120]
    report = getattr(request.node, "report_call", None)
    prefix = "FAILED-" if report is not None and report.failed else ""
    pg.screenshot(path=str(ARTEFACTS / f"{prefix}{name}.png"))
    assert not problems.errors, problems.errors


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep the call's report on the test, for the page fixture's screenshot name."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.report_call = report  # type: ignore[attr-defined]


def screenshot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def sign_in(page: Page, user: str, path: str = "/") -> None:
    """Sign in through the login page and wait for the signed-in shell."""
    page.goto(path)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
