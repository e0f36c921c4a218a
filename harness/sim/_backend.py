"""The `sim` backend: every node of every DC in one process (`MemCluster`) and a simulated WAN.

`SimBackend` offers what the local and docker backends offer to nemeses (`nodes`, `kill`,
`restart`, `pause`, `resume`, `is_running`, `set_clock`, `isolate_node`/`rejoin_node`, `wan`), so
the catalogue's nemeses run unchanged. `SimWan` offers `Wan`'s methods (`apply_grudge`, `heal`,
`degrade`, `restore_wan`, `active_faults`, `links`) over a per-ordered-DC-pair model: a blackhole
or refused link drops every frame in that direction; `latency` adds latency +- jitter;
`bandwidth` serialises the link's frames at the rate (a frame waits for the ones before it, then
for its encoded size over the rate), `slicer` likewise by `delay` us per `average_size` bytes;
`reset_peer` drops every frame (the connection is reset before any data is handed on) - its
`timeout` grace period is not modelled. Links stay FIFO. Restoring the WAN hands on at once what
the degradations still hold, as Toxiproxy's toxics do when removed ("don't drop any data on the
floor"): each such frame arrives at its undegraded time, or now if that has passed. Before,
frames kept their degraded arrival times, so one 100 KB answer sent at 1 KB/s blocked its link for
100 s after the restore: a run valid on `local` was invalid on sim (not converged).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imcluster._config import PARTITION_STYLES

from ..backends._base import Backend, ClusterSpec, NodeInfo, NodeRef
from ..errors import SetupError, UsageError
from ..nemesis._wan import DEGRADE_KINDS
from ._cluster import SimCluster, frame_size

__all__ = ["SimBackend", "SimCluster", "SimWan", "frame_size"]

Link = tuple[str, str]


class SimWan:
    """The simulated WAN of a `SimCluster`: partitions and degradations per ordered DC pair."""

    def __init__(self, cluster: SimCluster, dcs: list[str], seed: int) -> None:
        self.cluster = cluster
        self.dcs = list(dcs)
        self.rng = random.Random(f"{seed}:wan")
        self.partition: dict[Link, str] = {}  # (src, dst) -> "blackhole" | "refuse"
        self.degradations: dict[Link, list[dict[str, Any]]] = {}
        self.dropping: set[Link] = set()  # links a reset_peer degradation resets
        self._degrade_counter = 0

    def links(self) -> list[Link]:
        return [(s, d) for s in self.dcs for d in self.dcs if s != d]

    def link_address(self, src: str, dst: str) -> str:
        """The simulated WAN has no sockets: systems that need proxy addresses run on the real
        backends only."""
        raise UsageError(f"the sim WAN has no address for {src}->{dst} (no sockets in virtual "
                         "time)")

    def _check_link(self, link: Link) -> Link:
        src, dst = link
        if src not in self.dcs or dst not in self.dcs or src == dst:
            raise UsageError(f"no WAN link {src}->{dst} among DCs {self.dcs}")
        return (src, dst)

    def _sync(self) -> None:
        self.cluster.cuts = set(self.partition)
        self.dropping = {link for link, faults in self.degradations.items()
                         if any(f["kind"] == "reset_peer" for f in faults)}

    # ------------------------------------------------------------------ partitions
    def apply_grudge(self, grudge: dict[str, list[str]], style: str = "blackhole") -> None:
        """Frames from b to a vanish for each b in `grudge[a]`; `refuse` cuts both directions
        (a refused connection carries nothing either way). Cuts add up until `heal`."""
        if style not in PARTITION_STYLES:
            raise UsageError(f"unknown partition style {style!r}; use one of {PARTITION_STYLES}")
        for deaf, sources in grudge.items():
            for source in sources:
                self.partition[self._check_link((source, deaf))] = style
                if style == "refuse":
                    self.partition[self._check_link((deaf, source))] = style
        self._sync()

    def heal(self) -> None:
        self.partition.clear()
        self._sync()

    # ------------------------------------------------------------------ degradation
    def degrade(self, kind: str, links: Iterable[Link] | None = None, *, stream: str = "both",
                toxicity: float = 1.0, **attributes: Any) -> list[dict[str, Any]]:
        if kind not in DEGRADE_KINDS:
            raise UsageError(f"unknown WAN degradation {kind!r}; use one of {DEGRADE_KINDS}")
        if stream != "both" or toxicity != 1.0:
            raise UsageError("the sim backend models degradations on both streams with "
                             "toxicity 1 only")
        chosen = [self._check_link((link[0], link[1])) for link in links] \
            if links is not None else self.links()
        added = []
        for link in chosen:
            self._degrade_counter += 1
            fault = {"link": f"{link[0]}->{link[1]}", "kind": kind, "stream": "both",
                     "attributes": dict(attributes),
                     "toxic": f"degrade_{kind}_{self._degrade_counter}"}
            self.degradations.setdefault(link, []).append(fault)
            added.append(fault)
        self._sync()
        return added

    def restore_wan(self) -> None:
        self.degradations.clear()
        self._sync()
        self.cluster.release_degraded()

    def extra_delays_ms(self, faults: list[dict[str, Any]],
                        frame: dict[str, Any]) -> tuple[float, float]:
        """What the degradations of one link add to a frame's one-way delay: (the time its bytes
        take to pass `bandwidth` and `slicer`, during which the link passes nothing else; the
        added latency of `latency`)."""
        serial = extra = 0.0
        size = 0
        for fault in faults:
            attrs = fault["attributes"]
            if fault["kind"] == "latency":
                jitter = float(attrs.get("jitter", 0))
                extra += float(attrs.get("latency", 0)) + self.rng.uniform(-jitter, jitter)
            elif fault["kind"] in ("bandwidth", "slicer"):
                size = size or frame_size(frame)  # a byte count is asked for: encode once
                if fault["kind"] == "bandwidth":
                    serial += size / max(float(attrs.get("rate", 1)), 1e-3)  # KB/s == bytes/ms
                else:
                    slices = max(1, size // max(int(attrs.get("average_size", 64)), 1))
                    serial += slices * float(attrs.get("delay", 0)) / 1000.0
        return serial, max(extra, 0.0)

    # ------------------------------------------------------------------ inspection
    def active_faults(self) -> list[dict[str, Any]]:
        """Every fault in force, in `Wan.active_faults`'s shape."""
        faults: list[dict[str, Any]] = []
        for link in self.links():
            label = f"{link[0]}->{link[1]}"
            style = self.partition.get(link)
            if style == "refuse":
                faults.append({"link": label, "kind": "refuse"})
            elif style == "blackhole":
                faults.append({"link": label, "kind": "blackhole", "stream": "upstream",
                               "toxic": "cut_upstream", "attributes": {"timeout": 0}})
            faults.extend(dict(f) for f in self.degradations.get(link, []))
        return faults

    def close(self) -> None:
        """Nothing to release."""


class SimBackend(Backend):
    """A cluster in one process on a virtual clock (see the module docstring)."""

    name = "sim"

    def __init__(self) -> None:
        super().__init__()
        self.cluster: SimCluster | None = None
        self._wan: SimWan | None = None
        self._nodes: list[NodeInfo] = []
        self.log: dict[str, list[str]] = {}

    def start(self, spec: ClusterSpec) -> None:
        spec.validate()
        self.spec = spec
        cluster = SimCluster(dcs=spec.dcs, seed=spec.seed, access_per_dc=spec.access_per_dc,
                             latency_ms=spec.wan_latency_ms, jitter_ms=spec.wan_jitter_ms,
                             secret=spec.secret.encode(), gossip=spec.gossip,
                             gossip_interval_ms=spec.gossip_interval_ms,
                             gossip_fanout=spec.gossip_fanout,
                             delivery=spec.delivery, bugs=frozenset(spec.bugs),
                             count_wan_bytes=False, in_process_entries=True)
        self.cluster = cluster
        self._wan = cluster.wan
        nodes = [NodeInfo(f"{dc}-hub", dc, "hub", "sim", 0) for dc in spec.dc_names]
        for node, dc in cluster.access_dc.items():
            nodes.append(NodeInfo(node, dc, "access", "sim", 0))
        self._nodes = nodes
        self.log = {n.name: [] for n in nodes}
        self._note_all("started")

    def stop(self) -> None:
        """Nothing runs outside this process: the cluster is dropped with the object."""

    # ------------------------------------------------------------------ topology
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes)

    @property
    def wan(self) -> SimWan:
        if self._wan is None:
            raise SetupError("the sim cluster has not been started")
        return self._wan

    def _cluster(self) -> SimCluster:
        if self.cluster is None:
            raise SetupError("the sim cluster has not been started")
        return self.cluster

    def _note(self, node: str, what: str) -> None:
        t = self._cluster().now_ns / 1e9
        self.log.setdefault(node, []).append(f"{t:.6f} {what}")

    def _note_all(self, what: str) -> None:
        for info in self._nodes:
            self._note(info.name, what)

    # ------------------------------------------------------------------ process faults
    def kill(self, node: NodeRef) -> None:
        info, cluster = self.node(node), self._cluster()
        if info.role == "hub":
            cluster.crash(info.dc)
        else:
            cluster.crash_access(info.name)
        self._note(info.name, "killed")

    def restart(self, node: NodeRef) -> None:
        info, cluster = self.node(node), self._cluster()
        if info.role == "hub":
            if cluster.hubs.get(info.dc) is not None:
                cluster.crash(info.dc)
            cluster.restart(info.dc)
        else:
            cluster.crash_access(info.name)
            cluster.restart_access(info.name)
        self._note(info.name, "restarted")

    def pause(self, node: NodeRef) -> None:
        info = self.node(node)
        self._cluster().pause(info.name)
        self._note(info.name, "paused")

    def resume(self, node: NodeRef) -> None:
        info = self.node(node)
        self._cluster().resume(info.name)
        self._note(info.name, "resumed")

    def is_running(self, node: NodeRef) -> bool:
        info, cluster = self.node(node), self._cluster()
        if info.role == "hub":
            return cluster.hubs.get(info.dc) is not None
        return info.name not in cluster.access_down

    def pids(self) -> dict[str, int]:
        """No processes: everything runs in this one."""
        return {}

    def isolate_node(self, node: NodeRef) -> None:
        info = self._access_node(node)
        self._cluster().cut_access(info.name)
        self._note(info.name, "cut from its hub")

    def rejoin_node(self, node: NodeRef) -> None:
        info = self._access_node(node)
        self._cluster().rejoin_access(info.name)
        self._note(info.name, "rejoined its hub")

    def _access_node(self, node: NodeRef) -> NodeInfo:
        info = self.node(node)
        if info.role != "access":
            raise UsageError(f"only access nodes can be cut from their hub, not {info.name}")
        return info

    # ------------------------------------------------------------------ admin
    def status(self, node: NodeRef) -> dict[str, Any]:
        """The node's status from its core (`HubCore.status`/`AccessCore.status`)."""
        info, cluster = self.node(node), self._cluster()
        if info.role == "hub":
            hub = cluster.hubs.get(info.dc)
            if hub is None or info.name in cluster.paused:
                raise ConnectionRefusedError(f"{info.name} is down")
            status = hub.status()
        else:
            if info.name in cluster.access_down or info.name in cluster.paused:
                raise ConnectionRefusedError(f"{info.name} is down")
            status = cluster.access[info.name].status()
        status["clock_offset_ms"] = cluster.clock_offset_ms.get(
            info.dc if info.role == "hub" else info.name, 0)
        return {"type": "admin_ok", "health": "ok", **status}

    async def admin_status(self, node: NodeRef, timeout: float = 5.0) -> dict[str, Any]:
        return self.status(node)

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None:
        """Skew one node's clock; a hub's offset does not move its access nodes' clocks."""
        info, cluster = self.node(node), self._cluster()
        if info.role == "hub":
            for access in self.access_nodes(info.dc):  # pin them: they fall back to the DC's
                cluster.clock_offset_ms.setdefault(access.name, 0)
            cluster.set_clock(info.dc, offset_ms)
        else:
            cluster.set_clock(info.name, offset_ms)
        self._note(info.name, f"clock offset {offset_ms} ms")

    # ------------------------------------------------------------------ results
    def collect(self, run_dir: Path) -> dict[str, Path]:
        """`logs/<node>.log` (what happened to each node, virtual seconds); the hubs' events are
        in `cluster.events` already (the sim driver writes `events.jsonl` from them)."""
        logs = Path(run_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for node, lines in self.log.items():
            (logs / f"{node}.log").write_text("".join(f"{line}\n" for line in lines),
                                              encoding="utf-8")
        return {}
