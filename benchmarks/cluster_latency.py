"""Measure the reference cluster on the local backend (real processes, real toxiproxy-server).

1. Cross-DC delivery latency at `--wan-latency` (default 200 ms one way): `--messages` sends,
   each from a user online in one DC to a user online in another (pairs drawn from the seed),
   timed from the send call to the recipient's `deliver` frame; p50/p99/max.
2. Convergence of one update across `--dcs` DCs (default 5) in each `--gossip` mode: a fresh user
   logs in (one `coord` update originated by its DC's hub) every `--update-gap` s; from the hubs'
   event logs, per update, the time from `originate` to the last DC's `apply`; median, p90, max,
   in ms and in gossip rounds, beside the theory log2(N) + ln(N).

Usage: .venv/bin/python benchmarks/cluster_latency.py [--messages 100] [--updates 10]
       [--modes push+anti-entropy,anti-entropy,push] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.backends import GOSSIP_MODES, ClusterSpec
from harness.backends.local import LocalBackend
from imcluster.client import Client


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (q in [0, 1])."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


async def _login(backend: LocalBackend, dc: str, user: str) -> Client:
    host, port = backend.access_addresses()[dc][0]
    client = Client(host, port, secret=backend.secret)
    await client.connect()
    await client.login(user)
    return client


async def measure_delivery(backend: LocalBackend, messages: int, seed: int,
                           spacing_s: float) -> dict[str, Any]:
    assert backend.spec is not None
    dcs = backend.spec.dc_names
    clients = {dc: await _login(backend, dc, f"bench-{dc}") for dc in dcs}
    await asyncio.sleep(3.0)  # let every coordinate reach every DC
    rng = random.Random(seed)
    sent_at: dict[str, float] = {}
    latencies: dict[str, float] = {}

    async def watch(dc: str) -> None:
        while True:
            frame = await clients[dc].raw_deliveries.get()
            msg_id = str(frame["id"])
            if msg_id in sent_at and msg_id not in latencies:
                latencies[msg_id] = time.monotonic() - sent_at[msg_id]

    watchers = [asyncio.ensure_future(watch(dc)) for dc in dcs]
    sends = []
    try:
        for n in range(messages):
            src, dst = rng.sample(dcs, 2)
            msg_id = f"bench-{n}"
            sent_at[msg_id] = time.monotonic()
            sends.append(asyncio.ensure_future(clients[src].send(msg_id, f"bench-{dst}", "x")))
            await asyncio.sleep(spacing_s)
        await asyncio.gather(*sends)
        deadline = time.monotonic() + 10
        while len(latencies) < messages and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for task in watchers:
            task.cancel()
        for client in clients.values():
            await client.close()
    values = [v * 1000 for v in latencies.values()]
    return {
        "messages": messages, "delivered": len(values),
        "p50_ms": round(quantile(values, 0.5), 1), "p99_ms": round(quantile(values, 0.99), 1),
        "max_ms": round(max(values), 1), "min_ms": round(min(values), 1),
    }


async def make_updates(backend: LocalBackend, updates: int, gap_s: float, seed: int) -> None:
    assert backend.spec is not None
    rng = random.Random(seed)
    for n in range(updates):
        dc = rng.choice(backend.spec.dc_names)
        client = await _login(backend, dc, f"conv-{n}")
        await asyncio.sleep(gap_s)
        await client.close()


def convergence_from_event_logs(event_logs: dict[str, Path], key_prefix: str,
                                dcs: int) -> tuple[list[float], int]:
    """Per `coord` dot of our users: ms from originate to the last DC's apply; unconverged count."""
    originated: dict[tuple[str, int], int] = {}
    applied: dict[tuple[str, int], dict[str, int]] = {}
    for dc, path in event_logs.items():
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("kind") != "coord" or not str(event.get("key")).startswith(key_prefix):
                continue
            dot = (str(event["origin"]), int(event["seq"]))
            if event["event"] == "originate":
                originated[dot] = int(event["ts_ns"])
            elif event["event"] == "apply":
                applied.setdefault(dot, {}).setdefault(dc, int(event["ts_ns"]))
    times: list[float] = []
    unconverged = 0
    for dot, start in originated.items():
        seen = applied.get(dot, {})
        if len(seen) < dcs - 1:
            unconverged += 1
            continue
        times.append((max(seen.values()) - start) / 1e6)
    return times, unconverged


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"wan_latency_ms": args.wan_latency,
                               "gossip_interval_ms": args.gossip_interval}
    base = Path(tempfile.mkdtemp(prefix="imfault-bench-"))
    spec = ClusterSpec(dcs=3, wan_latency_ms=args.wan_latency,
                       gossip_interval_ms=args.gossip_interval, seed=args.seed,
                       work_dir=base / "delivery")
    with LocalBackend() as backend:
        backend.start(spec)
        results["delivery_3dc"] = asyncio.run(
            measure_delivery(backend, args.messages, args.seed, args.spacing))
    print("delivery:", json.dumps(results["delivery_3dc"]), file=sys.stderr)
    theory = math.log2(args.dcs) + math.log(args.dcs)
    results["convergence"] = {"dcs": args.dcs, "theory_rounds": round(theory, 2)}
    for mode in args.modes.split(","):
        spec = ClusterSpec(dcs=args.dcs, wan_latency_ms=args.wan_latency,
                           gossip_interval_ms=args.gossip_interval, gossip=mode,
                           seed=args.seed, work_dir=base / mode.replace("+", "_"))
        with LocalBackend() as backend:
            backend.start(spec)
            asyncio.run(make_updates(backend, args.updates, args.update_gap, args.seed))
            time.sleep(2.0)
            times, unconverged = convergence_from_event_logs(
                backend.collect(base / f"run-{mode}"), "conv-", args.dcs)
        entry: dict[str, Any] = {"updates": len(times) + unconverged,
                                 "unconverged": unconverged}
        if times:
            entry.update({
                "median_ms": round(statistics.median(times), 1),
                "p90_ms": round(quantile(times, 0.9), 1), "max_ms": round(max(times), 1),
                "median_rounds": round(statistics.median(times) / args.gossip_interval, 2),
            })
        results["convergence"][mode] = entry
        print(f"convergence {mode}:", json.dumps(entry), file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.05, help="s between sends")
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--update-gap", type=float, default=1.0, help="s between updates")
    parser.add_argument("--dcs", type=int, default=5, help="DCs for the convergence part")
    parser.add_argument("--wan-latency", type=float, default=200.0)
    parser.add_argument("--gossip-interval", type=float, default=100.0)
    parser.add_argument("--modes", default=",".join(GOSSIP_MODES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args)
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
