"""The bench's lean event loop for the rumor modes: the real `HubCore`s, a cheaper clock.

`_convergence._Net` is the general driver (a heap entry per event, any timer delay). In the
rumor modes every timer lands on a round boundary and every frame one WAN latency after it
was sent, so a trial has only a few distinct instants per round: `RumorNet` keeps one slot per
instant (the timers due then, the frames arriving then) and a small heap of instants. The order
is the general driver's exactly (at one instant: timers first, the last set first; then frames
in the order sent), so both drivers give the same rows for one seed
(`tests/harness/test_bench_convergence.py`). Per event it calls the hub's `handle` and sorts the
effects by type; a frame is sized by `frame_bytes` once per shape (no JSON per frame). A frame its receiver provably ignores (`_ignored`: a duplicate push or
answer, a pull to a hub with nothing hot) is counted as sent but not handed over.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

from imcluster._config import HubConfig
from imcluster._events import LogEvent, PeerFrame, SendPeer, SetTimer, TimerFired
from imcluster._hub import GOSSIP_TIMER, HubCore
from imcluster._state import Entry

__all__ = ["RumorNet"]

Frame = dict[str, Any]
Slot = tuple[list[int], list[tuple[int, int, Frame]]]  # timers due; (to, from, frame) arriving


class RumorNet:
    """N hubs in one rumor mode, a virtual clock in ns, one slot of events per instant."""

    def __init__(self, dcs: int, mode: str, fanout: int, interval_ms: float, latency_ms: float,
                 rng: random.Random, frame_bytes: Callable[[Frame], int]) -> None:
        names = [f"dc{i}" for i in range(1, dcs + 1)]
        self.index = {name: i for i, name in enumerate(names)}
        self.latency_ns = int(latency_ms * 1e6)
        self.hubs = [HubCore(HubConfig(dc=name, peers=tuple(names), gossip=mode,
                                       gossip_interval_ms=interval_ms, gossip_fanout=fanout,
                                       count_wan_bytes=False, in_process_entries=True),
                             random.Random(rng.getrandbits(64))) for name in names]
        self._frame_bytes = frame_bytes
        self._sizes: dict[tuple[object, int | None], tuple[object, int]] = {}
        self.now = 0
        self._slots: dict[int, Slot] = {}
        self._instants: list[int] = []
        self.frames = 0
        self.bytes = 0
        self.on_apply: Callable[[int, Entry], None] = lambda i, e: None
        self._fired = TimerFired(GOSSIP_TIMER)
        self.skip_ignored = True  # off: every frame is handed over (to check `_ignored`)
        self.skipped = 0
        for i, hub in enumerate(self.hubs):
            self._carry(i, hub.start(0))

    def _slot(self, when: int) -> Slot:
        slot = self._slots.get(when)
        if slot is None:
            slot = self._slots[when] = ([], [])
            heapq.heappush(self._instants, when)
        return slot

    def _size(self, frame: Frame) -> int:
        """`frame_bytes(frame)`, remembered for the shapes a trial repeats: an empty pull
        request, and a frame carrying one entry (the cache holds the entry: its id stays its)."""
        entries = frame["entries"]
        if len(entries) > 1:
            return self._frame_bytes(frame)
        key = (frame.get("pull"), id(entries[0]) if entries else None)
        known = self._sizes.get(key)
        if known is None or (entries and known[0] is not entries[0]):
            known = self._sizes[key] = (entries[0] if entries else None, self._frame_bytes(frame))
        return known[1]

    def _carry(self, i: int, effects: list[Any]) -> None:
        last: Frame | None = None
        arrivals: list[tuple[int, int, Frame]] | None = None
        size = 0
        for effect in effects:
            kind = type(effect)
            if kind is SendPeer:
                frame = effect.frame
                if frame is not last:  # one frame to K peers: sized once
                    last = frame
                    size = self._size(frame)
                self.frames += 1
                self.bytes += size
                if arrivals is None:
                    arrivals = self._slot(self.now + self.latency_ns)[1]
                arrivals.append((self.index[effect.peer], i, frame))
            elif kind is SetTimer:
                if effect.name != GOSSIP_TIMER:
                    raise RuntimeError(f"unexpected timer {effect.name!r} in a rumor bench")
                self._slot(self.now + round(effect.delay_ms * 1e6))[0].append(i)
            elif kind is LogEvent and effect.event in ("apply", "originate"):
                self.on_apply(i, effect.entry)

    def handle(self, i: int, event: object) -> None:
        self._carry(i, self.hubs[i].handle(event, self.now))

    def run_to(self, limit_ns: int) -> None:
        """Carry out every event due at or before `limit_ns`."""
        instants, slots, hubs, fired = self._instants, self._slots, self.hubs, self._fired
        carry, skip = self._carry, self.skip_ignored
        while instants and instants[0] <= limit_ns:
            now = self.now = heapq.heappop(instants)
            timers, frames = slots.pop(now)
            for i in reversed(timers):
                carry(i, hubs[i].handle(fired, now))
            for to, sender, frame in frames:  # one sent at this instant (no latency) comes later
                hub = hubs[to]
                if skip and _ignored(hub, frame):
                    self.skipped += 1
                else:
                    carry(to, hub.handle(PeerFrame(hubs[sender].dc, frame), now))


def _ignored(hub: HubCore, frame: Frame) -> bool:
    """Whether `hub` would do nothing with rumor `frame`: every entry it carries is held already
    (a duplicate push or answer) and it asks nothing the hub could answer (no pull, or nothing
    hot). Its `handle` would return no effect and change nothing: no reply, no apply, no timer
    (a hub holding something hot has its round armed already). Checked against the general
    driver, which hands every frame over: same rows (`tests/harness/test_bench_convergence.py`)."""
    if frame.get("type") != "rumor" or (frame.get("pull") and hub.hot):
        return False
    state = hub.state
    return all(type(e) is Entry and e.dot in state for e in frame["entries"])
