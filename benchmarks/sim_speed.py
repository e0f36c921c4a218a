"""Benchmark: how much faster than real time the sim backend runs a test.

Default scenario (issue 10): 5 DCs, 50 users, 50 ops/s, 600 virtual seconds, partition-halves.
Each of `--runs` runs is a fresh `python` process running `harness.sim.run_sim_test` up to the
collected run directory (setup, main, heal, recovery, collect; no checkers, no report); the
script prints per-run wall seconds of the simulation, virtual seconds, the speed-up, history ops
per wall second, the process's peak RSS and which build ran (pure Python or the compiled
accelerator of docs/accel.md; `IMFAULT_ACCEL=0` forces pure), then the medians.

The host's own speed is printed too: the same code measured 28.1 s one day and 13.8 s the next on
"the same" idle 2-core machine (a shared host's CPU share changes between sessions). Before and
after the runs a fixed pure-Python reference (`HOST_REFERENCE`: dicts keyed by tuples and
strings, a heap, small slotted objects, the kinds of work the sim does) is timed, the least of
three fresh processes; `wall / reference` compares runs made on different days. CPU seconds are printed too: on a
shared machine wall time also counts the time other processes held the cores. `--end-to-end` also times one
`imfault run --backend sim` command (checkers and report included).

Usage: .venv/bin/python benchmarks/sim_speed.py [--runs 5] [--time-limit 600] [--dcs 5]
       [--users 50] [--rate 50] [--nemesis partition-halves] [--seed 7] [--end-to-end]
       [--cwd TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
from harness.runner import RunOptions
from harness.sim import run_sim_test
args = json.loads(sys.argv[1])
outcome = run_sim_test(RunOptions(backend="sim", **args), check=False)
test = json.loads((outcome.run_dir / "test.json").read_text())
with open(outcome.run_dir / "history.jsonl", "rb") as fh:
    ops = sum(1 for _ in fh)
print(json.dumps({"wall_s": test["sim"]["wall_s"], "cpu_s": test["sim"]["cpu_s"],
                  "virtual_s": test["sim"]["virtual_s"],
                  "ops": ops, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  / 1024, "build": test["sim"]["accel"]["build"]}))
"""

HOST_REFERENCE = """
import heapq, time
class Item:
    __slots__ = ("origin", "seq", "kind")
    def __init__(self, origin, seq, kind):
        self.origin, self.seq, self.kind = origin, seq, kind
started = time.process_time()
for _ in range(4):
    by_origin, queue, keys = {}, [], {}
    for n in range(60_000):
        origin = ("dc1", "dc2", "dc3", "dc4", "dc5")[n % 5]
        item = Item(origin, n, "msg" if n % 3 else "tomb")
        by_origin.setdefault(origin, {})[n] = item
        keys[(origin, n)] = item.kind
        heapq.heappush(queue, (n * 7919 % 100_003, n, item))
    while queue:
        _, n, item = heapq.heappop(queue)
        del by_origin[item.origin][item.seq]
        keys.pop((item.origin, n), None)
print(time.process_time() - started)
"""


def host_reference_s(tries: int = 3) -> float:
    """CPU seconds of `HOST_REFERENCE`, the least of `tries` fresh processes (how fast this host
    is today): one try alone varied by 30 % within a minute on the idle machine."""
    times = []
    for _ in range(tries):
        done = subprocess.run([sys.executable, "-c", HOST_REFERENCE], check=True,
                              capture_output=True, text=True, timeout=600)
        times.append(float(done.stdout.strip()))
    return min(times)


def one_run(options: dict[str, object], tree: Path = REPO) -> dict[str, Any]:
    """One run in a fresh process importing the code of source tree `tree` (its directory)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options)], cwd=tree, env=env,
                          check=True, capture_output=True, text=True, timeout=1800)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["speedup"] = result["virtual_s"] / result["wall_s"]
    result["ops_per_s"] = result["ops"] / result["wall_s"]
    result["cpu_speedup"] = result["virtual_s"] / result["cpu_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--nemesis", default="partition-halves")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--cwd", type=Path, default=REPO,
                        help="source tree whose code runs (default: this one); a throwaway "
                             "worktree of another commit gives A/B runs alternating with this one")
    args = parser.parse_args()
    tree = args.cwd.resolve()
    with tempfile.TemporaryDirectory(prefix="imfault-sim-speed-") as store:
        options = {"dcs": args.dcs, "users": args.users, "rate": args.rate,
                   "time_limit": args.time_limit, "nemesis": args.nemesis.split(","),
                   "seed": args.seed, "store": store}
        reference = [host_reference_s()]
        print(f"host reference (before): {reference[0]:.2f} s CPU", flush=True)
        runs = []
        for n in range(1, args.runs + 1):
            run = one_run(options, tree)
            runs.append(run)
            print(f"run {n}: {run['wall_s']:.2f} s wall ({run['cpu_s']:.2f} s CPU) for "
                  f"{run['virtual_s']:.1f} virtual s ({run['speedup']:.0f}x; "
                  f"{run['cpu_speedup']:.0f}x by CPU time), {run['ops']} history ops "
                  f"({run['ops_per_s']:.0f} ops/s), peak RSS {run['peak_rss_mb']:.0f} MB, "
                  f"{run['build']} build",
                  flush=True)
        med = {key: statistics.median(r[key] for r in runs)
               for key in ("wall_s", "cpu_s", "speedup", "cpu_speedup", "ops_per_s",
                           "peak_rss_mb")}
        print(f"median of {len(runs)}: {med['wall_s']:.2f} s wall ({med['cpu_s']:.2f} s CPU), "
              f"{med['speedup']:.0f}x real time ({med['cpu_speedup']:.0f}x by CPU time), "
              f"{med['ops_per_s']:.0f} history ops/s, peak RSS {med['peak_rss_mb']:.0f} MB")
        reference.append(host_reference_s())
        ref = statistics.mean(reference)
        print(f"host reference (after): {reference[1]:.2f} s CPU; median wall / reference "
              f"{med['wall_s'] / ref:.2f} (to compare hosts and days)")
        if args.end_to_end:
            command = [sys.executable, "-m", "harness", "run", "--backend", "sim", "--dcs",
                       str(args.dcs), "--users", str(args.users), "--rate", str(args.rate),
                       "--time-limit", str(args.time_limit), "--nemesis", args.nemesis,
                       "--seed", str(args.seed), "--store", store, "--no-progress"]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=tree, check=False, capture_output=True,
                                  timeout=3600)
            print(f"end to end (imfault run, checkers and report included): "
                  f"{time.perf_counter() - started:.1f} s, exit {done.returncode}")


if __name__ == "__main__":
    main()
