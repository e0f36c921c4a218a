"""Mosquitto brokers in containers: one broker per DC, each on its own DC network, bridges
through the Toxiproxy container (`--system mosquitto --backend docker`).

The image is the project's base image with Debian's `mosquitto` package (`Dockerfile.mosquitto`:
`apt-get install mosquitto` from the Debian mirror the base image was bootstrapped from). The
broker's config is the local backend's (`broker_config`) listening on every address of the
container, persistence in `/data` (the run's work directory, bind-mounted); its bridges dial the
proxies.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ...backends._base import NodeInfo
from ...backends._docker_images import ensure_system_image
from .._containers import ContainerBackend
from ._client import bridge_states
from ._local import bridges_down, broker_config, wait_bridges

__all__ = ["MosquittoDockerBackend"]

MQTT_PORT = 1883


class MosquittoDockerBackend(ContainerBackend):
    """One mosquitto container per DC (see the module docstring)."""

    node_suffix = "broker"
    client_port = wan_port = MQTT_PORT
    listen_ports = (MQTT_PORT,)

    def build_image(self) -> str:
        return ensure_system_image(
            self._client, "mosquitto", {},
            hint="the image installs Debian's mosquitto with apt-get from the Debian mirror in "
                 "the base image's /etc/apt/sources.list: containers must reach it (or build the "
                 "base image from a reachable mirror: IMFAULT_DEBIAN_MIRROR)")

    def command(self, info: NodeInfo, data_dir: Path, peers: dict[str, str]) -> list[str]:
        (data_dir / "mosquitto.conf").write_text(
            broker_config(info.dc, MQTT_PORT, Path("/data"), peers, host=None))
        return ["-c", "/data/mosquitto.conf"]

    async def ready(self, node: NodeInfo) -> None:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: bridge_states(node.host, node.port, wait_s=0.0, timeout=2.0))

    def wait_linked(self) -> None:
        wait_bridges(self, max(self.ready_timeout_s, 40.0), "the containers' logs")

    def bridges_down(self) -> list[str]:
        return bridges_down(self)
