"""The docker backend: one container per node, one network per DC, Toxiproxy as a container.

Topology (DESIGN §2 "Backends"):
- network `imfault-<run>-<dc>` per DC; the DC's hub and access nodes are on it and only on it;
- a Toxiproxy container joined to every DC network is the only path between DCs: proxy `i->j`
  forwards to dc j's hub (`imfault-<run>-<dcj>-hub:7000`, resolved by Docker's DNS on dc j's
  network) and hub i's `--peer dcj=` is the Toxiproxy container's address on dc i's network;
  Docker isolates bridge networks from each other, so nothing else crosses DCs;
- proxy `i->j` listens only on Toxiproxy's address on dc i's network, so a dc i container cannot
  use the proxy of another pair either;
- the harness reaches access nodes, hubs (admin) and the Toxiproxy API through ports published on
  127.0.0.1 (chosen by the harness, so a restarted container keeps its port);
- every container and network is labelled `imfault.run=<run id>` and removed by id in `stop()`;
  `clean_leftovers()` removes what earlier runs left (`imfault clean`), sparing runs whose
  harness process (label `imfault.harness_pid`) still lives.
Hub data (SQLite, event log) lives in `work_dir/<node>/`, bind-mounted at `/data`, so it
survives `docker kill` + `docker start` and the harness reads event logs directly; nodes run as
the harness's uid:gid, so those files belong to the harness's user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._procs import free_port
from .._signals import teardown_shield
from ..errors import SetupError, UsageError
from ..seams import Wan
from ._base import Backend, ClusterSpec, NodeInfo, NodeRef, run_coroutine_sync
from ._docker_engine import HARNESS_PID_LABEL, RUN_LABEL, docker_client, remove_labelled
from ._docker_images import Images, ensure_images
from ._docker_netfaults import cut_from_hub, rejoin_hub

__all__ = ["DockerBackend", "clean_leftovers"]

NODE_PORT = 7000
TOXIPROXY_API_PORT = 8474
HOST = "127.0.0.1"
PARALLEL_API_CALLS = 6
PORT_ATTEMPTS = 3
PORT_TAKEN_MARKERS = ("address already in use", "port is already allocated")


def clean_leftovers(include_live: bool = False) -> dict[str, int]:
    """Remove the containers and networks labelled `imfault.run` of every earlier run whose
    harness process is gone (all of them with `include_live`); return counts removed."""
    client = docker_client()
    try:
        return remove_labelled(client, include_live=include_live)
    finally:
        client.close()


@dataclass
class _Container:
    name: str  # node name (`dc1-hub`) or `toxiproxy`
    container_name: str
    container_id: str


class DockerBackend(Backend):
    """A cluster of containers. `run_id` names and labels its resources (default: random)."""

    name = "docker"
    health_timeout_s = 2.0  # one admin status attempt while waiting for a node to be healthy
    runs_imcluster = True  # needs the node image (not a backend of another system under test)

    def __init__(self, run_id: str | None = None, ready_timeout_s: float = 60.0) -> None:
        super().__init__()
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self.ready_timeout_s = ready_timeout_s
        self.images: Images | None = None
        self.toxiproxy_addresses: dict[str, str] = {}  # dc -> Toxiproxy's IP on that DC network
        self._client: Any = None
        self._wan: Any = None
        self._nodes: list[NodeInfo] = []
        self._containers: dict[str, _Container] = {}
        self._networks: dict[str, str] = {}  # dc -> network id
        self._links: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ names
    def _resource_name(self, suffix: str) -> str:
        return f"imfault-{self.run_id}-{suffix}"

    def _labels(self, **extra: str) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, HARNESS_PID_LABEL: str(os.getpid()),
                **{f"imfault.{k}": v for k, v in extra.items()}}

    # ------------------------------------------------------------------ life cycle
    def start(self, spec: ClusterSpec) -> None:
        self.spec = spec
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        self._client = docker_client()
        try:
            self.images = ensure_images(self._client, node=self.runs_imcluster)
            for dc in spec.dc_names:
                self._networks[dc] = self._create_network(dc)
            self._write_resources()
            self._start_toxiproxy(spec)
            self._start_nodes(spec)
            self._wait_all_healthy()
        except BaseException:
            self.stop()
            raise

    def _create_network(self, dc: str) -> str:
        """Create dc's network; when Docker's address pools are used up, remove the leftovers of
        dead runs once and retry. Returns the network id."""
        from docker.errors import APIError  # type: ignore[import-untyped]

        for attempt in range(2):
            try:
                network = self._client.networks.create(
                    self._resource_name(dc), labels=self._labels(dc=dc), check_duplicate=True,
                    **self._network_options(),
                )
                return str(network.id)
            except APIError as exc:
                if "address pool" not in str(exc).lower():
                    raise
                if attempt == 1:
                    raise SetupError(
                        f"Docker has no free address pool for another network ({exc}); run "
                        "`imfault clean`, remove unused networks (`docker network prune`), or give "
                        "dockerd more `default-address-pools` in /etc/docker/daemon.json"
                    ) from exc
                remove_labelled(self._client, include_live=False)
        raise AssertionError("unreachable")

    def _network_options(self) -> dict[str, Any]:
        """Driver options of a DC network (the swarm backend makes attachable overlays)."""
        return {"driver": "bridge"}

    def _write_resources(self) -> None:
        assert self.spec is not None
        record = {"backend": "docker", "run_id": self.run_id,
                  "containers": {c.name: c.container_id for c in self._containers.values()},
                  "networks": self._networks}
        (self.spec.work_dir / "docker.json").write_text(json.dumps(record, indent=2) + "\n")

    def _create(self, name: str, image: str, dc: str, command: list[str], port: int,
                container_port: int, **kwargs: Any) -> Any:
        container_name = self._resource_name(name)
        container = self._client.containers.create(
            image, command=command, name=container_name, hostname=name, detach=True,
            labels=self._labels(node=name, dc=dc), network=self._resource_name(dc),
            ports={f"{container_port}/tcp": (HOST, port)}, **kwargs,
        )
        with self._lock:
            self._containers[name] = _Container(name, container_name, container.id)
            self._write_resources()
        return container

    def _launch(self, name: str, image: str, dc: str, command: list[str], container_port: int,
                before_start: Callable[[Any], None] | None = None,
                **kwargs: Any) -> tuple[Any, int]:
        """Create and start a container publishing `container_port` on a free loopback port;
        when another process took that port meanwhile, retry with a new one. Returns
        (container, host port)."""
        from docker.errors import APIError  # type: ignore[import-untyped]

        for attempt in range(PORT_ATTEMPTS):
            port = free_port()
            container = self._create(name, image, dc, command, port, container_port, **kwargs)
            if before_start is not None:
                before_start(container)
            try:
                container.start()
                return container, port
            except APIError as exc:
                text = str(exc).lower()
                if attempt + 1 == PORT_ATTEMPTS or not any(
                        marker in text for marker in PORT_TAKEN_MARKERS):
                    raise
                container.remove(force=True)
                with self._lock:
                    del self._containers[name]
        raise AssertionError("unreachable")

    def _start_toxiproxy(self, spec: ClusterSpec) -> None:
        from .._toxiproxy import Wan as ToxiproxyWan

        assert self.images is not None
        dcs = spec.dc_names
        command = ["-host", "0.0.0.0", "-port", str(TOXIPROXY_API_PORT), "-seed", str(spec.seed)]

        def join_every_dc(container: Any) -> None:
            for dc in dcs[1:]:
                self._client.networks.get(self._networks[dc]).connect(container.id)

        container, api_port = self._launch("toxiproxy", self.images.toxiproxy, dcs[0], command,
                                           TOXIPROXY_API_PORT, before_start=join_every_dc)
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        self.toxiproxy_addresses = {dc: networks[self._resource_name(dc)]["IPAddress"]
                                    for dc in dcs}
        self._wait_toxiproxy_api(api_port)
        self._wan = ToxiproxyWan(HOST, api_port, dcs)
        self._links = self._wan.create_links(
            self._wan_upstreams(dcs), spec.wan_latency_ms, spec.wan_jitter_ms,
            listen_hosts=self.toxiproxy_addresses,
        )

    def _wan_upstreams(self, dcs: list[str]) -> dict[str, str]:
        """{dc: what the proxies towards dc forward to} (the DC's hub; another system's
        backend names its own node and port)."""
        return {dc: f"{self._resource_name(f'{dc}-hub')}:{NODE_PORT}" for dc in dcs}

    def _wait_toxiproxy_api(self, api_port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{api_port}/version", timeout=2):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise SetupError(f"the Toxiproxy container's API did not answer on "
                                     f"{HOST}:{api_port} ({exc}):\n{self._log_tail('toxiproxy')}"
                                     ) from exc
                time.sleep(0.1)

    def peer_address(self, src: str, dst: str) -> str:
        """What src's hub dials for dst: Toxiproxy's address on src's network, proxy src->dst."""
        port = self._links[(src, dst)].rsplit(":", 1)[1]
        return f"{self.toxiproxy_addresses[src]}:{port}"

    def _hub_command(self, spec: ClusterSpec, index: int, dc: str) -> list[str]:
        """The `imcluster hub` arguments of dc's hub (the `index`-th DC): data in /data, peers
        through Toxiproxy."""
        command = ["hub", "--dc", dc, "--listen", f"0.0.0.0:{NODE_PORT}",
                   "--db", "/data/hub.db", "--event-log", "/data/events.jsonl",
                   "--gossip", spec.gossip, "--gossip-interval", f"{spec.gossip_interval_ms:g}",
                   "--gossip-fanout", str(spec.gossip_fanout),
                   "--delivery", spec.delivery, "--seed", str(spec.seed * 1000 + index)]
        for peer in spec.dc_names:
            if peer != dc:
                command += ["--peer", f"{peer}={self.peer_address(dc, peer)}"]
        for bug in spec.bugs:
            command += ["--bug", bug]
        return command

    def _access_command(self, dc: str, name: str) -> list[str]:
        """The `imcluster access` arguments of access node `name` of `dc`."""
        return ["access", "--dc", dc, "--node", name, "--listen", f"0.0.0.0:{NODE_PORT}",
                "--hub", f"{self._resource_name(f'{dc}-hub')}:{NODE_PORT}"]

    @staticmethod
    def _access_names(spec: ClusterSpec) -> list[tuple[str, str]]:
        """(dc, node name) of every access node, in DC order."""
        return [(dc, f"{dc}-a{k}") for dc in spec.dc_names
                for k in range(1, spec.access_per_dc + 1)]

    def _start_nodes(self, spec: ClusterSpec) -> None:
        """Create and start every hub, then every access node, several at a time."""
        assert self.images is not None
        env = {"IMCLUSTER_SECRET": spec.secret}
        hubs: list[tuple[NodeInfo, list[str], dict[str, Any]]] = []
        for index, dc in enumerate(spec.dc_names):
            name = f"{dc}-hub"
            data_dir = (spec.work_dir / name).resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            hubs.append((NodeInfo(name, dc, "hub", HOST, 0), self._hub_command(spec, index, dc),
                         {"volumes": {str(data_dir): {"bind": "/data", "mode": "rw"}}}))
        accesses: list[tuple[NodeInfo, list[str], dict[str, Any]]] = [
            (NodeInfo(name, dc, "access", HOST, 0), self._access_command(dc, name), {})
            for dc, name in self._access_names(spec)]
        for group in (hubs, accesses):

            def launch(item: tuple[NodeInfo, list[str], dict[str, Any]]) -> NodeInfo:
                info, command, extra = item
                _, port = self._launch(info.name, self.images.node,  # type: ignore[union-attr]
                                       info.dc, command, NODE_PORT, environment=env,
                                       user=f"{os.getuid()}:{os.getgid()}", **extra)
                return NodeInfo(info.name, info.dc, info.role, HOST, port)

            # Leaving the `with` (also on KeyboardInterrupt) waits for every launch, so stop()
            # sees every container that was created.
            with ThreadPoolExecutor(max_workers=PARALLEL_API_CALLS) as pool:
                self._nodes += list(pool.map(launch, group))

    def _wait_all_healthy(self) -> None:
        async def wait_all() -> None:
            await asyncio.gather(*(self._wait_healthy(n) for n in self._nodes))

        run_coroutine_sync(wait_all())

    probe_what = "admin status"

    async def _probe(self, node: NodeInfo) -> None:
        """One health probe of a node: an imcluster admin status (raises when unanswered)."""
        await self.admin_status(node, timeout=self.health_timeout_s)

    async def _wait_healthy(self, node: NodeInfo) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            try:
                await self._probe(node)
                return
            except Exception as exc:
                exited = self._exit_code(node.name)
                if exited is not None or time.monotonic() > deadline:
                    why = (f"exited with code {exited}" if exited is not None else
                           f"did not answer {self.probe_what} within {self.ready_timeout_s:g}s")
                    raise SetupError(
                        f"{node.name} (container {self._resource_name(node.name)}, "
                        f"{node.address}) {why} ({exc!r}); its log:\n{self._log_tail(node.name)}"
                    ) from exc
                await asyncio.sleep(0.2)

    def _exit_code(self, name: str) -> int | None:
        """The exit code of a node's container that has stopped, None while it runs."""
        container = self._container(name)
        container.reload()
        if container.status in ("exited", "dead"):
            return int(container.attrs["State"]["ExitCode"])
        return None

    def stop(self) -> None:
        """Remove this run's containers and networks by id, then whatever else carries its label.

        Every removal is tried even when another one failed; the failures are then raised
        together as one `SetupError` (`imfault clean` removes what is left by label). Signals
        cannot interrupt it (`teardown_shield`). Idempotent."""
        client = self._client
        if client is None:
            return
        with teardown_shield():
            try:
                errors = self._remove_all(client)
            finally:
                self._containers.clear()
                self._networks.clear()
                self._nodes = []
                client.close()
                self._client = None
        if errors:
            raise SetupError(f"removing docker run {self.run_id} failed for {'; '.join(errors)}; "
                             "`imfault clean` removes what is left")

    def _remove_all(self, client: Any) -> list[str]:
        from docker.errors import APIError, NotFound  # type: ignore[import-untyped]

        if self._wan is not None:
            with contextlib.suppress(Exception):  # the container goes away anyway
                self._wan.close()
            self._wan = None

        def remove_container(container: _Container) -> str | None:
            try:
                with contextlib.suppress(NotFound):
                    client.containers.get(container.container_id).remove(force=True, v=True)
            except Exception as exc:  # noqa: BLE001 - remove the others, then report
                return f"container {container.container_name}: {type(exc).__name__}: {exc}"
            return None

        with ThreadPoolExecutor(max_workers=PARALLEL_API_CALLS) as pool:
            errors = [e for e in pool.map(remove_container, list(self._containers.values())) if e]
        for network_id in self._networks.values():
            with contextlib.suppress(NotFound, APIError):  # APIError: still in use, see below
                client.networks.get(network_id).remove()
        # Whatever was created but not recorded (an interrupted create) carries the label.
        try:
            remove_labelled(client, self.run_id)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            errors.append(f"labelled resources: {type(exc).__name__}: {exc}")
        return errors

    # ------------------------------------------------------------------ topology
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes)

    @property
    def wan(self) -> Wan:
        if self._wan is None:
            raise SetupError("the docker cluster has not been started")
        return self._wan

    def container_name(self, node: NodeRef | str) -> str:
        """Docker's name of a node's (or `toxiproxy`'s) container."""
        name = node if isinstance(node, str) else node.name
        try:
            return self._containers[name].container_name
        except KeyError:
            raise UsageError(f"unknown node {name!r}") from None

    def _container(self, node: NodeRef | str) -> Any:
        name = node if isinstance(node, str) else node.name
        if name not in self._containers or self._client is None:
            raise UsageError(f"unknown node {name!r}; nodes: {sorted(self._containers)}")
        return self._client.containers.get(self._containers[name].container_id)

    # ------------------------------------------------------------------ process faults
    def kill(self, node: NodeRef) -> None:
        container = self._container(self.node(node).name)
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status != "exited":
            container.kill(signal="SIGKILL")
        container.wait(timeout=30)

    def restart(self, node: NodeRef) -> None:
        info = self.node(node)
        container = self._container(info.name)
        container.reload()
        if container.status in ("running", "paused"):
            self.kill(info)
        container.start()
        run_coroutine_sync(self._wait_healthy(info))

    def pause(self, node: NodeRef) -> None:
        self._container(self.node(node).name).pause()

    def resume(self, node: NodeRef) -> None:
        """Unpause the node's container; a no-op when it is not paused (like SIGCONT to a
        running process), e.g. when a kill took it down while it was paused."""
        container = self._container(self.node(node).name)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def is_running(self, node: NodeRef) -> bool:
        container = self._container(self.node(node).name)
        container.reload()
        return str(container.status) in ("running", "paused")

    def isolate_node(self, node: NodeRef) -> None:
        """Cut an access node from its hub (blackhole; clients still reach it): the docker-only
        `partition-node` fault. Undone by `rejoin_node` or by restarting the node."""
        info = self._access_node(node)
        cut_from_hub(self._init_pid(info.name), NODE_PORT)

    def rejoin_node(self, node: NodeRef) -> None:
        """Undo `isolate_node` (idempotent; a node that is not running has nothing to undo)."""
        info = self._access_node(node)
        container = self._container(info.name)
        container.reload()
        if container.status == "running":
            rejoin_hub(self._init_pid(info.name), NODE_PORT)

    def _access_node(self, node: NodeRef) -> NodeInfo:
        info = self.node(node)
        if info.role != "access":
            raise UsageError(f"only access nodes can be cut from their hub, not {info.name}")
        return info

    def _init_pid(self, name: str) -> int:
        container = self._container(name)
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        if container.status != "running" or pid <= 0:
            raise SetupError(f"{name} is not running ({container.status})")
        return pid

    def pids(self) -> dict[str, int]:
        """The docker backend starts no host processes of its own: always `{}` (containers are
        found by their `imfault.run` label instead)."""
        return {}

    # ------------------------------------------------------------------ results
    def _log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return bytes(self._container(name).logs(tail=lines)).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - best effort, for error messages
            return f"(no log: {exc})"

    def collect(self, run_dir: Path) -> dict[str, Path]:
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self._containers:
            data = bytes(self._container(name).logs(stdout=True, stderr=True))
            (logs / f"{name}.log").write_bytes(data)
        assert self.spec is not None
        return {n.dc: (self.spec.work_dir / n.name / "events.jsonl").resolve()
                for n in self._nodes if n.role == "hub"}
