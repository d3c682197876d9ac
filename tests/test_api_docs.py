"""/api/docs/ needs nothing from the internet: Swagger UI's files are the project's static files
(drf-spectacular-sidecar). The browser test (tests/test_browser.py) loads the page for real."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client


def test_the_docs_page_loads_every_asset_from_the_project():
    page = Client(HTTP_HOST="localhost").get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the project"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file of the project"
    assert re.findall(r"https?://[^\s\"'<>]+", html) == []  # no CDN, no other host
