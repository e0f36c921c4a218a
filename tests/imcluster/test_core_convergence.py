"""Convergence time of one update across 5 DCs (200 ms WAN, 100 ms gossip) in each gossip mode.

Run as a script for the full measurement (median over 200 seeds):
    .venv/bin/python tests/imcluster/test_core_convergence.py
"""

from __future__ import annotations

import statistics
import sys

import pytest

from imcluster import MemCluster


def convergence_time_ms(gossip: str, seed: int, dcs: int = 5, latency_ms: float = 200,
                        interval_ms: float = 100) -> float:
    """Virtual ms from the origination of one coordinate to its apply at the last other DC."""
    cluster = MemCluster(dcs=dcs, seed=seed, latency_ms=latency_ms, gossip=gossip,
                         gossip_interval_ms=interval_ms)
    cluster.run_for(1000 + cluster.rng.random() * interval_ms)  # random phase of the timers
    client = cluster.client("u", "dc1")
    client.login()
    assert cluster.run_for(30_000, until=lambda: sum(
        1 for e in cluster.events if e["event"] == "apply" and e["key"] == "u") == dcs - 1)
    times = [e["time"] / 1e6 for e in cluster.events if e["key"] == "u"]
    originate = [e for e in cluster.events if e["event"] == "originate" and e["key"] == "u"]
    assert len(originate) == 1
    return max(times) - originate[0]["time"] / 1e6


def heal_convergence_ms(gossip: str, seed: int, dcs: int = 5, latency_ms: float = 200,
                        interval_ms: float = 100) -> float:
    """Virtual ms from healing an isolated DC to the last other DC applying its one update
    (infinite if it never arrives within 30 s)."""
    cluster = MemCluster(dcs=dcs, seed=seed, latency_ms=latency_ms, gossip=gossip,
                         gossip_interval_ms=interval_ms)
    cluster.run_for(1000 + cluster.rng.random() * interval_ms)
    cluster.isolate("dc1")
    client = cluster.client("u", "dc1")
    client.login()
    cluster.run_for(2000)
    healed_at = cluster.now_ms
    cluster.heal()
    done = cluster.run_for(30_000, until=lambda: sum(
        1 for e in cluster.events if e["event"] == "apply" and e["key"] == "u") == dcs - 1)
    if not done:
        return float("inf")
    return max(e["time"] / 1e6 for e in cluster.events if e["key"] == "u") - healed_at


def heal_backlog_ms(seed: int, users: int = 1000, batch: int = 16) -> float:
    """Virtual ms from healing an isolated DC that missed `users` logins in the other DCs (each
    a coordinate) to every hub holding everything, with gossip batches of `batch` entries: a
    backlog of ~60 batches, as a 30 s partition at 100 msg/s leaves with 256-entry batches."""
    cluster = MemCluster(dcs=5, seed=seed, latency_ms=200, gossip="push+anti-entropy",
                         gossip_interval_ms=100, max_batch_entries=batch)
    cluster.run_for(1000)
    cluster.isolate("dc1")
    for i in range(users):
        cluster.client(f"u{i}", f"dc{i % 4 + 2}").login()
        if i % 100 == 0:
            cluster.run_for(50)
    cluster.run_for(2000)
    assert not cluster.converged()
    healed_at = cluster.now_ms
    cluster.heal()
    assert cluster.run_for(30_000, until=cluster.converged)
    return cluster.now_ms - healed_at


def test_a_long_partitions_backlog_is_repaired_within_a_second_of_the_heal() -> None:
    """A digest answer carries many batches (`max_answer_batches`): one batch per digest took
    9.3-10.1 s to repair this backlog (seeds 1-3), now 0.5-0.7 s."""
    assert heal_backlog_ms(1) < 1000


def wan_frames_per_update(gossip: str, seed: int, updates: int = 50) -> float:
    """WAN frames sent by all hubs per update while 50 logins happen over 5 s (gossip included)."""
    cluster = MemCluster(dcs=5, seed=seed, gossip=gossip)
    for i in range(updates):
        cluster.client(f"u{i}", f"dc{i % 5 + 1}").login()
        cluster.run_for(100)
    cluster.run_for(3000)
    assert cluster.converged()
    frames = sum(cluster.hub(dc).counters["wan_frames_sent"] for dc in cluster.dc_names)
    return frames / updates


def summary(gossip: str, seeds: range, measure: object = None) -> dict[str, float]:
    measure = measure or convergence_time_ms
    times = sorted(measure(gossip, seed) for seed in seeds)  # type: ignore[operator]
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times),
            "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))], "max_ms": times[-1]}


def test_push_reaches_every_dc_in_one_wan_latency() -> None:
    assert {convergence_time_ms("push", seed) for seed in range(5)} == {200.0}


@pytest.mark.parametrize("gossip, low, high", [("push+anti-entropy", 200, 200),
                                               ("anti-entropy", 400, 2000)])
def test_convergence_time_is_in_the_expected_range(gossip: str, low: float, high: float) -> None:
    median = summary(gossip, range(30))["median_ms"]
    assert low <= median <= high


def test_after_a_partition_only_anti_entropy_converges() -> None:
    assert heal_convergence_ms("push", 0) == float("inf")
    assert heal_convergence_ms("push+anti-entropy", 0) < 2000
    assert heal_convergence_ms("anti-entropy", 0) < 2000


if __name__ == "__main__":
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    for mode in ("push", "push+anti-entropy", "anti-entropy"):
        stats = summary(mode, seeds)
        print(f"{mode:18} " + "  ".join(f"{k}={v:.0f}" for k, v in stats.items())
              + f"  rounds(median/100ms)={stats['median_ms'] / 100:.2f}")
    for mode in ("push+anti-entropy", "anti-entropy"):
        stats = summary(mode, seeds, heal_convergence_ms)
        print(f"after heal {mode:18} " + "  ".join(f"{k}={v:.0f}" for k, v in stats.items()))
    for mode in ("push", "push+anti-entropy", "anti-entropy"):
        print(f"WAN frames per update {mode:18} {wan_frames_per_update(mode, 0):.1f}")
