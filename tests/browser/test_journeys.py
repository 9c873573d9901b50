"""Journeys through the UI: sign in and out, the editor, runs, the grid over a million rows,
sort and filter on the server, copy, export, cancel, charts, history, users' isolation."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORDS, screenshot, sign_in


def editor_text(page: Page, sql: str) -> None:
    """Replace the editor's text (typed: CodeMirror sees real key presses)."""
    content = page.locator(".cm-content")
    content.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(sql)
    page.keyboard.press("Escape")  # closes the completions typing may have opened


def choose_connection(page: Page, name: str) -> None:
    page.get_by_label("Connection").select_option(name)


def run_at_cursor(page: Page) -> None:
    page.locator(".cm-content").focus()
    page.keyboard.press("Control+Enter")


def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(page: Page) -> None:
    page.goto("/")
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("user name or the password is not correct")
    screenshot(page, "login")
    page.get_by_label("Password").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_an_ended_session_returns_to_the_page_after_login(page: Page) -> None:
    sign_in(page, "ana", "/history")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    page.context.clear_cookies()  # the session is gone, as after its expiry
    page.get_by_label("SQL contains").fill("select")  # the next request answers 401
    expect(page.get_by_text("Your session ended")).to_be_visible()
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    assert page.url.endswith("/history")


def test_run_the_statement_under_the_cursor(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 1 AS first_one;\nSELECT 42 AS answer, 'x' AS e;\nSELECT 3 AS third;")
    page.locator(".cm-line", has_text="SELECT 42").click()
    run_at_cursor(page)
    grid = page.get_by_role("grid", name="Query result")
    expect(grid.get_by_role("columnheader", name=re.compile("answer"))).to_be_visible()
    expect(grid.locator("[data-row='0'] [data-col='0']")).to_have_text("42")
    expect(page.get_by_role("columnheader", name=re.compile("first_one"))).to_have_count(0)
    screenshot(page, "editor")


def test_run_all_statements_into_result_tabs(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 1 AS a; SELECT 2 AS b; SELECT 3 AS c")
    page.locator(".cm-content").focus()
    page.keyboard.press("Control+Shift+Enter")
    tabs = page.get_by_role("tablist", name="Results of the statements").get_by_role("tab")
    expect(tabs).to_have_count(3)
    tabs.nth(2).click()
    expect(page.get_by_role("grid").locator("[data-row='0'] [data-col='0']")).to_have_text("3")


def test_a_guard_error_is_marked_at_its_line(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 1;\n\nDELETE FROM tpch.orders\nWHERE true")
    page.locator(".cm-line", has_text="DELETE").click()
    run_at_cursor(page)
    expect(page.locator(".run-error")).to_contain_text("Error")
    marked = page.locator(".cm-lintRange-error")
    expect(marked.first).to_be_visible()
    line = page.locator(".cm-line").filter(has=page.locator(".cm-lintRange-error"))
    expect(line.first).to_contain_text("DELETE")


def test_autocomplete_offers_the_columns_of_an_alias(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT o. FROM orders o")
    page.locator(".cm-content").focus()
    page.keyboard.press("Home")
    for _ in range(len("SELECT o.")):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Control+Space")
    option = page.locator(".cm-tooltip-autocomplete li", has_text="o_orderkey")
    expect(option).to_be_visible()
    option.click()
    expect(page.locator(".cm-content")).to_contain_text("SELECT o.o_orderkey FROM orders o")


def test_an_engine_error_is_marked_where_the_engine_points(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "chinook_pg")
    editor_text(page, "SELECT 1;\nSELECT title,\n  no_such_column\nFROM album")
    page.locator(".cm-line", has_text="FROM album").click()
    run_at_cursor(page)
    expect(page.locator(".run-error")).to_contain_text("no_such_column")
    line = page.locator(".cm-line").filter(has=page.locator(".cm-lintRange-error"))
    expect(line).to_have_count(1)
    expect(line).to_contain_text("no_such_column")
