"""`scripts/docker-engine` is idempotent: with an engine running it only confirms it, quickly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "docker-engine"


def test_second_run_finds_the_engine_running(docker_engine: None) -> None:
    started = time.monotonic()
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert "engine already running" in done.stderr
    assert time.monotonic() - started < 10
