"""Benchmark: client ops/s the harness sustains on the local backend, and the time from
`imfault run` starting to its first op. Runs the real command several times and prints medians.

Usage: .venv/bin/python benchmarks/harness_throughput.py [--dcs 5] [--runs 3] [--time-limit 10]
       [--rate 1000] [--users 50] [--repo PATH]

`--repo` runs another checkout's harness and cluster (say a throwaway worktree of main, for a
before/after comparison under the same load). Each run also reports the CPU seconds of the whole
process tree (harness, hubs, access nodes, Toxiproxy: every descendant is waited for) and the
1-minute load average when it started.

ops/s counts completed client ops (ok/fail/info of login, logout, send) in the main phase, and
separately every history op (recv included). A high `--rate` saturates whatever is slower, the
harness or the cluster; compare with a lower rate to see which.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(args: argparse.Namespace, seed: int, store: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "harness", "run", "--dcs", str(args.dcs), "--users",
               str(args.users), "--rate", str(args.rate), "--time-limit", str(args.time_limit),
               "--seed", str(seed), "--store", str(store), "--no-progress"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned_ns = time.time_ns()
    done = subprocess.run(command, cwd=args.repo, check=False, capture_output=True, text=True,
                          timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run = (store / "latest").resolve()
    test = json.loads((run / "test.json").read_text())
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    if "main" not in test["phases"]:
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise RuntimeError(f"run {run} (exit {done.returncode}) has no main phase:\n{tail}")
    main_start, main_end = test["phases"]["main"]
    in_main = [op for op in ops if main_start <= op["time"] <= main_end]
    client_done = [op for op in in_main if op["type"] != "invoke" and op["f"] != "recv"
                   and op["process"] != "nemesis"]
    seconds = (main_end - main_start) / 1e9
    first_op_wall_ns = test["start_wall_ns"] + ops[0]["time"]
    return {"client_ops_per_s": len(client_done) / seconds,
            "history_ops_per_s": len(in_main) / seconds,
            "start_to_first_op_s": (first_op_wall_ns - spawned_ns) / 1e9,
            "cpu_s": cpu_s, "load_1min": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout to run (default: this one)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="imfault-bench-") as tmp:
        for n in range(args.runs):
            try:
                result = one_run(args, seed=100 + n, store=Path(tmp) / str(n))
            except RuntimeError as exc:  # left out of the medians, said so
                print(f"run {n + 1} failed: {exc}", flush=True)
                continue
            results.append(result)
            print(f"run {n + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in result.items()),
                  flush=True)
    if not results:
        raise SystemExit("no run reached its main phase")
    for key in results[0]:
        print(f"median {key}: {statistics.median(r[key] for r in results):.2f}")


if __name__ == "__main__":
    main()
