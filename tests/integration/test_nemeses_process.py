"""Process and clock nemeses against the real local backend: `pause`, `kill`, `dc-outage`,
`clock-skew`, and a composed, validated schedule of them played in real time.

One shared 3-DC cluster; every test heals what it broke (also on failure) and leaves every node
healthy for the next.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from cluster_helpers import ClusterFactory, converged, login, version_vectors, wait_until

from harness.nemesis import NemesisContext, get_nemesis, validate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def cluster(cluster_factory: ClusterFactory) -> Any:
    return cluster_factory(dcs=3, wan_latency_ms=20, seed=9)


def nemesis_context(cluster: Any, seed: int, interval: float = 1) -> NemesisContext:
    return NemesisContext.for_run(cluster, seed=seed, loop=asyncio.get_running_loop(),
                                  options={"nemesis_interval": interval})


def nemesis_op(f: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"process": "nemesis", "type": "invoke", "f": f, "value": value}


async def invoke(nemesis: Any, ctx: NemesisContext, op: dict[str, Any]) -> dict[str, Any]:
    """As the runner does: the sync `invoke` in a worker thread, the loop stays free."""
    done: dict[str, Any] = await asyncio.to_thread(nemesis.invoke, ctx, op)
    return done


async def healthy(cluster: Any, node: str, timeout: float = 1.0) -> bool:
    try:
        status = await cluster.admin_status(node, timeout=timeout)
    except (TimeoutError, OSError, ConnectionError):
        return False
    return status.get("health") == "ok"


async def all_healthy(cluster: Any) -> bool:
    return all([await healthy(cluster, n.name) for n in cluster.nodes()])


async def test_pause_freezes_the_process_and_resume_unfreezes_it(cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=1)
    nemesis = get_nemesis("pause")
    nemesis.setup(ctx)
    node = "dc2-hub"
    done = await invoke(nemesis, ctx, nemesis_op("pause", {"nemesis": "pause", "node": node}))
    try:
        assert "error" not in done, done
        assert cluster.is_running(node), "a paused process still exists"
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await cluster.admin_status(node, timeout=1.0)
    finally:
        resumed = await invoke(nemesis, ctx, nemesis_op("resume", {"nemesis": "pause"}))
    assert resumed["value"]["nodes"] == [node]
    assert await healthy(cluster, node, timeout=3.0)


async def test_kill_leaves_the_process_dead_and_start_restarts_it_on_the_same_port(
        cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=2)
    nemesis = get_nemesis("kill")
    nemesis.setup(ctx)
    node = "dc3-hub"
    client = await login(cluster, "dc3", "killed-hub-user")
    await client.close()
    await wait_until(lambda: converged(cluster), 15)
    before_vv = (await version_vectors(cluster))["dc3"]
    port, pid = cluster.node(node).port, cluster.pid(node)
    done = await invoke(nemesis, ctx, nemesis_op("kill", {"nemesis": "kill", "node": node}))
    try:
        assert "error" not in done, done
        assert not cluster.is_running(node)
        assert not await healthy(cluster, node)
    finally:
        started = await invoke(nemesis, ctx, nemesis_op("start", {"nemesis": "kill"}))
    assert "error" not in started and started["value"]["nodes"] == [node]
    assert cluster.is_running(node) and cluster.pid(node) != pid
    assert cluster.node(node).port == port
    status = await cluster.admin_status(node)
    assert status["health"] == "ok"
    assert all(status["vv"].get(k, 0) >= v for k, v in before_vv.items()), "the store survived"
    await wait_until(lambda: all_healthy(cluster), 15)


async def test_dc_outage_kills_every_node_of_one_dc_and_restarts_them(cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=3)
    nemesis = get_nemesis("dc-outage")
    nemesis.setup(ctx)
    start = nemesis.schedule(ctx).step(0)
    assert start is not None and start.f == "kill"
    dc = start.value["dc"]
    expected = sorted(n.name for n in cluster.nodes() if n.dc == dc)
    assert sorted(start.value["nodes"]) == expected
    done = await invoke(nemesis, ctx, start.op())
    try:
        assert "error" not in done, done
        for node in cluster.nodes():
            assert cluster.is_running(node.name) == (node.dc != dc), node.name
    finally:
        started = await invoke(nemesis, ctx, nemesis.final_schedule(ctx).step(0).op())
    assert "error" not in started, started
    assert sorted(started["value"]["nodes"]) == expected
    await wait_until(lambda: all_healthy(cluster), 15)


async def test_clock_skew_changes_and_resets_the_reported_clock_offset(cluster: Any) -> None:
    ctx = nemesis_context(cluster, seed=4)
    nemesis = get_nemesis("clock-skew")
    nemesis.setup(ctx)
    start = nemesis.schedule(ctx).step(0)
    assert start is not None and start.f == "bump-clock"
    node, offset = start.value["node"], start.value["offset_ms"]
    assert node.endswith("-hub") and 5_000 <= abs(offset) <= 60_000
    done = await invoke(nemesis, ctx, start.op())
    try:
        assert "error" not in done, done
        assert (await cluster.admin_status(node))["clock_offset_ms"] == offset
        others = [n.name for n in cluster.nodes() if n.name != node]
        for other in others:
            assert (await cluster.admin_status(other))["clock_offset_ms"] == 0
    finally:
        reset = await invoke(nemesis, ctx, nemesis_op("reset-clock", {"nemesis": "clock-skew"}))
    assert reset["value"]["nodes"] == [node]
    assert (await cluster.admin_status(node))["clock_offset_ms"] == 0


async def test_composed_validated_schedule_runs_in_real_time_and_heals(cluster: Any) -> None:
    """kill + pause + clock-skew + partition-halves, interval 0.5 s, for 4 s, then the heal.

    Every op completes as `info`; the validator finds no protocol problem; afterwards every node
    is healthy, no WAN fault remains, every clock offset is 0 and the hubs converge."""
    ctx = nemesis_context(cluster, seed=5, interval=0.5)
    nemesis = validate(get_nemesis("kill,pause,clock-skew,partition-halves"))
    nemesis.setup(ctx)
    history: list[dict[str, Any]] = []
    started = time.monotonic()
    for step in [*nemesis.schedule(ctx).until(4.0), *nemesis.final_schedule(ctx)]:
        if step.value.get("final") is None:
            await asyncio.sleep(max(0.0, started + step.at_s - time.monotonic()))
        history.append(await invoke(nemesis, ctx, step.op()))
    nemesis.teardown(ctx)
    assert nemesis.problems == []
    fs = [op["f"] for op in history]
    assert {"kill", "start", "pause", "resume", "bump-clock", "reset-clock", "start-partition",
            "stop-partition"} <= set(fs)
    failed = [op for op in history if "error" in op]
    # the one legitimate failure: bumping the clock of a hub another nemesis holds down
    assert all(op["f"] == "bump-clock" for op in failed), failed
    assert all(op["type"] == "info" and op["process"] == "nemesis" for op in history)
    assert cluster.wan.active_faults() == []
    await wait_until(lambda: all_healthy(cluster), 15)
    for node in cluster.nodes():
        assert (await cluster.admin_status(node.name))["clock_offset_ms"] == 0
    await wait_until(lambda: converged(cluster), 20)
