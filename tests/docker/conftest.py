"""Fixtures for the docker-backend tests (marker `docker`): a real Docker engine or a skip.

Without an engine the tests skip with a message saying how to get one (`scripts/docker-engine`);
with `IMFAULT_REQUIRE_DOCKER=1` (CI) a missing engine fails them instead. `docker_cluster_factory`
starts `DockerBackend` clusters and stops each one at the end of the module, also on failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import ClusterSpec
from harness.backends._docker_engine import ENABLE_HINT, engine_available

DockerClusterFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or, with IMFAULT_REQUIRE_DOCKER=1, fail) when no Docker engine answers."""
    if engine_available():
        return
    message = f"no Docker engine answers: {ENABLE_HINT}"
    if os.environ.get("IMFAULT_REQUIRE_DOCKER") == "1":
        pytest.fail(f"IMFAULT_REQUIRE_DOCKER=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_client(docker_engine: None) -> Iterator[Any]:
    """A docker-py client of the engine."""
    from harness.backends._docker_engine import docker_client as make_client

    client = make_client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def docker_cluster_factory(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerClusterFactory]:
    """`docker_cluster_factory(dcs=3, wan_latency_ms=50, ...)` -> a started `DockerBackend`."""
    from harness.backends.docker import DockerBackend

    started: list[DockerBackend] = []

    def start(**spec_fields: Any) -> DockerBackend:
        work_dir: Path = tmp_path_factory.mktemp("docker-cluster")
        backend = DockerBackend()
        started.append(backend)
        backend.start(ClusterSpec(work_dir=work_dir, **spec_fields))
        return backend

    try:
        yield start
    finally:
        for backend in started:
            backend.stop()


def _default_route_address() -> str:
    """This host's address on its default route (no packet is sent)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        return str(probe.getsockname()[0])


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[str]:
    """A single-node swarm on this engine; yields the local node id. When the engine is in no
    swarm, `docker swarm init --advertise-addr <default route's address>` (or
    $IMFAULT_SWARM_ADVERTISE_ADDR) makes one, and `docker swarm leave --force` ends it at the end
    of the session; a swarm that was already there is used and left alone. (Docker keeps the
    `docker_gwbridge` network a swarm made after leaving it; it is reused by the next swarm.)"""
    swarm_state = docker_client.info().get("Swarm") or {}
    created = False
    if swarm_state.get("LocalNodeState") == "inactive":
        address = os.environ.get("IMFAULT_SWARM_ADVERTISE_ADDR") or _default_route_address()
        docker_client.swarm.init(advertise_addr=address)
        created = True
    elif not swarm_state.get("ControlAvailable"):
        pytest.fail(f"this engine is in a swarm but not a manager ({swarm_state}): the swarm "
                    "tests need a manager", pytrace=False)
    try:
        yield str(docker_client.info()["Swarm"]["NodeID"])
    finally:
        if created:
            docker_client.swarm.leave(force=True)
