"""Benchmark: check a seeded 1,000,000-op run, checkers alone and `imfault check` end to end.

Generates the run in a temporary directory with `gen_history.py` (in a child process, so this
process's peak memory is the checking alone), then
1. times `checkers.check_run` (parsing included) `--repeat` times in this process: median wall and
   CPU time, peak resident memory;
2. times the command `python -m harness check RUN_DIR` (checkers, `results.json`, `report.html`,
   the summary; interpreter start included) `--cli-repeat` times as a subprocess: median wall
   time and the largest peak resident memory of those processes.
Target (issue 16 item 4): <= 3 s on the project's 2-core machine, end to end. The CPU time
(user + sys) of each run is printed too: on a shared machine it varies much less than wall time.

    python benchmarks/check_speed.py [--ops 1000000] [--repeat 5] [--cli-repeat 3] [--seed 1]
                                     [--events] [--run-dir DIR] [--no-checkers] [--no-cli]
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
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checkers import check_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", action="store_true",
                        help="also write events.jsonl (one originate + N-1 applies per message)")
    parser.add_argument("--run-dir", type=Path, help="check this existing run instead "
                        "(`imfault check` rewrites its results.json and report.html)")
    parser.add_argument("--cli-repeat", type=int, default=3,
                        help="runs of `python -m harness check` (at least 3 for a median)")
    parser.add_argument("--no-checkers", action="store_true", help="skip the in-process timing")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end timing")
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
        if not args.no_checkers:
            time_checkers(run_dir, args.repeat)
        if not args.no_cli:
            time_cli(run_dir, args.cli_repeat)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs (other work inflates the times)")


def time_checkers(run_dir: Path, repeat: int) -> None:
    """`checkers.check_run` in this process."""
    walls: list[float] = []
    cpus: list[float] = []
    verdict = None
    for attempt in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        results = check_run(run_dir)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        verdict = results["valid"]
        print(f"checkers run {attempt + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s cpu")
        del results
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"checkers (checkers.check_run): median {statistics.median(walls):.2f} s wall, "
          f"{statistics.median(cpus):.2f} s cpu (min {min(walls):.2f} s) over {repeat} runs; "
          f"peak RSS {peak_mb:.0f} MB; verdict {verdict}")


def time_cli(run_dir: Path, repeat: int) -> None:
    """`python -m harness check RUN_DIR` as a subprocess: wall time and its own peak RSS."""
    command = [sys.executable, "-m", "harness", "check", str(run_dir)]
    walls: list[float] = []
    cpus: list[float] = []
    peaks: list[float] = []
    codes: set[int] = set()
    for attempt in range(repeat):
        with tempfile.TemporaryFile() as errors:  # a file, not a pipe: no deadlock while waiting
            started = time.perf_counter()
            child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                _pid, status, usage = os.wait4(child.pid, 0)
            except BaseException:
                child.kill()
                child.wait()
                raise
            walls.append(time.perf_counter() - started)
            child.returncode = os.waitstatus_to_exitcode(status)
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
        if child.returncode not in (0, 1, 3):
            raise SystemExit(f"imfault check exited {child.returncode}:\n{stderr}")
        codes.add(child.returncode)
        peaks.append(usage.ru_maxrss / 1024)
        cpus.append(usage.ru_utime + usage.ru_stime)
        print(f"imfault check run {attempt + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s cpu, "
              f"peak RSS {peaks[-1]:.0f} MB, exit {child.returncode}")
    report = run_dir / "report.html"
    print(f"end to end (python -m harness check, report included): median "
          f"{statistics.median(walls):.2f} s wall (min {min(walls):.2f} s), "
          f"{statistics.median(cpus):.2f} s cpu (min {min(cpus):.2f} s) over {repeat} runs; "
          f"peak RSS {max(peaks):.0f} MB; exit codes {sorted(codes)}; "
          f"report.html {report.stat().st_size / 1e6:.2f} MB")

if __name__ == "__main__":
    main()
