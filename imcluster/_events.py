"""Events that drive the sans-IO cores and the effects they return.

A driver (asyncio in `_hubnode`/`_accessnode`, in-memory in `_memnet`) feeds events with the current
time into `HubCore.handle` / `AccessCore.handle` and carries out the returned effects *in order*.
Ordering is the durability contract: a `Persist` effect must be completed (committed) before any
effect after it is carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._state import Entry

Frame = dict[str, Any]

# ---------------------------------------------------------------- hub events


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer set by `SetTimer` elapsed."""

    name: str


@dataclass(frozen=True, slots=True)
class PeerFrame:
    """A frame from the hub of DC `peer` (on either connection with it)."""

    peer: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class AccessConnected:
    """Access node `node` of this DC opened an authenticated link to the hub."""

    node: str


@dataclass(frozen=True, slots=True)
class AccessFrame:
    """A frame from access node `node` of this DC."""

    node: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class AccessDisconnected:
    """The link from access node `node` closed: every user it held is now offline."""

    node: str


HubEvent = (TimerFired | PeerFrame | AccessConnected | AccessFrame | AccessDisconnected)

# ---------------------------------------------------------------- access events


@dataclass(frozen=True, slots=True)
class ClientOpened:
    """A client connection `conn` was accepted."""

    conn: str


@dataclass(frozen=True, slots=True)
class ClientData:
    """Raw bytes received from client `conn` (any split: the core does the framing)."""

    conn: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """One frame from client `conn`, already parsed (in-process drivers: no JSON on the way)."""

    conn: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class ClientClosed:
    """Client `conn` went away (EOF, reset, or after `CloseClient`)."""

    conn: str


@dataclass(frozen=True, slots=True)
class HubConnected:
    """The access node's authenticated link to its hub is up (sent again after each reconnect)."""


@dataclass(frozen=True, slots=True)
class HubFrameIn:
    """A frame from this DC's hub."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class HubDisconnected:
    """The link to the hub dropped; the driver reconnects with backoff."""


AccessEvent = (TimerFired | ClientOpened | ClientData | ClientFrame | ClientClosed | HubConnected
               | HubFrameIn | HubDisconnected)

# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class SendPeer:
    """Send `frame` to the hub of DC `peer`.

    `reply=False`: on our own outgoing connection to `peer` (through the proxy us->peer).
    `reply=True`: back on the connection `peer` opened to us (an answer to its request).
    A driver drops the frame if that connection is not up; the core's timers cope.
    """

    peer: str
    frame: Frame
    reply: bool = False


@dataclass(frozen=True, slots=True)
class SendAccess:
    """Send `frame` to access node `node` of this DC (dropped if it is not connected)."""

    node: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class SendHub:
    """Access node: send `frame` to this DC's hub."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class SendClient:
    """Access node: send `frame` to client `conn`."""

    conn: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class CloseClient:
    """Access node: close client `conn` after flushing frames already sent to it."""

    conn: str


@dataclass(frozen=True, slots=True)
class Persist:
    """Make `entries` durable (commit) before carrying out any later effect."""

    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Fire `TimerFired(name)` after `delay_ms` (replaces a pending timer of the same name)."""

    name: str
    delay_ms: float


@dataclass(frozen=True, slots=True)
class LogEvent:
    """Append one line to the hub's event log: `event` is `originate` or `apply`."""

    event: str
    entry: Entry


Effect = (SendPeer | SendAccess | SendHub | SendClient | CloseClient | Persist | SetTimer | LogEvent)

__all__ = [
    "AccessConnected", "AccessDisconnected", "AccessEvent", "AccessFrame", "ClientClosed",
    "ClientData", "ClientFrame", "ClientOpened", "CloseClient", "Effect", "Frame", "HubConnected",
    "HubDisconnected", "HubEvent", "HubFrameIn", "LogEvent", "PeerFrame", "Persist", "SendAccess",
    "SendClient", "SendHub", "SendPeer", "SetTimer", "TimerFired",
]

