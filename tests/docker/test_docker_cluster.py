"""A real 3-DC cluster of containers: DC isolation, cross-DC delivery, kill/restart, pause,
clock, log collection, and a teardown that leaves no labelled container or network behind."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.backends.docker import NODE_PORT, DockerBackend
from harness.errors import UsageError
from imcluster.client import Client

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

WAN_LATENCY_MS = 50
DCS = ("dc1", "dc2", "dc3")

# Run inside a dc1 container: try each (label, host, port); report what answered.
PROBE = """
import json, socket, sys
results = {}
for label, host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(3)
            results[label] = "open:" + s.recv(200).decode("utf-8", "replace")
    except Exception as exc:
        results[label] = "failed:" + type(exc).__name__
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cluster(docker_cluster_factory: Any) -> DockerBackend:
    backend: DockerBackend = docker_cluster_factory(dcs=len(DCS), wan_latency_ms=WAN_LATENCY_MS)
    return backend


async def _login(backend: DockerBackend, dc: str, user: str) -> Client:
    host, port = backend.access_addresses()[dc][0]
    client = Client(host, port, secret=backend.secret)
    await client.connect()
    await client.login(user)
    return client


async def _next_delivery(client: Client, timeout: float) -> dict[str, Any]:
    return dict(await asyncio.wait_for(client.raw_deliveries.get(), timeout))


def _container_ip(backend: DockerBackend, node: str, dc: str) -> str:
    container = backend._container(node)
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][backend._resource_name(dc)]
               ["IPAddress"])


def test_dcs_reach_each_other_only_through_toxiproxy(cluster: DockerBackend) -> None:
    dc2_hub_ip = _container_ip(cluster, "dc2-hub", "dc2")
    proxy_host, proxy_port = cluster.peer_address("dc1", "dc2").rsplit(":", 1)
    targets = [
        ["direct_ip", dc2_hub_ip, NODE_PORT],
        ["direct_name", cluster.container_name("dc2-hub"), NODE_PORT],
        ["dc2_access_ip", _container_ip(cluster, "dc2-a1", "dc2"), NODE_PORT],
        ["via_toxiproxy", proxy_host, int(proxy_port)],
        # proxy dc3->dc2 listens on Toxiproxy's dc3 address only: not usable from dc1
        ["other_pair_proxy", proxy_host, int(cluster.peer_address("dc3", "dc2").rsplit(":")[1])],
    ]
    exit_code, output = cluster._container("dc1-hub").exec_run(
        ["python3", "-c", PROBE, json.dumps(targets)])
    assert exit_code == 0, output
    results = json.loads(output.decode().strip().splitlines()[-1])
    assert results["direct_ip"].startswith("failed:"), results
    assert results["direct_name"].startswith("failed:"), results
    assert results["dc2_access_ip"].startswith("failed:"), results
    assert results["other_pair_proxy"].startswith("failed:"), results
    # dc2's hub greets every connection with its handshake challenge: the proxy path works.
    assert results["via_toxiproxy"].startswith("open:"), results
    assert "challenge" in results["via_toxiproxy"], results


async def test_cross_dc_delivery(cluster: DockerBackend) -> None:
    alice = await _login(cluster, "dc1", "alice")
    bob = await _login(cluster, "dc2", "bob")
    try:
        await asyncio.sleep(1.0)  # bob's coordinate reaches dc1 by gossip
        started = time.monotonic()
        await alice.send("cross-1", "bob", "hello from dc1")
        frame = await _next_delivery(bob, timeout=10)
        elapsed_ms = (time.monotonic() - started) * 1000
        assert (frame["id"], frame["from"], frame["to"]) == ("cross-1", "alice", "bob")
        assert frame["dc"] == "dc2"
        assert elapsed_ms >= WAN_LATENCY_MS * 0.9, elapsed_ms
    finally:
        await alice.close()
        await bob.close()


async def _send_kill_restart_then_receive(backend: DockerBackend, sender: str, recipient: str,
                                          message_id: str, wait_s: float
                                          ) -> list[dict[str, Any]]:
    """With dc1 blackholed from the other DCs (so the message exists only in dc1's store),
    `sender` sends from dc1 to an offline `recipient`; dc1's hub is SIGKILLed and restarted; the
    WAN heals; `recipient` logs into dc1. Returns the first frame it gets within `wait_s`, if any."""
    others = [dc for dc in backend.spec.dc_names if dc != "dc1"]  # type: ignore[union-attr]
    backend.wan.apply_grudge({"dc1": others, **{dc: ["dc1"] for dc in others}})
    try:
        client = await _login(backend, "dc1", sender)
        try:
            await client.send(message_id, recipient, "are you there?")
        finally:
            await client.close()
        backend.kill("dc1-hub")
        assert not backend.is_running("dc1-hub")
        backend.restart("dc1-hub")
        assert backend.is_running("dc1-hub")
    finally:
        backend.wan.heal()
    deadline = time.monotonic() + 20
    receiver = None
    while receiver is None:  # dc1-a1 reconnects to the restarted hub with backoff
        try:
            receiver = await _login(backend, "dc1", recipient)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        return [await _next_delivery(receiver, timeout=wait_s)]
    except TimeoutError:
        return []
    finally:
        await receiver.close()


async def test_killed_hub_keeps_a_pending_message(cluster: DockerBackend) -> None:
    frames = await _send_kill_restart_then_receive(cluster, "alice2", "carol", "pending-1",
                                                  wait_s=20)
    assert [(f["id"], f["to"]) for f in frames] == [("pending-1", "carol")]


async def test_volatile_store_loses_it(docker_cluster_factory: Any) -> None:
    """The same sequence on a cluster with `--bug volatile-store` loses the message: the kill
    fault on containers catches the seeded bug."""
    volatile = docker_cluster_factory(dcs=2, wan_latency_ms=WAN_LATENCY_MS,
                                      bugs=("volatile-store",))
    try:
        frames = await _send_kill_restart_then_receive(volatile, "alice3", "carol3",
                                                      "volatile-1", wait_s=8)
        assert frames == []
    finally:
        volatile.stop()


async def test_pause_resume_and_clock(cluster: DockerBackend) -> None:
    cluster.pause("dc2-a1")
    try:
        assert cluster.is_running("dc2-a1")
        with pytest.raises((asyncio.TimeoutError, OSError)):
            await cluster.admin_status("dc2-a1", timeout=1.0)
    finally:
        cluster.resume("dc2-a1")
    assert (await cluster.admin_status("dc2-a1"))["health"] == "ok"
    cluster.resume("dc2-a1")  # not paused: nothing to do, like SIGCONT to a running process
    await cluster.set_clock("dc3-hub", 5000)
    assert (await cluster.admin_status("dc3-hub"))["clock_offset_ms"] == 5000
    await cluster.set_clock("dc3-hub", 0)


async def test_isolated_access_node_cannot_reach_its_hub(cluster: DockerBackend) -> None:
    sender = await _login(cluster, "dc3", "dave")
    try:
        cluster.isolate_node("dc3-a1")
        cluster.isolate_node("dc3-a1")  # idempotent
        try:
            with pytest.raises(Exception):  # noqa: B017 - timeout or send_err, both fine
                await sender.send("cut-1", "erin", "lost in the cut", timeout=2.0)
            # clients still reach the node itself: only the hub link is cut
            assert (await cluster.admin_status("dc3-a1"))["health"] == "ok"
        finally:
            cluster.rejoin_node("dc3-a1")
        deadline = time.monotonic() + 20
        while True:  # the access node reconnects to its hub after the cut
            try:
                again = await _login(cluster, "dc3", "dave2")
                await again.send("cut-2", "erin", "after the cut", timeout=2.0)
                await again.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await sender.close()
    with pytest.raises(UsageError):
        cluster.isolate_node("dc3-hub")


def test_collect_saves_every_container_log(cluster: DockerBackend, tmp_path: Path) -> None:
    event_logs = cluster.collect(tmp_path)
    names = {n.name for n in cluster.nodes()} | {"toxiproxy"}
    assert {p.stem for p in (tmp_path / "logs").glob("*.log")} == names
    assert set(event_logs) == set(DCS)
    lines = event_logs["dc1"].read_text().splitlines()
    assert lines and {"event", "kind", "origin", "seq"} <= set(json.loads(lines[0]))


def test_stop_leaves_no_labelled_resource(cluster: DockerBackend, docker_client: Any) -> None:
    label = {"label": f"imfault.run={cluster.run_id}"}
    assert len(docker_client.containers.list(all=True, filters=label)) == 1 + 2 * len(DCS)
    assert len(docker_client.networks.list(filters=label)) == len(DCS)
    cluster.stop()
    cluster.stop()  # idempotent
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
