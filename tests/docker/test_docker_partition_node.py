"""`partition-node` (the docker-only intra-DC partition) through the nemesis protocol: the chosen
access node loses its hub (sends through it stop being acknowledged) while other DCs keep working,
and the stop op rejoins it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harness.backends.docker import DockerBackend
from harness.nemesis import NemesisContext, get_nemesis
from imcluster.client import Client

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


async def _client(backend: DockerBackend, dc: str, user: str) -> Client:
    host, port = backend.access_addresses()[dc][0]
    client = Client(host, port, secret=backend.secret)
    await client.connect()
    await client.login(user)
    return client


async def _sends(backend: DockerBackend, dc: str, user: str, msg_id: str) -> bool:
    try:
        client = await _client(backend, dc, user)
    except Exception:  # noqa: BLE001 - a login that cannot reach the hub fails too
        return False
    try:
        await client.send(msg_id, "someone", "hello", timeout=2.0)
        return True
    except Exception:  # noqa: BLE001 - timeout or send_err: not acknowledged
        return False
    finally:
        await client.close()


async def test_partition_node_cuts_one_access_node_from_its_hub(
        docker_cluster_factory: Any) -> None:
    backend: DockerBackend = docker_cluster_factory(dcs=2, wan_latency_ms=20)
    ctx = NemesisContext.for_run(backend, seed=5, loop=asyncio.get_running_loop())
    nemesis = get_nemesis("partition-node")
    nemesis.setup(ctx)
    start = {"process": "nemesis", "type": "invoke", "f": "start-partition-node",
             "value": {"nemesis": "partition-node", "node": "dc1-a1"}}
    done = await asyncio.to_thread(nemesis.invoke, ctx, start)
    try:
        assert "error" not in done, done
        assert not await _sends(backend, "dc1", "alice", "pn-1"), "dc1-a1 still reaches its hub"
        assert await _sends(backend, "dc2", "bob", "pn-2"), "dc2 must be unaffected"
    finally:
        stop = {"process": "nemesis", "type": "invoke", "f": "stop-partition-node",
                "value": {"nemesis": "partition-node"}}
        healed = await asyncio.to_thread(nemesis.invoke, ctx, stop)
    assert healed["value"]["nodes"] == ["dc1-a1"], healed
    deadline = time.monotonic() + 30
    n = 0
    while not await _sends(backend, "dc1", "carol", f"pn-after-{n}"):
        n += 1
        assert time.monotonic() < deadline, "dc1-a1 did not reconnect to its hub after the rejoin"
        await asyncio.sleep(0.5)
