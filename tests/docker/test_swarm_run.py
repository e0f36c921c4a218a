"""`imfault run --backend swarm` as a user runs it, on the session's single-node swarm: the kill
nemesis on a hub cut off by `partition-one` catches `--bug volatile-store` (invalid, lost
messages) and the run leaves nothing; a run interrupted with SIGINT leaves no service, network,
secret, volume or container."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.backends._docker_engine import HARNESS_PID_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.timeout(400)]


def _imfault(store: Path, dcs: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", "--backend", "swarm", "--dcs", str(dcs),
            "--users", "12", "--rate", "20", "--wan-latency", "50", "--recovery-timeout", "20",
            "--seed", "3", "--store", str(store), *options]


def _left_by(client: Any, pid: int) -> dict[str, list[Any]]:
    """What a harness with `pid` left, by kind (empty lists when nothing)."""
    label = {"label": f"{HARNESS_PID_LABEL}={pid}"}
    return {"services": client.services.list(filters=label),
            "secrets": client.secrets.list(filters=label),
            "containers": client.containers.list(all=True, filters=label, ignore_removed=True),
            "networks": client.networks.list(filters=label),
            "volumes": client.volumes.list(filters=label)}


NOTHING = {"services": [], "secrets": [], "containers": [], "networks": [], "volumes": []}


def test_volatile_store_is_caught_and_the_run_leaves_nothing(
        swarm: str, docker_client: Any, tmp_path: Path, spawn: Callable[..., Any]) -> None:
    store = tmp_path / "store"
    child = spawn(  # ended, and its resources removed by label, whatever happens
        _imfault(store, 3, "--time-limit", "12", "--nemesis", "partition-one,kill",
                 "--nemesis-interval", "3", "--bug", "volatile-store", "--name", "swarm-bug"),
        store=store, docker=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = child.communicate(timeout=300)
    assert child.returncode == 1, output
    run_dir = next((store / "swarm-bug").glob("2*"))
    assert json.loads((run_dir / "test.json").read_text())["backend"] == "swarm"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["delivery"]["lost_count"] > 0, results["delivery"]
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert any(op["f"] == "kill" and op["type"] == "info" for op in history), "no kill happened"
    assert {"dc1-hub", "dc3-a1", "toxiproxy"} <= {p.stem for p in (run_dir / "logs").glob("*")}
    assert _left_by(docker_client, child.pid) == NOTHING


def test_sigint_during_a_swarm_run_leaves_nothing(swarm: str, docker_client: Any,
                                                  tmp_path: Path,
                                                  spawn: Callable[..., Any]) -> None:
    output = tmp_path / "output.txt"
    with output.open("w") as sink:  # a file, not a pipe nobody reads while the run goes on
        child = spawn(_imfault(tmp_path / "store", 2, "--time-limit", "60"),
                      store=tmp_path / "store", docker=True, stdout=sink,
                      stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while len(_left_by(docker_client, child.pid)["services"]) < 5:  # every service created
        assert child.poll() is None, output.read_text()
        assert time.monotonic() < deadline, "the services did not appear"
        time.sleep(0.5)
    time.sleep(1)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=120) == 130, output.read_text()
    assert _left_by(docker_client, child.pid) == NOTHING
