"""Benchmark: check a seeded 1,000,000-op run end to end (parsing included).

Generates the run in a temporary directory with `gen_history.py` (in a child process, so this
process's peak memory is the checking alone), then times `checkers.check_run` several times and
prints the median wall time, the CPU time and the peak resident memory. Target: <= 5 s on the
project's 2-core machine.

    python benchmarks/check_speed.py [--ops 1000000] [--repeat 5] [--seed 1] [--events]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run from anywhere against this checkout (not whatever `checkers` the environment has installed)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkers import check_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", action="store_true",
                        help="also write events.jsonl (one originate + N-1 applies per message)")
    parser.add_argument("--run-dir", type=Path, help="check this existing run instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imfault-bench-") as scratch:
        run_dir = args.run_dir or Path(scratch) / "run"
        if args.run_dir is None:
            command = [sys.executable, str(Path(__file__).with_name("gen_history.py")),
                       str(run_dir), "--ops", str(args.ops), "--seed", str(args.seed)]
            if args.events:
                command.append("--events")
            started = time.perf_counter()
            generated = subprocess.run(command, check=True, capture_output=True, text=True)
            print(f"generated {generated.stdout.strip()} in {time.perf_counter() - started:.1f} s")
        sizes = {path.name: path.stat().st_size for path in sorted(run_dir.iterdir())}
        print("files:", ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()))
        walls: list[float] = []
        cpus: list[float] = []
        verdict = None
        for attempt in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            results = check_run(run_dir)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            verdict = results["valid"]
            print(f"run {attempt + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s cpu")
            del results
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs (other work inflates the times)")
        print(f"median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s cpu "
              f"(min {min(walls):.2f} s) over {args.repeat} runs; peak RSS {peak_mb:.0f} MB; "
              f"verdict {verdict}")


if __name__ == "__main__":
    main()
