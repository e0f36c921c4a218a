"""The nodes the fuzz tests attack: one hub (with a peer `dc2` that never starts, so a test may
speak for it) and one access node, real `python -m imcluster` processes on loopback, each ended
by its pid whatever happens. Imported by the fuzz test modules as `fuzz_nodes`."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET = "fuzz-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class FuzzNodes:
    hub_port: int
    access_port: int
    procs: tuple[subprocess.Popen[bytes], ...]

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], Any]:
    env = dict(os.environ, IMCLUSTER_SECRET=SECRET)
    log_file = open(log, "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "imcluster", *args], stdout=subprocess.PIPE,
                            stderr=log_file, env=env, start_new_session=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    assert ready and json.loads(proc.stdout.readline())["ready"] is True, log.read_text()
    return proc, log_file


@contextmanager
def running_nodes(tmp: Path, access_args: tuple[str, ...] = ()) -> Iterator[FuzzNodes]:
    """Start the hub and the access node (with `access_args` added to its command line);
    afterwards assert neither crashed, and kill both."""
    hub_port, access_port = free_port(), free_port()
    started: list[tuple[subprocess.Popen[bytes], Any]] = []
    try:
        started.append(_start(["hub", "--dc", "dc1", "--listen", f"127.0.0.1:{hub_port}",
                               "--peer", f"dc2=127.0.0.1:{free_port()}",
                               "--db", str(tmp / "hub.db")], tmp / "hub.log"))
        started.append(_start(["access", "--dc", "dc1", "--node", "dc1-a1", "--listen",
                               f"127.0.0.1:{access_port}", "--hub", f"127.0.0.1:{hub_port}",
                               *access_args], tmp / "access.log"))
        nodes = FuzzNodes(hub_port, access_port, tuple(proc for proc, _ in started))
        yield nodes
        assert nodes.alive(), "a node crashed during the fuzz test"
    finally:
        for proc, log_file in started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            log_file.close()
