"""The container suite runs when it is asked for (`pytest -m containers`, `make compose-test`):
a plain `pytest` would otherwise start a whole compose deployment (minutes of CPU) whenever a
Docker engine happens to answer. Any -m expression that names `containers` decides for itself."""

from __future__ import annotations


def pytest_collection_modifyitems(config, items):
    if "containers" in (config.getoption("markexpr") or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("containers")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("containers")]
