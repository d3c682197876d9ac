"""/api/docs/ needs nothing from the internet: Swagger UI's files are the project's static files
(drf-spectacular-sidecar). The browser test (tests/test_browser.py) loads the page for real."""

from __future__ import annotations

import re

import pytest
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


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"])
def test_the_docs_and_the_schema_answer_any_method_with_a_json_error_or_a_page(path, method):
    # OPTIONS on Swagger UI's page rendered DRF's metadata with the page's HTML renderer: a 500.
    response = Client(HTTP_HOST="localhost").generic(method, path)

    assert response.status_code < 500
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "method_not_allowed"
