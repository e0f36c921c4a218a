"""A docker backend for a system whose nodes are one server container per DC.

`ContainerBackend` is `DockerBackend` (one network per DC; the Toxiproxy container, joined to every
DC network, the only path between DCs; every container and network labelled with the run and
removed by id on exit, error and Ctrl-C; kill/pause/restart by container) with one server
container per DC instead of imcluster's hub and access nodes. A subclass gives `build_image`
(on the project's base image: `_docker_images.ensure_system_image`), the ports its server
listens on inside the container (`client_port`, `wan_port`, `listen_ports`), `command` (writes
the DC's config into its data directory, bind-mounted at `/data`), `ready` (one protocol-level
probe: a published port accepts TCP even when nothing listens behind it) and optionally
`wait_linked`.

Link verification (`bypasses`): each server container must be attached to its own DC's network
only (Docker isolates bridge networks from each other), and each established TCP connection it
opened (its `/proc/net/tcp`, read inside the container) must go to Toxiproxy's address on that
network: a peer address a system gossips cannot be reached around the WAN, and one that were
would be named.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..backends._base import ClusterSpec, NodeInfo, NodeRef
from ..backends.docker import HOST, PARALLEL_API_CALLS, DockerBackend
from ..errors import SetupError, UsageError
from ._links import established_sockets

__all__ = ["ContainerBackend"]

_LOOPBACK = ("127.", "::1")


class ContainerBackend(DockerBackend):
    """One server container per DC behind Toxiproxy (see the module docstring)."""

    runs_imcluster = False
    node_suffix = "server"
    client_port = 0
    """The port clients use inside the container (published on 127.0.0.1)."""
    wan_port = 0
    """The port peer DCs dial inside the container (what the proxies towards this DC forward to)."""
    listen_ports: tuple[int, ...] = ()
    """Every port the server listens on inside the container."""

    def __init__(self, run_id: str | None = None, ready_timeout_s: float = 60.0) -> None:
        super().__init__(run_id, ready_timeout_s)
        self.system_image = ""

    # what a system gives ------------------------------------------------------------------
    @abstractmethod
    def build_image(self) -> str:
        """The server image's tag (built on the base image unless cached; `SetupError` saying
        what to install when it cannot be)."""

    @abstractmethod
    def command(self, info: NodeInfo, data_dir: Path, peers: dict[str, str]) -> list[str]:
        """The container's arguments; `data_dir` (the host directory mounted at `/data`) takes
        the config; `peers`: {peer dc: "host:port" of the proxy dc->peer, to dial for it}."""

    @abstractmethod
    async def ready(self, node: NodeInfo) -> None:
        """Return when the server answers its own protocol on the published port; raise if not."""

    def wait_linked(self) -> None:
        """Return once the inter-DC links are up (default: at once)."""

    # life cycle ---------------------------------------------------------------------------
    def _node_name(self, dc: str) -> str:
        return f"{dc}-{self.node_suffix}"

    def _wan_upstreams(self, dcs: list[str]) -> dict[str, str]:
        return {dc: f"{self._resource_name(self._node_name(dc))}:{self.wan_port}" for dc in dcs}

    def _start_nodes(self, spec: ClusterSpec) -> None:
        self.system_image = self.build_image()
        items = []
        for dc in spec.dc_names:
            info = NodeInfo(self._node_name(dc), dc, "hub", HOST, 0)
            data_dir = (spec.work_dir / info.name).resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            peers = {peer: self.wan.link_address(dc, peer) for peer in spec.dc_names if peer != dc}
            items.append((info, self.command(info, data_dir, peers), data_dir))

        def launch(item: tuple[NodeInfo, list[str], Path]) -> NodeInfo:
            info, command, data_dir = item
            _, port = self._launch(info.name, self.system_image, info.dc, command,
                                   self.client_port, user=f"{os.getuid()}:{os.getgid()}",
                                   volumes={str(data_dir): {"bind": "/data", "mode": "rw"}})
            return NodeInfo(info.name, info.dc, info.role, HOST, port)

        # leaving the `with` (also on KeyboardInterrupt) waits for every launch, so that stop()
        # sees every container that was created
        with ThreadPoolExecutor(max_workers=PARALLEL_API_CALLS) as pool:
            self._nodes += list(pool.map(launch, items))

    def _wait_all_healthy(self) -> None:
        super()._wait_all_healthy()
        self.wait_linked()

    probe_what = "its own protocol"

    async def _probe(self, node: NodeInfo) -> None:
        await self.ready(node)

    def log_text(self, node: NodeRef) -> str:
        """The container's whole log (stdout and stderr)."""
        return bytes(self._container(self.node(node).name).logs()).decode("utf-8", "replace")

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None:
        raise UsageError("this system has no clock offset to set: the clock-skew nemesis does "
                         "not apply to it")

    def access_addresses(self) -> dict[str, list[tuple[str, int]]]:
        """Clients connect to their DC's server."""
        return {n.dc: [(n.host, n.port)] for n in self._nodes}

    def collect(self, run_dir: Path) -> dict[str, Path]:
        """The containers' logs into `run_dir/logs`; no event logs."""
        super().collect(run_dir)
        return {}

    # link verification --------------------------------------------------------------------
    def bypasses(self) -> list[str]:
        """Inter-DC connections that do not go through Toxiproxy (module docstring), each as
        `"src->dst: how"`; empty when every server is on its own DC's network only and every
        connection it opened goes to Toxiproxy's address on that network."""
        from docker.errors import APIError  # type: ignore[import-untyped]

        found: set[str] = set()
        owner: dict[str, str] = {}  # a server's IP on any network -> its DC
        running = []
        for node in self._nodes:
            container = self._container(node.name)
            container.reload()
            networks = container.attrs["NetworkSettings"]["Networks"] or {}
            for network, settings in networks.items():
                owner[settings.get("IPAddress") or ""] = node.dc
                if network != self._resource_name(node.dc):
                    other = next((dc for dc in self._networks
                                  if self._resource_name(dc) == network), "?")
                    found.add(f"{node.dc}->{other}: {node.name} is attached to network "
                              f"{network} as well as its own DC's")
            if container.status == "running":
                running.append((node, container))
        for node, container in running:
            try:
                code, output = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
            except APIError as exc:  # 409: it stopped since (a kill nemesis)
                code, output = -1, str(exc).encode()
            if code != 0:
                if self._container(node.name).status != "running":
                    continue  # killed meanwhile: nothing of it is connected
                raise SetupError(f"reading {node.name}'s connections failed (exit {code}): "
                                 f"{bytes(output)[-300:]!r}")
            proxy = self.toxiproxy_addresses[node.dc]
            for _, local, remote in established_sockets([bytes(output).decode()]):
                if local[1] in self.listen_ports or remote[0] == proxy \
                        or remote[0].startswith(_LOOPBACK) or owner.get(remote[0]) == node.dc:
                    continue  # accepted, through the WAN, or within its own container
                other = owner.get(remote[0], "?")
                found.add(f"{node.dc}->{other}: {node.name} is connected to "
                          f"{remote[0]}:{remote[1]} directly, not through the WAN (Toxiproxy is "
                          f"{proxy} on its network)")
        return sorted(found)
