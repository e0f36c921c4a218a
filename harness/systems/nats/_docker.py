"""nats-server in containers: one site (a one-server cluster) per DC, each on its own DC network,
gateways through the Toxiproxy container (`--system nats --backend docker`).

The image is the project's base image with the harness's `nats-server` (v2.14.9, built by
scripts/bootstrap with `go install`; `Dockerfile.nats`). The server's config is the local
backend's (`server_config`) listening on every address of the container; its gateways dial the
proxies. NATS gateways gossip their real addresses; here those are addresses on another DC's
network, which Docker does not route to: isolation needs no root and no firewall rule of ours.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ...backends._base import NodeInfo
from ...backends._docker_images import ensure_system_image
from ...errors import SetupError
from .._containers import ContainerBackend
from .._procbackend import NodePlan
from ._local import NATS_VERSION, find_nats_server, server_config

__all__ = ["NatsDockerBackend"]

CLIENT_PORT, ROUTE_PORT, GATEWAY_PORT = 4222, 6222, 7222


class NatsDockerBackend(ContainerBackend):
    """One nats-server container per DC (see the module docstring)."""

    node_suffix = "server"
    client_port = CLIENT_PORT
    wan_port = GATEWAY_PORT
    listen_ports = (CLIENT_PORT, ROUTE_PORT, GATEWAY_PORT)

    def build_image(self) -> str:
        return ensure_system_image(
            self._client, "nats", {"nats-server": Path(find_nats_server())},
            hint=f"the image copies the harness's nats-server ({NATS_VERSION}, scripts/bootstrap "
                 "builds it with go install)")

    def command(self, info: NodeInfo, data_dir: Path, peers: dict[str, str]) -> list[str]:
        plan = NodePlan(CLIENT_PORT, GATEWAY_PORT, (ROUTE_PORT,))
        (data_dir / "nats-server.conf").write_text(
            server_config(info.dc, plan, "/data/js", peers, host="0.0.0.0"))
        return ["-c", "/data/nats-server.conf"]

    async def ready(self, node: NodeInfo) -> None:
        from ._client import _connect

        async def quiet(exc: Exception) -> None:  # nats-py logs every failed attempt otherwise
            await asyncio.sleep(0)

        nc = await _connect(node.host, node.port, error_cb=quiet)
        await nc.close()

    def wait_linked(self) -> None:
        """Until every server reports a JetStream meta leader (the gateways are up)."""
        deadline = time.monotonic() + max(self.ready_timeout_s, 40.0)
        for info in self.nodes():
            while "metadata leader" not in self.log_text(info):
                if time.monotonic() > deadline:
                    raise SetupError(f"{info.name} found no JetStream meta leader (gateways "
                                     f"down?); its log:\n{self._log_tail(info.name)}")
                time.sleep(0.2)
