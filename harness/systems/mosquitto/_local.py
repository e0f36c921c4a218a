"""Mosquitto brokers as local processes: one broker per DC, bridges through Toxiproxy.

Start order: toxiproxy-server; one port per broker; one proxy per ordered DC pair towards the
destination's broker (baseline latency); each broker with a config file (`mosquitto.conf`, see
`broker_config`) whose bridges dial the proxies; every broker must accept a TCP connection.
The nodes are `dcN-broker` (role `hub`: the node that links DCs; clients connect to it too).
Files under `spec.work_dir`: `logs/<node>.log`, `conf/<node>.conf`, `data/<node>/` (persistence).

`direct_links` (or `IMFAULT_UNSAFE_DIRECT_LINKS="dc1->dc2,..."`) points those bridges at the
destination broker itself, around the WAN: isolation turned off on purpose, for the test that
proves the runner's bypass check catches it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

from ..._procs import ChildProcess, free_port, log_tail, start_child
from ..._signals import teardown_shield
from ..._toxiproxy import ToxiproxyServer, Wan
from ...backends._base import Backend, ClusterSpec, NodeInfo, NodeRef
from ...errors import SetupError, UsageError
from ._client import bridge_states

__all__ = ["DIRECT_LINKS_ENV", "MosquittoLocalBackend", "broker_config", "find_mosquitto"]

HOST = "127.0.0.1"
DIRECT_LINKS_ENV = "IMFAULT_UNSAFE_DIRECT_LINKS"
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


def broker_config(dc: str, port: int, data_dir: Path, bridges: dict[str, str]) -> str:
    """The broker's `mosquitto.conf`: every setting that differs from mosquitto's defaults
    (docs/systems/mosquitto.md lists and justifies each). `bridges`: {peer dc: "host:port" the
    bridge dials (the proxy dc->peer)}."""
    lines = [
        f"# imfault: broker of {dc}",
        f"listener {port} {HOST}",
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


def _direct_links(value: str | None) -> set[tuple[str, str]]:
    links = set()
    for item in (value or "").split(","):
        if item.strip():
            src, sep, dst = item.strip().partition("->")
            if not sep:
                raise UsageError(f"{DIRECT_LINKS_ENV}: {item!r} is not SRC->DST")
            links.add((src, dst))
    return links


class MosquittoLocalBackend(Backend):
    """One mosquitto broker per DC as a local process (see the module docstring)."""

    name = "local"

    def __init__(self, ready_timeout: float = 15.0,
                 direct_links: set[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self.direct_links = set(direct_links or ()) | _direct_links(
            os.environ.get(DIRECT_LINKS_ENV))
        self._toxiproxy: ToxiproxyServer | None = None
        self._wan: Wan | None = None
        self._nodes: dict[str, NodeInfo] = {}
        self._children: dict[str, ChildProcess] = {}
        self._argv: dict[str, list[str]] = {}

    def _path(self, *parts: str) -> Path:
        assert self.spec is not None
        return self.spec.work_dir.joinpath(*parts)

    def start(self, spec: ClusterSpec) -> None:
        if self.spec is not None:
            raise SetupError("this backend was already started; make a new one")
        self.spec = spec
        binary = find_mosquitto()
        for sub in ("logs", "conf", "data"):
            self._path(sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start(spec, binary)
        except BaseException:
            self.stop()
            raise

    def _start(self, spec: ClusterSpec, binary: str) -> None:
        self._toxiproxy = ToxiproxyServer(log_path=self._path("logs", "toxiproxy.log"),
                                          seed=spec.seed)
        self._toxiproxy.start()
        dcs = spec.dc_names
        ports = {dc: free_port(HOST) for dc in dcs}
        self._wan = Wan(*self._toxiproxy.api, dcs)
        self._wan.create_links({dc: f"{HOST}:{ports[dc]}" for dc in dcs},
                               spec.wan_latency_ms, spec.wan_jitter_ms, listen_host=HOST)
        for dc in dcs:
            info = NodeInfo(f"{dc}-broker", dc, "hub", HOST, ports[dc])
            self._nodes[info.name] = info
            bridges = {peer: (f"{HOST}:{ports[peer]}" if (dc, peer) in self.direct_links
                              else self._wan.link_address(dc, peer))
                       for peer in dcs if peer != dc}
            data_dir = self._path("data", info.name)
            data_dir.mkdir(parents=True, exist_ok=True)
            conf = self._path("conf", f"{info.name}.conf")
            conf.write_text(broker_config(dc, ports[dc], data_dir, bridges))
            self._argv[info.name] = [binary, "-c", str(conf)]
        for info in self._nodes.values():
            self._spawn(info)
        for info in self._nodes.values():
            self._wait_listening(info)
        self._wait_bridges(len(dcs) - 1)

    def bridges_down(self) -> list[str]:
        """The bridges (`bridge-SRC-to-DST`) that their own broker does not announce as up."""
        down = []
        for info in self._nodes.values():
            try:
                states = bridge_states(info.host, info.port, wait_s=0.2)
            except (OSError, ConnectionError):
                states = {}
            down += [name for name in self.bridge_names(info.dc) if not states.get(name)]
        return down

    def bridge_names(self, dc: str) -> list[str]:
        """The client ids of the bridges `dc`'s broker opens."""
        assert self.spec is not None
        return [f"bridge-{dc}-to-{peer}" for peer in self.spec.dc_names if peer != dc]

    def _wait_bridges(self, count: int) -> None:
        """Wait until every broker announces each of its `count` bridges connected (a broker
        that started before its peers retries after its bridge `restart_timeout`)."""
        deadline = time.monotonic() + max(self.ready_timeout, 40.0)
        while True:
            down = self.bridges_down()
            if not down:
                return
            if time.monotonic() > deadline:
                raise SetupError(f"bridges {down} did not connect; logs in "
                                 f"{self._path('logs')}")
            time.sleep(0.2)

    def _spawn(self, info: NodeInfo) -> None:
        self._children[info.name] = start_child(
            self._argv[info.name], name=info.name, log_path=self._path("logs", f"{info.name}.log"))

    def _wait_listening(self, info: NodeInfo) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                with socket.create_connection((info.host, info.port), timeout=1.0):
                    return
            except OSError as exc:
                child = self._children[info.name]
                log = self._path("logs", f"{info.name}.log")
                if not child.is_running() or time.monotonic() > deadline:
                    raise SetupError(f"{info.name} does not accept connections on "
                                     f"{info.address} ({exc}); log {log}:\n{log_tail(log)}"
                                     ) from exc
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop every broker, then toxiproxy-server, each by pid. Idempotent."""
        with teardown_shield():
            errors = []
            stoppers = [(n, c.stop) for n, c in self._children.items()]
            if self._toxiproxy is not None:
                stoppers.append(("toxiproxy-server", self._toxiproxy.stop))
            for name, stop in stoppers:
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001 - stop the others, then report
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if errors:
            raise SetupError(f"stopping the brokers failed: {'; '.join(errors)}")

    # topology ------------------------------------------------------------------------------
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes.values())

    def access_addresses(self) -> dict[str, list[tuple[str, int]]]:
        """Clients connect to their DC's broker."""
        return {n.dc: [(n.host, n.port)] for n in self._nodes.values()}

    @property
    def wan(self) -> Wan:
        if self._wan is None:
            raise SetupError("the cluster has not been started")
        return self._wan

    def pids(self) -> dict[str, int]:
        result = {name: c.pid for name, c in self._children.items() if c.is_running()}
        if self._toxiproxy is not None and self._toxiproxy.child is not None \
                and self._toxiproxy.child.is_running():
            result["toxiproxy-server"] = self._toxiproxy.child.pid
        return result

    # process faults ----------------------------------------------------------------------
    def _child(self, node: NodeRef) -> ChildProcess:
        return self._children[self.node(node).name]

    def pid(self, node: NodeRef) -> int:
        return self._child(node).pid

    def kill(self, node: NodeRef) -> None:
        child = self._child(node)
        if child.is_running():
            os.kill(child.pid, signal.SIGKILL)
            child.popen.wait(timeout=10)

    def restart(self, node: NodeRef) -> None:
        info = self.node(node)
        child = self._child(info)
        if child.is_running():
            child.stop()
        self._spawn(info)
        self._wait_listening(info)

    def pause(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGSTOP)

    def resume(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGCONT)

    def is_running(self, node: NodeRef) -> bool:
        return self._child(node).is_running()

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None:
        raise UsageError("mosquitto has no clock offset to set: the clock-skew nemesis does not "
                         "apply to --system mosquitto")

    def collect(self, run_dir: Path) -> dict[str, Path]:
        """Broker logs and the Toxiproxy log into `run_dir/logs`; no event logs."""
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in [*self._nodes, "toxiproxy"]:
            source = self._path("logs", f"{name}.log")
            if source.exists():
                shutil.copyfile(source, logs / f"{name}.log")
        return {}
