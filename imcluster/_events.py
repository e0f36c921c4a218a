"""Events that drive the sans-IO cores and the effects they return.

A driver (asyncio in `_hubnode`/`_accessnode`, in-memory in `_memnet`) feeds events with the current
time into `HubCore.handle` / `AccessCore.handle` and carries out the returned effects *in order*.
Ordering is the durability contract: a `Persist` effect must be completed (committed) before any
effect after it is carried out.

Each event and effect is a frozen dataclass with a hand-written `__init__` (`init=False`): the
compiled build (docs/accel.md) turns `object.__setattr__` in a class's own `__init__` into a
native store, while the `__init__` that `dataclass` generates stays interpreted code even in a
compiled module (~7x slower to construct; events and effects are made millions of times a run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._state import Entry

Frame = dict[str, Any]

# ---------------------------------------------------------------- hub events


@dataclass(frozen=True, slots=True, init=False)
class TimerFired:
    """A timer set by `SetTimer` elapsed."""

    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)


@dataclass(frozen=True, slots=True, init=False)
class PeerFrame:
    """A frame from the hub of DC `peer` (on either connection with it)."""

    peer: str
    frame: Frame

    def __init__(self, peer: str, frame: Frame) -> None:
        object.__setattr__(self, "peer", peer)
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class AccessConnected:
    """Access node `node` of this DC opened an authenticated link to the hub."""

    node: str

    def __init__(self, node: str) -> None:
        object.__setattr__(self, "node", node)


@dataclass(frozen=True, slots=True, init=False)
class AccessFrame:
    """A frame from access node `node` of this DC."""

    node: str
    frame: Frame

    def __init__(self, node: str, frame: Frame) -> None:
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class AccessDisconnected:
    """The link from access node `node` closed: every user it held is now offline."""

    node: str

    def __init__(self, node: str) -> None:
        object.__setattr__(self, "node", node)


HubEvent = (TimerFired | PeerFrame | AccessConnected | AccessFrame | AccessDisconnected)

# ---------------------------------------------------------------- access events


@dataclass(frozen=True, slots=True, init=False)
class ClientOpened:
    """A client connection `conn` was accepted."""

    conn: str

    def __init__(self, conn: str) -> None:
        object.__setattr__(self, "conn", conn)


@dataclass(frozen=True, slots=True, init=False)
class ClientData:
    """Raw bytes received from client `conn` (any split: the core does the framing)."""

    conn: str
    data: bytes

    def __init__(self, conn: str, data: bytes) -> None:
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "data", data)


@dataclass(frozen=True, slots=True, init=False)
class ClientFrame:
    """One frame from client `conn`, already parsed (in-process drivers: no JSON on the way)."""

    conn: str
    frame: Frame

    def __init__(self, conn: str, frame: Frame) -> None:
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class ClientClosed:
    """Client `conn` went away (EOF, reset, or after `CloseClient`)."""

    conn: str

    def __init__(self, conn: str) -> None:
        object.__setattr__(self, "conn", conn)


@dataclass(frozen=True, slots=True)
class HubConnected:
    """The access node's authenticated link to its hub is up (sent again after each reconnect)."""


@dataclass(frozen=True, slots=True, init=False)
class HubFrameIn:
    """A frame from this DC's hub."""

    frame: Frame

    def __init__(self, frame: Frame) -> None:
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True)
class HubDisconnected:
    """The link to the hub dropped; the driver reconnects with backoff."""


AccessEvent = (TimerFired | ClientOpened | ClientData | ClientFrame | ClientClosed | HubConnected
               | HubFrameIn | HubDisconnected)

# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True, init=False)
class SendPeer:
    """Send `frame` to the hub of DC `peer`.

    `reply=False`: on our own outgoing connection to `peer` (through the proxy us->peer).
    `reply=True`: back on the connection `peer` opened to us (an answer to its request).
    A driver drops the frame if that connection is not up; the core's timers cope.
    """

    peer: str
    frame: Frame
    reply: bool = False

    def __init__(self, peer: str, frame: Frame, reply: bool = False) -> None:
        object.__setattr__(self, "peer", peer)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "reply", reply)


@dataclass(frozen=True, slots=True, init=False)
class SendAccess:
    """Send `frame` to access node `node` of this DC (dropped if it is not connected)."""

    node: str
    frame: Frame

    def __init__(self, node: str, frame: Frame) -> None:
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class SendHub:
    """Access node: send `frame` to this DC's hub."""

    frame: Frame

    def __init__(self, frame: Frame) -> None:
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class SendClient:
    """Access node: send `frame` to client `conn`."""

    conn: str
    frame: Frame

    def __init__(self, conn: str, frame: Frame) -> None:
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "frame", frame)


@dataclass(frozen=True, slots=True, init=False)
class CloseClient:
    """Access node: close client `conn` after flushing frames already sent to it."""

    conn: str

    def __init__(self, conn: str) -> None:
        object.__setattr__(self, "conn", conn)


@dataclass(frozen=True, slots=True, init=False)
class Persist:
    """Make `entries` durable (commit) before carrying out any later effect."""

    entries: tuple[Entry, ...]

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        object.__setattr__(self, "entries", entries)


@dataclass(frozen=True, slots=True, init=False)
class SetTimer:
    """Fire `TimerFired(name)` after `delay_ms` (replaces a pending timer of the same name)."""

    name: str
    delay_ms: float

    def __init__(self, name: str, delay_ms: float) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "delay_ms", delay_ms)


@dataclass(frozen=True, slots=True, init=False)
class LogEvent:
    """Append one line to the hub's event log: `event` is `originate` or `apply`."""

    event: str
    entry: Entry

    def __init__(self, event: str, entry: Entry) -> None:
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "entry", entry)


Effect = (SendPeer | SendAccess | SendHub | SendClient | CloseClient | Persist | SetTimer | LogEvent)

__all__ = [
    "AccessConnected", "AccessDisconnected", "AccessEvent", "AccessFrame", "ClientClosed",
    "ClientData", "ClientFrame", "ClientOpened", "CloseClient", "Effect", "Frame", "HubConnected",
    "HubDisconnected", "HubEvent", "HubFrameIn", "LogEvent", "PeerFrame", "Persist", "SendAccess",
    "SendClient", "SendHub", "SendPeer", "SetTimer", "TimerFired",
]

