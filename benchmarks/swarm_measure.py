"""Measure an `imfault run --backend swarm` from outside: bring-up, memory while it runs,
teardown, and what is left afterwards.

usage: .venv/bin/python benchmarks/swarm_measure.py [--dcs 20] [--access-per-dc 1]
           [--time-limit 30] [--store DIR]
Needs a swarm manager (`docker swarm init`). Runs the CLI as a child and polls the engine every
0.5 s: bring-up is the CLI's own "first op N s after start" (every node healthy, isolation
checked), `all_tasks_running_s` when every task's container runs, `teardown_s` from the first
service removal until no service, container, network, secret or volume of the run is listed;
`memory` sampled 5 s after every task runs: the run's containers (count, MiB by `docker stats`), the harness (RSS), dockerd and containerd
(RSS, also before the run); the host's load average at start, when every task runs and at the
end; `docker_cgroup_cpu`: the share of one core Docker's cgroup (every container) got over the
run against the whole host's (cgroup v1 cpuacct; absent elsewhere).
Prints one JSON object (the numbers in docs/swarm.md come from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.backends._docker_engine import HARNESS_PID_LABEL, docker_client

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2}


def _rss_mib(name: str) -> float:
    out = subprocess.run(["ps", "-C", name, "-o", "rss="], capture_output=True, text=True, check=False).stdout
    return round(sum(int(x) for x in out.split()) / 1024, 1)


def _pid_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _containers_mib(pid: int) -> tuple[int, float]:
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}",
                          *_ids(pid)], capture_output=True, text=True, check=False).stdout
    total = 0.0
    for line in out.splitlines():
        match = re.match(r"([\d.]+)(\w+)", line.split("/")[0].strip())
        if match:
            total += float(match.group(1)) * UNITS.get(match.group(2), 1)
    return len(out.splitlines()), round(total / 1024**2, 1)


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _cpu_ns() -> tuple[int, int] | None:
    """(Docker's cgroup, the whole host) CPU time in ns, from cgroup v1 cpuacct; None without."""
    try:
        return (int((CPUACCT / "docker" / "cpuacct.usage").read_text()),
                int((CPUACCT / "cpuacct.usage").read_text()))
    except (OSError, ValueError):
        return None


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _ids(pid: int) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label={HARNESS_PID_LABEL}={pid}"],
                         capture_output=True, text=True, check=False).stdout
    return out.split()


def _left(client: Any, pid: int) -> dict[str, int]:
    label = {"label": f"{HARNESS_PID_LABEL}={pid}"}
    return {"services": len(client.services.list(filters=label)),
            "secrets": len(client.secrets.list(filters=label)),
            "containers": len(client.containers.list(all=True, filters=label, ignore_removed=True)),
            "networks": len(client.networks.list(filters=label)),
            "volumes": len(client.volumes.list(filters=label))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dcs", type=int, default=20)
    parser.add_argument("--access-per-dc", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=30)
    parser.add_argument("--store", default="/tmp/imfault-swarm-measure")
    args = parser.parse_args()
    client = docker_client(timeout=300)
    services = 1 + args.dcs * (1 + args.access_per_dc)
    log = Path(args.store) / "output.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cpu_before = _cpu_ns()
    load = {"start": _load()}
    with log.open("w") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--backend", "swarm", "--dcs", str(args.dcs),
             "--access-per-dc", str(args.access_per_dc), "--time-limit", str(args.time_limit),
             "--seed", "1", "--store", args.store, "--name", f"swarm-{args.dcs}"],
            stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    result: dict[str, Any] = {"dcs": args.dcs, "services": services, "daemons_before_mib": {
        "dockerd": _rss_mib("dockerd"), "containerd": _rss_mib("containerd")}}
    seen_all = teardown_start = None
    while child.poll() is None:
        try:
            left = _left(client, child.pid)
        except Exception:  # noqa: BLE001 - a busy engine timed out or a container went away
            time.sleep(0.5)
            continue
        now = time.monotonic() - started
        if seen_all is None and len(_ids(child.pid)) == services + 1:  # every task + the edge
            seen_all = now
            result["all_tasks_running_s"] = round(now, 1)
            load["all_tasks_running"] = _load()
            time.sleep(5)
            result["memory_mib"] = {"containers": _containers_mib(child.pid),
                                    "harness": _pid_rss_mib(child.pid),
                                    "dockerd": _rss_mib("dockerd"),
                                    "containerd": _rss_mib("containerd")}
        if seen_all is not None and teardown_start is None and left["services"] < services:
            teardown_start = now
        time.sleep(0.5)
    end = time.monotonic() - started
    load["end"] = _load()
    result["load_average"] = load
    cpu_after = _cpu_ns()
    if cpu_before and cpu_after:
        cores = (end or 1) * 1e9
        result["docker_cgroup_cpu"] = {
            "containers_cores": round((cpu_after[0] - cpu_before[0]) / cores, 2),
            "host_cores": round((cpu_after[1] - cpu_before[1]) / cores, 2)}
    result["teardown_s"] = round(end - teardown_start, 1) if teardown_start else None
    result["exit_code"] = child.returncode
    result["total_s"] = round(end, 1)
    result["left_after"] = _left(client, child.pid)
    result["first_op_line"] = next((line for line in log.read_text().splitlines()
                                    if "first op" in line), None)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
