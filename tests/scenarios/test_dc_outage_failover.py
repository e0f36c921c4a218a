"""A whole DC goes down and its users fail over to another DC.

Step by step on the module's cluster: B is online in DC2, DC2 dies (every node killed), A sends
to B, B logs in at DC3 and receives the message there, a second message reaches B online at
DC3, DC2 comes back and every DC converges on B's new coordinate. Then the `dc-outage` nemesis
with roaming users under the harness's workload.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harness.backends import Backend
from harness.pytest_plugin import ImRun
from imcluster.client import Client

pytestmark = pytest.mark.im_cluster(dcs=3, wan_latency_ms=50)


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


async def coordinates_of(cluster: Backend, user: str) -> dict[str, dict[str, Any] | None]:
    assert cluster.spec is not None
    statuses = {dc: await cluster.admin_status(cluster.hub(dc)) for dc in cluster.spec.dc_names}
    return {dc: (status.get("coords") or {}).get(user) for dc, status in statuses.items()}


async def test_users_of_a_dead_dc_fail_over_and_get_their_messages(im_cluster: Backend) -> None:
    assert im_cluster.spec is not None and im_cluster.spec.wan_latency_ms == 50  # module marker
    dc2_nodes = [im_cluster.hub("dc2").name] + [n.name for n in im_cluster.access_nodes("dc2")]
    alice = await logged_in(im_cluster, "dc1", "outage-alice")
    bob_in_dc2 = await logged_in(im_cluster, "dc2", "outage-bob")
    bob_in_dc3 = None
    try:
        await asyncio.sleep(0.5)  # B's coordinate (online in DC2) reaches every DC
        for node in dc2_nodes:
            im_cluster.kill(node)
        await bob_in_dc2.close()
        await alice.send("outage-m1", "outage-bob", "sent while DC2 is down")
        bob_in_dc3 = await logged_in(im_cluster, "dc3", "outage-bob")
        first = dict(await asyncio.wait_for(bob_in_dc3.raw_deliveries.get(), 15))
        assert (first["id"], first["dc"]) == ("outage-m1", "dc3")
        await alice.send("outage-m2", "outage-bob", "sent after the failover")
        second = dict(await asyncio.wait_for(bob_in_dc3.raw_deliveries.get(), 15))
        assert (second["id"], second["dc"]) == ("outage-m2", "dc3")
    finally:
        for node in dc2_nodes:
            if not im_cluster.is_running(node):
                im_cluster.restart(node)
        await alice.close()
        if bob_in_dc3 is not None:
            await bob_in_dc3.close()
    deadline = time.monotonic() + 15
    while True:  # DC2 is back: it learns B moved to DC3 (B is offline now: connection closed)
        coords = await coordinates_of(im_cluster, "outage-bob")
        if all(c is not None and c.get("dc") == "dc3" for c in coords.values()):
            break
        assert time.monotonic() < deadline, f"DC2 never learnt B's failover: {coords}"
        await asyncio.sleep(0.2)


@pytest.mark.im_nemesis("dc-outage", roam=0.3, time_limit=6, nemesis_interval=2)
async def test_dc_outage_nemesis_with_roaming_users(im_run: ImRun, im_cluster: Backend) -> None:
    result = im_run(cluster=im_cluster)  # an async test may call im_run too
    result.assert_valid()
    assert result["delivery"]["lost_count"] == 0
