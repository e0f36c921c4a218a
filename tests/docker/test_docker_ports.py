"""Published ports: a loopback port taken by another process between choosing and publishing it
is replaced by a new one instead of failing the start-up."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.backends.docker as docker_backend
from harness.backends import ClusterSpec
from harness.backends.docker import DockerBackend

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


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
