"""Convergence of a real run beside the theory: `imfault run` a few times, read `convergence`.

Runs `python -m harness run --dcs N --time-limit T --seed S [--gossip MODE]` `--repeat` times
(a fresh cluster each: local backend, real processes, real toxiproxy-server, 200 ms WAN by
default) and prints, per run and as the median over the runs, the convergence checker's p50 /
p99 in ms and in gossip rounds, beside the theory log2(N) + ln(N) rounds (DESIGN §1) and the WAN
frames per update.

Usage: .venv/bin/python benchmarks/convergence_run.py [--dcs 5] [--time-limit 20] [--seed 7]
       [--repeat 3] [--gossip push+anti-entropy] [--store DIR] [--json OUT]
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
FIELDS = ("ms_p50", "ms_p99", "rounds_p50", "rounds_p99", "wan_messages_per_update")


def one_run(args: argparse.Namespace, store: Path, n: int) -> dict[str, Any]:
    """One `imfault run`; the numbers of its `convergence` result."""
    command = [sys.executable, "-m", "harness", "run", "--dcs", str(args.dcs),
               "--time-limit", str(args.time_limit), "--seed", str(args.seed),
               "--gossip", args.gossip, "--store", str(store), "--name", f"convergence-{n}",
               "--no-progress"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          check=False)
    run_dir = (store / f"convergence-{n}" / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    convergence = results["convergence"]
    return {"exit": proc.returncode, "valid": results["valid"], "run_dir": str(run_dir),
            "dots": convergence["dots"], "unconverged": convergence["unconverged_count"],
            "ms_p50": convergence["ms"]["p50"], "ms_p99": convergence["ms"]["p99"],
            "rounds_p50": convergence["rounds"]["p50"],
            "rounds_p99": convergence["rounds"]["p99"],
            "wan_messages_per_update": convergence["wan_messages_per_update"],
            "theory_rounds": convergence["theory_rounds"], "theory_ms": convergence["theory_ms"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gossip", default="push+anti-entropy")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    store = args.store or Path(tempfile.mkdtemp(prefix="imfault-convergence-"))
    runs = []
    for n in range(args.repeat):
        run = one_run(args, store, n)
        runs.append(run)
        print(f"run {n}: exit {run['exit']} valid {run['valid']} dots {run['dots']} "
              f"unconverged {run['unconverged']}  p50 {run['ms_p50']:.1f} ms "
              f"({run['rounds_p50']:.2f} rounds)  p99 {run['ms_p99']:.1f} ms "
              f"({run['rounds_p99']:.2f} rounds)  WAN frames/update "
              f"{run['wan_messages_per_update']}", flush=True)
    median = {name: statistics.median(float(r[name]) for r in runs if r[name] is not None)
              for name in FIELDS}
    theory = runs[0]["theory_rounds"], runs[0]["theory_ms"]
    print(f"median of {len(runs)}: p50 {median['ms_p50']:.1f} ms ({median['rounds_p50']:.2f} "
          f"rounds), p99 {median['ms_p99']:.1f} ms ({median['rounds_p99']:.2f} rounds), "
          f"{median['wan_messages_per_update']:.1f} WAN frames/update; theory log2(N)+ln(N) = "
          f"{theory[0]:.2f} rounds ({theory[1]:.0f} ms)")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": median}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
