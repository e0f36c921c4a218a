"""The typed seams between the runner, the nemeses and the backends: `Backend` and `Wan`.

Structural protocols (`typing.Protocol`): the runner, the sim driver and `NemesisContext` accept
anything with these methods, so the local and docker backends (`harness.backends.Backend`, the
abstract base class that implements the shared parts), the sim backend and a test double all fit
without inheriting from one class. `Wan` is what the WAN nemeses call on `backend.wan`: the
Toxiproxy `Wan` (`harness._toxiproxy`) and the simulated `SimWan` (`harness.sim`) implement it.
`NodeIsolation` is the optional intra-DC partition (`partition-node`; docker and sim).

Keep this module small and free of heavy imports: it is the one place these seams are defined
(a `System` protocol for the systems under test builds on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .backends._base import ClusterSpec, NodeInfo, NodeRef

__all__ = ["Backend", "Link", "NodeIsolation", "Wan"]

Link = tuple[str, str]
"""An ordered DC pair (source, destination)."""


class Wan(Protocol):
    """Faults on the links between DCs (Toxiproxy's `Wan` and the sim's `SimWan`)."""

    def links(self) -> list[Link]:
        """Every ordered DC pair (src, dst), src != dst."""
        ...

    def link_address(self, src: str, dst: str) -> str:
        """"host:port" where the link src->dst listens (real WANs; the sim has no addresses)."""
        ...

    def apply_grudge(self, grudge: dict[str, list[str]], style: str = "blackhole") -> None:
        """Frames from b to a are cut for each b in `grudge[a]`; cuts add up until `heal`."""
        ...

    def heal(self) -> None:
        """Remove every partition."""
        ...

    def degrade(self, kind: str, links: Iterable[Link] | None = None, *, stream: str = "both",
                toxicity: float = 1.0, **attributes: Any) -> list[dict[str, Any]]:
        """Add a degradation of `kind` on `links` (default: all); returns what was added."""
        ...

    def restore_wan(self) -> None:
        """Remove every degradation."""
        ...

    def active_faults(self) -> list[dict[str, Any]]:
        """Every fault in force (`{link, kind, ...}`)."""
        ...

    def close(self) -> None:
        """Release what the WAN holds."""
        ...


class Backend(Protocol):
    """A running cluster: nodes, the WAN between DCs, process and clock faults on nodes (DESIGN
    §2 "Backends"; docstrings of each method on `harness.backends.Backend`)."""

    name: str

    @property
    def spec(self) -> ClusterSpec | None: ...

    def start(self, spec: ClusterSpec) -> None: ...

    def stop(self) -> None: ...

    def nodes(self) -> list[NodeInfo]: ...

    def node(self, node: NodeRef) -> NodeInfo: ...

    def hub(self, dc: str) -> NodeInfo: ...

    def access_nodes(self, dc: str | None = None) -> list[NodeInfo]: ...

    def access_addresses(self) -> dict[str, list[tuple[str, int]]]: ...

    @property
    def wan(self) -> Wan: ...

    @property
    def secret(self) -> str: ...

    def kill(self, node: NodeRef) -> None: ...

    def restart(self, node: NodeRef) -> None: ...

    def pause(self, node: NodeRef) -> None: ...

    def resume(self, node: NodeRef) -> None: ...

    def is_running(self, node: NodeRef) -> bool: ...

    def pids(self) -> dict[str, int]: ...

    async def admin_status(self, node: NodeRef, timeout: float = 5.0) -> dict[str, Any]: ...

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None: ...

    def collect(self, run_dir: Path) -> dict[str, Path]: ...


@runtime_checkable
class NodeIsolation(Protocol):
    """A backend that can cut one access node from its hub (docker, sim)."""

    def isolate_node(self, node: NodeRef) -> None: ...

    def rejoin_node(self, node: NodeRef) -> None: ...
