"""WAN nemeses against the real local backend (real node processes, real `toxiproxy-server`).

One shared 4-DC cluster (50 ms baseline latency). A partition is shown by the hubs' version
vectors: an update originated in DC `b` reaches DC `a` during the partition iff `b` reaches `a`
in the grudge's "hears" graph (gossip relays through third DCs); every other pair stops
advancing. After the heal every hub converges. `wan-degrade` is shown by a measured delivery time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import networkx as nx
import pytest
from cluster_helpers import (
    ClusterFactory,
    converged,
    login,
    next_delivery,
    version_vectors,
    wait_until,
)

from harness.nemesis import NemesisContext, get_nemesis, hears_graph_from_grudge, validate
from imcluster.client import Client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DCS = 4
_users = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(cluster_factory: ClusterFactory) -> Any:
    return cluster_factory(dcs=DCS, wan_latency_ms=50, seed=5)


def nemesis_context(cluster: Any, seed: int, **options: Any) -> NemesisContext:
    return NemesisContext.for_run(cluster, seed=seed, loop=asyncio.get_running_loop(),
                                  options={"nemesis_interval": 1, **options})


async def originate_everywhere(cluster: Any, per_dc: int = 2) -> list[Client]:
    """Log fresh users in on every DC: each login originates a `coord` update at that DC's hub."""
    clients = []
    for dc in cluster.spec.dc_names:
        for _ in range(per_dc):
            clients.append(await login(cluster, dc, f"w{next(_users):04d}"))
    return clients


async def close_all(clients: list[Client]) -> None:
    for client in clients:
        await client.close()


def reachability(grudge: dict[str, list[str]]) -> dict[tuple[str, str], bool]:
    """(origin, dc) -> whether updates of `origin` can reach `dc` under the grudge."""
    hears = hears_graph_from_grudge(grudge)
    return {(b, a): nx.has_path(hears, b, a) for a in grudge for b in grudge if a != b}


async def run_partition(cluster: Any, nemesis_name: str, seed: int,
                        **options: Any) -> dict[str, Any]:
    """Partition with the nemesis's own seeded shape; check the cut; heal; check convergence."""
    ctx = nemesis_context(cluster, seed, **options)
    nemesis = validate(get_nemesis(nemesis_name))
    nemesis.setup(ctx)
    start = nemesis.schedule(ctx).step(0)
    assert start is not None and start.f == "start-partition"
    await wait_until(lambda: converged(cluster), 15)
    done = await asyncio.to_thread(nemesis.invoke, ctx, start.op())
    assert done["type"] == "info" and "error" not in done, done
    grudge = done["value"]["grudge"]
    reaches = reachability(grudge)
    clients: list[Client] = []
    try:
        before = await version_vectors(cluster)
        clients = await originate_everywhere(cluster)

        async def reachable_advanced() -> bool:
            now = await version_vectors(cluster)
            return all(now[dc].get(origin, 0) > before[dc].get(origin, 0)
                       for (origin, dc), ok in reaches.items() if ok)

        await wait_until(reachable_advanced, 10)
        await asyncio.sleep(1.0)  # ten gossip rounds and more: a leak would show by now
        during = await version_vectors(cluster)
        for (origin, dc), ok in reaches.items():
            if not ok:
                assert during[dc].get(origin, 0) == before[dc].get(origin, 0), (
                    f"{dc} heard {origin} through the cut {grudge}")
        for dc in grudge:
            assert during[dc][dc] > before[dc].get(dc, 0), f"{dc} kept originating"
    finally:
        heal = nemesis.final_schedule(ctx).step(0)
        assert heal is not None
        healed = await asyncio.to_thread(nemesis.invoke, ctx, heal.op())
        await close_all(clients)
    assert "error" not in healed, healed
    assert cluster.wan.active_faults() == []
    converge_s = await wait_until(lambda: converged(cluster), 15)
    nemesis.teardown(ctx)
    assert nemesis.problems == []
    return {"grudge": grudge, "reaches": reaches, "converge_s": converge_s}


async def test_partition_one_freezes_the_isolated_dc_and_converges_after_heal(
        cluster: Any) -> None:
    result = await run_partition(cluster, "partition-one", seed=11)
    isolated = [dc for dc, cut in result["grudge"].items() if len(cut) == DCS - 1]
    assert len(isolated) == 1
    cut_pairs = {pair for pair, ok in result["reaches"].items() if not ok}
    assert len(cut_pairs) == 2 * (DCS - 1), "both directions of every link of the isolated DC"


async def test_partition_oneway_cuts_one_direction_only(cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=1)
    nemesis = get_nemesis("partition-oneway")
    nemesis.setup(ctx)
    deaf, rest = "dc1", ["dc2", "dc3", "dc4"]
    grudge = {deaf: rest, **{dc: [] for dc in rest}}
    op = {"process": "nemesis", "type": "invoke", "f": "start-partition",
          "value": {"nemesis": "partition-oneway", "grudge": grudge}}
    await wait_until(lambda: converged(cluster), 15)
    done = await asyncio.to_thread(nemesis.invoke, ctx, op)
    assert "error" not in done and done["value"]["style"] == "blackhole"
    clients: list[Client] = []
    try:
        before = await version_vectors(cluster)
        clients = await originate_everywhere(cluster)

        async def deaf_side_heard() -> bool:
            now = await version_vectors(cluster)
            return all(now[dc].get(deaf, 0) > before[dc].get(deaf, 0) for dc in rest)

        await wait_until(deaf_side_heard, 10)  # dc1 -> others still flows
        await asyncio.sleep(1.0)
        during = await version_vectors(cluster)
        for origin in rest:
            assert during[deaf].get(origin, 0) == before[deaf].get(origin, 0), "others -> dc1 cut"
    finally:
        await asyncio.to_thread(nemesis.invoke, ctx, {**op, "f": "stop-partition", "value": {}})
        await close_all(clients)
    await wait_until(lambda: converged(cluster), 15)


@pytest.mark.parametrize("shape", ["partition-halves", "partition-ring", "partition-bridge",
                                   "partition-oneway"])
async def test_every_shape_cuts_exactly_its_grudge(cluster: Any, shape: str) -> None:
    result = await run_partition(cluster, shape, seed=23)
    if shape in ("partition-halves", "partition-ring"):
        assert any(not ok for ok in result["reaches"].values()) or shape == "partition-ring"


async def test_refuse_style_also_cuts(cluster: Any) -> None:
    result = await run_partition(cluster, "partition-one", seed=12, partition_style="refuse")
    assert any(not ok for ok in result["reaches"].values())


async def delivery_time(sender: Client, receiver: Client, message_id: str) -> float:
    started = time.monotonic()
    await sender.send(message_id, str(receiver.user), "timing")
    while True:
        frame = await next_delivery(receiver, 15)
        if frame["id"] == message_id:
            return time.monotonic() - started


async def test_wan_degrade_latency_raises_measured_cross_dc_delivery_time(cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=3)
    nemesis = get_nemesis("wan-degrade")
    nemesis.setup(ctx)
    sender = await login(cluster, "dc1", "wsender")
    receiver = await login(cluster, "dc2", "wreceiver")
    try:
        await wait_until(lambda: converged(cluster), 15)
        baseline = sorted([await delivery_time(sender, receiver, f"wb{i}") for i in range(3)])[1]
        links = [[a, b] for a in cluster.spec.dc_names for b in cluster.spec.dc_names
                 if a != b and "dc2" in (a, b)]
        value = {"nemesis": "wan-degrade", "kind": "latency", "links": links,
                 "attributes": {"latency": 1000, "jitter": 100}}
        done = await asyncio.to_thread(nemesis.invoke, ctx, {
            "process": "nemesis", "type": "invoke", "f": "start-wan", "value": value})
        assert "error" not in done, done
        try:
            degraded = await delivery_time(sender, receiver, "wd1")
        finally:
            await asyncio.to_thread(nemesis.invoke, ctx, {
                "process": "nemesis", "type": "invoke", "f": "stop-wan", "value": {}})
        restored = await delivery_time(sender, receiver, "wr1")
    finally:
        await close_all([sender, receiver])
    print(f"\ncross-DC delivery: baseline {baseline * 1000:.0f} ms, "
          f"degraded {degraded * 1000:.0f} ms, restored {restored * 1000:.0f} ms")
    assert baseline < 0.5
    assert degraded >= 0.9, "every path into dc2 now carries +1000 ms (+-100 jitter)"
    assert restored < 0.5


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_wan_degrade_schedule_applies_and_restores_its_toxics(cluster: Any,
                                                                    seed: int) -> None:
    ctx = nemesis_context(cluster, seed=seed)
    nemesis = get_nemesis("wan-degrade")
    nemesis.setup(ctx)
    start = nemesis.schedule(ctx).step(0)
    assert start is not None
    done = await asyncio.to_thread(nemesis.invoke, ctx, start.op())
    try:
        assert "error" not in done, done
        faults = cluster.wan.active_faults()
        kind = done["value"]["kind"]
        expected = {f"{a}->{b}" for a, b in done["value"]["links"]}
        assert {f["link"] for f in faults} == expected
        assert {f["kind"] for f in faults} == {kind}
    finally:
        await asyncio.to_thread(nemesis.invoke, ctx, nemesis.final_schedule(ctx).step(0).op())
    assert cluster.wan.active_faults() == []
    await wait_until(lambda: converged(cluster), 20)
