"""`imfault run --backend docker` end to end as a user runs it: a valid run with the kill nemesis
that leaves no labelled resource behind, and a run interrupted with SIGINT that cleans up too."""

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

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def _imfault(store: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", "--backend", "docker", "--dcs", "3",
            "--users", "12", "--rate", "20", "--wan-latency", "50", "--recovery-timeout", "30",
            "--seed", "5", "--store", str(store), *options]


def _left_by(client: Any, pid: int) -> tuple[list[Any], list[Any]]:
    label = {"label": f"{HARNESS_PID_LABEL}={pid}"}
    return client.containers.list(all=True, filters=label), client.networks.list(filters=label)


def test_run_with_kill_nemesis_is_valid_and_cleans_up(docker_client: Any, tmp_path: Path,
                                                       spawn: Callable[..., Any]) -> None:
    store = tmp_path / "store"
    child = spawn(  # ended, and its containers removed by label, whatever happens
        _imfault(store, "--time-limit", "10", "--nemesis", "kill", "--nemesis-interval", "3",
                 "--name", "docker-kill"), store=store, docker=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = child.communicate(timeout=240)
    assert child.returncode == 0, output
    run_dir = next((store / "docker-kill").glob("2*"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert any(op["f"] == "kill" and op["type"] == "info" for op in history), "no kill happened"
    logs = {p.stem for p in (run_dir / "logs").glob("*.log")}
    assert {"dc1-hub", "dc3-a1", "toxiproxy"} <= logs
    assert _left_by(docker_client, child.pid) == ([], [])


def test_sigint_during_a_run_leaves_nothing(docker_client: Any, tmp_path: Path,
                                            spawn: Callable[..., Any]) -> None:
    output = tmp_path / "output.txt"
    with output.open("w") as sink:  # a file, not a pipe nobody reads while the run goes on
        child = spawn(_imfault(tmp_path / "store", "--time-limit", "60"),
                      store=tmp_path / "store", docker=True, stdout=sink,
                      stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not any(_left_by(docker_client, child.pid)[0]):  # containers exist: cluster up
        assert child.poll() is None, output.read_text()
        assert time.monotonic() < deadline, "no container appeared"
        time.sleep(0.2)
    time.sleep(3)
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=120) == 130, output.read_text()
    assert _left_by(docker_client, child.pid) == ([], [])
