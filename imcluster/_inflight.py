"""What a hub sent each peer and the peer has not yet shown it holds: anti-entropy skips it.

A digest reflects what its sender held one link delay ago, so entries pushed (or sent in an
earlier answer) moments before it arrives look missing although they are on the wire. Answering
with them again doubles the gossip traffic for nothing. `InFlight` records, per peer and origin,
the highest seq sent in each batch and when; a version vector from that peer retires the batches
it covers; entries of batches younger than `resend_after_ms` are taken as on their way, and once
the oldest unretired batch is older than that and the peer's version vector for that origin has
not advanced for as long (lost to a partition, a crash, a dropped frame) the answer starts again
from the peer's version vector, as it did before. A peer whose vector keeps advancing is working
through what it was sent (after a long partition a slow hub takes seconds to apply a backlog):
sending it the backlog again would only bury it deeper. Pure: times come in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ._state import Entry


class InFlight:
    """Per peer, per origin: (highest seq sent, when) batches the peer has not acknowledged."""

    def __init__(self, resend_after_ms: float) -> None:
        self.resend_after_ns = round(resend_after_ms * 1_000_000)
        self._sent: dict[str, dict[str, deque[tuple[int, int]]]] = {}
        # per peer, per origin: (the seq its version vector last showed, the latest time it is
        # known to have advanced by: the observation before the one that showed it, when seen)
        self._progress: dict[str, dict[str, tuple[int, int, int]]] = {}

    def record(self, peer: str, entries: Iterable[Entry], now_ns: int) -> None:
        """`entries` were just sent to `peer`."""
        highest: dict[str, int] = {}
        for entry in entries:
            if entry.seq > highest.get(entry.origin, 0):
                highest[entry.origin] = entry.seq
        for origin, seq in highest.items():
            self.record_seq(peer, origin, seq, now_ns)

    def record_seq(self, peer: str, origin: str, seq: int, now_ns: int) -> None:
        """Entries of `origin` up to `seq` are on their way to `peer` since `now_ns`."""
        by_origin = self._sent.get(peer)
        if by_origin is None:
            by_origin = self._sent[peer] = {}
        batches = by_origin.get(origin)
        if batches is None:
            by_origin[origin] = deque(((seq, now_ns),))
        elif not batches or seq > batches[-1][0]:
            batches.append((seq, now_ns))

    def forget(self, peer: str, before_ns: int | None = None) -> None:
        """Nothing sent to `peer` (before `before_ns`, if given) is on its way any more (its
        connection was replaced: what was queued on the old one may be lost)."""
        if before_ns is None:
            self._sent.pop(peer, None)
            self._progress.pop(peer, None)
            return
        for batches in self._sent.get(peer, {}).values():
            kept = [batch for batch in batches if batch[1] >= before_ns]
            batches.clear()
            batches.extend(kept)

    def known(self, peer: str, vv: Mapping[str, Any], now_ns: int) -> Mapping[str, Any]:
        """`vv` (the peer's version vector) raised by what is on its way to the peer; batches
        `vv` covers are retired, and an origin whose oldest unretired batch is overdue (older
        than `resend_after_ms`, and the peer's seq for that origin unchanged as long) is sent
        again from `vv`."""
        by_origin = self._sent.get(peer)
        if not by_origin:
            return vv
        progress = self._progress.setdefault(peer, {})
        raised: dict[str, Any] | None = None
        for origin, batches in by_origin.items():
            held = vv.get(origin, 0)
            if not isinstance(held, int) or isinstance(held, bool):
                held = 0
            while batches and batches[0][0] <= held:
                batches.popleft()
            if not batches:
                progress.pop(origin, None)
                continue
            seen = progress.get(origin)
            if seen is None:
                seen = (held, batches[0][1], now_ns)  # no progress seen yet
            elif held > seen[0]:
                # it advanced since the last look, maybe long ago (before a partition): count
                # it from that look, not from now
                seen = (held, seen[2], now_ns)
            else:
                seen = (seen[0], seen[1], now_ns)
            progress[origin] = seen
            if now_ns - max(batches[0][1], seen[1]) >= self.resend_after_ns:
                batches.clear()  # overdue: the answer resends from `vv` (and records it anew)
                continue
            if raised is None:
                raised = dict(vv)
            raised[origin] = batches[-1][0]
        return vv if raised is None else raised


__all__ = ["InFlight"]
