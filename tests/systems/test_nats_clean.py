"""`imfault clean` after a `--system nats` local run killed with SIGKILL: the run recorded its
servers' pids, its iptables isolation rules and its shared temp dir in `pids.json`; clean stops
exactly those processes, deletes exactly those rules and removes that dir (nothing found by a
broad name)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness._procs import pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _rule_present(rule: list[str]) -> bool:
    return subprocess.run(["iptables", "-w", "5", "-C", *rule], capture_output=True,
                          check=False).returncode == 0


def _state(store: Path) -> dict[str, Any] | None:
    for path in store.rglob("pids.json"):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue  # being replaced
        if {"dc1-server", "dc2-server"} <= set(record.get("pids", {})):
            return dict(record)
    return None


def test_clean_undoes_a_killed_nats_run(spawn: Callable[..., Any], tmp_path: Path,
                                       toxiproxy_server: Path) -> None:
    from harness.errors import SetupError
    from harness.systems import get_system

    try:
        get_system("nats").check_installed("local")
    except SetupError as exc:
        pytest.skip(str(exc))
    store = tmp_path / "store"
    child = spawn([sys.executable, "-m", "harness", "run", "--system", "nats", "--dcs", "2",
                   "--users", "4", "--rate", "5", "--time-limit", "120", "--seed", "3",
                   "--no-progress", "--store", str(store)], store=store,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while (record := _state(store)) is None:
        assert child.poll() is None and time.monotonic() < deadline, "no servers recorded"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)  # the harness only: what it started stays behind
    child.wait(timeout=10)
    rules, dirs, pids = record["iptables"], record["dirs"], record["pids"]
    assert len(rules) == 2 and all(_rule_present(rule) for rule in rules)
    assert dirs and all(Path(d).is_dir() and Path(d).name.startswith("imfault-nats-")
                        for d in dirs)
    assert all(pid_alive(pid) for pid in pids.values())

    done = subprocess.run([sys.executable, "-m", "harness", "clean", "--store", str(store),
                           "--no-temp", "--no-docker"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(_rule_present(rule) for rule in rules), done.stdout
    assert not any(Path(d).exists() for d in dirs), done.stdout
    assert not any(pid_alive(pid) for pid in pids.values()), done.stdout
    assert not list(store.rglob("pids.json")), done.stdout
    assert "stop dc1-server" in done.stdout and "delete iptables rule OUTPUT" in done.stdout
