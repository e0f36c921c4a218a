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
    times = [e["time"] for e in cluster.events if e["key"] == "u"]
    originate = [e for e in cluster.events if e["event"] == "originate" and e["key"] == "u"]
    assert len(originate) == 1
    return max(times) - originate[0]["time"]


def summary(gossip: str, seeds: range) -> dict[str, float]:
    times = sorted(convergence_time_ms(gossip, seed) for seed in seeds)
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times),
            "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))], "max_ms": times[-1]}


def test_push_reaches_every_dc_in_one_wan_latency() -> None:
    assert {convergence_time_ms("push", seed) for seed in range(5)} == {200.0}


@pytest.mark.parametrize("gossip, low, high", [("push+anti-entropy", 200, 200),
                                               ("anti-entropy", 400, 2000)])
def test_convergence_time_is_in_the_expected_range(gossip: str, low: float, high: float) -> None:
    median = summary(gossip, range(30))["median_ms"]
    assert low <= median <= high


if __name__ == "__main__":
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    for mode in ("push", "push+anti-entropy", "anti-entropy"):
        stats = summary(mode, seeds)
        print(f"{mode:18} " + "  ".join(f"{k}={v:.0f}" for k, v in stats.items())
              + f"  rounds(median/100ms)={stats['median_ms'] / 100:.2f}")
