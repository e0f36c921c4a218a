"""The sim backend's cluster and WAN: faults take effect, heal, are reported, and what sim cannot
model is refused. Everything runs in virtual time (milliseconds of wall time per test)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness._cli_run import options_from_args
from harness.backends import ClusterSpec, get_backend
from harness.cli import build_parser
from harness.errors import UsageError
from harness.runner import run_test
from harness.sim import SimBackend
from harness.sim import _backend as sim_backend
from harness.sim._backend import SimCluster, frame_size


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


class _RecordingCluster(SimCluster):
    """A `SimCluster` that records (virtual ms, frame number) of every `probe` frame handed to a
    hub (a frame type no hub sends: the receiver counts it as bad and carries on). A subclass,
    not a patched method: the compiled build (docs/accel.md) makes `SimCluster` a C type."""

    seen: list[tuple[int, int]]

    def _wan_arrive(self, hops: list[Any]) -> None:
        self.seen.extend((self.now_ns // 1_000_000, hop[4]["n"]) for hop in hops
                         if hop[4]["type"] == "probe")
        super()._wan_arrive(hops)


def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              **spec: object) -> tuple[SimBackend, SimCluster, list[tuple[int, int]]]:
    """`started`, on a cluster that records probe arrivals (the list returned)."""
    monkeypatch.setattr(sim_backend, "SimCluster", _RecordingCluster)
    backend = started(tmp_path, **spec)
    cluster = backend._cluster()
    assert isinstance(cluster, _RecordingCluster)
    cluster.seen = []
    return backend, cluster, cluster.seen


def test_degradations_add_delay_and_reset_peer_drops(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    backend, cluster, seen = recording(tmp_path, monkeypatch, wan_latency_ms=100)

    def one_way_ms(src: str, dst: str, n: int) -> int:
        """When probe `n` sent now on src->dst reaches its hub, in ms from now."""
        start = cluster.now_ns // 1_000_000
        cluster._send_wan(src, dst, {"type": "probe", "n": n})
        cluster.run_for(5000)
        return next(t for t, m in seen if m == n) - start

    assert one_way_ms("dc1", "dc2", 1) == 100
    backend.wan.degrade("latency", links=[("dc1", "dc2")], latency=1000, jitter=0)
    assert one_way_ms("dc1", "dc2", 2) == 1100
    assert one_way_ms("dc2", "dc1", 3) == 100
    backend.wan.degrade("bandwidth", links=[("dc2", "dc1")], rate=1)  # 1 KB/s: 1 byte per ms
    assert one_way_ms("dc2", "dc1", 4) > 100
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
    serial_ms, _ = backend.wan.extra_delays_ms(backend.wan.degradations[("dc1", "dc2")], frame)
    assert serial_ms >= entries[0].size


def test_a_bandwidth_degradation_serialises_its_link(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    backend, cluster, seen = recording(tmp_path, monkeypatch, wan_latency_ms=100)
    backend.wan.degrade("bandwidth", links=[("dc1", "dc2")], rate=1)  # 1 byte per ms
    size = frame_size({"type": "probe", "n": 1})
    start = cluster.now_ns // 1_000_000
    for n in range(1, 4):
        cluster._send_wan("dc1", "dc2", {"type": "probe", "n": n})
    cluster.run_for(100 + 3 * size + 10)
    # each frame waits for the ones before it: Toxiproxy's toxic passes one chunk at a time
    assert [(t - start, n) for t, n in seen] == [
        (100 + size, 1), (100 + 2 * size, 2), (100 + 3 * size, 3)]


def test_restoring_the_wan_hands_on_what_a_degradation_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Toxiproxy passes on the data a toxic holds when the toxic is removed; the sim used to keep
    each frame's degraded arrival time, so a slow link stayed blocked long after the restore."""
    backend, cluster, seen = recording(tmp_path, monkeypatch, wan_latency_ms=100)
    backend.wan.degrade("bandwidth", links=[("dc1", "dc2")], rate=1)
    big = {"type": "probe", "n": 1, "pad": "x" * 20_000}  # 20 KB at 1 KB/s: 20 s
    start = cluster.now_ns // 1_000_000
    cluster._send_wan("dc1", "dc2", big)
    cluster._send_wan("dc1", "dc2", {"type": "probe", "n": 2})
    cluster.run_for(50)
    backend.wan.restore_wan()
    cluster._send_wan("dc1", "dc2", {"type": "probe", "n": 3})  # after the restore
    cluster.run_for(1000)
    # held frames arrive at their undegraded time (100 ms after sending), in order, then the
    # frame sent after the restore
    assert [(t - start, n) for t, n in seen] == [(100, 1), (100, 2), (150, 3)]
    assert not cluster._degraded


def test_the_explored_bandwidth_schedule_converges_on_sim_as_on_local(tmp_path: Path) -> None:
    """Found by `imfault explore --dcs 3 --access-per-dc 3 --max-faults 12 --roam 0.8 --seed 41`:
    dc1 cut off and its links at 1 KB/s from 0 s to the heal; the sim kept the frames' degraded
    arrival times after the restore and never converged within the 30-s recovery bound, while
    the same schedule on `local` was valid (convergence p50 20.7 rounds)."""
    schedule = Path(__file__).parent / "data" / "bandwidth_drain_schedule.json"
    argv = ["run", "--store", str(tmp_path), "--backend", "sim", "--dcs", "3",
            "--access-per-dc", "3", "--nemesis", "partition-one,wan-degrade",
            "--recovery-timeout", "30", "--exactly-once", "--schedule", str(schedule)]
    outcome = run_test(options_from_args(build_parser().parse_args(argv)))
    results = json.loads((outcome.run_dir / "results.json").read_text())
    assert results["convergence"]["valid"] is True, results["convergence"]
    assert results["valid"] is True
