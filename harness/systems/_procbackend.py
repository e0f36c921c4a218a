"""A local backend for a system whose nodes are local processes, one server per DC.

`ProcessBackend` does what every such system shares: one proxy per ordered DC pair towards
the destination's inter-DC port (`Wan.create_links`), readiness (the server accepts
connections), restart, logs, link verification over the live sockets (`_links.local_bypasses`);
the process handling it shares with the `local` backend (toxiproxy-server, children by pid,
kill/pause, teardown, `pids.json`) is `harness.backends._processes.ProcessCluster`'s. A subclass gives `plan` (the ports of a DC's
server), `argv` (its command line, given the address to dial for each peer DC) and optionally
`wait_linked` (until the inter-DC links are up). Files under `spec.work_dir`: `logs/<node>.log`,
`conf/<node>.conf`, `data/<node>/`, and `pids.json` while the cluster runs: the harness's pid,
each live server's and toxiproxy-server's pid with its program (`commands`), and what else the
run must undo (`leftovers()`: e.g. firewall rules), so that `imfault clean` ends exactly what a
killed harness left.

`direct_links` (or `IMFAULT_UNSAFE_DIRECT_LINKS="dc1->dc2,..."`) gives those links the
destination's own address instead of its proxy: isolation turned off on purpose, for the tests
that prove the runner's bypass check catches it.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._procs import free_port, log_tail, start_child
from ..backends._base import ClusterSpec, NodeInfo, NodeRef
from ..backends._processes import ProcessCluster
from ..errors import SetupError, UsageError
from ._links import local_bypasses

__all__ = ["DIRECT_LINKS_ENV", "HOST", "NodePlan", "ProcessBackend"]

HOST = "127.0.0.1"
DIRECT_LINKS_ENV = "IMFAULT_UNSAFE_DIRECT_LINKS"


@dataclass(frozen=True)
class NodePlan:
    """A DC's server: `client_port` (clients), `wan_port` (what peers dial, through proxies),
    `other_ports` (anything else it listens on)."""

    client_port: int
    wan_port: int
    other_ports: tuple[int, ...] = ()

    @property
    def ports(self) -> set[int]:
        return {self.client_port, self.wan_port, *self.other_ports}


def _direct_links(value: str | None) -> set[tuple[str, str]]:
    links = set()
    for item in (value or "").split(","):
        if item.strip():
            src, sep, dst = item.strip().partition("->")
            if not sep:
                raise UsageError(f"{DIRECT_LINKS_ENV}: {item!r} is not SRC->DST")
            links.add((src, dst))
    return links


class ProcessBackend(ProcessCluster):
    """One server process per DC on loopback, linked through Toxiproxy (module docstring)."""

    name = "local"
    node_suffix = "server"
    work_subdirs = ("logs", "conf", "data")

    def __init__(self, ready_timeout: float = 15.0,
                 direct_links: set[tuple[str, str]] | None = None) -> None:
        super().__init__(ready_timeout)
        self.direct_links = set(direct_links or ()) | _direct_links(
            os.environ.get(DIRECT_LINKS_ENV))
        self._plans: dict[str, NodePlan] = {}

    # what a system gives ------------------------------------------------------------------
    def plan(self, dc: str) -> NodePlan:
        """The ports of `dc`'s server (default: one port for clients and peers)."""
        port = free_port(HOST)
        return NodePlan(port, port)

    @abstractmethod
    def argv(self, info: NodeInfo, plan: NodePlan, peers: dict[str, str]) -> list[str]:
        """The server's command line; `peers`: {peer dc: "host:port" to dial for it}. Write
        config files under `self.path("conf")`, data under `self.path("data", info.name)`."""

    def wait_linked(self) -> None:
        """Return once the inter-DC links are up (default: at once)."""

    def state_fields(self) -> dict[str, Any]:
        """The program each pid runs, so that `imfault clean` stops only those."""
        pids = self.pids()
        commands = {name: _program(self._argv[name]) for name in pids if name in self._argv}
        commands["toxiproxy-server"] = "toxiproxy"
        return {"commands": commands}

    # life cycle -----------------------------------------------------------------------------
    def _start(self, spec: ClusterSpec) -> None:
        dcs = spec.dc_names
        self._plans = self._plans or {dc: self.plan(dc) for dc in dcs}
        wan = self._start_toxiproxy(spec)
        wan.create_links({dc: f"{HOST}:{self._plans[dc].wan_port}" for dc in dcs},
                         spec.wan_latency_ms, spec.wan_jitter_ms, listen_host=HOST)
        for dc in dcs:
            info = NodeInfo(f"{dc}-{self.node_suffix}", dc, "hub", HOST,
                            self._plans[dc].client_port)
            self._nodes[info.name] = info
            self.path("data", info.name).mkdir(parents=True, exist_ok=True)
            peers = {peer: (f"{HOST}:{self._plans[peer].wan_port}"
                            if (dc, peer) in self.direct_links
                            else wan.link_address(dc, peer))
                     for peer in dcs if peer != dc}
            self._argv[info.name] = self.argv(info, self._plans[dc], peers)
        for info in self._nodes.values():
            self._spawn(info)
        self.write_state()
        for info in self._nodes.values():
            self._wait_listening(info)
        self.wait_linked()

    def _spawn(self, info: NodeInfo) -> None:
        self._children[info.name] = start_child(
            self._argv[info.name], name=info.name, log_path=self.path("logs", f"{info.name}.log"))

    def _wait_listening(self, info: NodeInfo) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                with socket.create_connection((info.host, info.port), timeout=1.0):
                    return
            except OSError as exc:
                log = self.path("logs", f"{info.name}.log")
                if not self._children[info.name].is_running() or time.monotonic() > deadline:
                    raise SetupError(f"{info.name} does not accept connections on "
                                     f"{info.address} ({exc}); log {log}:\n{log_tail(log)}"
                                     ) from exc
                time.sleep(0.05)

    # topology ------------------------------------------------------------------------------
    def access_addresses(self) -> dict[str, list[tuple[str, int]]]:
        """Clients connect to their DC's server."""
        return {n.dc: [(n.host, n.port)] for n in self._nodes.values()}

    def bypasses(self) -> list[str]:
        """Live connections from one DC's server straight to another DC's ports."""
        pids = {n.dc: [self._children[n.name].pid] for n in self._nodes.values()
                if self._children[n.name].is_running()}
        ports = {dc: plan.ports for dc, plan in self._plans.items()}
        proxies = {f"{s}->{d}": int(self.wan.link_address(s, d).rsplit(":", 1)[1])
                   for s, d in self.wan.links()}
        return local_bypasses(pids, ports, proxies)

    # process faults ----------------------------------------------------------------------
    def restart(self, node: NodeRef) -> None:
        info = self.node(node)
        child = self._child(info)
        if child.is_running():
            child.stop()
        self._spawn(info)
        self.write_state()
        self._wait_listening(info)

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None:
        raise UsageError("this system has no clock offset to set: the clock-skew nemesis does "
                         "not apply to it")

    def collect(self, run_dir: Path) -> dict[str, Path]:
        """Server logs and the Toxiproxy log into `run_dir/logs`; no event logs."""
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in [*self._nodes, "toxiproxy"]:
            source = self.path("logs", f"{name}.log")
            if source.exists():
                shutil.copyfile(source, logs / f"{name}.log")
        return {}


def _program(argv: list[str]) -> str:
    """The program a command line ends up running (past a `setpriv ...` wrapper): its name."""
    words = argv[1:] if os.path.basename(argv[0]) == "setpriv" else argv
    return os.path.basename(next((w for w in words if not w.startswith("-")), argv[0]))
