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
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._procs import ChildProcess, free_port, log_tail, start_child
from .._signals import teardown_shield
from .._toxiproxy import ToxiproxyServer, Wan
from ..errors import SetupError
from ._base import Backend, ClusterSpec, NodeInfo, NodeRef, run_coroutine_sync

__all__ = ["LocalBackend"]

HOST = "127.0.0.1"


class LocalBackend(Backend):
    """Nodes as local subprocesses; see the module docstring."""

    name = "local"

    def __init__(self, ready_timeout: float = 30.0, python: str | None = None) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self.python = python or sys.executable
        self._toxiproxy: ToxiproxyServer | None = None
        self._wan: Wan | None = None
        self._nodes: dict[str, NodeInfo] = {}
        self._argv: dict[str, list[str]] = {}
        self._children: dict[str, ChildProcess] = {}
        self._stopped = False

    # ------------------------------------------------------------------ paths
    def _path(self, *parts: str) -> Path:
        assert self.spec is not None
        return self.spec.work_dir.joinpath(*parts)

    def log_path(self, node: NodeRef) -> Path:
        return self._path("logs", f"{self.node(node).name}.log")

    def event_log_path(self, dc: str) -> Path:
        return self._path("events", f"{dc}.jsonl")

    def db_path(self, dc: str) -> Path:
        return self._path("db", f"{dc}.sqlite")

    # ------------------------------------------------------------------ life cycle
    def start(self, spec: ClusterSpec) -> None:
        if self.spec is not None:
            raise SetupError("this backend was already started; make a new one")
        self.spec = spec
        for sub in ("logs", "db", "events"):
            self._path(sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start(spec)
        except BaseException:
            self.stop()
            raise

    def _start(self, spec: ClusterSpec) -> None:
        self._toxiproxy = ToxiproxyServer(log_path=self._path("logs", "toxiproxy.log"),
                                          seed=spec.seed)
        self._toxiproxy.start()
        self._write_pids()
        dcs = spec.dc_names
        hub_ports = {dc: free_port(HOST) for dc in dcs}
        self._wan = Wan(*self._toxiproxy.api, dcs)
        self._wan.create_links({dc: f"{HOST}:{hub_ports[dc]}" for dc in dcs},
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
        self._write_pids()

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

    def stop(self) -> None:
        """Stop access nodes, hubs, then toxiproxy-server, each by pid. Idempotent.

        Every process is stopped even when stopping another one failed; the failures are then
        raised together as one `SetupError` and `pids.json` is kept for `imfault clean`. Signals
        cannot interrupt it (`teardown_shield`)."""
        with teardown_shield():
            errors = self._stop_all()
        if errors:
            self._write_pids()  # what still runs, for `imfault clean`
            where = self.spec.work_dir if self.spec is not None else "?"
            raise SetupError(f"stopping the cluster failed for {'; '.join(errors)}; "
                             f"`imfault clean --work-dir {where}` stops what is left")
        if self.spec is not None and not self._stopped:
            self._stopped = True
            try:
                self._path("pids.json").unlink()
            except FileNotFoundError:
                pass

    def _stop_all(self) -> list[str]:
        # access nodes first, then hubs; proxies die with toxiproxy-server
        order = sorted(self._children, key=lambda n: self._nodes[n].role == "hub")
        stoppers: list[tuple[str, Callable[[], None]]] = [
            (name, self._children[name].stop) for name in order]
        if self._toxiproxy is not None:
            stoppers.append(("toxiproxy-server", self._toxiproxy.stop))
        errors: list[str] = []
        for name, stop in stoppers:
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - stop the others, then report
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return errors

    # ------------------------------------------------------------------ topology
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes.values())

    @property
    def wan(self) -> Wan:
        if self._wan is None:
            raise SetupError("the cluster has not been started")
        return self._wan

    @property
    def toxiproxy_api(self) -> tuple[str, int]:
        if self._toxiproxy is None:
            raise SetupError("the cluster has not been started")
        return self._toxiproxy.api

    def pids(self) -> dict[str, int]:
        result = {name: c.pid for name, c in self._children.items() if c.is_running()}
        if self._toxiproxy is not None and self._toxiproxy.child is not None \
                and self._toxiproxy.child.is_running():
            result["toxiproxy-server"] = self._toxiproxy.child.pid
        return result

    def _write_pids(self) -> None:
        if self.spec is None or self._stopped:
            return
        record: dict[str, Any] = {"backend": self.name, "harness_pid": os.getpid(),
                                  "pids": self.pids()}
        path = self._path("pids.json")
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        tmp.replace(path)

    # ------------------------------------------------------------------ process faults
    def _child(self, node: NodeRef) -> ChildProcess:
        name = self.node(node).name
        try:
            return self._children[name]
        except KeyError:
            raise SetupError(f"{name} was never started") from None

    def kill(self, node: NodeRef) -> None:
        child = self._child(node)
        if child.is_running():
            os.kill(child.pid, signal.SIGKILL)
            child.popen.wait(timeout=10)
        self._write_pids()

    def restart(self, node: NodeRef) -> None:
        info = self.node(node)
        child = self._child(info)
        if child.is_running():
            child.stop()
        new_child = self._spawn(info)
        new_child.wait_ready(self.ready_timeout)
        self.wait_healthy([info.name])

    def pause(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGSTOP)

    def resume(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGCONT)

    def is_running(self, node: NodeRef) -> bool:
        return self._child(node).is_running()

    def pid(self, node: NodeRef) -> int:
        """The current pid of a node's process."""
        return self._child(node).pid

    # ------------------------------------------------------------------ results
    def collect(self, run_dir: Path) -> dict[str, Path]:
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self._nodes:
            source = self.log_path(name)
            if source.exists():
                shutil.copyfile(source, logs / f"{name}.log")
        toxi_log = self._path("logs", "toxiproxy.log")
        if toxi_log.exists():
            shutil.copyfile(toxi_log, logs / "toxiproxy.log")
        return {n.dc: self.event_log_path(n.dc) for n in self._nodes.values() if n.role == "hub"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
