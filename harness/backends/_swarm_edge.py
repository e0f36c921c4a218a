"""The swarm backend's edge: how the harness reaches services without opening a path between DCs.

Swarm can publish a service's port only on every interface of a node (ingress or host mode), and
such a port is reachable from every container too (through the host's docker-proxy): dc1's hub
could reach dc2's hub around Toxiproxy. So services publish nothing. Instead one standalone
container on the manager, the edge (the Toxiproxy image used as a plain TCP forwarder, no
toxics), is attached to every DC overlay (they are attachable) and to the default bridge, and
forwards one port per service: each forward listens only on the edge's bridge address and is
published on 127.0.0.1, exactly like the docker backend's ports. Docker isolates the default
bridge from the overlays' gateway bridge, so no DC container reaches a forward (checked by
`SwarmBackend.verify_isolation`).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from .._procs import free_port

__all__ = ["EDGE_API_PORT", "FIRST_FORWARD_PORT", "add_forwards", "create_edge"]

EDGE_API_PORT = 8474
FIRST_FORWARD_PORT = 20000
HOST = "127.0.0.1"


def create_edge(client: Any, image: str, name: str, labels: dict[str, str],
                networks: list[str], forwards: int) -> tuple[Any, int, list[int]]:
    """Create and start the edge container with `forwards` forward ports; returns (container,
    host port of its API, host port of each forward in order)."""
    api_port = free_port()
    host_ports = [free_port() for _ in range(forwards)]
    ports: dict[str, tuple[str, int]] = {f"{EDGE_API_PORT}/tcp": (HOST, api_port)}
    for index, port in enumerate(host_ports):
        ports[f"{FIRST_FORWARD_PORT + index}/tcp"] = (HOST, port)
    container = client.containers.create(
        image, command=["-host", "0.0.0.0", "-port", str(EDGE_API_PORT)], name=name,
        hostname="edge", detach=True, labels=labels, network="bridge", ports=ports,
        environment={"LOG_LEVEL": "warn"},  # not a trace line per forwarded chunk
    )
    for network in networks:  # one at a time: one container's endpoints change together
        client.networks.get(network).connect(container.id)
    container.start()
    return container, api_port, host_ports


def add_forwards(container: Any, api_port: int, upstreams: list[tuple[str, str]]) -> str:
    """Forward port FIRST_FORWARD_PORT + i on the edge's bridge address to `upstreams[i]`
    (`(name, "host:port")`), through the edge's API (already answering on `api_port`); returns
    that bridge address."""
    container.reload()
    bridge_ip = container.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    proxies = [{"name": name, "listen": f"{bridge_ip}:{FIRST_FORWARD_PORT + index}",
                "upstream": upstream, "enabled": True}
               for index, (name, upstream) in enumerate(upstreams)]
    request = urllib.request.Request(
        f"http://{HOST}:{api_port}/populate", data=json.dumps(proxies).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return str(bridge_ip)
