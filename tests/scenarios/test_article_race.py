"""The article's critical race: B has just come online in DC2, DC1 has no coordinate for B yet,
so A's message goes to DC1's offline pool; gossip carries it to DC2, where B receives it.

First the race itself, step by step with real clients on the module's cluster (200 ms one-way
WAN latency leaves DC1 without B's coordinate when A sends). Then the same race many times over:
a workload where every recipient is in another DC and half the sessions roam.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.backends import Backend
from harness.pytest_plugin import ImRun
from imcluster.client import Client

pytestmark = pytest.mark.im_cluster(dcs=3, wan_latency_ms=200)


def skip_without_sockets(cluster: Backend) -> None:
    """The step-by-step tests talk to the nodes over sockets; the sim backend's have none."""
    if cluster.name == "sim":
        pytest.skip("step by step over real sockets: the sim backend's nodes have none")


async def logged_in(cluster: Backend, dc: str, user: str) -> Client:
    skip_without_sockets(cluster)
    host, port = cluster.access_addresses()[dc][0]
    client = Client(host, port, secret=cluster.secret)
    await client.connect()
    await client.login(user)
    return client


async def test_message_to_a_user_who_just_came_online_elsewhere_arrives(
        im_cluster: Backend) -> None:
    alice = await logged_in(im_cluster, "dc1", "race-alice")
    bob = None
    try:
        bob = await logged_in(im_cluster, "dc2", "race-bob")
        dc1 = await im_cluster.admin_status(im_cluster.hub("dc1"))
        bob_seen_by_dc1 = (dc1.get("coords") or {}).get("race-bob")
        assert bob_seen_by_dc1 is None or not bob_seen_by_dc1.get("online"), \
            "DC1 already knows B is online: the race window is gone (WAN latency too low?)"
        await alice.send("race-m1", "race-bob", "hello before your coordinate reached DC1")
        delivery = dict(await asyncio.wait_for(bob.raw_deliveries.get(), 10))
    finally:
        await alice.close()
        if bob is not None:
            await bob.close()
    assert delivery["id"] == "race-m1"
    assert delivery["dc"] == "dc2", "B's own DC must deliver (from the pool gossip brought)"
    assert delivery["via"] == "offline", delivery


@pytest.mark.im_nemesis("noop", locality=0.0, roam=0.5, time_limit=6)
def test_race_under_load_loses_nothing(im_run: ImRun, im_cluster: Backend) -> None:
    result = im_run(cluster=im_cluster)
    result.assert_valid()
    receipts = [json.loads(line) for line in (result.run_dir / "history.jsonl").open()]
    via_pool = [op for op in receipts if op["f"] == "recv" and op["value"].get("via") == "offline"]
    assert via_pool, "no delivery went through the offline pool: the race never happened"
