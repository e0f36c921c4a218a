"""Intra-DC network faults of the docker backend (the docker-only `partition-node` extra).

An access node is cut from its hub by iptables rules in the container's own network namespace
(entered from the host with `nsenter`): packets to and from port 7000 of other hosts (the hub's
listen port) are dropped, a blackhole like the WAN partitions, while clients keep reaching the
access node through its published port. Needs root on the engine's host. A container restart
gets a fresh namespace without the rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import SetupError

__all__ = ["cut_from_hub", "rejoin_hub"]

_TIMEOUT_S = 10.0


def _rules(hub_port: int) -> list[list[str]]:
    return [
        ["OUTPUT", "-p", "tcp", "--dport", str(hub_port), "-j", "DROP"],
        ["INPUT", "-p", "tcp", "--sport", str(hub_port), "-j", "DROP"],
    ]


def _iptables(pid: int, args: list[str]) -> subprocess.CompletedProcess[str]:
    nsenter, iptables = shutil.which("nsenter"), shutil.which("iptables")
    if os.geteuid() != 0 or not nsenter or not iptables:
        raise SetupError("cutting a container from its hub needs root with nsenter and iptables "
                         "on the Docker host (apt-get install util-linux iptables)")
    return subprocess.run([nsenter, "-t", str(pid), "-n", iptables, "-w", *args],
                          capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)


def cut_from_hub(pid: int, hub_port: int) -> None:
    """Blackhole traffic between the container whose init has host pid `pid` and `hub_port`."""
    for rule in _rules(hub_port):
        if _iptables(pid, ["-C", *rule]).returncode == 0:
            continue  # already cut
        done = _iptables(pid, ["-I", *rule])
        if done.returncode != 0:
            raise SetupError(f"iptables in the namespace of pid {pid} failed: {done.stderr}")


def rejoin_hub(pid: int, hub_port: int) -> None:
    """Remove the rules of `cut_from_hub` (idempotent)."""
    for rule in _rules(hub_port):
        while _iptables(pid, ["-C", *rule]).returncode == 0:
            _iptables(pid, ["-D", *rule])
