"""shop's runserver (`make run`): the static files it serves in development."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from shop.management.commands.runserver import Command


@pytest.fixture
def static_handler():
    with override_settings(DEBUG=True):  # runserver serves static files only with DEBUG on
        yield Command().get_handler(use_static_handler=True, insecure_serving=False)


@pytest.mark.parametrize("path", ["/static/../../etc/passwd", "/static/%2e%2e/shop/settings.py"])
def test_a_static_path_that_climbs_out_of_the_static_folders_is_a_400(static_handler, path):
    # Django's static handler catches only Http404: the finders' refusal of such a path
    # (SuspiciousFileOperation) reached the server as a plain-text 500.
    response = static_handler.get_response(RequestFactory().get(path))

    assert response.status_code == 400


def test_a_static_file_is_still_served(static_handler):
    response = static_handler.get_response(RequestFactory().get("/static/admin/css/base.css"))

    assert response.status_code == 200
