"""Mosquitto brokers as local processes: one broker per DC, bridges through Toxiproxy.

Start order: toxiproxy-server; one port per broker; one proxy per ordered DC pair towards the
destination's broker (baseline latency); each broker with a config file (`mosquitto.conf`, see
`broker_config`) whose bridges dial the proxies; every broker must accept a TCP connection.
The nodes are `dcN-broker` (role `hub`: the node that links DCs; clients connect to it too).
The process handling, files and `IMFAULT_UNSAFE_DIRECT_LINKS` are `_procbackend.ProcessBackend`'s.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ...backends._base import Backend, NodeInfo
from ...errors import SetupError
from .._procbackend import DIRECT_LINKS_ENV, HOST, NodePlan, ProcessBackend
from ._client import bridge_states

__all__ = ["DIRECT_LINKS_ENV", "MosquittoLocalBackend", "bridges_down", "broker_config",
           "find_mosquitto", "wait_bridges"]

BRIDGE_KEEPALIVE_S = 5
"""Bridge keepalive (default 60 s): a blackholed bridge is noticed within ~1.5 keepalives."""


def find_mosquitto() -> str:
    """Path of the `mosquitto` broker; `SetupError` naming the install command otherwise."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None)
    if found is None:
        raise SetupError("--system mosquitto needs the mosquitto broker: run "
                         "`apt-get install mosquitto` (Debian's package, 2.0.x)")
    return found


def broker_config(dc: str, port: int, data_dir: Path, bridges: dict[str, str],
                  host: str | None = HOST) -> str:
    """The broker's `mosquitto.conf`: every setting that differs from mosquitto's defaults
    (docs/systems/mosquitto.md lists and justifies each). `bridges`: {peer dc: "host:port" the
    bridge dials (the proxy dc->peer)}; `host`: the listener's address (None: every one, in a
    container)."""
    lines = [
        f"# imfault: broker of {dc}",
        f"listener {port}{' ' + host if host else ''}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {data_dir}/",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    for peer, address in sorted(bridges.items()):
        host, _, peer_port = address.rpartition(":")
        lines += [
            "",
            f"connection {dc}-to-{peer}",
            f"address {host}:{peer_port}",
            f"remote_clientid bridge-{dc}-to-{peer}",
            "topic inbox/# out 1 local/ remote/",
            "cleansession false",
            f"keepalive_interval {BRIDGE_KEEPALIVE_S}",
        ]
    return "\n".join(lines) + "\n"


class MosquittoLocalBackend(ProcessBackend):
    """One mosquitto broker per DC as a local process (see the module docstring)."""

    node_suffix = "broker"

    def argv(self, info: NodeInfo, plan: NodePlan, peers: dict[str, str]) -> list[str]:
        conf = self.path("conf", f"{info.name}.conf")
        conf.write_text(broker_config(info.dc, plan.client_port, self.path("data", info.name),
                                      peers))
        return [find_mosquitto(), "-c", str(conf)]

    def wait_linked(self) -> None:
        wait_bridges(self, max(self.ready_timeout, 40.0), self.path("logs"))

    def bridges_down(self) -> list[str]:
        return bridges_down(self)


def bridges_down(backend: Backend) -> list[str]:
    """The bridges (`bridge-SRC-to-DST`) that their own broker does not announce as up."""
    assert backend.spec is not None
    down = []
    for info in backend.nodes():
        try:
            states = bridge_states(info.host, info.port, wait_s=0.2)
        except (OSError, ConnectionError):
            states = {}
        down += [f"bridge-{info.dc}-to-{peer}" for peer in backend.spec.dc_names
                 if peer != info.dc and not states.get(f"bridge-{info.dc}-to-{peer}")]
    return down


def wait_bridges(backend: Backend, timeout_s: float, logs: object) -> None:
    """Wait until every broker announces each of its bridges connected (a broker that
    started before its peers retries after its bridge `restart_timeout`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        down = bridges_down(backend)
        if not down:
            return
        if time.monotonic() > deadline:
            raise SetupError(f"bridges {down} did not connect; logs in {logs}")
        time.sleep(0.2)
