"""Start-up under scarcity: a loopback port taken by another process between choosing and
publishing it is replaced by a new one; exhausted network address pools are freed from the
leftovers of dead runs."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.backends.docker as docker_backend
from harness.backends import ClusterSpec
from harness.backends._docker_engine import HARNESS_PID_LABEL, RUN_LABEL, remove_labelled
from harness.backends.docker import DockerBackend

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

MAX_POOLS = 64  # Docker's defaults give 31 bridge networks (172.17-31/16, 192.168/16 in /20s)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other process listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_taken_port_is_replaced(docker_engine: None, taken_port: int, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_free_port = docker_backend.free_port
    handed_out: list[int] = []

    def first_a_taken_port(host: str = "127.0.0.1") -> int:
        port = taken_port if not handed_out else real_free_port(host)
        handed_out.append(port)
        return port

    monkeypatch.setattr(docker_backend, "free_port", first_a_taken_port)
    backend = DockerBackend()
    try:
        backend.start(ClusterSpec(dcs=1, wan_latency_ms=0, work_dir=tmp_path))
        assert handed_out[0] == taken_port  # the Toxiproxy API was offered the taken port first
        ports = [n.port for n in backend.nodes()]
        assert taken_port not in ports
        assert len(handed_out) == 1 + 1 + len(ports)  # one retry for Toxiproxy, one per node
    finally:
        backend.stop()


def test_exhausted_address_pools_are_freed_from_dead_runs(docker_client: Any, tmp_path: Path
                                                          ) -> None:
    """Networks left by a dead harness use up Docker's address pools; start-up removes them
    (sparing live runs) and goes on."""
    from docker.errors import APIError

    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
    run_id = f"dead-{secrets.token_hex(3)}"
    labels = {RUN_LABEL: run_id, HARNESS_PID_LABEL: dead_pid}
    backend = DockerBackend()
    try:
        for n in range(MAX_POOLS):
            try:
                docker_client.networks.create(f"imfault-{run_id}-{n}", labels=labels)
            except APIError as exc:
                assert "address pool" in str(exc).lower(), exc
                break
        else:
            pytest.skip(f"Docker has more than {MAX_POOLS} address pools: cannot exhaust them")
        backend.start(ClusterSpec(dcs=1, wan_latency_ms=0, work_dir=tmp_path))
        assert docker_client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}) == []
    finally:
        backend.stop()
        remove_labelled(docker_client, run_id)
