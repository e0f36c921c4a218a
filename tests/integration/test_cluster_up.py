"""`imfault cluster up` as a subprocess: one JSON line once healthy, usable by a client, and on
SIGINT (or SIGTERM) every child process it started is gone."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness._procs import pid_alive, stop_pid
from imcluster.client import Client

pytestmark = pytest.mark.integration
Spawn = Callable[..., subprocess.Popen[bytes]]


def _start_cluster_up(spawn: Spawn, work_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`imfault cluster up` in its own session, SIGINT at its default; ended (and its work dir
    cleaned) by the `spawn` fixture whatever happens to the test."""
    return spawn(
        [sys.executable, "-m", "harness", "cluster", "up", "--dcs", "2", "--wan-latency", "20",
         "--seed", "3", "--work-dir", str(work_dir), *extra],
        work_dirs=[work_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _read_json_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError("cluster up printed nothing within the deadline")
    line = proc.stdout.readline()
    if not line:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise AssertionError(f"cluster up exited ({proc.wait()}): {stderr}")
    return dict(json.loads(line))


def _child_pids(work_dir: Path) -> dict[str, int]:
    record = json.loads((work_dir / "pids.json").read_text())
    return {name: int(pid) for name, pid in record["pids"].items()}


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if pid_alive(p)]
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_cluster_up_prints_addresses_and_stops_everything(
        tmp_path: Path, stop_signal: signal.Signals, spawn: Spawn, toxiproxy_server: Path) -> None:
    proc = _start_cluster_up(spawn, tmp_path)
    pids: dict[str, int] = {}
    try:
        info = _read_json_line(proc, timeout=60)
        assert set(info) == {"secret", "access", "toxiproxy"}
        assert sorted(info["access"]) == ["dc1", "dc2"]
        pids = _child_pids(tmp_path)
        assert len(pids) == 5  # 2 hubs, 2 access nodes, toxiproxy-server
        assert all(pid_alive(p) for p in pids.values())

        host, port = info["access"]["dc1"][0].rsplit(":", 1)
        alice = Client(host, int(port), secret=info["secret"])
        await alice.connect()
        login_ok = await alice.login("alice")
        assert login_ok["dc"] == "dc1"
        await alice.close()

        proc.send_signal(stop_signal)
        assert proc.wait(timeout=30) == 0
        assert _wait_gone(list(pids.values()), timeout=5) == []
        assert not (tmp_path / "pids.json").exists()
    finally:
        if proc.poll() is None:
            stop_pid(proc.pid, popen=proc)
        for pid in pids.values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_cluster_up_usage_and_setup_errors(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "harness", "cluster", "up", "--dcs", "0"],
                         check=False, capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"--dcs" in bad.stderr
    env = dict(os.environ, IMFAULT_TOXIPROXY_SERVER=str(tmp_path / "missing"))
    missing = subprocess.run(
        [sys.executable, "-m", "harness", "cluster", "up", "--dcs", "1",
         "--work-dir", str(tmp_path / "w")], check=False, capture_output=True,
        timeout=60, env=env)
    assert missing.returncode == 4
    assert b"IMFAULT_TOXIPROXY_SERVER" in missing.stderr
    assert missing.stdout == b""


def test_sigint_during_start_up_leaves_nothing_behind(tmp_path: Path, spawn: Spawn,
                                                      toxiproxy_server: Path) -> None:
    proc = _start_cluster_up(spawn, tmp_path)
    seen: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:  # toxiproxy + the first nodes
            try:
                seen = _child_pids(tmp_path)
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        assert len(seen) >= 3, f"pids.json never listed nodes: {seen}"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0  # cluster up's documented exit on Ctrl-C
        assert _wait_gone(list(seen.values()), timeout=5) == []
        assert not (tmp_path / "pids.json").exists()
    finally:
        if proc.poll() is None:
            stop_pid(proc.pid, popen=proc)
        for pid in seen.values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
