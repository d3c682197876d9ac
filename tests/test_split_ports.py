"""`scripts/split-local status` finds the split where `start` put it: a gateway started with
SPLIT_GATEWAY_PORT=8880 is probed on 8880 without the variable being given again. Nothing is
started here: the topology's start and stop are replaced, only the ports are under test."""

from __future__ import annotations

import pytest

from devtools import split


@pytest.fixture
def make_split(tmp_path, monkeypatch):
    """devtools.split's commands on a run folder of their own, starting and stopping nothing."""
    monkeypatch.setattr(split, "RUN_DIR", tmp_path)
    for name in split.PORT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(split.SplitTopology, "prepare", lambda self, *, fresh: None)
    monkeypatch.setattr(split.SplitTopology, "start", lambda self: None)
    monkeypatch.setattr(split.SplitTopology, "stop", lambda self: None)
    monkeypatch.setattr(split.SplitTopology, "running", lambda self: {})
    return lambda command: split.main(["split", command])


def test_a_running_split_is_found_on_the_ports_it_was_started_with(make_split, monkeypatch):
    monkeypatch.setenv("SPLIT_GATEWAY_PORT", "8880")
    monkeypatch.setenv("SPLIT_TRACE_UI_PORT", "8881")
    assert make_split("start") == 0
    monkeypatch.delenv("SPLIT_GATEWAY_PORT")
    monkeypatch.delenv("SPLIT_TRACE_UI_PORT")

    topology = split.local_topology()

    assert topology.url == "http://127.0.0.1:8880"
    assert topology.tracing is not None
    assert topology.tracing.ui_port == 8881


def test_the_environment_still_overrides_the_ports_of_a_running_split(make_split, monkeypatch):
    monkeypatch.setenv("SPLIT_GATEWAY_PORT", "8880")
    make_split("start")
    monkeypatch.setenv("SPLIT_GATEWAY_PORT", "8882")

    assert split.local_topology().url == "http://127.0.0.1:8882"


def test_after_a_stop_the_next_split_starts_on_the_defaults(make_split, monkeypatch):
    monkeypatch.setenv("SPLIT_GATEWAY_PORT", "8880")
    make_split("start")
    monkeypatch.delenv("SPLIT_GATEWAY_PORT")
    make_split("stop")

    assert split.local_topology().url == "http://127.0.0.1:8080"


def test_a_split_that_never_stopped_does_not_choose_the_next_ones_ports(make_split, monkeypatch):
    monkeypatch.setenv("SPLIT_GATEWAY_PORT", "8880")
    make_split("start")  # then the machine went down: no stop, its ports file stays
    monkeypatch.delenv("SPLIT_GATEWAY_PORT")
    make_split("start")

    assert split.local_topology().url == "http://127.0.0.1:8080"
