"""The assistant in the browser: the Ask panel beside the editor (a question on the demo's
Chinook → checked SQL → run → rows; follow-ups; cancel; thumbs-up), the knowledge page
(the candidate approved), model endpoint administration (register, test, edit, delete,
the per-connection switches) and the inference log — against the scripted OpenAI-protocol
server of tests/llmserver.py on a free 127.0.0.1 port (the browser suite's server allows
loopback model servers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.assistant_fixtures import gold
from tests.browser.conftest import PASSWORDS, Server, screenshot, sign_in
from tests.browser.test_pages import check_page
from tests.llmserver import Answer, LLMServer, Script, llm_server, messages, oracle

CHINOOK = gold("chinook")
ALBUMS = "How many albums are there?"
GENRES = "List the names of all genres."
ARTISTS = "How many artists are in the catalog?"
ENDPOINT = "scripted"


def explaining(base: Script) -> Script:
    """``base``, and a plain-words answer to the explanation prompt."""

    def script(path: str, body: dict[str, Any]) -> Answer:
        if any("Explain in a few plain sentences" in m["content"] for m in messages(body)):
            return Answer(content="It counts the albums: one number.")
        return base(path, body)

    return script


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server() as server:
        server.use(oracle(CHINOOK, "sqlite"))
        yield server


@contextmanager
def api(server: Server, user: str) -> Iterator[httpx.Client]:
    """An API client signed in as ``user`` (its CSRF token on every request)."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": user, "password": PASSWORDS[user]}
        )
        login.raise_for_status()
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        yield client


def endpoint_names(admin: httpx.Client) -> list[str]:
    listing = admin.get("/api/v1/assistant/endpoints")
    listing.raise_for_status()
    return [e["name"] for e in listing.json()["items"]]


@pytest.fixture
def endpoint(server: Server, llm: LLMServer) -> str:
    """The scripted model registered as the default chat endpoint (the oracle answering)."""
    llm.use(oracle(CHINOOK, "sqlite"))
    with api(server, "admin") as admin:
        if ENDPOINT not in endpoint_names(admin):
            admin.post(
                "/api/v1/assistant/endpoints",
                json={"name": ENDPOINT, "base_url": llm.url, "model": "oracle", "default": True},
            ).raise_for_status()
    return ENDPOINT


def open_ask(page: Page, connection: str = "chinook") -> None:
    """The editor on ``connection`` with the Ask panel open."""
    page.get_by_label("Connection").select_option(connection)
    toggle = page.get_by_role("button", name="Ask", exact=True)
    if toggle.get_attribute("aria-pressed") != "true":
        toggle.click()
    expect(page.get_by_role("complementary", name="Ask a question")).to_be_visible()


def ask(page: Page, question: str) -> None:
    panel = page.get_by_role("complementary", name="Ask a question")
    panel.get_by_role("textbox").fill(question)
    panel.get_by_role("textbox").press("Control+Enter")


def test_without_a_model_the_panel_says_so_and_admins_get_the_way(
    page: Page, server: Server
) -> None:
    with api(server, "admin") as admin:
        for name in endpoint_names(admin):
            admin.delete(f"/api/v1/assistant/endpoints/{name}").raise_for_status()
    sign_in(page, "admin")
    open_ask(page)
    ask(page, ALBUMS)
    alert = page.get_by_role("complementary", name="Ask a question").get_by_role("alert")
    expect(alert).to_contain_text("No model is configured")
    expect(alert).to_contain_text("No chat model endpoint is registered")
    screenshot(page, "assistant-not-configured")
    alert.get_by_role("link", name="Register a model endpoint").click()
    expect(page).to_have_url(re.compile(r"/admin/endpoints$"))
    expect(page.get_by_role("heading", name="Model endpoints")).to_be_visible()


def test_an_admin_registers_tests_edits_and_deletes_an_endpoint(
    page: Page, server: Server, llm: LLMServer
) -> None:
    llm.use(oracle(CHINOOK, "sqlite"))
    secret = "sk-browser-secret-4711"
    sign_in(page, "admin", "/admin/endpoints")
    page.get_by_role("button", name="Add endpoint").click()
    form = page.get_by_role("dialog", name="Add a model endpoint")
    form.get_by_label("Name").fill("ui-model")
    form.get_by_label("Base URL").fill(llm.url)
    form.get_by_label("Model", exact=True).fill("oracle")
    form.get_by_label("API key", exact=True).fill(secret)
    form.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="ui-model")
    expect(row).to_contain_text("set")
    expect(row.get_by_test_id("capabilities")).to_have_text("not tested")

    row.get_by_role("button", name="Test ui-model").click()
    expect(row.get_by_test_id("capabilities")).to_contain_text("chat")
    expect(page.get_by_role("status").filter(has_text="ui-model:")).to_contain_text("chat")
    # The key went to the model server as a bearer token, and never came back to the page.
    assert any(h.get("Authorization") == f"Bearer {secret}" for _, _, h in llm.requests)
    assert secret not in page.content()

    row.get_by_role("button", name="Edit ui-model").click()
    edit = page.get_by_role("dialog", name="Edit ui-model")
    expect(edit.get_by_label("API key", exact=True)).to_have_value("")
    edit.get_by_label("Timeout (seconds)").fill("30")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved ui-model")).to_be_visible()
    with api(server, "admin") as admin:
        saved = admin.get("/api/v1/assistant/endpoints/ui-model").json()
    assert saved["timeout_s"] == 30
    assert saved["has_api_key"] is True

    # The per-connection switch: sample values are not sent unless an admin says so.
    page.get_by_role("combobox", name="Connection").select_option("chinook")
    switches = page.get_by_role("group", name="Assistant settings of chinook")
    send = switches.get_by_label(re.compile("^Send sample values"))
    expect(send).not_to_be_checked()
    send.check()
    saved_note = page.get_by_role("status").filter(has_text="Saved the settings of chinook")
    expect(saved_note).to_be_visible()
    expect(send).to_be_checked()
    send.uncheck()
    expect(send).not_to_be_checked()
    screenshot(page, "assistant-endpoints")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete ui-model").click()
    expect(page.get_by_role("row").filter(has_text="ui-model")).to_have_count(0)


def test_ask_run_follow_up_thumbs_up_then_an_editor_approves(
    page: Page, browser: Browser, server: Server, llm: LLMServer, endpoint: str
) -> None:
    llm.use(explaining(oracle(CHINOOK, "sqlite")))
    sign_in(page, "ana")
    open_ask(page)
    panel = page.get_by_role("complementary", name="Ask a question")
    ask(page, ALBUMS)
    first = panel.get_by_role("article", name="Answer 1")
    expect(first.get_by_test_id("ask-sql")).to_have_text(CHINOOK[ALBUMS])
    first.get_by_text("Candidate tables").click()
    candidates = first.get_by_role("table", name="Candidate tables")
    expect(candidates.get_by_role("row").filter(has_text="chosen")).to_contain_text("Album")
    first.get_by_text("Sent to the model").click()
    expect(first).to_contain_text("No sample values from the data")
    expect(first).to_contain_text(endpoint)

    first.get_by_role("button", name="Explain Answer 1 in plain words").click()
    expect(first.get_by_role("heading", name="In plain words")).to_be_visible()
    expect(first).to_contain_text("It counts the albums: one number.")
    expect(first.get_by_test_id("ask-sql")).to_have_text(CHINOOK[ALBUMS])
    expect(first.get_by_role("button", name="Explain Answer 1 in plain words")).to_have_count(0)

    first.get_by_role("button", name="Run the SQL of Answer 1").click()
    expect(page.get_by_test_id("run-summary")).to_contain_text("1 rows")
    expect(page.locator(".grid-cell").filter(has_text=re.compile(r"^347$"))).to_be_visible()

    # A follow-up question carries the thread.
    ask(page, GENRES)
    second = panel.get_by_role("article", name="Answer 2")
    expect(second.get_by_test_id("ask-sql")).to_have_text(CHINOOK[GENRES])
    second.get_by_role("button", name="Open the SQL of Answer 2 in a new tab").click()
    expect(page.get_by_role("tab", name=re.compile("List the names"))).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.locator(".cm-content")).to_contain_text("SELECT Name FROM Genre")

    first.get_by_role("button", name=re.compile("^Thumbs up: Answer 1")).click()
    expect(panel.get_by_role("status").filter(has_text="candidate example")).to_be_visible()
    screenshot(page, "assistant-ask")

    # An editor (here the administrator) reviews it on the knowledge page.
    admin_context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 800}
    )
    try:
        admin = admin_context.new_page()
        sign_in(admin, "admin", "/knowledge/chinook")
        admin.get_by_label("Status").select_option("candidate")
        row = admin.get_by_role("row").filter(has_text=ALBUMS)
        expect(row).to_contain_text("candidate")
        expect(row).to_contain_text("ana")
        row.get_by_role("button", name=re.compile("^Approve")).click()
        expect(admin.get_by_role("status").filter(has_text="Approved")).to_be_visible()
        expect(admin.get_by_role("row").filter(has_text=ALBUMS)).to_have_count(0)
        admin.get_by_label("Status").select_option("approved")
        approved = admin.get_by_role("row").filter(has_text=ALBUMS)
        expect(approved).to_contain_text("approved")
        expect(approved).to_contain_text("reviewed by admin")
        screenshot(admin, "assistant-knowledge")
    finally:
        admin_context.close()


def test_a_question_in_flight_is_cancelled(
    page: Page, server: Server, llm: LLMServer, endpoint: str
) -> None:
    llm.use(lambda path, body: Answer(content="{}", delay_s=8))
    try:
        sign_in(page, "bob")
        open_ask(page)
        ask(page, ARTISTS)
        panel = page.get_by_role("complementary", name="Ask a question")
        progress = panel.get_by_role("status").filter(has_text="Asking the model")
        expect(progress).to_be_visible()
        expect(panel.get_by_test_id("ask-elapsed")).to_have_text(re.compile(r"^[1-9][.0-9]* s$"))
        panel.get_by_role("button", name="Cancel (Esc)").click()
        expect(panel.get_by_role("status").filter(has_text="Cancelled")).to_be_visible()
        expect(progress).to_have_count(0)
        expect(panel.get_by_role("article")).to_have_count(0)
    finally:
        llm.use(oracle(CHINOOK, "sqlite"))


def test_the_inference_log_shows_each_users_calls(
    page: Page, browser: Browser, server: Server, endpoint: str
) -> None:
    with api(server, "bob") as bob:
        bob.post("/api/v1/connections/chinook/ask", json={"question": ARTISTS}).raise_for_status()
    sign_in(page, "bob")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Model log").click()
    calls = page.get_by_role("table", name="Model calls")
    expect(calls.get_by_role("row").filter(has_text="ask.sql").first).to_be_visible()
    expect(calls.get_by_role("columnheader", name="User")).to_have_count(0)
    page.get_by_label("Purpose").select_option("ask.sql")
    row = calls.get_by_role("row").filter(has_text="ask.sql").first
    expect(row).to_contain_text(endpoint)
    expect(row).to_contain_text("ok")
    row.get_by_role("button", name=re.compile("^Detail: the prompt")).click()
    dialog = page.get_by_role("dialog", name="Model call")
    expect(dialog.get_by_test_id("log-prompt")).to_contain_text(f"Question: {ARTISTS}")
    expect(dialog.get_by_test_id("log-response")).to_contain_text("SELECT COUNT(*) FROM Artist")
    screenshot(page, "assistant-log")
    dialog.get_by_role("button", name="Close").click()

    # Another analyst sees none of bob's calls; an administrator sees everyone's.
    other = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    try:
        vera = other.new_page()
        sign_in(vera, "vera", "/assistant/log")
        expect(vera.get_by_text("No model calls yet.")).to_be_visible()
        vera.context.clear_cookies()
        sign_in(vera, "admin", "/assistant/log")
        vera.get_by_label("Every user").check()
        everyone = vera.get_by_role("table", name="Model calls")
        expect(everyone.get_by_role("columnheader", name="User")).to_be_visible()
        expect(everyone.get_by_role("row").filter(has_text="bob").first).to_be_visible()
    finally:
        other.close()


def test_the_assistant_pages_pass_axe(page: Page, server: Server, endpoint: str) -> None:
    sign_in(page, "admin")
    open_ask(page)
    ask(page, GENRES)
    answer = page.get_by_role("article", name="Answer 1")
    expect(answer.get_by_test_id("ask-sql")).to_have_text(CHINOOK[GENRES])
    for summary in ("Tables chosen", "Candidate tables", "Examples used", "Sent to the model"):
        answer.get_by_text(summary).click()
    check_page(page, "ask-panel")
    page.get_by_role("button", name="Switch to the dark theme").click()
    expect(page.locator("html[data-theme='dark']")).to_have_count(1)
    check_page(page, "ask-panel-dark")
    page.get_by_role("button", name="Switch to the light theme").click()
    for path, heading in (
        ("/knowledge/chinook", "Knowledge base"),
        ("/admin/endpoints", "Model endpoints"),
        ("/assistant/log", "Inference log"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        page.wait_for_load_state("networkidle")
        check_page(page, path.strip("/").replace("/", "-"))
    page.get_by_role("button", name=re.compile("^Detail: the prompt")).first.click()
    expect(page.get_by_role("dialog", name="Model call")).to_be_visible()
    check_page(page, "assistant-log-detail")
    page.keyboard.press("Escape")

    # At a phone's size the panel (still open after the reload) stacks under the editor.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    panel = page.get_by_role("complementary", name="Ask a question")
    expect(panel).to_be_visible()
    ask(page, GENRES)
    answer = panel.get_by_role("article", name="Answer 1")
    answer.get_by_role("button", name="Insert the SQL of Answer 1 into the editor").click()
    expect(page.locator(".cm-content")).to_contain_text(CHINOOK[GENRES])
    check_page(page, "ask-panel-phone")


def test_an_example_gone_stale_is_highlighted_with_the_reason(page: Page, server: Server) -> None:
    reader = urlsplit(server.postgres_url).username
    with psycopg.connect(server.postgres_admin_url, autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS kb_probe")
        pg.execute("CREATE TABLE kb_probe (id integer, label text)")
        pg.execute(f'GRANT SELECT ON kb_probe TO "{reader}"')
    question = "Which labels do the probes have?"
    with api(server, "admin") as admin:
        admin.post("/api/v1/connections/chinook_pg/catalog/refresh").raise_for_status()
        added = admin.post(
            "/api/v1/connections/chinook_pg/knowledge/examples",
            json={"question": question, "sql": "SELECT label FROM kb_probe"},
        )
        assert added.status_code == 201, added.text
        with psycopg.connect(server.postgres_admin_url, autocommit=True) as pg:
            pg.execute("ALTER TABLE kb_probe DROP COLUMN label")
        admin.post("/api/v1/connections/chinook_pg/catalog/refresh").raise_for_status()
    try:
        sign_in(page, "admin", "/knowledge/chinook_pg")
        page.get_by_label("Status").select_option("stale")
        row = page.get_by_role("row").filter(has_text=question)
        expect(row).to_have_class("stale")
        expect(row).to_contain_text("Stale: The column public.kb_probe.label is no longer")
        expect(row.get_by_role("button", name=re.compile("^Approve"))).to_be_visible()
        screenshot(page, "assistant-knowledge-stale")
    finally:
        with psycopg.connect(server.postgres_admin_url, autocommit=True) as pg:
            pg.execute("DROP TABLE kb_probe")


KNOWLEDGE_FILE = """# Knowledge base: chinook

## Example: How many media types are there?

Status: approved
Tags: media

```sql
SELECT COUNT(*) FROM MediaType
```

## Glossary: track length

Milliseconds of the track.
"""


def test_the_knowledge_base_is_imported_and_exported_as_markdown(
    page: Page, server: Server
) -> None:
    sign_in(page, "admin", "/knowledge/chinook")
    page.get_by_label("Import Markdown").set_input_files(
        files=[{"name": "kb.md", "mimeType": "text/markdown", "buffer": KNOWLEDGE_FILE.encode()}]
    )
    expect(page.get_by_role("status").filter(has_text="Imported")).to_have_text(
        "Imported: 1 example added, 0 updated; 1 term added, 0 updated."
    )
    row = page.get_by_role("table", name="Examples").get_by_role("row").filter(has_text="media")
    expect(row).to_contain_text("approved")
    glossary = page.get_by_role("table", name="Glossary")
    expect(glossary.get_by_role("row").filter(has_text="track length")).to_contain_text(
        "Milliseconds of the track."
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as Markdown").click()
    path = download.value.path()
    text = path.read_text(encoding="utf-8")
    assert "# Knowledge base: chinook" in text
    assert "## Example: How many media types are there?" in text
    assert "## Glossary: track length" in text


def test_with_several_models_the_user_picks_one(
    page: Page, server: Server, llm: LLMServer, endpoint: str
) -> None:
    with api(server, "admin") as admin:
        admin.post(
            "/api/v1/assistant/endpoints",
            json={"name": "second", "base_url": llm.url, "model": "oracle-2"},
        ).raise_for_status()
    try:
        sign_in(page, "bob")
        open_ask(page)
        panel = page.get_by_role("complementary", name="Ask a question")
        picker = panel.get_by_role("combobox", name="Model")
        expect(picker.get_by_role("option", name=f"{endpoint} (default)")).to_have_count(1)
        picker.select_option("second")
        ask(page, ALBUMS)
        answer = panel.get_by_role("article", name="Answer 1")
        expect(answer.get_by_test_id("ask-sql")).to_have_text(CHINOOK[ALBUMS])
        expect(answer).to_contain_text("second ·")
        assert {body.get("model") for _, body, _ in llm.requests} == {"oracle-2"}
    finally:
        with api(server, "admin") as admin:
            admin.delete("/api/v1/assistant/endpoints/second").raise_for_status()
