"""Listen ports of local nodes come from outside the kernel's ephemeral range (found by a bug run:
a hub's port, free when chosen, was taken as the source port of toxiproxy dialling it -> the hub
could not bind it and the run failed at setup), and no two live harness processes hand out the
same port (found in CI and a benchmark: "address already in use" when a node bound its port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from harness._procs import LISTEN_PORT_FLOOR, ephemeral_port_range, free_port


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_port_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(LISTEN_PORT_FLOOR <= p < low or high < p <= 65535 for p in ports), ports
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


# A harness process that hands out ports with its port RNG forced to `seed`, prints them as one
# JSON line and keeps living (holding what it reserved) until its stdin closes.
_HOLDER = """
import json, sys
from harness import _procs
_procs._port_rng.seed(int(sys.argv[1]))
print(json.dumps([_procs.free_port() for _ in range(int(sys.argv[2]))]), flush=True)
sys.stdin.read()
"""


def _start_holder(seed: int, count: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], set[int]]:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(seed), str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line, f"the port holder exited with {holder.wait(10)}"
    return holder, set(json.loads(line))


def test_live_processes_never_hand_out_the_same_port(tmp_path: Path) -> None:
    """Two harness processes drawing the same random sequence (found in CI and a benchmark: a
    restarted node could not re-bind its port, another process had handed it out meanwhile) get
    disjoint ports while both live; a reservation ends with its process, even on SIGKILL."""
    env = dict(os.environ, TMPDIR=str(tmp_path))  # a reservation file of this test alone
    holders: list[subprocess.Popen[str]] = []
    try:
        first, first_ports = _start_holder(7, 20, env)
        holders.append(first)
        second, second_ports = _start_holder(7, 20, env)
        holders.append(second)
        assert not first_ports & second_ports
        first.kill()  # SIGKILL: no clean-up code of its own runs
        first.wait(10)
        third, third_ports = _start_holder(7, 20, env)
        holders.append(third)
        assert not third_ports & second_ports
        assert third_ports & first_ports, "the killed process's reservations were kept"
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(10)
            if holder.stdin is not None:
                holder.stdin.close()
            if holder.stdout is not None:
                holder.stdout.close()
