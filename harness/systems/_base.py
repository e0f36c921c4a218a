"""The seam between the harness and a system under test: Jepsen's DB and Client, in Python.

A `System` (Jepsen's DB) runs the nodes of each DC on a backend kind (`local`, `docker`, ...),
declares its inter-DC links so the WAN puts one Toxiproxy proxy on each ordered DC pair, verifies
that live inter-DC traffic goes through those proxies, reads whatever final state it can, and
declares its `Guarantees` so that the checkers judge it fairly. A `Client` maps the IM workload's
ops (`connect`, `login`, `logout`, `send`, receipts through `on_deliver`) onto the system's own
primitives; the workload (`harness.workload.UserClients`) turns its exceptions and timeouts into
`info` ops. The runner knows these protocols only, never a concrete system.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..backends._base import Backend
from ..errors import UsageError
from ..seams import Backend as RunningBackend

__all__ = ["ClientFactory", "DeliverCallback", "FinalState", "Guarantees", "Link", "System",
           "SystemClient"]


@dataclass(frozen=True)
class Guarantees:
    """What a system promises; written to `test.json` as `guarantees` and read by the checkers.

    `durable_ack`: an acknowledged send survives the crash of any node (else a loss after a
    `kill`/`dc-outage` is not a violation; the delivery checker answers `unknown` for it).
    `duplicates`: the system may deliver a message more than once (at-least-once): `--exactly-once`
    does not apply. `order`: what order receipts keep (`"per-pair"`: per sender->recipient), or
    `None` when none is promised (an ordering bound does not apply). `replicated_state`: the
    system reports each DC's final state (`final.json`: version vectors, coordinates), which
    the `convergence` and `routing` checkers need. `event_logs`: per-DC `originate`/`apply` logs
    (`events.jsonl`).
    """

    durable_ack: bool
    duplicates: bool
    order: str | None
    replicated_state: bool
    event_logs: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Link:
    """One inter-DC link: traffic from `src` towards `dst` goes to `upstream` (`host:port` of the
    node in `dst` that `src` connects to); the WAN proxies it as `src->dst`."""

    src: str
    dst: str
    upstream: str

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass
class FinalState:
    """What `System.final_state` read after recovery: `converged` (whether every DC agrees, as
    far as the system can tell) and the `final.json` content (None: the system has none)."""

    converged: bool
    final: dict[str, Any] | None
    activity: Any = None
    """Changes while the system still works (imcluster: each hub's version vector and count of
    unacknowledged offers); recovery waits until it stood still for the quiet period."""
    busy: bool = False
    """Work in hand when first read (imcluster: offers not yet acknowledged)."""


DeliverCallback = Callable[[str, Mapping[str, Any]], None]
"""`on_deliver(user, frame)`, frame `{"type": "deliver", id, from, to, dc, via}`."""


class SystemClient(Protocol):
    """One simulated user's connection to a DC (the workload's ops on the system's primitives).

    `connect()` raises `ConnectionError`/`OSError` when the DC cannot be reached (the login then
    certainly did not happen: `fail`); `login(user)` returns `{node, conn}` (either may be None);
    `send` raises an exception whose class is named `SendRejected` when the system refused the
    message for sure (`fail`); any other exception or timeout is indeterminate (`info`).
    `closed` (optional) is an `asyncio.Event` set when the system ends the connection."""

    async def connect(self) -> Any: ...

    async def login(self, user: str) -> Mapping[str, Any] | None: ...

    async def logout(self) -> Any: ...

    async def send(self, msg_id: str, to: str, body: str, timeout: float) -> Any: ...

    def close(self) -> Any: ...


ClientFactory = Callable[[str, int, str, str, DeliverCallback], SystemClient]
"""`factory(host, port, secret, user, on_deliver)`: a new, unconnected client of `user` for the
access address `(host, port)` of a DC (from `Backend.access_addresses()`)."""


class System(ABC):
    """A system under test (see the module docstring). Subclasses set `name`, `help`,
    `guarantees` and `backends` (the backend kinds they run on)."""

    name: str = "abstract"
    help: str = ""
    guarantees: Guarantees
    backends: tuple[str, ...] = ("local",)

    def check_backend(self, backend: str) -> None:
        """`UsageError` when this system cannot run on `backend`."""
        if backend not in self.backends:
            raise UsageError(f"--system {self.name} runs on --backend "
                             f"{' or '.join(self.backends)}, not {backend!r}")

    def check_installed(self, backend: str) -> None:
        """`SetupError` naming the command that installs what is missing (default: nothing)."""

    def check_options(self, options: Any) -> None:
        """`UsageError` for run options this system cannot honour (default: all fine)."""

    @abstractmethod
    def make_backend(self, backend: str) -> Backend:
        """A new, not yet started `Backend` that runs this system's nodes on `backend`: it
        starts Toxiproxy with one proxy per declared link, the nodes of each DC, kills, pauses and
        restarts them, and collects their logs (`Backend.collect`)."""

    @abstractmethod
    def links(self, backend: RunningBackend) -> list[Link]:
        """The inter-DC links of a started cluster (one per ordered DC pair that talks)."""

    @abstractmethod
    def client_factory(self, backend: RunningBackend) -> ClientFactory:
        """How the workload opens one user's connection to a DC of the started cluster."""

    @abstractmethod
    def verify_links(self, backend: RunningBackend) -> list[str]:
        """Inter-DC connections that bypass the WAN, each as `"src->dst: how"` (empty: every
        live inter-DC connection goes through its proxy). Called after setup and after heals."""

    async def prepare(self, backend: RunningBackend, users: list[str]) -> None:
        """Called once before the main phase with every user of the workload (Jepsen's client
        `setup!`): e.g. create each user's mailboxes. Default: nothing."""
        await asyncio.sleep(0)

    async def final_state(self, backend: RunningBackend, dc_names: list[str]) -> FinalState:
        """The state read after recovery; default: nothing to read (`final.json` not written)."""
        await asyncio.sleep(0)
        return FinalState(converged=True, final=None)
