"""`SimCluster`: the sim backend's `MemCluster`, whose WAN links take their faults from a `SimWan`.

Apart from `harness.sim._backend` (which holds `SimWan` and `SimBackend`) so that the compiled
build (docs/accel.md) can compile it: it is on every WAN frame's path. See `_backend`'s docstring
for the WAN model (degraded links serialised, held frames handed on when the WAN is restored).
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any

from imcluster._accel import mypyc_attr
from imcluster._memnet import DEFAULT_SECRET, MemCluster, _ns
from imcluster._state import Entry

if TYPE_CHECKING:
    from ._backend import SimWan

__all__ = ["SimCluster", "frame_size"]

Link = tuple[str, str]


def frame_size(frame: dict[str, Any]) -> int:
    """Bytes of `frame` on the wire (gossip entries cross in-process as `Entry` objects)."""
    def entry_json(obj: object) -> Any:
        if isinstance(obj, Entry):
            return obj.to_json()
        raise TypeError(f"{type(obj).__name__} is not part of a frame")
    text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=entry_json)
    return len(text.encode("utf-8")) + 1


class _Held:
    """A frame sent on a degraded link: `due_ns` is when it arrives (-1 once it has), `plain_ns`
    when it would have without the degradations."""

    __slots__ = ("due_ns", "hop", "plain_ns")

    def __init__(self, hop: tuple[str, str, int, int, dict[str, Any]], plain_ns: int,
                 due_ns: int) -> None:
        self.hop, self.plain_ns, self.due_ns = hop, plain_ns, due_ns


class _DegradedLink:
    """What a degraded link holds: its frames in sending order, when its serialisation
    (`bandwidth`, `slicer`) is busy until, and the latest undegraded arrival (FIFO floor)."""

    __slots__ = ("busy_until_ns", "held", "plain_floor_ns")

    def __init__(self, plain_floor_ns: int) -> None:
        self.held: deque[_Held] = deque()
        self.busy_until_ns = 0
        self.plain_floor_ns = plain_floor_ns


@mypyc_attr(allow_interpreted_subclasses=True)  # tests record arrivals in a subclass
class SimCluster(MemCluster):
    """`MemCluster` whose WAN links take their faults from a `SimWan`."""

    def __init__(self, dcs: int, seed: int, access_per_dc: int = 1, latency_ms: float = 200,
                 local_latency_ms: float = 1.0, jitter_ms: float = 0,
                 secret: bytes = DEFAULT_SECRET, **hub_config_overrides: Any) -> None:
        from ._backend import SimWan  # `_backend` imports this module

        self.wan: SimWan = SimWan(self, [f"dc{i}" for i in range(1, dcs + 1)], seed)
        self._degraded: dict[Link, _DegradedLink] = {}
        # positionally: compiled, a keyword call of the base's `__init__` mixed up its arguments
        super().__init__(dcs, access_per_dc, seed, latency_ms, local_latency_ms, jitter_ms, secret,
                         **hub_config_overrides)

    def _send_wan(self, src: str, dst: str, frame: dict[str, Any]) -> None:
        faults = self.wan.degradations.get((src, dst)) if self.wan.degradations else None
        if not faults:
            super()._send_wan(src, dst, frame)
            return
        if self._wan_cut(src, dst) or dst not in self.hubs:
            self.dropped_frames += 1
            return
        link, now = (src, dst), self.now_ns
        plain_ns = now + _ns(self._link_delay_ms(src, dst, frame))  # latency, jitter
        serial_ms, extra_ms = self.wan.extra_delays_ms(faults, frame)
        slow = self._degraded.get(link)
        if slow is None:
            slow = self._degraded[link] = _DegradedLink(self._link_clock.get(link, 0))
        slow.busy_until_ns = max(now, slow.busy_until_ns) + _ns(serial_ms)
        due = max(slow.busy_until_ns + (plain_ns - now) + _ns(extra_ms),
                  self._link_clock.get(link, 0))
        self._link_clock[link] = due
        slow.plain_floor_ns = max(slow.plain_floor_ns, plain_ns)
        held = _Held((src, dst, self.incarnation[src], self.incarnation[dst], frame),
                     slow.plain_floor_ns, due)
        slow.held.append(held)
        self._schedule_held(link, held)

    def _schedule_held(self, link: Link, held: _Held) -> None:
        due = held.due_ns
        self.at_ns(due, lambda: self._held_arrives(link, held, due))

    def _held_arrives(self, link: Link, held: _Held, due: int) -> None:
        if held.due_ns != due:
            return  # handed on earlier by `release_degraded`
        held.due_ns = -1
        slow = self._degraded.get(link)
        while slow is not None and slow.held and slow.held[0].due_ns == -1:
            slow.held.popleft()
        self._wan_arrive([held.hop])

    def release_degraded(self) -> None:
        """The degradations were removed: every frame they still hold arrives at its undegraded
        time, or now if that has passed, in sending order; the links serialise nothing more."""
        now = self.now_ns
        for link, slow in sorted(self._degraded.items()):
            last = now
            for held in slow.held:
                if held.due_ns == -1:
                    continue
                last = max(held.plain_ns, last)
                held.due_ns = last
                self._schedule_held(link, held)
            self._link_clock[link] = max(last, slow.plain_floor_ns)
        self._degraded.clear()

    def _carry(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Frames are handed over as they are: every core builds a fresh dict for each frame it
        sends and never mutates one it received (the codec is exercised by the other backends
        and by `MemCluster`'s own tests)."""
        return frame

    def _wan_cut(self, src: str, dst: str) -> bool:
        return (src, dst) in self.cuts or (src, dst) in self.wan.dropping
