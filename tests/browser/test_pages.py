"""Connections (add, validation, test, edit, delete), the schema browser and search, what a
viewer sees, the server going away, and an accessibility check (axe-core, from the UI's
own npm packages) with a screenshot of every page."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORDS, Server, screenshot, sign_in
from tests.browser.test_journeys import choose_connection, editor_text, run_at_cursor

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict[str, object]]:
    """Serious and critical axe-core violations of the page as it is now. The script is
    evaluated through the browser's debugging protocol (the page's CSP allows no inline
    script, and it is right not to)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)})))"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def check_page(page: Page, name: str) -> None:
    screenshot(page, f"page-{name}")
    violations = axe_violations(page)
    assert not violations, json.dumps(violations, indent=1)


def test_every_page_passes_axe(page: Page, server: Server) -> None:
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    check_page(page, "login")
    sign_in(page, "admin")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 1 AS one, NULL AS nothing, 'text' AS t")
    run_at_cursor(page)
    expect(page.get_by_test_id("row-total")).to_have_text("1 rows")
    check_page(page, "editor")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    check_page(page, "shortcuts")
    page.keyboard.press("Escape")
    for path, heading in (
        ("/history", "History"),
        ("/saved", "Saved queries"),
        ("/connections", "Connections"),
        ("/connections/new", "Add a connection"),
        ("/connections/chinook_pg", "Connection chinook_pg"),
        ("/tables/demo/main/orders", "main.orders"),
        ("/admin/users", "Users"),
        ("/admin/groups", "Groups"),
        ("/admin/audit", "Audit log"),
        ("/account", "Account"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        page.wait_for_load_state("networkidle")
        check_page(page, path.strip("/").replace("/", "-"))
    page.goto("/")
    page.get_by_role("button", name="Switch to the dark theme").click()
    expect(page.locator("html[data-theme='dark']")).to_have_count(1)
    check_page(page, "editor-dark")


def test_connections_are_added_checked_edited_and_deleted(page: Page, server: Server) -> None:
    maria = urlsplit(server.mysql_url)
    sign_in(page, "admin", "/connections/new")
    form = page.locator("form.form")

    def fill(name: str, host: str, password: str) -> None:
        form.get_by_label("Name").fill(name)
        form.get_by_label("Driver").select_option("mysql")
        form.get_by_label("Host *").fill(host)
        form.get_by_label("Port").fill(str(maria.port or 3306))
        form.get_by_label("Database", exact=True).fill(maria.path.lstrip("/"))
        form.get_by_label("User *").fill(maria.username or "")
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Add connection").click()

    fill("demo", maria.hostname or "127.0.0.1", maria.password or "")
    expect(form.get_by_role("alert")).to_contain_text("demo")  # the name is taken
    screenshot(page, "connection-form-error")
    fill("music", maria.hostname or "127.0.0.1", "not-the-password")
    expect(form.get_by_role("alert")).to_be_visible()  # tested on save: refused, not saved
    screenshot(page, "connection-form-refused")
    fill("music", maria.hostname or "127.0.0.1", maria.password or "")
    row = page.locator("tr[data-connection='music']")
    expect(row.get_by_role("img", name="reachable")).to_be_visible()  # tested when saved
    row.get_by_role("button", name="Edit").click()
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.get_by_role("button", name="Back").click()
    row.get_by_role("button", name="Test").click()
    expect(page.get_by_role("alert").filter(has_text="music:")).to_be_visible()
    expect(row.get_by_role("img", name="failing")).to_be_visible()
    row.get_by_role("button", name="Edit").click()
    page.get_by_label("Password").fill(maria.password or "")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.get_by_role("button", name="Back").click()
    row.get_by_role("button", name="Test").click()
    expect(page.get_by_role("status").filter(has_text="music: reachable in")).to_be_visible()
    expect(row.get_by_role("img", name="reachable")).to_be_visible()

    page.goto("/connections/new")
    fill("nowhere", "no-such-host.invalid", "x")
    refused = form.get_by_role("alert")
    listed = page.get_by_role("heading", name="Connections")
    expect(refused.or_(listed)).to_be_visible()
    if listed.is_visible():  # saved: the test says it
        page.locator("tr[data-connection='nowhere']").get_by_role("button", name="Test").click()
        refused = page.get_by_role("alert").filter(has_text="nowhere:")
    expect(refused).to_be_visible()

    page.goto("/connections")
    for name in ("music", "nowhere"):
        target = page.locator(f"tr[data-connection='{name}']")
        if target.count():
            page.once("dialog", lambda dialog: dialog.accept())
            target.get_by_role("button", name="Delete").click()
            expect(target).to_have_count(0)


def test_browse_the_tree_search_and_insert_names(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "")
    tree = page.get_by_role("tree", name="Catalog of demo")
    tree.get_by_role("button", name="Expand main").click()
    tree.get_by_role("button", name="Expand orders").click()
    column = tree.get_by_role("button", name="o_orderdate")
    expect(column).to_be_visible()
    expect(tree.get_by_role("treeitem").filter(has_text="o_orderdate").first).to_contain_text(
        "DATE"
    )
    column.click()
    expect(page.locator(".cm-content")).to_contain_text("o_orderdate")
    page.get_by_label("Search the catalogs").fill("lineitem")
    hits = page.get_by_role("list", name="Search results")
    expect(hits.get_by_role("button", name="main.lineitem")).to_be_visible()
    screenshot(page, "schema-search")


def test_a_viewer_sees_no_editor_and_runs_shared_queries(page: Page) -> None:
    sign_in(page, "vera")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Saved queries")).to_be_visible()
    expect(nav.get_by_role("link", name="Editor")).to_have_count(0)
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    expect(page.locator(".cm-content")).to_have_count(0)
    expect(page.get_by_role("heading", name="Top artists")).to_be_visible()
    expect(page.get_by_role("button", name="Open in new tab")).to_have_count(0)
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_role("cell", name="succeeded").first).to_be_visible()


def test_names_from_the_database_render_as_text(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(
        page, "SELECT '<script>window.pwned = 1</script>' AS \"<img src=x onerror=alert(1)>\""
    )
    run_at_cursor(page)
    grid = page.get_by_role("grid")
    expect(grid.locator("[data-row='0'] [data-col='0']")).to_have_text(
        "<script>window.pwned = 1</script>"
    )
    expect(grid.get_by_role("columnheader", name="<img src=x")).to_be_visible()
    assert page.evaluate("window.pwned") is None


def test_the_ui_says_when_the_server_is_away_and_keeps_the_editor(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 'kept while offline' AS k")
    page.context.set_offline(True)
    run_at_cursor(page)
    expect(page.get_by_role("alert").filter(has_text="cannot be reached")).to_be_visible()
    expect(page.get_by_text("Not saved: server unreachable")).to_be_visible()
    page.context.set_offline(False)
    expect(page.get_by_role("alert").filter(has_text="Retrying")).to_have_count(0, timeout=15_000)
    expect(page.get_by_text("Saved", exact=True)).to_be_visible(timeout=15_000)
    page.reload()
    expect(page.locator(".cm-content")).to_contain_text("kept while offline")
    run_at_cursor(page)
    expect(page.get_by_role("grid").locator("[data-row='0'] [data-col='0']")).to_have_text(
        "kept while offline"
    )


@pytest.mark.parametrize("user", ["ana"])
def test_keyboard_only_run_and_grid(page: Page, user: str) -> None:
    sign_in(page, user)
    choose_connection(page, "demo")
    editor_text(page, "SELECT i, i * 2 AS d FROM range(10) t(i)")
    page.keyboard.press("Control+Enter")
    grid = page.get_by_role("grid")
    expect(grid.locator("[data-row='0'] [data-col='0']")).to_have_text("0")
    grid.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Value of d")
    expect(dialog.locator("pre")).to_have_text("4")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_a_refresh_says_what_changed(page: Page, server: Server) -> None:
    sign_in(page, "admin")
    choose_connection(page, "chinook_pg")
    tree = page.get_by_role("tree", name="Catalog of chinook_pg")
    expect(tree.get_by_role("button", name="Expand public")).to_be_visible()
    with psycopg.connect(server.postgres_admin_url, autocommit=True) as admin:
        admin.execute("ALTER TABLE genre ADD COLUMN mood text")
        admin.execute("ALTER TABLE media_type ALTER COLUMN name TYPE text")
    try:
        page.get_by_role("button", name="Refresh the catalog").click()
        changes = page.locator(".tree-message").filter(has_text="What changed")
        expect(changes).to_contain_text("genre: +mood")
        expect(changes).to_contain_text("media_type: name")
        screenshot(page, "catalog-refresh-changes")
    finally:
        with psycopg.connect(server.postgres_admin_url, autocommit=True) as admin:
            admin.execute("ALTER TABLE genre DROP COLUMN mood")
            admin.execute("ALTER TABLE media_type ALTER COLUMN name TYPE varchar(120)")


def test_administrators_manage_users_and_groups(page: Page) -> None:
    name = f"u{int(time.time() * 1000) % 10**9}"
    sign_in(page, "admin", "/admin/users")
    form = page.get_by_role("form", name="Add a user")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_label("Password").fill("a-long-password-1")
    form.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status").filter(has_text=f"Added {name}.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=name)
    row.get_by_label(f"Role of {name}").select_option("analyst")
    expect(page.get_by_role("status").filter(has_text=f"{name} is now analyst.")).to_be_visible()
    row.get_by_role("button", name="Disable").click()
    expect(row.get_by_role("cell", name="disabled")).to_be_visible()
    page.goto("/admin/groups")
    group = f"g{name}"
    page.get_by_label("Group name").fill(group)
    page.get_by_role("button", name="Add group").click()
    card = page.locator(".card").filter(has=page.get_by_role("heading", name=group))
    card.get_by_label(f"Add a member to {group}").fill(name)
    card.get_by_role("button", name="Add member").click()
    expect(card.get_by_role("listitem").filter(has_text=name)).to_be_visible()
    page.goto("/admin/audit")
    page.get_by_label("Action").fill("user.*")
    expect(page.get_by_role("cell", name="user.create").first).to_be_visible()


def test_an_administrator_grants_a_connection(page: Page, browser: Browser, server: Server) -> None:
    sign_in(page, "admin", "/connections/demo")
    grants = page.get_by_role("region", name="Grants")
    grants.get_by_label("Grant to").select_option("user")
    grants.get_by_label("User or group name").fill("vera")
    grants.get_by_label("query").uncheck()
    grants.get_by_role("button", name="Grant").click()
    row = grants.get_by_role("row").filter(has_text="vera")
    expect(row).to_contain_text("browse")
    viewer = browser.new_context(base_url=server.url)
    try:
        other = viewer.new_page()
        sign_in(other, "vera", "/connections")
        expect(other.locator("tr[data-connection='demo']")).to_be_visible()
    finally:
        viewer.close()
    row.get_by_role("button", name="Revoke").click()
    expect(grants.get_by_role("row").filter(has_text="vera")).to_have_count(0)


def test_a_user_changes_their_password(page: Page, server: Server) -> None:
    name = f"p{int(time.time() * 1000) % 10**9}"
    admin = httpx.Client(base_url=server.url)
    login = admin.post(
        "/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]}
    )
    admin.post(
        "/api/v1/users",
        json={"username": name, "role": "analyst", "password": "first-password-1"},
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
    ).raise_for_status()
    page.goto("/account")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill("first-password-1")
    page.get_by_role("button", name="Sign in").click()
    form = page.get_by_role("form", name="Change password")
    form.get_by_label("Current password").fill("wrong-password-1")
    form.get_by_label("New password").fill("second-password-2")
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("alert")).to_contain_text("request id")
    form.get_by_label("Current password").fill("first-password-1")
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("status")).to_contain_text("Password changed")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill("second-password-2")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
