"""Configuration of the sans-IO cores: `HubConfig` and `AccessConfig` (plain, validated data).

Also the small `Rng` protocol: the cores take a seeded random source as an argument and never
import the `random` module themselves (DESIGN §6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

GOSSIP_MODES: tuple[str, ...] = ("push+anti-entropy", "anti-entropy", "push", "rumor-push",
                                  "rumor-pull", "rumor-push-pull")
RUMOR_MODES: tuple[str, ...] = ("rumor-push", "rumor-pull", "rumor-push-pull")
DELIVERY_MODES: tuple[str, ...] = ("durable", "online-first")
BUGS: tuple[str, ...] = ("ack-before-persist", "volatile-store", "no-anti-entropy", "gateway-drop",
                         "no-tombstones", "wallclock-lww")
PARTITION_STYLES: tuple[str, ...] = ("blackhole", "refuse")
"""How a cut WAN link fails: `blackhole` drops silently, `refuse` resets connections (the WANs of
every backend, Toxiproxy and simulated, implement both)."""


class Rng(Protocol):
    """What the cores need from a random source (a seeded `random.Random` satisfies it)."""

    def random(self) -> float: ...

    def choice(self, seq: Sequence[Any], /) -> Any: ...


@dataclass(frozen=True)
class HubConfig:
    """Settings of one hub (one per DC)."""

    dc: str
    peers: tuple[str, ...] = ()
    node: str = ""
    gossip: str = "push+anti-entropy"
    gossip_interval_ms: float = 100
    gossip_fanout: int = 1  # rumor modes: peers called per round (see `rumor_rounds`)
    delivery: str = "durable"
    bugs: frozenset[str] = field(default_factory=frozenset)
    forward_timeout_ms: float = 2000
    max_batch_entries: int = 256
    max_batch_bytes: int = 256 * 1024
    # new local entries within this long of the last push wait for the window's end and go in
    # one push frame (a burst of updates: one frame and one commit at each peer); 0: each alone
    push_window_ms: float = 20
    max_answer_batches: int = 32  # batches one digest answer may carry (a lagging peer's repair)
    # anti-entropy does not resend entries sent to a peer less than this long ago (`_inflight`)
    resend_after_ms: float = 1000
    reoffer_after_ms: float = 3000  # an unacknowledged offer older than this is sent again
    reoffer_interval_ms: float = 1000  # how often the hub looks for such offers
    max_offers: int = 65536  # messages the offer book tracks at most (oldest forgotten first)
    compact_interval_ms: float = 1000  # compaction of dead entries runs at most this often
    count_wan_bytes: bool = True  # off: no encoding just to count (the sim backend's hot path)
    in_process_entries: bool = False  # peers in this process: frames carry `Entry` objects

    def __post_init__(self) -> None:
        if not self.dc:
            raise ValueError("dc must be a non-empty name")
        if not self.node:
            object.__setattr__(self, "node", f"{self.dc}-hub")
        object.__setattr__(self, "peers", tuple(p for p in self.peers if p != self.dc))
        object.__setattr__(self, "bugs", frozenset(self.bugs))
        if self.gossip not in GOSSIP_MODES:
            raise ValueError(f"unknown gossip mode {self.gossip!r}; expected one of "
                             f"{', '.join(GOSSIP_MODES)}")
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(f"unknown delivery mode {self.delivery!r}; expected one of "
                             f"{', '.join(DELIVERY_MODES)}")
        unknown = sorted(self.bugs - set(BUGS))
        if unknown:
            raise ValueError(f"unknown bug(s) {', '.join(unknown)}; known bugs: {', '.join(BUGS)}")
        if self.gossip_interval_ms <= 0 or self.forward_timeout_ms <= 0:
            raise ValueError("gossip_interval_ms and forward_timeout_ms must be positive")
        if isinstance(self.gossip_fanout, bool) or not isinstance(self.gossip_fanout, int) \
                or self.gossip_fanout < 1:
            raise ValueError("gossip_fanout must be an integer >= 1")
        if self.max_batch_entries < 1 or self.max_batch_bytes < 1 or self.max_answer_batches < 1:
            raise ValueError("batch bounds must be positive")
        if self.resend_after_ms < 0 or self.push_window_ms < 0:
            raise ValueError("resend_after_ms and push_window_ms must be >= 0")
        if self.reoffer_after_ms <= 0 or self.reoffer_interval_ms <= 0 or self.max_offers < 1:
            raise ValueError("reoffer_after_ms, reoffer_interval_ms and max_offers must be positive")

    @property
    def eager_push(self) -> bool:
        """New local updates are pushed at once to every peer."""
        return self.gossip in ("push+anti-entropy", "push")

    @property
    def anti_entropy(self) -> bool:
        """Digest rounds run every gossip interval (off in `push` mode and with `no-anti-entropy`)."""
        if "no-anti-entropy" in self.bugs:
            return False
        return self.gossip in ("push+anti-entropy", "anti-entropy")

    @property
    def rumor(self) -> bool:
        """Rumor mongering: new updates stay "hot" `rumor_rounds` rounds and are gossiped to
        `gossip_fanout` random peers per round (docs/architecture.md "Gossip modes")."""
        return self.gossip in RUMOR_MODES

    @property
    def fanout(self) -> int:
        """Peers called per rumor round: `gossip_fanout`, at most the number of peers."""
        return min(self.gossip_fanout, len(self.peers))

    @property
    def rumor_rounds(self) -> int:
        """The stop rule: rounds a hub keeps an update hot after it learned it (a blind
        counter), ceil(log2 N + ln N) + 4 for N DCs whatever the fan-out, so that the last
        DCs informed still spread it while the rest of the cluster learns it."""
        return rumor_rounds(len(self.peers) + 1)


def rumor_rounds(dcs: int) -> int:
    """ceil(log2 N + ln N) + 4: rounds an update stays hot in a hub of a cluster of `dcs` DCs
    (the + 4 rounds of slack make a rumor that dies before it reached every DC rare: each
    round in which all DCs push divides the chance that one DC is still missed by about e)."""
    n = max(dcs, 2)
    return math.ceil(math.log2(n) + math.log(n)) + 4


@dataclass(frozen=True)
class AccessConfig:
    """Settings of one access node."""

    dc: str
    node: str
    secret: bytes
    max_frame: int = 65536
    max_connections: int = 4096  # more are refused: error too_many_connections, then close
    login_timeout_ms: float = 10_000  # a connection not logged in by then: login_timeout, close
    idle_timeout_ms: float = 3_600_000  # a logged-in client silent this long: idle_timeout; 0: off

    def __post_init__(self) -> None:
        if not self.dc or not self.node:
            raise ValueError("dc and node must be non-empty")
        if isinstance(self.secret, str):
            object.__setattr__(self, "secret", self.secret.encode("utf-8"))
        if self.max_frame < 2:
            raise ValueError("max_frame too small")
        if self.max_connections < 1 or self.login_timeout_ms <= 0 or self.idle_timeout_ms < 0:
            raise ValueError("max_connections and login_timeout_ms must be positive, "
                             "idle_timeout_ms >= 0")


__all__ = ["BUGS", "DELIVERY_MODES", "GOSSIP_MODES", "RUMOR_MODES", "AccessConfig", "HubConfig",
           "Rng", "rumor_rounds"]
