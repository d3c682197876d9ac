"""`scripts/<x>-local --help` prints the script's header comment and nothing else; an unknown
verb prints the same to stderr and exits 64. Nothing is started: only the help is under test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def header_comment(script: Path) -> str:
    lines = []
    for line in script.read_text().splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line.removeprefix("#").removeprefix(" "))
    return "\n".join(lines) + "\n"


def run(script: Path, verb: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), verb], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name", ["kafka-local", "postgres-local", "redis-local", "split-local"])
def test_help_is_the_header_comment_and_no_code(name):
    script = SCRIPTS / name

    done = run(script, "--help")

    assert done.returncode == 0
    assert done.stdout == header_comment(script)
    assert "set -euo pipefail" not in done.stdout


def test_an_unknown_verb_prints_the_help_to_stderr_and_exits_64():
    script = SCRIPTS / "postgres-local"

    done = run(script, "no-such-verb")

    assert done.returncode == 64
    assert done.stderr == header_comment(script)
