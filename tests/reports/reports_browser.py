"""Headless Debian Chromium for the browser tests: the `chromium` fixture (skips when it is missing,
unless IMFAULT_REQUIRE_BROWSER=1, then it fails), one command per call with its process group
ended, and the scan of its log for console messages. CI installs it with
`apt-get update && apt-get install -y chromium`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def chromium() -> str:
    path = os.environ.get("IMFAULT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "chromium is not installed (apt-get update && apt-get install -y chromium)"
        if os.environ.get("IMFAULT_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and IMFAULT_REQUIRE_BROWSER=1")
        pytest.skip(message)
    return path


def run_chromium(binary: str, profile: Path, url: str, *args: str) -> tuple[str, str]:
    """Run one headless Chromium command; return (stdout, stderr). Ends its process group."""
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, url,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: helpers left behind, if any
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), stderr[-2000:]
    return stdout, stderr


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line]
