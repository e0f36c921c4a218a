"""Heal to converged: how long after a WAN partition heals until every DC holds every update.

Runs `imfault run --backend local` (real processes, real toxiproxy-server) with one partition
nemesis (`partition-one`, `partition-halves`), cuts of `--cut` seconds (`--nemesis-interval`), at
`--rate` client ops/s, `--repeat` times per shape (a fresh cluster and seed each), and reads the
convergence checker's `heals` (for each heal: the time until every dot originated before it was
applied in every DC). Only heals that closed a partition count (a final heal with nothing open is
left out). Prints every heal and, per shape, p50 / p99 / max over the heals of all runs.

Usage: .venv/bin/python benchmarks/heal_convergence.py [--shapes partition-one,partition-halves]
       [--dcs 5] [--cut 30] [--cuts 1] [--rate 100] [--repeat 5] [--seed 1] [--store DIR]
       [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (as the checkers compute them)."""
    ordered = sorted(values)
    rank = max(1, -(-int(q * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def closing_heals(run_dir: Path) -> list[dict[str, Any]]:
    """The convergence checker's heals that closed an open partition."""
    results = json.loads((run_dir / "results.json").read_text())
    heals = results["convergence"].get("heals") or []
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()
               if '"nemesis"' in line]
    open_ = False
    closing: set[int] = set()
    for op in history:
        if op.get("process") != "nemesis" or op.get("type") != "info":
            continue
        if op["f"] == "start-partition":
            open_ = True
        elif op["f"] == "stop-partition":
            if open_:
                closing.add(round(op["time"] / 1e6, 3))
            open_ = False
    return [heal for heal in heals if round(heal["time_ms"], 3) in closing]


def one_run(args: argparse.Namespace, shape: str, n: int, store: Path) -> dict[str, Any]:
    name = f"heal-{shape}-{n}"
    time_limit = 2 * args.cut * args.cuts + 5
    command = [sys.executable, "-m", "harness", "run", "--backend", "local", "--dcs",
               str(args.dcs), "--nemesis", shape, "--nemesis-interval", str(args.cut),
               "--time-limit", str(time_limit), "--rate", str(args.rate), "--users",
               str(args.users), "--seed", str(args.seed + n), "--store", str(store),
               "--name", name, "--no-progress", "--recovery-timeout", "60"]
    proc = subprocess.run(command, cwd=args.cwd, capture_output=True, text=True, timeout=900,
                          check=False)
    run_dir = (store / name / "latest").resolve()
    heals = closing_heals(run_dir)
    return {"shape": shape, "exit": proc.returncode, "run_dir": str(run_dir),
            "heals_ms": [heal["converged_after_ms"] for heal in heals],
            "dots": [heal["dots"] for heal in heals]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="partition-one,partition-halves")
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--cut", type=float, default=30, help="seconds per cut (and between)")
    parser.add_argument("--cuts", type=int, default=1, help="cuts per run")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--cwd", type=Path, default=REPO,
                        help="checkout whose harness and nodes run (compare with another tree)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    store = args.store or Path(tempfile.mkdtemp(prefix="imfault-heal-"))
    summary: dict[str, Any] = {}
    runs = []
    for shape in args.shapes.split(","):
        values: list[float] = []
        for n in range(args.repeat):
            run = one_run(args, shape, n, store)
            runs.append(run)
            values.extend(v for v in run["heals_ms"] if v is not None)
            unconverged = sum(v is None for v in run["heals_ms"])
            print(f"{shape} run {n}: exit {run['exit']} heal->converged ms "
                  f"{[round(v) if v is not None else None for v in run['heals_ms']]} "
                  f"(dots {run['dots']}, never converged {unconverged})  {run['run_dir']}",
                  flush=True)
        if values:
            summary[shape] = {"heals": len(values), "p50_ms": quantile(values, 0.5),
                              "p99_ms": quantile(values, 0.99), "max_ms": max(values),
                              "median_ms": statistics.median(values)}
            s = summary[shape]
            print(f"{shape}: {s['heals']} heals  p50 {s['p50_ms']:.0f} ms  p99 "
                  f"{s['p99_ms']:.0f} ms  max {s['max_ms']:.0f} ms", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
