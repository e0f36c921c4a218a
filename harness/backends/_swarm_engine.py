"""Talking to a Docker Swarm: its nodes, where each DC goes, the engines of the nodes, images on
every node, and removal of labelled swarm resources (the swarm backend's private helpers).

- `swarm_nodes(client)`: the active, ready nodes of the swarm the engine manages (`SetupError`
  saying how to make one when the engine is no swarm manager);
- `plan_placement(nodes, dcs)`: dc -> node, by the node label `imfault.dc=<dc>` when any node
  carries one, otherwise spread round-robin (a DC's nodes stay on one host);
- `Engines`: the engine of each node: the manager's own client for the local node, else the
  docker-py URL in the node label `imfault.engine` (`ssh://user@host`, `tcp://host:2376`);
- `load_images(...)`: images built on the manager are loaded on every other node that lacks them;
- `remove_swarm_labelled(client, run_id)`: services, secrets and configs labelled `imfault.run`,
  then containers, networks (once no task holds them) and volumes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import SetupError
from ._docker_engine import RUN_LABEL, _harness_alive, remove_labelled

__all__ = [
    "DC_LABEL",
    "ENGINE_LABEL",
    "SWARM_HINT",
    "Engines",
    "SwarmNode",
    "load_images",
    "plan_placement",
    "remove_swarm_labelled",
    "swarm_manager",
    "swarm_nodes",
]

DC_LABEL = "imfault.dc"
ENGINE_LABEL = "imfault.engine"
LOCAL_HOST = "127.0.0.1"
SWARM_HINT = ("make this engine a swarm manager: `docker swarm init --advertise-addr <this host's "
              "address>` (docs/swarm.md says how to join more hosts)")
GONE_TIMEOUT_S = 60.0
PARALLEL_REMOVALS = 6


@dataclass(frozen=True)
class SwarmNode:
    """One swarm node: `addr` is its swarm address, `host` where the harness reaches the ports
    its tasks publish (127.0.0.1 for the manager the harness talks to)."""

    id: str
    hostname: str
    addr: str
    local: bool
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def host(self) -> str:
        return LOCAL_HOST if self.local else self.addr


def swarm_manager(client: Any) -> str:
    """The local node id when the engine is an active swarm manager; `SetupError` otherwise."""
    swarm = client.info().get("Swarm") or {}
    state = swarm.get("LocalNodeState", "inactive")
    if state != "active" or not swarm.get("ControlAvailable"):
        role = "a worker" if state == "active" else f"swarm state {state!r}"
        raise SetupError(f"--backend swarm needs a swarm manager, but this Docker engine is {role};"
                         f" {SWARM_HINT}")
    return str(swarm["NodeID"])


def swarm_nodes(client: Any) -> list[SwarmNode]:
    """The swarm's active, ready nodes, the local one first, then by hostname."""
    local_id = swarm_manager(client)
    nodes = []
    for node in client.nodes.list():
        attrs = node.attrs
        if attrs["Spec"].get("Availability") != "active" or attrs["Status"].get("State") != "ready":
            continue
        nodes.append(SwarmNode(str(node.id), str(attrs["Description"]["Hostname"]),
                               str(attrs["Status"].get("Addr", "")), node.id == local_id,
                               dict(attrs["Spec"].get("Labels") or {})))
    return sorted(nodes, key=lambda n: (not n.local, n.hostname))


def plan_placement(nodes: list[SwarmNode], dcs: list[str]) -> dict[str, SwarmNode]:
    """dc -> the node that runs its hub and access nodes (see the module doc)."""
    if not nodes:
        raise SetupError("the swarm has no active, ready node")
    labelled: dict[str, SwarmNode] = {}
    for node in nodes:
        dc = node.labels.get(DC_LABEL)
        if dc:
            labelled.setdefault(dc, node)
    if not labelled:
        return {dc: nodes[i % len(nodes)] for i, dc in enumerate(dcs)}
    missing = [dc for dc in dcs if dc not in labelled]
    if missing:
        raise SetupError(f"swarm nodes carry `{DC_LABEL}` labels ({sorted(labelled)}) but none for "
                         f"{missing}: label a node per DC (`docker node update --label-add "
                         f"{DC_LABEL}=<dc> <node>`) or remove the labels to spread the DCs")
    return {dc: labelled[dc] for dc in dcs}


class Engines:
    """The Docker engine of each swarm node (opened once, closed by `close`)."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self._clients: dict[str, Any] = {}

    def of(self, node: SwarmNode) -> Any:
        """A docker-py client of `node`'s engine; `SetupError` when it has none or it is down."""
        if node.local:
            return self.manager
        if node.id in self._clients:
            return self._clients[node.id]
        url = node.labels.get(ENGINE_LABEL)
        if not url:
            raise SetupError(
                f"swarm node {node.hostname} ({node.addr}) gets tasks but has no `{ENGINE_LABEL}` "
                "label: kill, pause and collecting event logs need its engine; add one "
                f"(`docker node update --label-add {ENGINE_LABEL}=ssh://root@{node.addr} "
                f"{node.hostname}`) or keep tasks off it (label DC nodes with `{DC_LABEL}`)")
        import docker  # type: ignore[import-untyped]

        try:
            client = docker.DockerClient(base_url=url, use_ssh_client=url.startswith("ssh://"),
                                         timeout=60)
            client.ping()
        except Exception as exc:
            raise SetupError(f"the engine of swarm node {node.hostname} at {url} does not answer "
                             f"({exc}); fix its `{ENGINE_LABEL}` label or its access") from exc
        self._clients[node.id] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def load_images(engines: Engines, nodes: Iterable[SwarmNode], tags: list[str]) -> None:
    """Load each image of `tags` from the manager's engine into every other node lacking it (the
    registry-free way; docs/swarm.md also shows a registry service)."""
    from docker.errors import ImageNotFound  # type: ignore[import-untyped]

    for node in {n.id: n for n in nodes if not n.local}.values():
        engine = engines.of(node)
        for tag in tags:
            try:
                engine.images.get(tag)
            except ImageNotFound:
                try:
                    engine.images.load(engines.manager.images.get(tag).save(named=True))
                except Exception as exc:
                    raise SetupError(f"loading image {tag} on swarm node {node.hostname} failed "
                                     f"({exc})") from exc


def _remove_containers(engine: Any, label: str) -> None:
    """Force-remove the containers carrying `label`, several at a time (the tasks of removed
    services: swarm would remove them too, but only after seconds)."""
    from docker.errors import APIError  # type: ignore[import-untyped]

    def remove(container: Any) -> None:
        with contextlib.suppress(APIError):  # gone already, or being removed: swept below
            container.remove(force=True, v=True)

    found = engine.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    with ThreadPoolExecutor(max_workers=PARALLEL_REMOVALS) as pool:
        list(pool.map(remove, found))


def _remove_labelled_when_free(engine: Any, run_id: str | None, include_live: bool
                               ) -> dict[str, int]:
    """`remove_labelled`, retried while a network is still held by a task being torn down."""
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while True:
        try:
            return remove_labelled(engine, run_id, include_live=include_live)
        except SetupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_networks_gone(engine: Any, label: str, errors: list[str]) -> None:
    """Removing an overlay returns before the swarm has let go of it: wait (bounded) until no
    network carrying `label` is listed, removing again what is still there."""
    from docker.errors import APIError  # type: ignore[import-untyped]

    deadline = time.monotonic() + GONE_TIMEOUT_S
    while networks := engine.networks.list(filters={"label": label}):
        if time.monotonic() > deadline:
            errors.append(f"networks still there: {sorted(n.name for n in networks)}")
            return
        for network in networks:
            with contextlib.suppress(APIError):
                network.remove()
        time.sleep(0.5)


def remove_swarm_labelled(client: Any, run_id: str | None = None, include_live: bool = True,
                          engines: Iterable[Any] = ()) -> dict[str, int]:
    """Remove the services, secrets and configs labelled `imfault.run` (= `run_id`), then the
    labelled containers, networks (retried while a task being torn down holds one) and volumes
    on the manager's engine and `engines`. Without `include_live`, resources of runs whose
    harness still lives are spared. Every removal is tried; failures are raised together as
    one `SetupError`. Returns counts removed by kind."""
    from docker.errors import NotFound  # type: ignore[import-untyped]

    label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    removed = {"services": 0, "secrets": 0, "configs": 0, "volumes": 0}
    errors: list[str] = []

    def attempt(kind: str, resource: Any, labels: dict[str, str]) -> None:
        if not include_live and _harness_alive(labels):
            return
        try:
            resource.remove()
            removed[kind] += 1
        except NotFound:
            pass
        except Exception as exc:  # noqa: BLE001 - remove the others, then report
            errors.append(f"{kind[:-1]} {resource.name}: {type(exc).__name__}: {exc}")

    if client.info().get("Swarm", {}).get("ControlAvailable"):
        for service in client.services.list(filters={"label": label}):
            attempt("services", service, service.attrs["Spec"].get("Labels") or {})
        for collection, kind in ((client.secrets, "secrets"), (client.configs, "configs")):
            for item in collection.list(filters={"label": label}):
                attempt(kind, item, item.attrs["Spec"].get("Labels") or {})
    for engine in [client, *engines]:
        if include_live:
            _remove_containers(engine, label)
        try:
            counts = _remove_labelled_when_free(engine, run_id, include_live)
        except SetupError as exc:
            errors.append(str(exc))
            counts = {}
        for kind, n in counts.items():
            removed[kind] = removed.get(kind, 0) + n
        if include_live:
            _wait_networks_gone(engine, label, errors)
        for volume in engine.volumes.list(filters={"label": label}):
            attempt("volumes", volume, volume.attrs.get("Labels") or {})
    if errors:
        raise SetupError("could not remove " + "; ".join(errors))
    return removed
