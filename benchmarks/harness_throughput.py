"""Benchmark: client ops/s the harness sustains on the local backend, and the time from
`imfault run` starting to its first op. Runs the real command several times and prints medians.

Usage: .venv/bin/python benchmarks/harness_throughput.py [--dcs 5] [--runs 3] [--time-limit 10]
       [--rate 1000] [--users 50] [--repo PATH]

`--repo` runs another checkout's harness and cluster (say a throwaway worktree of main, for a
before/after comparison under the same load). Each run also reports the CPU seconds of the whole
process tree (harness, hubs, access nodes, Toxiproxy: every descendant is waited for) and the
1-minute load average when it started. On Linux it also samples `/proc` every 0.2 s and reports
the CPU milliseconds per completed client op within the main phase, by role (`harness`, `hub`,
`access`, `toxiproxy`): the cost to cut when the machine's cores are the limit.

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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLES = ("harness", "hub", "access", "toxiproxy")
Snapshot = dict[int, tuple[str, float]]  # pid -> (role, CPU seconds so far)


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for child in children for c in (child, *map(str, _descendants(int(child))))]


def _snapshot(root: int) -> Snapshot:
    """CPU seconds so far of `root` and every process under it, with the role of each."""
    tick = os.sysconf("SC_CLK_TCK")
    out: Snapshot = {}
    for pid in (root, *_descendants(root)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        except (OSError, IndexError):
            continue
        role = ("harness" if pid == root else "hub" if "hub" in argv
                else "access" if "access" in argv
                else "toxiproxy" if "toxiproxy" in os.path.basename(argv[0]) else "other")
        out[pid] = (role, (int(fields[11]) + int(fields[12])) / tick)
    return out


class CpuSampler:
    """Samples the CPU time of a process tree every 0.2 s (Linux `/proc`) until stopped."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.timeline: list[tuple[int, Snapshot]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.timeline.append((time.time_ns(), _snapshot(self.root)))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def by_role(self, start_ns: int, end_ns: int) -> dict[str, float]:
        """CPU seconds each role used between the samples nearest `start_ns` and `end_ns`."""
        if not self.timeline:
            return {}
        first = min(self.timeline, key=lambda sample: abs(sample[0] - start_ns))[1]
        last = min(self.timeline, key=lambda sample: abs(sample[0] - end_ns))[1]
        used: dict[str, float] = {}
        for pid, (role, cpu) in last.items():
            used[role] = used.get(role, 0.0) + cpu - first.get(pid, (role, 0.0))[1]
        return used


def one_run(args: argparse.Namespace, seed: int, store: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "harness", "run", "--dcs", str(args.dcs), "--users",
               str(args.users), "--rate", str(args.rate), "--time-limit", str(args.time_limit),
               "--seed", str(seed), "--store", str(store), "--no-progress"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned_ns = time.time_ns()
    with subprocess.Popen(command, cwd=args.repo, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as proc:
        sampler = CpuSampler(proc.pid) if Path("/proc/self/stat").exists() else None
        try:
            _, stderr = proc.communicate(timeout=600)
        finally:
            if sampler is not None:
                sampler.stop()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run = (store / "latest").resolve()
    test = json.loads((run / "test.json").read_text())
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    if "main" not in test["phases"]:
        tail = "\n".join(stderr.splitlines()[-20:])
        raise RuntimeError(f"run {run} (exit {proc.returncode}) has no main phase:\n{tail}")
    main_start, main_end = test["phases"]["main"]
    in_main = [op for op in ops if main_start <= op["time"] <= main_end]
    client_done = [op for op in in_main if op["type"] != "invoke" and op["f"] != "recv"
                   and op["process"] != "nemesis"]
    seconds = (main_end - main_start) / 1e9
    first_op_wall_ns = test["start_wall_ns"] + ops[0]["time"]
    result = {"client_ops_per_s": len(client_done) / seconds,
              "history_ops_per_s": len(in_main) / seconds,
              "start_to_first_op_s": (first_op_wall_ns - spawned_ns) / 1e9,
              "cpu_s": cpu_s, "load_1min": load}
    if sampler is not None and client_done:
        used = sampler.by_role(test["start_wall_ns"] + main_start, test["start_wall_ns"] + main_end)
        per_op = 1000 / len(client_done)
        result["main_cpu_ms_per_op"] = sum(used.values()) * per_op
        for role in ROLES:
            result[f"main_cpu_ms_per_op_{role}"] = used.get(role, 0.0) * per_op
    return result


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
