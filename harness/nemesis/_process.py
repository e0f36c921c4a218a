"""Process nemeses: `kill` (SIGKILL then restart), `pause` (SIGSTOP/SIGCONT), `dc-outage`.

They act through the backend (`kill`, `restart`, `pause`, `resume`, `nodes`), so the same nemesis
works on every backend. The start op's value names the node(s) (chosen from a seeded rng in the
schedule); the stop op heals every node this nemesis still holds down, and records which.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from ._base import Nemesis, NemesisContext
from ._shapes import cut_off_dcs

__all__ = ["DcOutageNemesis", "KillNemesis", "PauseNemesis", "node_names"]


def node_names(ctx: NemesisContext, dc: str | None = None) -> list[str]:
    """Names of the backend's nodes (of one DC if `dc` is given), hubs first, in a stable order."""
    nodes = [n for n in ctx.backend.nodes() if dc is None or n.dc == dc]
    return [n.name for n in sorted(nodes, key=lambda n: (n.dc, n.role != "hub", n.name))]


def _require_backend(ctx: NemesisContext, name: str, *methods: str) -> None:
    missing = [m for m in methods if not callable(getattr(ctx.backend, m, None))]
    if ctx.backend is None or missing:
        raise UsageError(f"nemesis {name!r} needs a backend that can {', '.join(missing or methods)}")


class _HoldDownNemesis(Nemesis):
    """Takes nodes down on start and brings back every node it holds down on stop."""

    down_method: str = ""
    up_method: str = ""

    def __init__(self) -> None:
        self.held: list[str] = []

    def check_cluster(self, ctx: NemesisContext) -> None:
        _require_backend(ctx, self.name, "nodes", self.down_method, self.up_method)

    def setup(self, ctx: NemesisContext) -> None:
        self.check_cluster(ctx)
        if not node_names(ctx):
            raise UsageError(f"nemesis {self.name!r}: the backend has no nodes")

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        """A random node (hub or access); subclasses narrow the choice."""
        return {"node": rng.choice(node_names(ctx))}

    def targets(self, ctx: NemesisContext, value: dict[str, Any]) -> list[str]:
        return [str(value["node"])]

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        if f == self.start_f:
            if not value.keys() - {"nemesis"}:
                value.update(self.start_value(ctx, ctx.rng))
            for node in self.targets(ctx, value):
                if node in self.held:
                    continue
                self.held.append(node)  # before the call: a failed kill/pause may have landed
                getattr(ctx.backend, self.down_method)(node)
            return value
        healed: list[str] = []
        errors: list[str] = []
        for node in list(self.held):
            try:
                getattr(ctx.backend, self.up_method)(node)
            except Exception as exc:  # noqa: BLE001 - try the others, then report
                errors.append(f"{node}: {type(exc).__name__}: {exc}")
                continue
            self.held.remove(node)
            healed.append(node)
        value["nodes"] = healed
        if errors:
            raise RuntimeError("; ".join(errors))
        return value


class KillNemesis(_HoldDownNemesis):
    """SIGKILLs a random node (`kill`), restarts it on the same port and store (`start`).

    Composed with a partition, a kill that falls inside the partition hits the hub of a DC the
    partition cuts off instead (`coordinate`).
    """

    name = "kill"
    help = ("SIGKILL a random node (hub or access; inside a composed partition the hub of a cut-off "
            "DC), then restart it on the same port and store")
    fs = frozenset({"kill", "start"})
    start_f = "kill"
    stop_f = "start"
    down_method = "kill"
    up_method = "restart"

    def coordinate(self, ctx: NemesisContext, value: dict[str, Any],
                   active: Mapping[str, Mapping[str, Any]], rng: random.Random) -> dict[str, Any]:
        """During a partition, kill the hub of a DC the partition cuts off.

        Its store then holds updates no other DC has (they could not be gossiped out), so a hub
        that acknowledged a message before making it durable, or kept it in memory only, loses
        it for good: the fault that finds `ack-before-persist` and `volatile-store`. Outside a
        partition the node stays the random one drawn by `start_value`.
        """
        grudges = [v["grudge"] for v in active.values() if isinstance(v.get("grudge"), Mapping)]
        candidates = cut_off_dcs(grudges)
        if not candidates:
            return value
        dc = rng.choice(candidates)
        cut_by = sorted(name for name, v in active.items() if isinstance(v.get("grudge"), Mapping))
        return {**value, "node": node_names(ctx, dc)[0], "target": "cut-off hub",
                "cut_off_by": ",".join(cut_by)}


class PauseNemesis(_HoldDownNemesis):
    """SIGSTOPs a random node (`pause`) and SIGCONTs it (`resume`)."""

    name = "pause"
    help = "pause a random node (SIGSTOP or docker pause), then resume it"
    fs = frozenset({"pause", "resume"})
    start_f = "pause"
    stop_f = "resume"
    down_method = "pause"
    up_method = "resume"



class DcOutageNemesis(_HoldDownNemesis):
    """Kills every node of one random DC (`kill`, value names the DC) and restarts them (`start`)."""

    name = "dc-outage"
    help = "kill every node of one random DC (its users fail over), then restart them all"
    fs = frozenset({"kill", "start"})
    start_f = "kill"
    stop_f = "start"
    down_method = "kill"
    up_method = "restart"

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        dc = rng.choice(list(ctx.dc_names))
        return {"dc": dc, "nodes": node_names(ctx, dc)}

    def targets(self, ctx: NemesisContext, value: dict[str, Any]) -> list[str]:
        return [str(n) for n in value.get("nodes") or node_names(ctx, str(value["dc"]))]
