"""The results grid over a stored million-row result: jump to row 900,000, sort and filter
on the server, copy a range, export files, cancel a long query on PostgreSQL, charts, and
re-opening a past run from the history without running it again."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, screenshot, sign_in
from tests.browser.test_journeys import choose_connection, editor_text, run_at_cursor

MILLION = "SELECT i, 'row ' || i AS label, i % 7 AS m FROM range(1000000) t(i)"


def run_million(page: Page) -> None:
    sign_in(page, "bob")
    choose_connection(page, "demo")
    page.get_by_label("Row cap").select_option("1000000")
    editor_text(page, MILLION)
    run_at_cursor(page)
    expect(page.get_by_test_id("row-total")).to_have_text("1,000,000 rows", timeout=60_000)


def cell(page: Page, row: int, col: int) -> object:
    return page.get_by_role("grid").locator(f"[data-row='{row}'] [data-col='{col}']")


def test_scroll_to_row_900000_of_a_million(page: Page) -> None:
    run_million(page)
    expect(page.get_by_test_id("run-summary")).to_contain_text("1,000,000 rows")
    expect(page.get_by_text("not reached")).to_be_visible()
    goto = page.get_by_label("Go to row")
    goto.fill("900000")
    goto.press("Enter")
    expect(cell(page, 899_999, 0)).to_have_text("899999")
    expect(cell(page, 899_999, 1)).to_have_text("row 899999")
    screenshot(page, "grid-900000")
    # The grid holds a window, never the result: a few dozen rows are in the page.
    assert page.get_by_role("grid").locator("[data-row]").count() < 100


def test_sort_and_filter_a_million_rows_on_the_server(page: Page) -> None:
    run_million(page)
    page.get_by_role("columnheader", name=re.compile("^i")).get_by_role("button").click()
    page.get_by_role("button", name="Sort descending").click()
    expect(cell(page, 0, 0)).to_have_text("999999", timeout=30_000)
    expect(cell(page, 1, 0)).to_have_text("999998")
    page.get_by_role("columnheader", name=re.compile("^m")).get_by_role("button").click()
    menu = page.get_by_role("dialog", name="Column m")
    menu.get_by_label("Filter operator").select_option("eq")
    menu.get_by_label("Filter value").fill("3")
    menu.get_by_role("button", name="Apply filter").click()
    expect(page.get_by_test_id("row-total")).to_have_text("142,857 rows", timeout=30_000)
    expect(cell(page, 0, 0)).to_have_text("999995")
    expect(cell(page, 0, 2)).to_have_text("3")
    screenshot(page, "grid-sorted-filtered")
    page.get_by_role("columnheader", name=re.compile("^label")).get_by_role("button").click()
    page.get_by_role("dialog", name="Column label").get_by_role(
        "button", name="Column statistics"
    ).click()
    stats = page.get_by_role("dialog", name="Column label")
    expect(stats.locator("dd").first).to_have_text("0")  # no NULLs
    expect(stats.locator("dd").nth(1)).to_have_text("1,000,000")


def test_copy_a_range_as_tsv_and_as_an_in_list(page: Page) -> None:
    sign_in(page, "bob")
    choose_connection(page, "demo")
    editor_text(page, "SELECT i, 'v' || i AS v, NULL AS n FROM range(50) t(i)")
    run_at_cursor(page)
    cell(page, 2, 0).click()
    cell(page, 4, 2).click(modifiers=["Shift"])
    page.get_by_role("grid").press("Control+c")
    expect(page.get_by_role("status").filter(has_text="Copied 3 row(s)")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == "i\tv\tn\n2\tv2\t\n3\tv3\t\n4\tv4\t"
    cell(page, 2, 0).click()
    cell(page, 4, 0).click(modifiers=["Shift"])
    page.get_by_role("button", name="IN (…)").click()
    expect(page.get_by_role("status").filter(has_text="IN-LIST")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "IN (2, 3, 4)"


def _download(page: Page, label: str, target: Path) -> Path:
    page.get_by_role("button", name="Export ▾").click()
    with page.expect_download() as info:
        page.get_by_role("menuitem", name=label).click()
    path = target / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_export_csv_excel_and_parquet(page: Page, tmp_path: Path) -> None:
    sign_in(page, "bob")
    choose_connection(page, "demo")
    editor_text(page, "SELECT i, '=' || i AS f, i * 0.5 AS h FROM range(1000) t(i)")
    run_at_cursor(page)
    expect(page.get_by_test_id("row-total")).to_have_text("1,000 rows")
    rows = list(csv.reader(io.StringIO(_download(page, "CSV", tmp_path).read_text(), newline="")))
    assert rows[0] == ["i", "f", "h"]
    assert rows[1] == ["0", "=0", "0.0"]
    assert len(rows) == 1001
    excel = _download(page, "Download for Excel", tmp_path)
    assert excel.name.endswith("-excel.csv")
    assert excel.read_bytes().startswith(b"\xef\xbb\xbfi,f,h\r\n0,'=0,0.0\r\n")
    table = pq.read_table(_download(page, "Parquet", tmp_path))
    assert table.num_rows == 1000
    assert table.column("f").to_pylist()[999] == "=999"


def test_cancel_a_long_query_stops_it_on_postgresql(page: Page, server: Server) -> None:
    sign_in(page, "bob")
    choose_connection(page, "chinook_pg")
    marker = f"qd_cancel_{int(time.time() * 1000)}"
    editor_text(page, f"SELECT count(*) AS {marker} FROM generate_series(1, 5000000000) g")
    run_at_cursor(page)
    expect(page.get_by_role("button", name="Cancel (Esc)")).to_be_visible()

    role = urlsplit(server.postgres_url).username

    def active() -> int:
        """querydeck's statements running on the server (its login is used by nothing
        else; the statement shows as the cursor's FETCH, not as the query's text)."""
        with psycopg.connect(server.postgres_admin_url, autocommit=True) as admin:
            found = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state = 'active'",
                (role,),
            ).fetchone()
            return int(found[0]) if found else 0

    deadline = time.monotonic() + 20
    while active() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active() == 1
    expect(page.get_by_test_id("elapsed")).to_be_visible()
    page.get_by_role("button", name="Cancel (Esc)").focus()
    page.keyboard.press("Escape")
    expect(page.locator(".run-error")).to_contain_text("Cancelled", timeout=15_000)
    deadline = time.monotonic() + 10
    while active() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active() == 0


def test_chart_a_result_aggregated_on_the_server(page: Page) -> None:
    sign_in(page, "bob")
    choose_connection(page, "demo")
    editor_text(
        page,
        "SELECT 'group ' || (i % 4) AS g, (i % 4 + 1) * 2.5 AS v FROM range(100000) t(i)",
    )
    run_at_cursor(page)
    page.get_by_role("button", name="Chart", exact=True).click()
    chart = page.get_by_test_id("chart")
    expect(chart.locator("svg")).to_be_visible(timeout=20_000)
    expect(chart.locator("svg .mark-rect path")).to_have_count(4)
    screenshot(page, "chart-bar")
    settings = page.get_by_role("form", name="Chart settings")
    settings.get_by_label("Chart").select_option("line")
    expect(chart.locator("svg .mark-line path")).to_have_count(1)
    screenshot(page, "chart")
    with page.expect_download() as info:
        settings.get_by_role("button", name="SVG").click()
    assert info.value.suggested_filename.endswith(".svg")


def test_history_reopens_a_result_without_running_it_again(page: Page, server: Server) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 'history marker' AS h, 7 AS n")
    run_at_cursor(page)
    expect(cell(page, 0, 0)).to_have_text("history marker")
    page.get_by_role("link", name="History").click()
    row = page.get_by_role("row").filter(has_text="history marker").first
    expect(row).to_be_visible()
    before = page.get_by_role("row").filter(has_text="history marker").count()
    screenshot(page, "history")
    row.get_by_role("button", name="Open result").click()
    expect(cell(page, 0, 1)).to_have_text("7")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("row").filter(has_text="history marker").first).to_be_visible()
    assert page.get_by_role("row").filter(has_text="history marker").count() == before


def test_users_do_not_see_each_others_runs(page: Page, server: Server) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    editor_text(page, "SELECT 'only for ana' AS secret")
    run_at_cursor(page)
    expect(cell(page, 0, 0)).to_have_text("only for ana")
    login = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "ana", "password": "analyst-pass-123"}
    )
    history = httpx.get(
        f"{server.url}/api/v1/runs", params={"q": "only for ana"}, cookies=login.cookies
    ).json()
    run_id = history["items"][0]["id"]
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "bob", "/history")
    page.get_by_label("SQL contains").fill("only for ana")
    expect(page.get_by_text("No runs match.")).to_be_visible()
    page.goto(f"/?run={run_id}")
    expect(page.locator(".run-error")).to_contain_text("RUN_NOT_FOUND")


@pytest.mark.parametrize("width", [390])
def test_the_editor_fits_a_phone(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    sign_in(page, "ana")
    expect(page.locator(".cm-content")).to_be_visible()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="History")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(page, "phone-editor")


def test_a_chart_is_saved_with_its_saved_query(page: Page) -> None:
    sign_in(page, "ana")
    choose_connection(page, "demo")
    name = f"Chart kept {int(time.time() * 1000)}"
    editor_text(page, "SELECT i % 3 AS k, i AS v FROM range(300) t(i)")
    page.get_by_role("button", name="Save…").click()
    dialog = page.get_by_role("dialog", name="Save query")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)

    def open_chart() -> None:
        page.get_by_role("link", name="Saved queries").click()
        card = page.locator(".card").filter(has=page.get_by_role("heading", name=name))
        card.get_by_role("button", name="Run").click()
        expect(cell(page, 0, 0)).not_to_have_text("…")
        page.get_by_role("button", name="Chart", exact=True).click()
        expect(page.get_by_test_id("chart").locator("svg")).to_be_visible(timeout=20_000)

    open_chart()
    settings = page.get_by_role("form", name="Chart settings")
    settings.get_by_label("Chart").select_option("area")
    expect(page.get_by_test_id("chart").locator("svg .mark-area path")).to_have_count(1)
    settings.get_by_role("button", name=f"Save chart with “{name}”").click()
    expect(page.get_by_role("status").filter(has_text="Chart saved")).to_be_visible()
    page.reload()
    open_chart()
    expect(page.get_by_role("form", name="Chart settings").get_by_label("Chart")).to_have_value(
        "area"
    )
    expect(page.get_by_test_id("chart").locator("svg .mark-area path")).to_have_count(1)
