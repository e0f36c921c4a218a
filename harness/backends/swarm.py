"""The swarm backend: the docker backend on a Docker Swarm, so one test spans many machines.

Topology (DESIGN §2 "Backends", docs/swarm.md):
- an attachable overlay network `imfault-<run>-<dc>` per DC; each node a service (one replica,
  `imfault-<run>-<node>`) on its DC's overlay only, pinned to the swarm node chosen for its DC
  (node label `imfault.dc=<dc>` when the swarm has such labels, else spread round-robin);
- a Toxiproxy service on the manager, attached to every DC overlay, the only path between DCs:
  proxy `i->j` listens on Toxiproxy's task address on dc i's overlay and forwards to dc j's hub
  service by name; checked at the end of `start` from inside dc1's hub (`verify_isolation`);
- services use DNS round-robin endpoints (a virtual IP needs IPVS, which not every kernel has)
  and publish no port: the harness reaches each through the edge container on the manager
  (`_swarm_edge`), at a port on 127.0.0.1;
- a hub's data lives in a labelled named volume on its node (it survives a killed task); event
  logs are copied out of the task's container through its node's engine at `collect`;
- the cluster secret is a swarm secret read by the node's entrypoint, never in the service spec;
- kill and pause go to the engine of the task's node (`_swarm_engine.Engines`), a restart is a
  forced service update (tasks never restart by themselves: restart condition `none`);
- every service, network, secret, volume and container is labelled `imfault.run=<run id>` and
  removed in `stop()` (on error and on Ctrl-C too); `clean_leftovers()` backs `imfault clean`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SetupError, UsageError
from ._base import ClusterSpec, NodeInfo, NodeRef
from ._docker_engine import docker_client
from ._swarm_edge import FIRST_FORWARD_PORT, add_forwards, create_edge
from ._swarm_engine import (
    DC_LABEL,
    Engines,
    SwarmNode,
    load_images,
    plan_placement,
    remove_swarm_labelled,
    swarm_manager,
    swarm_nodes,
)
from .docker import (
    HOST,
    NODE_PORT,
    PARALLEL_API_CALLS,
    TOXIPROXY_API_PORT,
    DockerBackend,
    _Container,
)

__all__ = ["SwarmBackend", "clean_leftovers"]

SECRET_FILE = "imfault-cluster-secret"
# The node image's entrypoint, with the cluster secret taken from the swarm secret's file.
NODE_ENTRYPOINT = ["sh", "-c", (f'IMCLUSTER_SECRET="$(cat /run/secrets/{SECRET_FILE})" '
                                'exec python3 -m imcluster "$@"'), "imcluster"]
TASK_START_S = 2.0
VERIFY_ATTEMPTS = 3
# Waiting for every hub's link to every other hub: the deadline grows with the number of links,
# N*(N-1). At 20 DCs (380 links) on 2 cores at load ~25 the links were all up 25 s after the last
# hub task ran, each after 9-26 attempts (a handshake crosses the WAN three times).
LINKS_BASE_S = 60.0
LINKS_S_PER_LINK = 0.3
LINKS_POLL_S = 1.0
# The hubs' `--peer-timeout` (a handshake, or a request unanswered, this long closes the link):
# imcluster's 1.5 s up to PEER_TIMEOUT_DCS DCs, growing in proportion beyond (6 s at 20 DCs). A
# hub handshakes with 2*(N-1) peers at start, each handshake crossing the WAN three times; at 20
# DCs on 2 cores at load 35-55 a handshake took over 1.5 s, and as a timed-out attempt is retried
# at once, 380 links redialled 200-300 times a second through Toxiproxy and never all came up.
PEER_TIMEOUT_S = 1.5
PEER_TIMEOUT_DCS = 5
# One Docker API call may take minutes on a loaded host: starting the edge of a 20-DC cluster (20
# overlay attachments, 42 published ports) took over 60 s, docker-py's default here.
API_TIMEOUT_S = 300.0
LIVE_STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
               "starting", "running")
# Run inside a node: try each (label, host, port); a hub greets every connection with its
# handshake challenge (a bare accepted connection proves nothing: some networks accept any SYN).
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    label, host, port = target
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(5)
            return label, "open:" + s.recv(200).decode("utf-8", "replace")
    except Exception as exc:
        return label, "failed:" + type(exc).__name__
targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(pool.map(probe, targets))))
"""


def clean_leftovers(include_live: bool = False) -> dict[str, int]:
    """Remove the services, secrets, configs, containers, networks and volumes labelled
    `imfault.run` of earlier runs whose harness is gone (all with `include_live`); {} when the
    engine is no swarm manager."""
    client = docker_client()
    try:
        try:
            swarm_manager(client)
        except SetupError:
            return {}
        return remove_swarm_labelled(client, include_live=include_live)
    finally:
        client.close()


# (name, dc, image, args, network ids, more services.create options)
_ServiceItem = tuple[str, str, str, list[str], list[str], dict[str, Any]]


@dataclass
class _Service:
    name: str  # node name (`dc1-hub`) or `toxiproxy`
    service_name: str
    service_id: str
    node: SwarmNode


class SwarmBackend(DockerBackend):
    """A cluster of swarm services (see the module doc)."""

    name = "swarm"
    # At 20 DCs on 2 loaded cores a busy hub answered the edge's connection at once but its
    # admin status not within 2 s, for 90 s on end.
    health_timeout_s = 10.0
    isolate_node = None  # type: ignore[assignment]  # partition-node: refused at setup
    rejoin_node = None  # type: ignore[assignment]

    def __init__(self, run_id: str | None = None, ready_timeout_s: float = 90.0) -> None:
        super().__init__(run_id, ready_timeout_s)
        self._services: dict[str, _Service] = {}
        self._placement: dict[str, SwarmNode] = {}
        self._engines: Engines | None = None
        self._secret: tuple[str, str] | None = None  # (id, name)
        self._edge_ports: dict[str, int] = {}  # service name -> its port on 127.0.0.1
        self.edge_bridge_ip = ""
        self.links_up_s: float | None = None  # how long `_wait_links_up` waited

    def _network_options(self) -> dict[str, Any]:
        return {"driver": "overlay", "attachable": True, "scope": "swarm"}

    # ------------------------------------------------------------------ life cycle
    def start(self, spec: ClusterSpec) -> None:
        self.spec = spec
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        self._client = docker_client(timeout=API_TIMEOUT_S)
        try:
            nodes = swarm_nodes(self._client)
            self._placement = plan_placement(nodes, spec.dc_names)
            self._placement["toxiproxy"] = nodes[0]  # the manager the harness talks to
            self._engines = Engines(self._client)
            for node in self._placement.values():
                self._engines.of(node)  # refuse at setup when a node's engine is out of reach
            self.images = ensure_images_on(self._client, self._engines,
                                           list(self._placement.values()))
            # Several at a time: the swarm takes seconds per overlay on a loaded host.
            with ThreadPoolExecutor(max_workers=PARALLEL_API_CALLS) as pool:
                for dc, network in zip(spec.dc_names, pool.map(self._create_network,
                                                               spec.dc_names), strict=True):
                    self._networks[dc] = network
            secret = self._client.secrets.create(name=self._resource_name("secret"),
                                                 data=spec.secret.encode(), labels=self._labels())
            self._secret = (str(secret.id), self._resource_name("secret"))
            self._write_resources()
            self._start_edge(spec)
            self._start_toxiproxy(spec)
            self._start_nodes(spec)
            self._wait_all_healthy()
            self._wait_links_up()
            self.verify_isolation()
        except BaseException:
            self.stop()
            raise

    def _write_resources(self) -> None:
        assert self.spec is not None
        record = {"backend": self.name, "run_id": self.run_id,
                  "services": {s.name: s.service_id for s in self._services.values()},
                  "networks": self._networks}
        (self.spec.work_dir / "swarm.json").write_text(json.dumps(record, indent=2) + "\n")

    def _start_edge(self, spec: ClusterSpec) -> None:
        """Start the edge container and its forwards to Toxiproxy's API and every node."""
        assert self.images is not None
        names = ["toxiproxy", *(f"{dc}-hub" for dc in spec.dc_names),
                 *(name for _, name in self._access_names(spec))]
        container, api_port, ports = create_edge(
            self._client, self.images.toxiproxy, self._resource_name("edge"),
            self._labels(node="edge"), list(self._networks.values()), len(names))
        self._containers["edge"] = _Container("edge", self._resource_name("edge"), container.id)
        self._edge_ports = dict(zip(names, ports, strict=True))
        self._wait_toxiproxy_api(api_port)
        self.edge_bridge_ip = add_forwards(container, api_port, [
            (name, (f"{self._resource_name(name)}:"
                   f"{TOXIPROXY_API_PORT if name == 'toxiproxy' else NODE_PORT}"))
            for name in names])

    def _create_service(self, name: str, dc: str, image: str, args: list[str],
                        networks: list[str], **kwargs: Any) -> _Service:
        from docker.types import EndpointSpec, RestartPolicy, ServiceMode  # type: ignore

        node = self._placement[dc if name != "toxiproxy" else name]
        constraints = [f"node.id=={node.id}"]
        if node.labels.get(DC_LABEL) == dc:
            constraints.append(f"node.labels.{DC_LABEL}=={dc}")
        labels = self._labels(node=name, dc=dc)
        service = self._client.services.create(
            image, args=args, name=self._resource_name(name), hostname=name, labels=labels,
            container_labels=labels, networks=networks, constraints=constraints,
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            restart_policy=RestartPolicy(condition="none"), mode=ServiceMode("replicated", 1),
            stop_signal="SIGKILL", **kwargs,
        )
        record = _Service(name, self._resource_name(name), str(service.id), node)
        with self._lock:
            self._services[name] = record
            self._write_resources()
        return record

    def _launch_services(self, items: list[_ServiceItem]) -> dict[str, dict[str, Any]]:
        """Create services (name, dc, image, args, networks, extra) several at a time and wait
        until each one's task runs. Returns {name: running task}."""
        # Leaving the `with` (also on KeyboardInterrupt) waits for every create, so stop()
        # sees every service that was created.
        with ThreadPoolExecutor(max_workers=PARALLEL_API_CALLS) as pool:
            list(pool.map(lambda item: self._create_service(*item[:5], **item[5]), items))
        return self._wait_running([item[0] for item in items])

    def _tasks(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The newest task of each named service."""
        ids = {self._services[n].service_id: n for n in names}
        newest: dict[str, dict[str, Any]] = {}
        for task in self._client.api.tasks(filters={"service": list(ids)}):
            name = ids.get(task["ServiceID"])
            if name is None:
                continue
            if name not in newest or task["Version"]["Index"] > newest[name]["Version"]["Index"]:
                newest[name] = task
        return newest

    def _wait_running(self, names: list[str], not_task: str | None = None
                      ) -> dict[str, dict[str, Any]]:
        """Wait until each service's newest task (other than `not_task`) runs; returns
        {name: task}. `SetupError` when a task fails or at the deadline (`ready_timeout_s` plus
        `TASK_START_S` per task: a node's agent starts its tasks a few at a time)."""
        deadline = time.monotonic() + self.ready_timeout_s + TASK_START_S * len(names)
        running: dict[str, dict[str, Any]] = {}
        while True:
            for name, task in self._tasks([n for n in names if n not in running]).items():
                if task["ID"] == not_task:
                    continue
                state, error = task["Status"]["State"], task["Status"].get("Err", "")
                if state == "running":
                    running[name] = task
                elif state not in LIVE_STATES:
                    raise SetupError(f"the task of {name} ({self._services[name].service_name}) "
                                     f"is {state}: {error or task['Status'].get('Message')}\n"
                                     f"{self._log_tail(name)}")
            if len(running) == len(names):
                return running
            if time.monotonic() > deadline:
                late = sorted(set(names) - set(running))
                raise SetupError(f"the swarm did not run the tasks of {late} in time "
                                 "(`docker service ps` tells why)")
            time.sleep(0.2)

    def _start_toxiproxy(self, spec: ClusterSpec) -> None:
        from .._toxiproxy import Wan

        assert self.images is not None
        dcs = spec.dc_names
        args = ["-host", "0.0.0.0", "-port", str(TOXIPROXY_API_PORT), "-seed", str(spec.seed)]
        # LOG_LEVEL: Toxiproxy's default logs a trace line per forwarded chunk, which took most
        # of the CPU of a 20-DC cluster; info keeps one line per connection.
        task = self._launch_services([("toxiproxy", dcs[0], self.images.toxiproxy, args,
                                       [self._networks[dc] for dc in dcs],
                                       {"env": {"LOG_LEVEL": "info"}})])
        by_network = {a["Network"]["ID"]: a["Addresses"][0].split("/")[0]
                      for a in task["toxiproxy"].get("NetworksAttachments", [])}
        self.toxiproxy_addresses = {dc: by_network[self._networks[dc]] for dc in dcs}
        self._wait_toxiproxy_api(self._edge_ports["toxiproxy"])
        self._wan = Wan(HOST, self._edge_ports["toxiproxy"], dcs)
        self._links = self._wan.create_links(
            {dc: f"{self._resource_name(f'{dc}-hub')}:{NODE_PORT}" for dc in dcs},
            spec.wan_latency_ms, spec.wan_jitter_ms, listen_hosts=self.toxiproxy_addresses,
        )

    def _start_nodes(self, spec: ClusterSpec) -> None:
        """Create every hub service, then every access node service; wait until their tasks run."""
        from docker.types import Mount, SecretReference  # type: ignore[import-untyped]

        assert self.images is not None and self._secret is not None
        secret = SecretReference(self._secret[0], self._secret[1], filename=SECRET_FILE)
        common = {"command": NODE_ENTRYPOINT, "secrets": [secret]}
        hubs = [(f"{dc}-hub", dc, self.images.node, self._hub_command(spec, index, dc),
                 [self._networks[dc]],
                 {**common, "mounts": [Mount("/data", self._resource_name(f"{dc}-hub"),
                                             labels=self._labels(dc=dc))]})
                for index, dc in enumerate(spec.dc_names)]
        accesses = [(name, dc, self.images.node, self._access_command(dc, name),
                     [self._networks[dc]], common)
                    for dc, name in self._access_names(spec)]
        for group, role in ((hubs, "hub"), (accesses, "access")):
            self._launch_services(group)
            self._nodes += [NodeInfo(item[0], item[1], role, HOST, self._edge_ports[item[0]])
                            for item in group]

    def _hub_command(self, spec: ClusterSpec, index: int, dc: str) -> list[str]:
        return [*super()._hub_command(spec, index, dc), "--peer-timeout",
                f"{peer_timeout_s(spec.dcs):g}"]

    def _exit_code(self, name: str) -> int | None:
        task = self._tasks([name]).get(name)
        if task is None or task["Status"]["State"] in LIVE_STATES:
            return None
        return int(task["Status"].get("ContainerStatus", {}).get("ExitCode", -1))

    def _wait_links_up(self, timeout_s: float | None = None) -> None:
        """Wait until every hub has a handshaken link to every other DC's hub, so each of the
        N*(N-1) proxies has relayed a handshake both ways before the isolation check and the
        test (at 20 DCs the links' first handshakes, 380 at once, kept Toxiproxy and the hubs
        busy for tens of seconds). `SetupError` naming the links still down at the deadline
        (`LINKS_BASE_S` + `LINKS_S_PER_LINK` per link unless `timeout_s`)."""
        from ._base import run_coroutine_sync

        assert self.spec is not None
        dcs = self.spec.dc_names
        links = len(dcs) * (len(dcs) - 1)
        budget = LINKS_BASE_S + LINKS_S_PER_LINK * links if timeout_s is None else timeout_s
        hubs = {f"{dc}-hub": {d for d in dcs if d != dc} for dc in dcs}
        missing: dict[str, set[str] | str] = dict(hubs)

        async def poll(name: str) -> None:
            try:
                status = await self.admin_status(name, timeout=self.health_timeout_s)
            except Exception as exc:  # noqa: BLE001 - asked again, reported at the deadline
                missing[name] = f"no admin status ({exc!r})"
                return
            down = hubs[name] - set(status.get("peers_up", []))
            if down:
                missing[name] = down
            else:
                missing.pop(name, None)

        async def wait() -> None:
            deadline = time.monotonic() + budget
            while missing:
                await asyncio.gather(*(poll(name) for name in list(missing)))
                if not missing:
                    return
                if time.monotonic() > deadline:
                    down = {name: sorted(v) if isinstance(v, set) else v
                            for name, v in sorted(missing.items())}
                    raise SetupError(
                        f"hub links not up within {budget:g} s ({links} links, "
                        f"{LINKS_BASE_S:g} s + {LINKS_S_PER_LINK:g} s per link): {down}. "
                        f"Host load average {os.getloadavg()[0]:.0f}: every container shares "
                        "the CPU weight of Docker's cgroup, which competes as one process with "
                        "each process outside it, so a busy host starves the cluster "
                        "(docs/swarm.md, Measurements). The toxiproxy log:\n"
                        f"{self._log_tail('toxiproxy')}")
                await asyncio.sleep(LINKS_POLL_S)

        started = time.monotonic()
        run_coroutine_sync(wait())
        self.links_up_s = round(time.monotonic() - started, 1)

    def verify_isolation(self) -> None:
        """From inside dc1's hub: dc2's hub must not answer on its overlay address, by name, nor
        through the edge's forward; the proxy dc1->dc2 must. `SetupError` (exit 4) otherwise."""
        assert self.spec is not None
        if self.spec.dcs < 2:
            return
        dc2_hub = self._tasks(["dc2-hub"])["dc2-hub"]
        direct_ip = next(a["Addresses"][0].split("/")[0]
                         for a in dc2_hub.get("NetworksAttachments", [])
                         if a["Network"]["ID"] == self._networks["dc2"])
        proxy_host, proxy_port = self.peer_address("dc1", "dc2").rsplit(":", 1)
        edge_port = FIRST_FORWARD_PORT + list(self._edge_ports).index("dc2-hub")
        targets = [["direct_ip", direct_ip, NODE_PORT],
                   ["direct_name", self._resource_name("dc2-hub"), NODE_PORT],
                   ["edge_forward", self.edge_bridge_ip, edge_port],
                   ["via_toxiproxy", proxy_host, int(proxy_port)]]
        for attempt in range(VERIFY_ATTEMPTS):
            results = self._probe_from("dc1-hub", targets)
            bypass = sorted(k for k, v in results.items() if "challenge" in v
                            and k != "via_toxiproxy")
            if bypass:
                raise SetupError(f"Toxiproxy is not the only path between dc1 and dc2: dc2's hub "
                                 f"answered dc1's hub via {bypass} ({results}); check that the DC "
                                 "overlays are separate networks")
            if "challenge" in results["via_toxiproxy"]:
                break
            if attempt + 1 == VERIFY_ATTEMPTS:  # a loaded Toxiproxy may answer late: retried
                raise SetupError(f"dc2's hub did not answer dc1's hub through proxy dc1->dc2 "
                                 f"({results}); see the toxiproxy log")
        self.isolation = results

    def _probe_from(self, name: str, targets: list[list[Any]]) -> dict[str, str]:
        """Run PROBE with `targets` inside node `name`'s task container."""
        exit_code, output = self._container(name).exec_run(
            ["python3", "-c", PROBE, json.dumps(targets)])
        text = bytes(output).decode("utf-8", "replace")
        try:
            return dict(json.loads(text.strip().splitlines()[-1]))
        except (ValueError, IndexError) as exc:
            raise SetupError(f"the isolation probe in {name} failed (exit {exit_code}): "
                             f"{text[-500:]}") from exc

    # ------------------------------------------------------------------ teardown
    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._services.clear()
            if self._engines is not None:
                self._engines.close()
                self._engines = None

    def _remove_all(self, client: Any) -> list[str]:
        import contextlib

        from docker.errors import NotFound  # type: ignore[import-untyped]

        # Not `Wan.close()`: its proxies go with the Toxiproxy service, and deleting them one by
        # one (N*(N-1) requests) through a loaded server took minutes at 20 DCs.
        self._wan = None
        errors: list[str] = []
        for service in list(self._services.values()):
            try:
                with contextlib.suppress(NotFound):
                    client.services.get(service.service_id).remove()
            except Exception as exc:  # noqa: BLE001 - remove the others, then report
                errors.append(f"service {service.service_name}: {type(exc).__name__}: {exc}")
        engines = []
        if self._engines is not None:
            engines = [self._engines.of(n) for n in {n.id: n for n in self._placement.values()
                                                     if not n.local}.values()]
        try:
            remove_swarm_labelled(client, self.run_id, engines=engines)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            errors.append(f"labelled resources: {type(exc).__name__}: {exc}")
        return errors

    # ------------------------------------------------------------------ tasks and faults
    def _container(self, node: NodeRef | str) -> Any:
        """The container of the node's newest task, through the engine of the task's node."""
        name = node if isinstance(node, str) else node.name
        if name not in self._services or self._client is None or self._engines is None:
            raise UsageError(f"unknown node {name!r}; nodes: {sorted(self._services)}")
        task = self._tasks([name]).get(name)
        container_id = (task or {}).get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
        if not container_id:
            raise SetupError(f"{name} has no task container (task: {task and task['Status']})")
        return self._engines.of(self._services[name].node).containers.get(container_id)

    def container_name(self, node: NodeRef | str) -> str:
        """The swarm's name of a node's (or `toxiproxy`'s) service."""
        name = node if isinstance(node, str) else node.name
        if name not in self._services:
            raise UsageError(f"unknown node {name!r}")
        return self._services[name].service_name

    def restart(self, node: NodeRef) -> None:
        """Kill the task's container if it runs, then a forced service update starts a new
        task on the same swarm node (same published port, same volume); wait until healthy."""
        from ._base import run_coroutine_sync

        info = self.node(node)
        if self.is_running(info):
            self.kill(info)
        old = self._tasks([info.name])[info.name]["ID"]
        self._client.services.get(self._services[info.name].service_id).force_update()
        self._wait_running([info.name], not_task=old)
        run_coroutine_sync(self._wait_healthy(info))

    # ------------------------------------------------------------------ results
    def _log_tail(self, name: str, lines: int = 30) -> str:
        """The service's last log lines and, for a node, what the edge sees of it (so a setup
        error tells a node that does not answer from one the edge cannot resolve or reach)."""
        tail = self._service_logs(name, tail=lines)
        if name not in self._edge_ports or name == "toxiproxy":
            return tail
        try:
            edge = self._client.containers.get(self._containers["edge"].container_id)
            _, output = edge.exec_run(["python3", "-c", PROBE, json.dumps(
                [["from_edge", self._resource_name(name), NODE_PORT]])])
            seen = bytes(output).decode("utf-8", "replace").strip()
        except Exception as exc:  # noqa: BLE001 - best effort, for error messages
            seen = f"(no probe: {exc})"
        return f"{tail}\nthe edge connecting to {self._resource_name(name)}:{NODE_PORT}: {seen}"

    def _service_logs(self, name: str, tail: int | str = "all") -> str:
        try:
            chunks = self._client.api.service_logs(self._services[name].service_id, stdout=True,
                                                   stderr=True, tail=tail)
            return b"".join(chunks).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - best effort, for error messages
            return f"(no log: {exc})"

    def collect(self, run_dir: Path) -> dict[str, Path]:
        """Service logs (every task) to `run_dir/logs/<node>.log`; each hub's event log copied
        out of its task container into `work_dir/<hub>/events.jsonl`."""
        assert self.spec is not None
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self._services:
            (logs / f"{name}.log").write_text(self._service_logs(name))
        result: dict[str, Path] = {}
        for info in self._nodes:
            if info.role != "hub":
                continue
            target = (self.spec.work_dir / info.name / "events.jsonl").resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            stream, _ = self._container(info.name).get_archive("/data/events.jsonl")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile("events.jsonl")
                target.write_bytes(member.read() if member is not None else b"")
            result[info.dc] = target
        return result


def peer_timeout_s(dcs: int) -> float:
    """The hubs' `--peer-timeout` for a cluster of `dcs` DCs (see PEER_TIMEOUT_S)."""
    return PEER_TIMEOUT_S * max(1.0, dcs / PEER_TIMEOUT_DCS)


def ensure_images_on(client: Any, engines: Engines, nodes: list[SwarmNode]) -> Any:
    """Build (or find) the images on the manager, then load them on the other `nodes`."""
    from ._docker_images import ensure_images

    images = ensure_images(client)
    load_images(engines, nodes, [images.node, images.toxiproxy])
    return images

