"""Hub memory over a long run: RSS of every hub process, sampled while `imfault run` runs.

Starts `python -m harness run --dcs 3 --time-limit 600 --rate 200 --users 50 --seed 1
--no-progress` (options below), reads the hub pids from the run's `work/pids.json` (the local
backend rewrites it as processes start and stop) and samples `VmRSS` from `/proc/<pid>/status`
every `--every` seconds until the run ends, with each hub's admin `status` (its offer-book size
`offers`, `pending` messages and replicated entries, the sum of its version vector). Prints a table of RSS (MiB) per hub over time, the
RSS at 1, 5 and 10 minutes, the growth from the first full minute to the end in MiB and per 10,000
messages delivered, the delivered count from `results.json`, and, from `final.json`, each hub's
the last status sampled (and the largest offer book seen). "flat" means every hub grew less than
`--flat-pct` percent from minute 1 to the end.

Usage: .venv/bin/python benchmarks/hub_memory.py [--time-limit 600] [--rate 200] [--users 50]
       [--dcs 3] [--seed 1] [--every 10] [--store DIR] [--json OUT] [--flat-pct 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NAME = "hub-memory"
sys.path.insert(0, str(REPO))

from harness.backends._base import ClusterSpec
from imcluster.client import AdminClient


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def listen_address(pid: int) -> tuple[str, int] | None:
    """The `--listen HOST:PORT` of a node process, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for flag, value in itertools.pairwise(argv):
        if flag == b"--listen":
            host, _, port = value.decode().rpartition(":")
            return host, int(port)
    return None


async def hub_gauges(pids: dict[str, int], secret: str) -> dict[str, dict[str, int]]:
    """{hub: {offers, pending, entries}} from each hub's admin status (hubs that answer)."""
    gauges: dict[str, dict[str, int]] = {}
    for name, pid in sorted(pids.items()):
        address = listen_address(pid)
        if address is None:
            continue
        with contextlib.suppress(Exception):
            async with AdminClient(address[0], address[1], secret, timeout=3.0) as admin:
                status = await admin.status()
            gauges[name] = {"offers": int(status.get("offers", -1)),
                            "pending": int(status.get("pending", -1)),
                            "entries": sum(int(v) for v in status.get("vv", {}).values())}
    return gauges


def hub_pids(work: Path) -> dict[str, int]:
    try:
        record = json.loads((work / "pids.json").read_text())
    except (OSError, ValueError):
        return {}
    return {name: int(pid) for name, pid in record.get("pids", {}).items()
            if name.endswith("-hub")}


def sample_run(args: argparse.Namespace, store: Path) -> tuple[int, list[dict[str, Any]], Path]:
    """Start the run, sample until it exits; (exit code, samples, run dir)."""
    command = [sys.executable, "-m", "harness", "run", "--dcs", str(args.dcs),
               "--time-limit", str(args.time_limit), "--rate", str(args.rate),
               "--users", str(args.users), "--seed", str(args.seed), "--store", str(store),
               "--name", NAME, "--no-progress"]
    print("$ " + " ".join(command), flush=True)
    store.mkdir(parents=True, exist_ok=True)
    log_path = store / "run.log"
    log = log_path.open("w")
    proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
    latest = store / NAME / "latest"
    secret = ClusterSpec(dcs=args.dcs, seed=args.seed, work_dir=store).secret
    samples: list[dict[str, Any]] = []
    started: float | None = None
    try:
        while proc.poll() is None:
            pids = hub_pids(latest / "work") if latest.exists() else {}
            if pids:
                now = time.monotonic()
                started = started if started is not None else now
                rss = {name: rss_kib(pid) for name, pid in sorted(pids.items())}
                gauges = asyncio.run(hub_gauges(pids, secret))
                samples.append({"t_s": round(now - started, 1), "rss_kib": rss, "hubs": gauges})
                print(f"  t={now - started:6.0f} s  " + "  ".join(
                    f"{n}={(v or 0) / 1024:.1f} MiB {gauges.get(n, {})}"
                    for n, v in rss.items()), flush=True)
            time.sleep(args.every if pids else 0.5)
    except BaseException:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the run tears its cluster down
            proc.wait(timeout=120)
        raise
    finally:
        log.close()
    print(log_path.read_text()[-3000:], flush=True)
    return proc.returncode, samples, latest.resolve()


def at(samples: list[dict[str, Any]], t_s: float, hub: str) -> float | None:
    """RSS (MiB) of `hub` at the first sample at or after `t_s`."""
    for sample in samples:
        if sample["t_s"] >= t_s and sample["rss_kib"].get(hub):
            return float(sample["rss_kib"][hub]) / 1024
    return None


def summarize(samples: list[dict[str, Any]], run_dir: Path, flat_pct: float) -> dict[str, Any]:
    hubs = sorted({h for s in samples for h in s["rss_kib"]})
    results = json.loads((run_dir / "results.json").read_text())
    delivered = int(results["delivery"]["delivered"])
    end = samples[-1]["t_s"] if samples else 0.0
    summary: dict[str, Any] = {"delivered": delivered, "acknowledged":
                               results["delivery"]["acknowledged"], "valid": results["valid"],
                               "duration_s": end, "hubs": {}}
    for hub in hubs:
        first, last = at(samples, 60, hub), None
        for sample in reversed(samples):
            if sample["rss_kib"].get(hub):
                last = float(sample["rss_kib"][hub]) / 1024
                break
        growth = (last - first) if first is not None and last is not None else None
        status: dict[str, int] = next(
            (s["hubs"][hub] for s in reversed(samples) if hub in s.get("hubs", {})), {})
        summary["hubs"][hub] = {
            "rss_mib_1min": first, "rss_mib_5min": at(samples, 300, hub),
            "rss_mib_10min": at(samples, 600, hub), "rss_mib_end": last,
            "growth_mib": growth,
            "growth_mib_per_10k_delivered": (growth / delivered * 10_000
                                             if growth is not None and delivered else None),
            "flat": (growth is not None and first is not None
                     and growth / first * 100 < flat_pct),
            "pending": status.get("pending"), "offers": status.get("offers"),
            "entries": status.get("entries"),
            "offers_max": max((s["hubs"][hub]["offers"] for s in samples
                               if hub in s.get("hubs", {})), default=None)}
    summary["flat"] = bool(hubs) and all(h["flat"] for h in summary["hubs"].values())
    return summary


def print_table(samples: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    hubs = sorted(summary["hubs"])
    print("\n t (s)  " + "  ".join(f"{h:>10}" for h in hubs) + "   (RSS, MiB)")
    for sample in samples[::6] + ([samples[-1]] if len(samples) % 6 != 1 else []):
        print(f"{sample['t_s']:6.0f}  " + "  ".join(
            f"{(sample['rss_kib'].get(h) or 0) / 1024:10.1f}" for h in hubs))
    print()
    for hub, row in summary["hubs"].items():
        def mib(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"
        print(f"{hub}: 1 min {mib(row['rss_mib_1min'])}, 5 min {mib(row['rss_mib_5min'])}, "
              f"10 min {mib(row['rss_mib_10min'])}, end {mib(row['rss_mib_end'])} MiB; "
              f"growth {mib(row['growth_mib'])} MiB "
              f"({mib(row['growth_mib_per_10k_delivered'])} MiB per 10k delivered); "
              f"last status: entries {row['entries']}, pending {row['pending']}, "
              f"offers {row['offers']} (max {row['offers_max']}); "
              f"{'flat' if row['flat'] else 'GROWING'}")
    print(f"delivered {summary['delivered']} (acknowledged {summary['acknowledged']}), "
          f"run valid: {summary['valid']}; hubs flat: {summary['flat']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dcs", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--flat-pct", type=float, default=10)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    store = args.store or Path(tempfile.mkdtemp(prefix="imfault-hub-memory-"))
    code, samples, run_dir = sample_run(args, store)
    if not samples:
        print(f"no hub was sampled (run exit {code})", file=sys.stderr)
        return 1
    summary = summarize(samples, run_dir, args.flat_pct)
    print_table(samples, summary)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "samples": samples,
                                         "run_dir": str(run_dir), "exit": code}, indent=1))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
