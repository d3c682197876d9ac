"""The relay and consumers serve no HTTP: their liveness is a file their loops keep touching
(events/heartbeat.py), read by the exec probe in k8s/base/relay/relay.yaml and
k8s/base/events/consumer.yaml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from devtools.cluster import ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def probe_command(manifest: str, alive_file) -> list[str]:
    """The manifest's liveness command, pointed at `alive_file` instead of /tmp/alive."""
    text = (ROOT / "k8s/base" / manifest).read_text()
    command = json.loads(re.search(r"command: (\[.*\])", text).group(1))
    assert "/tmp/alive" in command[-1]
    return [*command[:-1], command[-1].replace("/tmp/alive", str(alive_file))]


def test_relay_and_consumer_keep_their_liveness_file_fresh_and_the_probe_reads_it(cluster, tmp_path):
    files = {
        "relay/relay.yaml": tmp_path / "relay.alive",
        "events/consumer.yaml": tmp_path / "consumer.alive",
    }
    cluster.start_relay(EVENTS_HEARTBEAT_FILE=str(files["relay/relay.yaml"]))
    cluster.start_consumer("orders", EVENTS_HEARTBEAT_FILE=str(files["events/consumer.yaml"]))

    cluster.wait_until(lambda: all(f.exists() for f in files.values()), what="the first beats", timeout=60)
    first = {f: f.stat().st_mtime for f in files.values()}
    # Idle loops beat too: no events are flowing here.
    cluster.wait_until(
        lambda: all(f.stat().st_mtime > first[f] for f in files.values()),
        what="the liveness files to be touched again",
        timeout=30,
    )

    for manifest, alive in files.items():
        assert subprocess.run(probe_command(manifest, alive)).returncode == 0, manifest
        cluster.stop("relay" if manifest == "relay/relay.yaml" else "consumer-orders")
        stale = time.time() - 600
        os.utime(alive, (stale, stale))  # as a hung process would leave it
        assert subprocess.run(probe_command(manifest, alive)).returncode != 0, manifest
