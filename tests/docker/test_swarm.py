"""The swarm backend on a single-node swarm (the session's `swarm` fixture makes one when the
engine has none): Toxiproxy the only path between DCs (and the check that says so catches a
bypass), every resource labelled and placed, no published port, kill/restart keeping a pending
message, pause and clock, partition-node refused, log and event collection, and a teardown that
leaves nothing."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
from test_docker_cluster import _send_kill_restart_then_receive

from harness.backends import ClusterSpec
from harness.backends.swarm import SwarmBackend
from harness.errors import SetupError, UsageError
from harness.nemesis import NemesisContext, get_nemesis

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

DCS = ("dc1", "dc2")


@pytest.fixture(scope="module")
def cluster(swarm: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    backend = SwarmBackend()
    try:
        backend.start(ClusterSpec(dcs=len(DCS), wan_latency_ms=50,
                                  work_dir=tmp_path_factory.mktemp("swarm-cluster")))
        yield backend
    finally:
        backend.stop()


def test_toxiproxy_is_the_only_path_between_dcs(cluster: SwarmBackend, docker_client: Any
                                                ) -> None:
    """`start` checked it from inside dc1's hub; joining that hub's container to dc2's overlay
    opens a direct path, and the same check then refuses the cluster."""
    results = cluster.isolation
    assert results["direct_ip"].startswith("failed:"), results
    assert results["direct_name"].startswith("failed:"), results
    assert results["edge_forward"].startswith("failed:"), results
    assert "challenge" in results["via_toxiproxy"], results
    network = docker_client.networks.get(cluster._networks["dc2"])
    container = cluster._container("dc1-hub")
    network.connect(container.id)
    try:
        with pytest.raises(SetupError, match="not the only path"):
            cluster.verify_isolation()
    finally:
        network.disconnect(container.id)
    cluster.verify_isolation()


def test_start_waits_until_every_hub_link_is_up(cluster: SwarmBackend) -> None:
    """`start` returns once each hub has a handshaken link to every other DC's hub (each proxy
    relayed a handshake); with the proxies between dc1 and dc2 refusing, the wait names the links
    still down at its deadline, and passes again once they heal."""
    assert cluster.links_up_s is not None
    assert cluster._wan is not None
    cluster._wan.apply_grudge({"dc2": ["dc1"]}, style="refuse")
    try:
        with pytest.raises(SetupError, match=r"not up within 2 s .*'dc1-hub': \['dc2'\]"):
            cluster._wait_links_up(timeout_s=2)
    finally:
        cluster._wan.heal()
    cluster._wait_links_up(timeout_s=30)


def test_resources_are_labelled_placed_and_unpublished(cluster: SwarmBackend, swarm: str,
                                                       docker_client: Any) -> None:
    label = {"label": f"imfault.run={cluster.run_id}"}
    services = docker_client.services.list(filters=label)
    assert {s.name for s in services} == {cluster.container_name(n)
                                          for n in ("toxiproxy", "dc1-hub", "dc1-a1", "dc2-hub",
                                                    "dc2-a1")}
    for service in services:
        spec = service.attrs["Spec"]
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        assert f"node.id=={swarm}" in spec["TaskTemplate"]["Placement"]["Constraints"]
        assert not service.attrs.get("Endpoint", {}).get("Ports"), "a port is published"
        env = spec["TaskTemplate"]["ContainerSpec"].get("Env") or []
        assert not any(cluster.secret in item for item in env)  # a swarm secret, not in the spec
    networks = docker_client.networks.list(filters=label)
    assert sorted(n.name for n in networks) == [cluster._resource_name(dc) for dc in DCS]
    assert all(n.attrs["Driver"] == "overlay" and n.attrs["Attachable"] for n in networks)
    assert len(docker_client.secrets.list(filters=label)) == 1
    assert len(docker_client.volumes.list(filters=label)) == len(DCS)  # one per hub


async def test_killed_hub_keeps_a_pending_message(cluster: SwarmBackend) -> None:
    frames = await _send_kill_restart_then_receive(cluster, "alice", "carol", "pending-1",
                                                  wait_s=20)
    assert [(f["id"], f["to"]) for f in frames] == [("pending-1", "carol")]


async def test_pause_resume_and_clock(cluster: SwarmBackend) -> None:
    cluster.pause("dc2-a1")
    try:
        assert cluster.is_running("dc2-a1")
        with pytest.raises((asyncio.TimeoutError, OSError)):
            await cluster.admin_status("dc2-a1", timeout=1.0)
    finally:
        cluster.resume("dc2-a1")
    assert (await cluster.admin_status("dc2-a1"))["health"] == "ok"
    await cluster.set_clock("dc2-hub", 5000)
    assert (await cluster.admin_status("dc2-hub"))["clock_offset_ms"] == 5000
    await cluster.set_clock("dc2-hub", 0)


def test_partition_node_is_refused_at_setup(cluster: SwarmBackend) -> None:
    nemesis = get_nemesis("partition-node")
    context = NemesisContext(backend=cluster, dc_names=list(DCS), rng=random.Random(1))
    with pytest.raises(UsageError, match="partition-node"):
        nemesis.setup(context)


def test_collect_saves_every_service_log_and_event_log(cluster: SwarmBackend,
                                                       tmp_path: Path) -> None:
    event_logs = cluster.collect(tmp_path)
    names = {n.name for n in cluster.nodes()} | {"toxiproxy"}
    assert {p.stem for p in (tmp_path / "logs").glob("*.log")} == names
    assert set(event_logs) == set(DCS)
    lines = event_logs["dc1"].read_text().splitlines()
    assert lines and {"event", "kind", "origin", "seq"} <= set(json.loads(lines[0]))


def test_stop_leaves_nothing(cluster: SwarmBackend, docker_client: Any) -> None:
    label = {"label": f"imfault.run={cluster.run_id}"}
    cluster.stop()
    cluster.stop()  # idempotent
    assert docker_client.services.list(filters=label) == []
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.secrets.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
