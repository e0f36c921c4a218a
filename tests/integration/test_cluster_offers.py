"""Issue 9 item 1 over real processes, two ways an offer used to get lost for good.

Full queue: one DC, two access nodes: bob is logged in on dc1-a1, which is paused (SIGSTOP) while alice, on
dc1-a2, sends him messages of ~60 KiB. The hub's queue towards dc1-a1 (16 MiB, plus the kernel's
socket buffers) overflows, so deliver frames are dropped (the hub's `access_frames_dropped`
counter proves the fault happened); after the resume bob, still on the same connection, must
receive every id. Before the re-offers, 50 of the 400 were never delivered.

Restart: bob's access node is paused while a message for him is offered (the deliver frame sits
in its socket), then killed and restarted; bob logs in again on the new process. Before, its conn
numbers started again from 1, bob got the very conn id the hub had offered the message to, and
the hub never offered it again.
"""

from __future__ import annotations

import asyncio

import pytest
from cluster_helpers import ClusterFactory, login, next_delivery

from imcluster.client import Client

pytestmark = pytest.mark.integration

MESSAGES = 400
BODY = "x" * 60_000


async def test_deliveries_dropped_by_a_full_queue_are_offered_again(
        cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(dcs=1, access_per_dc=2, seed=31)
    bob = await login(cluster, "dc1", "bob", access_index=0)
    alice = await login(cluster, "dc1", "alice", access_index=1)
    ids = [f"full-{i}" for i in range(MESSAGES)]
    try:
        cluster.pause("dc1-a1")
        try:
            for start in range(0, MESSAGES, 20):
                await asyncio.gather(*(alice.send(i, "bob", BODY, timeout=30)
                                       for i in ids[start:start + 20]))
            await asyncio.sleep(1.0)  # let the hub's writer fill and overflow its queue
            status = await cluster.admin_status(cluster.hub("dc1"))
            assert status["counters"]["access_frames_dropped"] > 0  # the queue did overflow
        finally:
            cluster.resume("dc1-a1")
        received: set[str] = set()
        try:
            while len(received) < MESSAGES:
                frame = await next_delivery(bob, timeout=15)
                received.add(str(frame["id"]))
        except TimeoutError:
            pass
        assert not bob.closed.is_set()  # the same connection throughout: no new login
        missing = sorted(set(ids) - received, key=lambda i: int(i.split("-")[1]))
        assert not missing, f"{len(missing)} never delivered, e.g. {missing[:5]}"
    finally:
        await alice.close()
        await bob.close()


async def test_a_restarted_access_node_gives_new_conn_ids_and_the_pending_message(
        cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(dcs=1, access_per_dc=2, seed=32)
    host, port = cluster.access_addresses()["dc1"][0]
    bob = Client(host, port, secret=cluster.secret)
    await bob.connect()
    first_conn = (await bob.login("bob"))["conn"]
    alice = await login(cluster, "dc1", "alice", access_index=1)
    try:
        cluster.pause("dc1-a1")
        try:
            await alice.send("reuse-1", "bob", "offered to a node about to die")
            await asyncio.sleep(0.5)
        finally:
            cluster.kill("dc1-a1")  # SIGKILL ends a stopped process too
        await bob.close()
        cluster.restart("dc1-a1")
        bob = Client(host, port, secret=cluster.secret)
        await bob.connect()
        second_conn = (await bob.login("bob"))["conn"]
        try:
            received = [(await next_delivery(bob, timeout=10))["id"]]
        except TimeoutError:
            received = []
        assert received == ["reuse-1"], (first_conn, second_conn)
        assert second_conn != first_conn
    finally:
        await alice.close()
        await bob.close()
