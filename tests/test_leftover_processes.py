"""The suite itself checks that no test leaves a process running (conftest.py, devtools/reaper.py):
a run whose tests leave one behind — even an orphan whose parent has exited — fails, names it and
kills it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LEAKY_TEST = """
import subprocess, sys

def test_starts_a_server_that_leaves_a_child_behind():
    # The child's parent exits at once: an orphan, as a stopped server's forked worker becomes.
    sleeper = "[sys.executable, '-c', 'import time; time.sleep(300)', '{mark}']"
    subprocess.run([sys.executable, "-c", f"import subprocess, sys; subprocess.Popen({sleeper})"])
"""


def _running(mark: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if mark.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_process_a_test_leaves_running_fails_the_run_and_is_killed():
    mark = f"leak-{uuid.uuid4().hex}"
    folder = ROOT / ".cache" / mark  # under the project, so its conftest.py applies
    folder.mkdir(parents=True)
    try:
        (folder / "test_leak.py").write_text(LEAKY_TEST.replace("{mark}", mark))
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", str(folder / "test_leak.py")],
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(folder)

    assert "1 passed" in done.stdout, done.stdout + done.stderr  # the test itself "passed"...
    assert done.returncode == 1  # ...but the run did not
    assert "outlived the tests that started them" in done.stderr
    assert mark in done.stderr
    assert not _running(mark)
