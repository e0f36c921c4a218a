"""Teardown of the docker backend when its harness is interrupted with SIGINT (Ctrl-C), during
start-up and while the cluster runs, and `remove_labelled`/`clean_leftovers` on leftovers."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.backends._docker_engine import HARNESS_PID_LABEL, RUN_LABEL, remove_labelled

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

# A harness in miniature: start a 2-DC docker cluster, say "ready", run until interrupted.
HARNESS = """
import sys, time
from pathlib import Path
from harness.backends import ClusterSpec
from harness.backends.docker import DockerBackend
backend = DockerBackend(run_id=sys.argv[1])
try:
    backend.start(ClusterSpec(dcs=2, wan_latency_ms=20, work_dir=Path(sys.argv[2])))
    print("ready", flush=True)
    time.sleep(120)
finally:
    backend.stop()
"""


def _labelled(client: Any, run_id: str) -> tuple[list[Any], list[Any]]:
    label = {"label": f"{RUN_LABEL}={run_id}"}
    return client.containers.list(all=True, filters=label), client.networks.list(filters=label)


def _interrupt_harness(client: Any, tmp_path: Path, wait_ready: bool, delay_s: float,
                       spawn: Callable[..., Any]) -> str:
    run_id = f"sigint-{secrets.token_hex(3)}"
    child = spawn([sys.executable, "-c", HARNESS, run_id, str(tmp_path)], docker=True,
                  stdout=subprocess.PIPE, text=True)
    if wait_ready:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        containers, networks = _labelled(client, run_id)
        assert len(containers) == 5 and len(networks) == 2
    else:
        deadline = time.monotonic() + 60  # interrupt once start-up has created something
        while not any(_labelled(client, run_id)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay_s)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=60)
    return run_id


@pytest.mark.parametrize("wait_ready, delay_s", [(True, 0.0), (False, 0.5)],
                         ids=["while-running", "during-start"])
def test_sigint_leaves_nothing(docker_client: Any, tmp_path: Path, wait_ready: bool,
                               delay_s: float, spawn: Callable[..., Any]) -> None:
    run_id = _interrupt_harness(docker_client, tmp_path, wait_ready, delay_s, spawn)
    try:
        containers, networks = _labelled(docker_client, run_id)
        assert containers == [] and networks == []
    finally:
        remove_labelled(docker_client, run_id)


def test_remove_labelled_spares_live_harnesses(docker_client: Any) -> None:
    run_id = f"leftover-{secrets.token_hex(3)}"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
    live_parent = str(os.getppid())  # pytest's parent: alive, and not this process
    try:
        for suffix, pid in (("dead", dead_pid), ("live", live_parent)):
            docker_client.networks.create(f"imfault-{run_id}-{suffix}", labels={
                RUN_LABEL: run_id, HARNESS_PID_LABEL: pid})
        assert remove_labelled(docker_client, run_id, include_live=False) == {
            "containers": 0, "networks": 1}
        _, networks = _labelled(docker_client, run_id)
        assert [n.name for n in networks] == [f"imfault-{run_id}-live"]
        assert remove_labelled(docker_client, run_id) == {"containers": 0, "networks": 1}
        assert _labelled(docker_client, run_id) == ([], [])
    finally:
        remove_labelled(docker_client, run_id)


def test_stop_removes_every_resource_even_when_one_removal_fails(docker_client: Any,
                                                                  tmp_path: Path) -> None:
    from harness.backends import ClusterSpec
    from harness.backends.docker import DockerBackend, _Container
    from harness.errors import SetupError

    backend = DockerBackend(run_id=f"stopfail-{secrets.token_hex(3)}")
    try:
        backend.start(ClusterSpec(dcs=2, wan_latency_ms=20, work_dir=tmp_path))
        # a recorded container whose removal fails (docker-py refuses an empty id)
        backend._containers["bogus"] = _Container("bogus", "imfault-bogus", "")
        with pytest.raises(SetupError, match="imfault-bogus"):
            backend.stop()
        assert _labelled(docker_client, backend.run_id) == ([], [])
    finally:
        remove_labelled(docker_client, backend.run_id)
