"""The NATS user client against a real nats-server (dc1 of a 2-DC super-cluster: JetStream
needs a meta group, which one server without gateways never forms): a message handed to a session that
ended before recording it comes again at the next login within seconds (the consumers' AckWait),
and a pull that fails on an open connection does not end the session."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="--system nats locally needs root")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           toxiproxy_server: Path) -> Iterator[tuple[str, int]]:
    """dc1's server of a 2-DC cluster with every stream and the consumers of u1 and u2."""
    from harness.backends._base import ClusterSpec
    from harness.systems import get_system
    from harness.systems.nats._client import create_streams

    backend: Any = get_system("nats").make_backend("local")
    try:
        backend.start(ClusterSpec(work_dir=tmp_path_factory.mktemp("nats"), dcs=2, seed=3))
        servers = {node.dc: (node.host, node.port) for node in backend.nodes()}
        asyncio.run(create_streams(servers, ["u1", "u2"]))
        yield servers["dc1"]
    finally:
        backend.stop()


async def _until(predicate: Any, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def _session(host: str, port: int, user: str, got: list[str]) -> Any:
    from harness.systems.nats._client import NatsUserClient

    return NatsUserClient(host, port, user, "dc1", "dc1-server",
                          lambda _user, frame: got.append(frame["id"]))


def test_a_message_an_ended_session_never_recorded_comes_at_the_next_login(
        server: tuple[str, int]) -> None:
    """The fetch that took m1 ended without an ack (a logout cancelling it, a pull request
    lingering on the server): with NATS's default AckWait (30 s) m1 came again only after a
    run's recovery bound and read as lost."""
    import nats

    from harness.systems.nats._client import ACK_WAIT_S

    async def main() -> float:
        sender = _session(*server, "u1", [])
        await sender.connect()
        await sender.send("m1", "u2", "hello", timeout=5)
        nc = await nats.connect(f"nats://{server[0]}:{server[1]}")
        sub = await nc.jetstream().pull_subscribe_bind(durable="u2", stream="AGG_dc1")
        (taken,) = await sub.fetch(1, timeout=5)  # handed out, never recorded nor acked
        assert b"m1" in taken.data
        await nc.close()
        got: list[str] = []
        receiver = _session(*server, "u2", got)
        await receiver.connect()
        await receiver.login("u2")
        try:
            return await _until(lambda: got == ["m1"], ACK_WAIT_S + 5)
        finally:
            await receiver.close()
            await sender.close()

    waited = asyncio.run(main())
    assert waited < 10, waited


def test_a_failing_pull_on_an_open_connection_keeps_the_session(
        server: tuple[str, int]) -> None:
    """u2's consumer disappears while u2 pulls (its pulls fail with an error status, the
    connection stays open) and comes back: the session goes on and receives what is sent next.
    It used to end silently at the first such error while the history still had u2 online."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from harness.systems.nats._client import ACK_WAIT_S

    async def main() -> None:
        got: list[str] = []
        receiver = _session(*server, "u2", got)
        await receiver.connect()
        await receiver.login("u2")
        nc = await nats.connect(f"nats://{server[0]}:{server[1]}")
        js = nc.jetstream()
        sender = _session(*server, "u1", [])
        await sender.connect()
        try:
            await js.delete_consumer("AGG_dc1", "u2")
            await asyncio.sleep(2.5)  # pulls fail meanwhile
            await js.add_consumer("AGG_dc1", ConsumerConfig(
                durable_name="u2", filter_subject="out.*.u2", ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S, deliver_policy=DeliverPolicy.ALL))
            await sender.send("m2", "u2", "hello", timeout=5)
            # (the new consumer delivers all: also what an earlier test sent to u2)
            await _until(lambda: "m2" in got or receiver.closed.is_set(), 10)
            assert not receiver.closed.is_set() and "m2" in got
        finally:
            await nc.close()
            await receiver.close()
            await sender.close()

    asyncio.run(main())
