"""A blackholed WAN (Wan.apply_grudge through real Toxiproxy) stops frames between DCs: the
isolated DC's version vector stops advancing while the others keep gossiping; after `heal` every
hub converges to the same version vector."""

from __future__ import annotations

import asyncio

import pytest
from cluster_helpers import ClusterFactory, converged, login, version_vectors, wait_until

from harness.backends.local import LocalBackend

pytestmark = pytest.mark.integration

WAN_MS = 50
ISOLATE_DC3 = {"dc3": ["dc1", "dc2"], "dc1": ["dc3"], "dc2": ["dc3"]}


@pytest.fixture(scope="module")
def cluster(cluster_factory: ClusterFactory) -> LocalBackend:
    return cluster_factory(dcs=3, wan_latency_ms=WAN_MS, seed=31)


async def _logins(cluster: LocalBackend, dc: str, users: list[str]) -> None:
    """Each login/logout originates coordinate entries at `dc`'s hub."""
    for user in users:
        client = await login(cluster, dc, user)
        await client.logout()
        await client.close()


async def test_blackhole_isolates_a_dc_until_heal(cluster: LocalBackend) -> None:
    await wait_until(lambda: converged(cluster), timeout=10)
    cluster.wan.apply_grudge(ISOLATE_DC3)
    try:
        before = await version_vectors(cluster)
        await _logins(cluster, "dc1", [f"p1-{n}" for n in range(5)])
        await _logins(cluster, "dc3", [f"p3-{n}" for n in range(5)])

        async def dc2_has_dc1_updates() -> bool:
            vv = await version_vectors(cluster)
            return vv["dc2"].get("dc1", 0) == vv["dc1"].get("dc1", 0) > before["dc1"].get("dc1", 0)

        await wait_until(dc2_has_dc1_updates, timeout=10)
        await asyncio.sleep(1.0)  # ten gossip rounds: nothing may cross the cut
        during = await version_vectors(cluster)
        assert during["dc1"]["dc1"] > before["dc1"].get("dc1", 0)
        assert during["dc3"].get("dc1", 0) == before["dc3"].get("dc1", 0)
        assert during["dc3"]["dc3"] > before["dc3"].get("dc3", 0)
        assert during["dc1"].get("dc3", 0) == before["dc1"].get("dc3", 0)
        assert during["dc2"].get("dc3", 0) == before["dc2"].get("dc3", 0)
        assert not await converged(cluster)
    finally:
        cluster.wan.heal()
    healed_after = await wait_until(lambda: converged(cluster), timeout=15)
    final = await version_vectors(cluster)
    assert final["dc1"]["dc3"] == final["dc3"]["dc3"] and final["dc3"]["dc1"] == final["dc1"]["dc1"]
    print(f"converged {healed_after:.2f} s after heal")
