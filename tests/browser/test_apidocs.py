"""The API reference (``/api/docs``) renders with no network beyond this machine: every
request that leaves 127.0.0.1 is aborted, as a firewalled install would see it."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Server


def test_api_reference_renders_offline(page: Page, server: Server) -> None:
    outside: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_loopback)
    page.goto("/api/docs")
    # The operations list: Swagger UI built it from the OpenAPI document.
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/runs").first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert outside == []
    # ReDoc is not served (it too would load its script from a CDN).
    assert page.request.get("/api/redoc").status == 404
