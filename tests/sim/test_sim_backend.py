"""The sim backend's cluster and WAN: faults take effect, heal, are reported, and what sim cannot
model is refused. Everything runs in virtual time (milliseconds of wall time per test)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.backends import ClusterSpec, get_backend
from harness.errors import UsageError
from harness.sim import SimBackend


def started(tmp_path: Path, **spec: object) -> SimBackend:
    backend = get_backend("sim")
    assert isinstance(backend, SimBackend)
    backend.start(ClusterSpec(work_dir=tmp_path, **{"dcs": 3, **spec}))  # type: ignore[arg-type]
    return backend


def test_nodes_are_named_like_the_other_backends(tmp_path: Path) -> None:
    backend = started(tmp_path, access_per_dc=2)
    assert [n.name for n in backend.nodes()] == [
        "dc1-hub", "dc2-hub", "dc3-hub", "dc1-a1", "dc1-a2", "dc2-a1", "dc2-a2", "dc3-a1",
        "dc3-a2"]
    assert backend.hub("dc2").role == "hub" and len(backend.access_nodes("dc3")) == 2


def test_a_grudge_blackholes_one_direction_and_heal_ends_it(tmp_path: Path) -> None:
    backend = started(tmp_path)
    cluster = backend._cluster()
    backend.wan.apply_grudge({"dc1": ["dc2"]})
    assert [f["link"] for f in backend.wan.active_faults()] == ["dc2->dc1"]
    assert cluster._wan_cut("dc2", "dc1") and not cluster._wan_cut("dc1", "dc2")
    backend.wan.apply_grudge({"dc3": ["dc1"]}, style="refuse")
    kinds = {(f["link"], f["kind"]) for f in backend.wan.active_faults()}
    assert kinds == {("dc2->dc1", "blackhole"), ("dc1->dc3", "refuse"), ("dc3->dc1", "refuse")}
    backend.wan.heal()
    assert backend.wan.active_faults() == []
    assert not cluster._wan_cut("dc2", "dc1")


def test_a_cut_drops_gossip_and_the_hubs_diverge_until_healed(tmp_path: Path) -> None:
    backend = started(tmp_path)
    cluster = backend._cluster()
    backend.wan.apply_grudge({dc: [o for o in ("dc1", "dc2", "dc3") if o != dc]
                              for dc in ("dc1", "dc2", "dc3")})
    alice = cluster.client("alice", "dc1")
    alice.login()
    cluster.run_for(1000)
    assert "alice" in cluster.hub("dc1").coordinate_table()
    assert "alice" not in cluster.hub("dc2").coordinate_table()
    backend.wan.heal()
    cluster.run_for(3000)
    assert cluster.converged() and "alice" in cluster.hub("dc2").coordinate_table()


def test_degradations_add_delay_and_reset_peer_drops(tmp_path: Path) -> None:
    backend = started(tmp_path, wan_latency_ms=100)
    cluster = backend._cluster()
    frame = {"type": "digest", "vv": {}}
    assert cluster._link_delay_ms("dc1", "dc2", frame) == 100
    backend.wan.degrade("latency", links=[("dc1", "dc2")], latency=1000, jitter=0)
    assert cluster._link_delay_ms("dc1", "dc2", frame) == 1100
    assert cluster._link_delay_ms("dc2", "dc1", frame) == 100
    backend.wan.degrade("bandwidth", links=[("dc2", "dc1")], rate=1)  # 1 KB/s: 1 byte per ms
    assert cluster._link_delay_ms("dc2", "dc1", frame) > 100
    backend.wan.degrade("reset_peer", links=[("dc1", "dc3")], timeout=0)
    assert cluster._wan_cut("dc1", "dc3")
    assert {f["kind"] for f in backend.wan.active_faults()} == {"latency", "bandwidth",
                                                                  "reset_peer"}
    backend.wan.restore_wan()
    assert backend.wan.active_faults() == [] and not cluster._wan_cut("dc1", "dc3")


def test_what_sim_cannot_model_is_refused(tmp_path: Path) -> None:
    backend = started(tmp_path)
    with pytest.raises(UsageError, match="both streams"):
        backend.wan.degrade("latency", stream="upstream", latency=10)
    with pytest.raises(UsageError, match="toxicity"):
        backend.wan.degrade("latency", toxicity=0.5, latency=10)
    with pytest.raises(UsageError, match="partition style"):
        backend.wan.apply_grudge({"dc1": ["dc2"]}, style="slow")
    with pytest.raises(UsageError, match="no WAN link"):
        backend.wan.apply_grudge({"dc1": ["dc9"]})


@pytest.mark.parametrize(("bugs", "survives"), [((), True), (("volatile-store",), False)])
def test_a_killed_hub_keeps_only_what_it_persisted(tmp_path: Path, bugs: tuple[str, ...],
                                                   survives: bool) -> None:
    backend = started(tmp_path, dcs=1, bugs=bugs)
    cluster = backend._cluster()
    alice = cluster.client("alice", "dc1", auto_ack=False)
    alice.login()
    cluster.run_for(50)
    alice.send("m1", "bob")
    cluster.run_for(50)
    assert alice.results == {"m1": "ok"}
    backend.kill("dc1-hub")
    assert not backend.is_running("dc1-hub")
    backend.restart("dc1-hub")
    assert any(key[0] == "m1" for key in cluster.hub("dc1").state.msgs) is survives


def test_a_paused_hub_answers_after_resume(tmp_path: Path) -> None:
    backend = started(tmp_path, dcs=1)
    cluster = backend._cluster()
    backend.pause("dc1-hub")
    alice = cluster.client("alice", "dc1")
    alice.login()
    cluster.run_for(2000)
    assert not alice.logged_in and backend.is_running("dc1-hub")
    with pytest.raises(ConnectionRefusedError):
        backend.status("dc1-hub")
    backend.resume("dc1-hub")
    cluster.run_for(50)
    assert alice.logged_in and backend.status("dc1-hub")["coords"]["alice"]["online"]


def test_an_access_node_cut_from_its_hub_cannot_log_users_in(tmp_path: Path) -> None:
    backend = started(tmp_path, dcs=1)
    cluster = backend._cluster()
    backend.isolate_node("dc1-a1")
    alice = cluster.client("alice", "dc1")
    alice.login()
    cluster.run_for(1000)
    assert not alice.logged_in
    backend.rejoin_node("dc1-a1")
    alice.close()
    alice.login()
    cluster.run_for(50)
    assert alice.logged_in
    with pytest.raises(UsageError, match="only access nodes"):
        backend.isolate_node("dc1-hub")


def test_clock_offset_of_a_hub_leaves_its_access_nodes_alone(tmp_path: Path) -> None:
    backend = started(tmp_path)
    cluster = backend._cluster()
    asyncio.run(backend.set_clock("dc2-hub", 30_000))
    assert cluster.node_now_ns("dc2") - cluster.now_ns == 30_000_000_000
    assert cluster.node_now_ns("dc2-a1") == cluster.now_ns
    assert asyncio.run(backend.admin_status("dc2-hub"))["clock_offset_ms"] == 30_000


def test_bandwidth_delay_counts_the_bytes_of_frames_carrying_entries(tmp_path: Path) -> None:
    backend = started(tmp_path, wan_latency_ms=0)
    cluster = backend._cluster()
    backend.wan.degrade("bandwidth", links=[("dc1", "dc2")], rate=1)
    alice = cluster.client("alice", "dc1")
    alice.login()
    cluster.run_for(10)
    entries = list(cluster.hub("dc1").state.entries())
    assert entries
    frame = {"type": "push", "entries": entries}  # what a sim hub sends
    assert cluster._link_delay_ms("dc1", "dc2", frame) >= entries[0].size
