"""The store's index.html with many runs: time to write it, and time for Chromium to open it.

Makes `--runs` synthetic run directories (test.json, results.json with the fields a real run has,
a small report.html; one in 7 invalid, one in 11 without results.json, one in 50 with a broken
test.json), then times `imfault index` (`reports.write_index`, i.e. scan + write; `--repeat`
times, median and min) and, when chromium is installed, the page in headless Chromium: the time
from navigation start to the load event measured by the page itself (`performance.now()`), and
the whole `chromium --dump-dom` process (start-up included), beside the same for an empty page.
CPU times are printed too (the write's; Chromium's with its helper processes, for the index and
for an empty page): on a shared machine they are the figures that do not depend on the other
jobs (the load average is printed).

Usage: .venv/bin/python benchmarks/index_speed.py [--runs 1000] [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import reports

S = 1_000_000_000
NEMESES = ["partition-one", "kill", "pause", "partition-halves", "clock-skew", "dc-outage"]
_LOADED = re.compile(r"<title>LOADED (\d+)</title>")


def make_store(root: Path, runs: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    store = root / "store"
    start = 1_767_225_600
    for n in range(runs):
        name = f"scenario-{n % 40:02d}"
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(start + n * 60))
        run = store / name / stamp
        run.mkdir(parents=True)
        nemesis = [NEMESES[n % len(NEMESES)]]
        test = {"name": name, "backend": "local", "dcs": 5, "nemesis": nemesis, "seed": n,
                "bug": ["gateway-drop"] if n % 7 == 0 else [],
                "start_wall_ns": (start + n * 60) * S,
                "phases": {"main": [0, 30 * S], "heal": [30 * S, 30 * S + 10**8],
                           "recovery": [30 * S + 10**8, 36 * S]},
                "command": f"imfault run --nemesis {nemesis[0]} --seed {n}",
                "dc_names": [f"dc{i}" for i in range(1, 6)], "versions": {"imfault": "0.1.0"}}
        (run / "test.json").write_text(json.dumps(test) if n % 50 != 49 else "{broken")
        (run / "history.jsonl").write_text("")
        if n % 11 == 10:
            continue  # never checked
        lost = [f"m{n}-{i}" for i in range(rng.randrange(1, 40))] if n % 7 == 0 else []
        results = {"valid": not lost,
                   "delivery": {"valid": not lost, "attempted": 1500, "acknowledged": 1490,
                                "delivered": 1490 - len(lost), "lost": lost,
                                "lost_count": len(lost), "duplicated": [],
                                "duplicated_count": rng.randrange(3),
                                "latency": {"overall": {"p50": 210.0, "p99": 900.0}}},
                   "convergence": {"valid": True, "ms": {"p50": 200.0 + rng.random() * 10,
                                                        "p99": 450.0 + rng.random() * 100},
                                   "rounds": {"p50": 2.0, "p99": 4.6}},
                   "routing": {"valid": True, "checked": 250, "wrong": [], "wrong_count": 0},
                   "ordering": {"valid": True, "pairs": 800, "out_of_order": 0},
                   "availability": {"valid": True, "ok_fraction": 0.99},
                   "stats": {"valid": True}, "perf": {"valid": True}}
        (run / "results.json").write_text(json.dumps(results, indent=2))
        (run / "report.html").write_text("<!DOCTYPE html><title>report</title><p>report</p>")
    return store


def chromium_times(binary: str, page: Path, work: Path) -> tuple[float, float, float]:
    """(ms from navigation start to the load event as the page measured it, wall s and CPU s
    (user + system, its helper processes included) of the whole chromium process)."""
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>addEventListener('load',function(){setTimeout(function(){"
        "document.title='LOADED '+Math.round(performance.now());},0);});</script></body>"),
        encoding="utf-8")
    profile = Path(tempfile.mkdtemp(dir=work))
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-quic", "--no-first-run",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               "--dump-dom", probe.resolve().as_uri()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    found = _LOADED.search(proc.stdout)
    if not found:
        raise RuntimeError(f"the page did not report its load time: {proc.stderr[-500:]}")
    return float(found.group(1)), wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="build the store here, keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imfault-index-bench-"))
    root = args.keep if args.keep is not None else work
    try:
        store = make_store(root, args.runs)
        times, cpu = [], []
        for _ in range(args.repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            path = reports.write_index(store)
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        size = path.stat().st_size
        print(f"index of {args.runs} runs: write median {statistics.median(times):.3f} s, "
              f"min {min(times):.3f} s ({args.repeat} times; CPU median "
              f"{statistics.median(cpu):.3f} s); {size / 1024:.0f} KiB; load average "
              f"{os.getloadavg()[0]:.1f}")
        binary = os.environ.get("IMFAULT_CHROMIUM") or shutil.which("chromium")
        if binary is None:
            print("chromium: not installed, open time not measured")
            return 0
        empty = work / "empty.html"
        empty.write_text("<!DOCTYPE html><title>x</title><body></body>")
        loads, walls, cpus, empty_walls, empty_cpus = [], [], [], [], []
        for _ in range(args.repeat):
            load_ms, wall, cpu = chromium_times(binary, path, work)
            loads.append(load_ms)
            walls.append(wall)
            cpus.append(cpu)
            _load, wall, cpu = chromium_times(binary, empty, work)
            empty_walls.append(wall)
            empty_cpus.append(cpu)
        print(f"chromium: load event median {statistics.median(loads):.0f} ms after navigation "
              f"start (min {min(loads):.0f}); whole --dump-dom process median "
              f"{statistics.median(walls):.2f} s vs {statistics.median(empty_walls):.2f} s for "
              f"an empty page; its CPU median {statistics.median(cpus):.2f} s vs "
              f"{statistics.median(empty_cpus):.2f} s (load average {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
