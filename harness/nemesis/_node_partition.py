"""`partition-node`: cut one access node off from its own DC's hub (an intra-DC partition).

The docker backend blackholes the node's traffic to its hub inside the container's network
namespace (`isolate_node` / `rejoin_node`) while clients still reach the node; the sim backend
drops the frames between them. Ops [`start-partition-node`/`stop-partition-node`]; the start
value names the node. On a backend without that ability, `check_cluster` refuses (before anything
starts) with a usage error that says which backends have it.
"""

from __future__ import annotations

import random
from typing import Any

from ..errors import UsageError
from ._base import NemesisContext
from ._process import _HoldDownNemesis, node_names

__all__ = ["NodePartitionNemesis"]


class NodePartitionNemesis(_HoldDownNemesis):
    """Isolates a random access node from its hub, then rejoins it."""

    name = "partition-node"
    help = "cut one random access node from its DC's hub (docker and sim backends), then rejoin it"
    fs = frozenset({"start-partition-node", "stop-partition-node"})
    start_f = "start-partition-node"
    stop_f = "stop-partition-node"
    down_method = "isolate_node"
    up_method = "rejoin_node"

    def check_cluster(self, ctx: NemesisContext) -> None:
        if not callable(getattr(ctx.backend, self.down_method, None)):
            backend = getattr(ctx.backend, "name", type(ctx.backend).__name__)
            raise UsageError(f"nemesis 'partition-node' needs the docker or sim backend "
                             f"(--backend docker|sim); the {backend!r} backend cannot cut one "
                             "node")
        super().check_cluster(ctx)

    def setup(self, ctx: NemesisContext) -> None:
        super().setup(ctx)
        if not _access_nodes(ctx):
            raise UsageError("nemesis 'partition-node': the backend has no access nodes")

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        return {"node": rng.choice(_access_nodes(ctx))}


def _access_nodes(ctx: NemesisContext) -> list[str]:
    roles = {n.name: n.role for n in ctx.backend.nodes()}
    return [name for name in node_names(ctx) if roles.get(name) == "access"]
