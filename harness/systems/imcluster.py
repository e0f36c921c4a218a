"""`imcluster`, the reference IM cluster shipped with imfault, as a `System` (the default).

Its backends (`harness.backends`: local subprocesses, docker containers) start the hubs and access
nodes; hub i reaches hub j only through the proxy `i->j` (its `--peer` addresses are the proxies).
Guarantees (DESIGN §1 "Delivery semantics"): an acknowledged send is durable (SQLite, WAL,
synchronous=FULL, before the ack), a message may arrive twice across a failure (at-least-once; the
client library dedupes), no order is promised; hubs report version vectors and coordinates
(`final.json`) and write event logs (`events.jsonl`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ..backends import BACKEND_NAMES, Backend, get_backend
from ..seams import Backend as RunningBackend
from ._base import ClientFactory, DeliverCallback, FinalState, Guarantees, Link, System
from ._links import local_bypasses

__all__ = ["ImclusterSystem", "converged", "final_json", "final_state_of", "hub_statuses"]


async def hub_statuses(backend: Any, dc_names: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each DC's hub admin `status` (None when it does not answer within 2 s)."""
    async def one(dc: str) -> dict[str, Any] | None:
        try:
            return await backend.admin_status(backend.hub(dc), timeout=2.0)
        except Exception:  # noqa: BLE001 - an unreachable hub is "not converged"
            return None
    results = await asyncio.gather(*(one(dc) for dc in dc_names))
    return dict(zip(dc_names, results))


def converged(statuses: dict[str, dict[str, Any] | None]) -> bool:
    """Every hub answered and their version vectors are equal."""
    vvs = [s.get("vv") for s in statuses.values() if s is not None]
    return len(vvs) == len(statuses) and all(vv == vvs[0] for vv in vvs)


def final_json(statuses: dict[str, dict[str, Any] | None], now_ns: int) -> dict[str, Any]:
    """`final.json` from the hubs' statuses."""
    hubs = {}
    for dc, status in statuses.items():
        status = status or {}
        hubs[dc] = {"node": status.get("node", f"{dc}-hub"), "vv": status.get("vv"),
                    "coords": status.get("coords"), "counters": status.get("counters"),
                    "pending": status.get("pending")}
        if not status:
            hubs[dc]["error"] = "unreachable"
    return {"time": now_ns, "hubs": hubs, "converged": converged(statuses)}


def final_state_of(statuses: dict[str, dict[str, Any] | None]) -> FinalState:
    """The `FinalState` of the hubs' statuses (`final.json` time left 0 for the caller)."""
    activity = {dc: None if s is None else (s.get("vv"), s.get("offers"))
                for dc, s in statuses.items()}
    busy = any(s is not None and s.get("offers") for s in statuses.values())
    return FinalState(converged(statuses), final_json(statuses, 0), activity, busy)


def imcluster_client(host: str, port: int, secret: str, user: str,
                     on_deliver: DeliverCallback) -> Any:
    """An `imcluster.client.Client` of `user` whose frames go to `on_deliver(user, frame)`."""
    from imcluster.client import Client

    def on_frame(frame: Mapping[str, Any]) -> None:
        on_deliver(user, frame)

    return Client(host, port, secret, on_frame=on_frame)


class ImclusterSystem(System):
    """The reference cluster (see the module docstring)."""

    name = "imcluster"
    help = "the reference IM cluster shipped with imfault (hubs + access nodes, gossip over WAN)"
    guarantees = Guarantees(durable_ack=True, duplicates=True, order=None,
                            replicated_state=True, event_logs=True)
    backends = BACKEND_NAMES  # every backend runs the reference cluster

    def make_backend(self, backend: str) -> Backend:
        return get_backend(backend)

    def links(self, backend: RunningBackend) -> list[Link]:
        return [Link(src, dst, backend.hub(dst).address) for src, dst in backend.wan.links()]

    def client_factory(self, backend: RunningBackend) -> ClientFactory:
        return imcluster_client

    def verify_links(self, backend: RunningBackend) -> list[str]:
        """Local: no hub holds a connection to another DC's node port (`_links`). Docker: each
        DC is its own network, Toxiproxy the only container on several; nothing to scan."""
        pid_of = getattr(backend, "pid", None)
        if backend.name != "local" or pid_of is None:
            return []
        pids: dict[str, list[int]] = {}
        ports: dict[str, set[int]] = {}
        for node in backend.nodes():
            ports.setdefault(node.dc, set()).add(node.port)
            if backend.is_running(node):
                pids.setdefault(node.dc, []).append(int(pid_of(node)))
        proxies = {f"{s}->{d}": int(backend.wan.link_address(s, d).rsplit(":", 1)[1])
                   for s, d in backend.wan.links()}
        return local_bypasses(pids, ports, proxies)

    async def final_state(self, backend: RunningBackend, dc_names: list[str]) -> FinalState:
        return final_state_of(await hub_statuses(backend, dc_names))
