"""What every backend provides: the cluster spec, node descriptions and the `Backend` interface.

A test or nemesis talks to a cluster only through `Backend` (DESIGN §2 "Backends"): it never
knows whether the nodes are local subprocesses or containers. Node arguments accept a node name
(`"dc1-hub"`, `"dc2-a1"`) or a `NodeInfo`.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from imcluster._config import BUGS, DELIVERY_MODES, GOSSIP_MODES, PARTITION_STYLES

from .._bridge import run_sync
from ..errors import SetupError, UsageError

if TYPE_CHECKING:
    from ..seams import Wan

__all__ = [
    "BUG_NAMES",
    "DELIVERY_MODES",
    "GOSSIP_MODES",
    "Backend",
    "ClusterSpec",
    "NodeInfo",
    "NodeRef",
    "run_coroutine_sync",
]

BUG_NAMES = BUGS
"""The seeded bugs (`imcluster`'s `BUGS`; the harness's name for them)."""

T = TypeVar("T")


def _new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="imfault-cluster-"))


@dataclass
class ClusterSpec:
    """Everything needed to start a cluster. `secret` defaults to one derived from `seed`;
    `work_dir` (node logs, databases, event logs, pids.json) defaults to a new temp directory."""

    dcs: int = 5
    access_per_dc: int = 1
    wan_latency_ms: float = 200
    wan_jitter_ms: float = 0
    gossip: str = GOSSIP_MODES[0]
    gossip_interval_ms: float = 100
    gossip_fanout: int = 1
    delivery: str = DELIVERY_MODES[0]
    bugs: tuple[str, ...] = ()
    partition_style: str = PARTITION_STYLES[0]
    seed: int = 0
    secret: str = ""
    work_dir: Path = field(default_factory=_new_work_dir)

    def __post_init__(self) -> None:
        self.bugs = tuple(self.bugs)
        self.work_dir = Path(self.work_dir)
        if not self.secret:
            self.secret = hashlib.sha256(f"imfault-secret-{self.seed}".encode()).hexdigest()[:32]
        self.validate()

    def validate(self) -> None:
        """`UsageError` for out-of-range numbers or unknown mode/bug names."""
        if self.dcs < 1:
            raise UsageError(f"--dcs must be at least 1 (got {self.dcs})")
        if self.access_per_dc < 1:
            raise UsageError(f"--access-per-dc must be at least 1 (got {self.access_per_dc})")
        if self.wan_latency_ms < 0 or self.wan_jitter_ms < 0:
            raise UsageError("--wan-latency and --wan-jitter must not be negative")
        if self.gossip_interval_ms <= 0:
            raise UsageError("--gossip-interval must be positive")
        if self.gossip_fanout < 1:
            raise UsageError("--gossip-fanout must be at least 1")
        if self.gossip not in GOSSIP_MODES:
            raise UsageError(f"unknown --gossip {self.gossip!r}; use one of {GOSSIP_MODES}")
        if self.delivery not in DELIVERY_MODES:
            raise UsageError(f"unknown --delivery {self.delivery!r}; use one of {DELIVERY_MODES}")
        unknown = [b for b in self.bugs if b not in BUG_NAMES]
        if unknown:
            raise UsageError(f"unknown --bug {unknown}; known bugs: {', '.join(BUG_NAMES)}")
        if self.partition_style not in PARTITION_STYLES:
            raise UsageError(
                f"unknown --partition-style {self.partition_style!r}; use one of "
                f"{PARTITION_STYLES}"
            )

    @property
    def dc_names(self) -> list[str]:
        """`dc1`..`dcN`."""
        return [f"dc{i}" for i in range(1, self.dcs + 1)]


@dataclass(frozen=True)
class NodeInfo:
    """One node: `name` (`dc1-hub`, `dc1-a1`), its `dc`, `role` (`hub`|`access`), and the
    address it listens on (clients for access nodes, access/peers/admin for hubs)."""

    name: str
    dc: str
    role: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


NodeRef = str | NodeInfo


def run_coroutine_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code, also when the caller's thread already runs an
    event loop (then in a helper thread with its own loop): `harness._bridge.run_sync`."""
    return run_sync(coro)


class Backend(ABC):
    """A running cluster: nodes, the WAN between DCs, and process/clock faults on nodes."""

    name: str = "abstract"

    def __init__(self) -> None:
        self.spec: ClusterSpec | None = None

    # ------------------------------------------------------------------ life cycle
    @abstractmethod
    def start(self, spec: ClusterSpec) -> None:
        """Start Toxiproxy, the proxies with baseline toxics, the hubs, the access nodes; return
        once every node answers admin `status` (bounded; `SetupError` with the failing node's
        log tail otherwise; what was started is stopped again on failure)."""

    @abstractmethod
    def stop(self) -> None:
        """Tear everything down (every process/resource this backend started). Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ topology
    @abstractmethod
    def nodes(self) -> list[NodeInfo]:
        """Every node (hubs and access nodes), hubs first in DC order."""

    def node(self, node: NodeRef) -> NodeInfo:
        """The `NodeInfo` of a node name (or the same `NodeInfo`); `UsageError` if unknown."""
        if isinstance(node, NodeInfo):
            return node
        for info in self.nodes():
            if info.name == node:
                return info
        raise UsageError(f"unknown node {node!r}; nodes: {[n.name for n in self.nodes()]}")

    def hub(self, dc: str) -> NodeInfo:
        """The hub of `dc`."""
        for info in self.nodes():
            if info.role == "hub" and info.dc == dc:
                return info
        raise UsageError(f"no hub for DC {dc!r}")

    def access_nodes(self, dc: str | None = None) -> list[NodeInfo]:
        """Access nodes (of `dc`, or all)."""
        return [n for n in self.nodes() if n.role == "access" and (dc is None or n.dc == dc)]

    def access_addresses(self) -> dict[str, list[tuple[str, int]]]:
        """{dc: [(host, port) of each access node]}, for clients."""
        result: dict[str, list[tuple[str, int]]] = {}
        for info in self.nodes():
            if info.role == "access":
                result.setdefault(info.dc, []).append((info.host, info.port))
        return result

    @property
    @abstractmethod
    def wan(self) -> Wan:
        """The WAN of this cluster (Toxiproxy's, or the sim's)."""

    @property
    def secret(self) -> str:
        if self.spec is None:
            raise SetupError("the cluster has not been started")
        return self.spec.secret

    # ------------------------------------------------------------------ process faults
    @abstractmethod
    def kill(self, node: NodeRef) -> None:
        """SIGKILL the node (no clean shutdown)."""

    @abstractmethod
    def restart(self, node: NodeRef) -> None:
        """Start the node again on the same port with the same database; wait until healthy.
        A node still running is stopped first."""

    @abstractmethod
    def pause(self, node: NodeRef) -> None:
        """Freeze the node (SIGSTOP)."""

    @abstractmethod
    def resume(self, node: NodeRef) -> None:
        """Unfreeze the node (SIGCONT)."""

    @abstractmethod
    def is_running(self, node: NodeRef) -> bool:
        """True when the node's process exists (paused counts as running)."""

    @abstractmethod
    def pids(self) -> dict[str, int]:
        """{process name: pid} of every live process this backend started (incl. toxiproxy)."""

    # ------------------------------------------------------------------ admin
    async def admin_status(self, node: NodeRef, timeout: float = 5.0) -> dict[str, Any]:
        """The node's admin `status` reply (health, vv, coords, counters, clock offset)."""
        from imcluster.client import AdminClient

        info = self.node(node)
        admin = AdminClient(info.host, info.port, self.secret)
        try:
            return dict(await asyncio.wait_for(admin.status(), timeout))
        finally:
            await _close(admin)

    async def set_clock(self, node: NodeRef, offset_ms: float, timeout: float = 5.0) -> None:
        """Set the node's clock offset (ms added to its wall clock)."""
        from imcluster.client import AdminClient

        info = self.node(node)
        admin = AdminClient(info.host, info.port, self.secret)
        try:
            await asyncio.wait_for(admin.set_clock(round(offset_ms)), timeout)
        finally:
            await _close(admin)

    # ------------------------------------------------------------------ results
    @abstractmethod
    def collect(self, run_dir: Path) -> dict[str, Path]:
        """Copy node logs to `run_dir/logs/<node>.log`; return {dc: path of its hub's event log}
        (paths readable by the caller)."""


async def _close(admin: Any) -> None:
    close = getattr(admin, "close", None)
    if close is None:
        return
    result = close()
    if asyncio.iscoroutine(result):
        await result
