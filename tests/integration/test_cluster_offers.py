"""Issue 9 item 1 over real processes: deliver frames the hub's bounded send queue drops are
offered again, so an online recipient gets every message without logging in again.

One DC, two access nodes: bob is logged in on dc1-a1, which is paused (SIGSTOP) while alice, on
dc1-a2, sends him messages of ~60 KiB. The hub's queue towards dc1-a1 (16 MiB, plus the kernel's
socket buffers) overflows, so deliver frames are dropped (the hub's `access_frames_dropped`
counter proves the fault happened); after the resume bob, still on the same connection, must
receive every id. Before the re-offers, 50 of the 400 were never delivered.
"""

from __future__ import annotations

import asyncio

import pytest
from cluster_helpers import ClusterFactory, login, next_delivery

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
