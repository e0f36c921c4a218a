"""The `local` backend: every node a subprocess on 127.0.0.1, the real `toxiproxy-server` between DCs.

Start order: toxiproxy-server; hub ports chosen; one proxy per ordered DC pair towards each hub
(baseline latency on both streams); hubs (`python -m imcluster hub`, peers = the proxy addresses,
so hubs never talk directly); access nodes (`python -m imcluster access`, straight to their own
DC's hub: same DC, no WAN); then every node must answer admin `status`.

Files under `spec.work_dir`: `logs/<node>.log` (stdout+stderr), `db/<dc>.sqlite`,
`events/<dc>.jsonl` (hub event logs), `pids.json` (every live pid, rewritten as processes start
and stop, removed on a clean stop; `imfault clean` reads it).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

from .._procs import ChildProcess, free_port, log_tail, start_child
from ..errors import SetupError
from ._base import ClusterSpec, NodeInfo, NodeRef, run_coroutine_sync
from ._processes import ProcessCluster

__all__ = ["LocalBackend"]

HOST = "127.0.0.1"


class LocalBackend(ProcessCluster):
    """Nodes as local subprocesses; see the module docstring."""

    name = "local"
    work_subdirs = ("logs", "db", "events")

    def __init__(self, ready_timeout: float = 30.0, python: str | None = None) -> None:
        super().__init__(ready_timeout)
        self.python = python or sys.executable

    # ------------------------------------------------------------------ paths
    def log_path(self, node: NodeRef) -> Path:
        return self.path("logs", f"{self.node(node).name}.log")

    def event_log_path(self, dc: str) -> Path:
        return self.path("events", f"{dc}.jsonl")

    def db_path(self, dc: str) -> Path:
        return self.path("db", f"{dc}.sqlite")

    # ------------------------------------------------------------------ life cycle
    def _start(self, spec: ClusterSpec) -> None:
        wan = self._start_toxiproxy(spec)
        dcs = spec.dc_names
        hub_ports = {dc: free_port(HOST) for dc in dcs}
        wan.create_links({dc: f"{HOST}:{hub_ports[dc]}" for dc in dcs},
                         spec.wan_latency_ms, spec.wan_jitter_ms, listen_host=HOST)
        for index, dc in enumerate(dcs):
            hub = NodeInfo(f"{dc}-hub", dc, "hub", HOST, hub_ports[dc])
            self._nodes[hub.name] = hub
            self._argv[hub.name] = self._hub_argv(spec, hub, index)
        for dc in dcs:
            for k in range(1, spec.access_per_dc + 1):
                access = NodeInfo(f"{dc}-a{k}", dc, "access", HOST, free_port(HOST))
                self._nodes[access.name] = access
                self._argv[access.name] = [
                    self.python, "-m", "imcluster", "access", "--dc", dc, "--node", access.name,
                    "--listen", access.address, "--hub", f"{HOST}:{hub_ports[dc]}",
                ]
        hubs = [n for n in self._nodes.values() if n.role == "hub"]
        accesses = [n for n in self._nodes.values() if n.role == "access"]
        for group in (hubs, accesses):
            for info in group:
                self._spawn(info)
            for info in group:
                self._children[info.name].wait_ready(self.ready_timeout)
        self.wait_healthy([n.name for n in self._nodes.values()])

    def _hub_argv(self, spec: ClusterSpec, hub: NodeInfo, index: int) -> list[str]:
        assert self._wan is not None
        argv = [self.python, "-m", "imcluster", "hub", "--dc", hub.dc, "--listen", hub.address]
        for peer in spec.dc_names:
            if peer != hub.dc:
                argv += ["--peer", f"{peer}={self._wan.link_address(hub.dc, peer)}"]
        argv += [
            "--db", str(self.db_path(hub.dc)),
            "--event-log", str(self.event_log_path(hub.dc)),
            "--gossip", spec.gossip,
            "--gossip-interval", _number(spec.gossip_interval_ms),
            "--gossip-fanout", str(spec.gossip_fanout),
            "--delivery", spec.delivery,
            "--seed", str(spec.seed * 1000 + index),
        ]
        for bug in spec.bugs:
            argv += ["--bug", bug]
        return argv

    def _spawn(self, info: NodeInfo) -> ChildProcess:
        assert self.spec is not None
        child = start_child(
            self._argv[info.name], name=info.name, log_path=self.log_path(info),
            env={"IMCLUSTER_SECRET": self.spec.secret, "PYTHONUNBUFFERED": "1"},
            on_start=lambda c: self._register(info.name, c),
        )
        return child

    def _register(self, name: str, child: ChildProcess) -> None:
        self._children[name] = child
        self.write_state()

    def wait_healthy(self, names: list[str], timeout: float | None = None) -> None:
        """Wait until each named node answers admin `status` with health ok (bounded)."""
        run_coroutine_sync(self._wait_healthy(names, timeout or self.ready_timeout))

    async def _wait_healthy(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        last_error: dict[str, str] = {}
        while pending:
            still: list[str] = []
            for name in pending:
                try:
                    status = await self.admin_status(name, timeout=2.0)
                    if status.get("health", "ok") == "ok":
                        continue
                    last_error[name] = f"health {status.get('health')!r}"
                except Exception as exc:  # noqa: BLE001 - reported below if it persists
                    last_error[name] = f"{type(exc).__name__}: {exc}"
                still.append(name)
            pending = still
            if not pending:
                return
            if time.monotonic() >= deadline:
                name = pending[0]
                raise SetupError(
                    f"{name} did not answer admin status within {timeout:.0f} s "
                    f"({last_error.get(name)}); log {self.log_path(name)}:\n"
                    f"{log_tail(self.log_path(name))}"
                )
            await asyncio.sleep(0.1)

    def _stop_order(self) -> list[str]:
        """Access nodes first, then hubs; proxies die with toxiproxy-server."""
        return sorted(self._children, key=lambda n: self._nodes[n].role == "hub")

    # ------------------------------------------------------------------ process faults
    def restart(self, node: NodeRef) -> None:
        info = self.node(node)
        child = self._child(info)
        if child.is_running():
            child.stop()
        new_child = self._spawn(info)
        new_child.wait_ready(self.ready_timeout)
        self.wait_healthy([info.name])

    # ------------------------------------------------------------------ results
    def collect(self, run_dir: Path) -> dict[str, Path]:
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self._nodes:
            source = self.log_path(name)
            if source.exists():
                shutil.copyfile(source, logs / f"{name}.log")
        toxi_log = self.path("logs", "toxiproxy.log")
        if toxi_log.exists():
            shutil.copyfile(toxi_log, logs / "toxiproxy.log")
        return {n.dc: self.event_log_path(n.dc) for n in self._nodes.values() if n.role == "hub"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
