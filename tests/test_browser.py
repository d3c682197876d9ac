"""A newcomer's first minutes, in a real browser with no internet: Swagger UI at /api/docs/
loads (its files come from the project, drf-spectacular-sidecar), takes a token through
"Authorize" and executes a call; the admin takes the seeded staff login.

Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it), driven by Playwright
through the system browser (Playwright's own browser download cannot work here). Every request
the page makes to a host other than the server is refused and recorded: the test fails if
there is one, so a CDN creeping back into a page is caught.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

import pytest

from devtools.http import Api

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and nothing of its own on the network (updates, sync, field trials, QUIC probes).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAFF, CUSTOMER, PASSWORD = "admin", "alice", "demo-pass-123"  # what seed_demo creates


@pytest.fixture
def server(start_monolith) -> str:
    """`make run`'s monolith (tests/conftest.py): runserver in dev serves the static files itself."""
    return start_monolith()[0].base_url


@pytest.fixture
def browser(server):
    """(page, refused): a Chromium page, and the URLs of other hosts it tried to reach."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    allowed = urlsplit(server).netloc

    def only_the_server(route):
        if urlsplit(route.request.url).netloc == allowed:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            context = chromium.new_context()
            context.route("**/*", only_the_server)
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page, refused
        finally:
            chromium.close()


def test_swagger_ui_works_offline_authorizes_and_executes_a_call(server, browser):
    page, refused = browser
    token = Api(server).login(CUSTOMER, PASSWORD).token
    failed_assets: list[str] = []
    page.on("requestfailed", lambda request: failed_assets.append(request.url))

    page.goto(f"{server}/api/docs/")
    page.locator(".swagger-ui .info .title").filter(has_text="shop API").wait_for()

    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux")
    dialog.get_by_label("auth-bearer-value").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    dialog.get_by_role("button", name="Close").click()

    operation = page.locator("#operations-orders-orders_list")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()

    assert status.inner_text().strip() == "200"
    assert f"Bearer {token}" in operation.locator(".curl-command").inner_text()
    assert '"results"' in operation.locator(".live-responses-table").inner_text()  # the body, shown
    assert refused == [], "the page reached for another host"
    assert failed_assets == []


def test_the_admin_takes_the_staff_login(server, browser):
    page, refused = browser

    page.goto(f"{server}/admin/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#site-name").filter(has_text="shop administration").wait_for()

    assert page.get_by_role("link", name="Order summaries").is_visible()
    page.get_by_role("link", name="Shipments").first.click()
    page.locator("#changelist").wait_for()
    assert "Select shipment to view" in page.content()
    assert page.get_by_role("link", name="View site").get_attribute("href") == "/api/docs/"
    assert refused == []
