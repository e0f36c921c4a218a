"""Replicated state of the cluster: entries (dots), version vectors and merge.

Pure: no IO, no clock, no randomness. See docs/architecture.md "Replicated state".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

KINDS = ("coord", "msg", "tomb")


@dataclass(frozen=True)
class Entry:
    """One update, identified by its dot `(origin, seq)`."""

    kind: str
    key: str
    origin: str
    seq: int
    hlc: tuple[int, int]
    data: Mapping[str, Any]

    @property
    def dot(self) -> tuple[str, int]:
        return (self.origin, self.seq)

    @cached_property
    def size(self) -> int:
        """Encoded size in a gossip frame (bytes); computed once (an entry is immutable)."""
        return len(json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)) + 1

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "origin": self.origin, "seq": self.seq,
                "hlc": [self.hlc[0], self.hlc[1]], "data": dict(self.data)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Entry:
        """Parse an entry received from a peer; raises ValueError on any malformed field."""
        try:
            kind, key, origin, seq = obj["kind"], obj["key"], obj["origin"], obj["seq"]
            wall, logical = obj["hlc"]
            data = obj.get("data", {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed entry: {exc!r}") from None
        if (kind not in KINDS or not isinstance(key, str) or not isinstance(origin, str)
                or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1
                or not isinstance(wall, int) or not isinstance(logical, int)
                or isinstance(wall, bool) or isinstance(logical, bool)
                or not isinstance(data, dict)):
            raise ValueError("malformed entry")
        return cls(kind, key, origin, seq, (wall, logical), data)


def entry_order(entry: Entry) -> tuple[tuple[int, int], str, int]:
    """Total order used for last-writer-wins and for choosing among duplicates: (hlc, origin, seq)."""
    return (entry.hlc, entry.origin, entry.seq)


def entry_size(entry: Entry) -> int:
    """Approximate encoded size of an entry in a gossip frame (bytes)."""
    return entry.size


class ReplicaState:
    """Every entry a hub knows, by dot, and the views derived from that set.

    `apply` is idempotent, and the views (`coords`, `msgs`, `tombs`, pending messages) depend only
    on the set of entries applied, never on the order: merge is commutative, associative and
    idempotent. Entries past a gap in an origin's sequence are kept; the version vector counts them
    once the gap fills.
    """

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._by_origin: dict[str, dict[int, Entry]] = {}
        self._vv: dict[str, int] = {}
        self._max_seq: dict[str, int] = {}
        self.coords: dict[str, Entry] = {}
        self.msgs: dict[str, Entry] = {}
        self.tombs: set[str] = set()
        self._pending_by_user: dict[str, set[str]] = {}
        self.max_hlc: tuple[int, int] = (0, 0)
        for entry in entries:
            self.apply(entry)

    def __len__(self) -> int:
        return sum(len(by_seq) for by_seq in self._by_origin.values())

    def __contains__(self, dot: object) -> bool:
        if not isinstance(dot, tuple) or len(dot) != 2:
            return False
        return dot[1] in self._by_origin.get(dot[0], {})

    def apply(self, entry: Entry) -> bool:
        """Add an entry; True if it was new (a known dot is ignored)."""
        by_seq = self._by_origin.setdefault(entry.origin, {})
        if entry.seq in by_seq:
            return False
        by_seq[entry.seq] = entry
        if entry.seq > self._max_seq.get(entry.origin, 0):
            self._max_seq[entry.origin] = entry.seq
        contiguous = self._vv.get(entry.origin, 0)
        while contiguous + 1 in by_seq:
            contiguous += 1
        self._vv[entry.origin] = contiguous
        self.max_hlc = max(self.max_hlc, entry.hlc)
        if entry.kind == "coord":
            current = self.coords.get(entry.key)
            if current is None or entry_order(entry) > entry_order(current):
                self.coords[entry.key] = entry
        elif entry.kind == "msg":
            current = self.msgs.get(entry.key)
            if current is None or entry_order(entry) < entry_order(current):
                if current is not None:
                    self._unindex(current)
                self.msgs[entry.key] = entry
                if entry.key not in self.tombs:
                    self._pending_by_user.setdefault(_recipient(entry), set()).add(entry.key)
        elif entry.kind == "tomb":
            self.tombs.add(entry.key)
            current = self.msgs.get(entry.key)
            if current is not None:
                self._unindex(current)
        return True

    def _unindex(self, msg: Entry) -> None:
        ids = self._pending_by_user.get(_recipient(msg))
        if ids is not None:
            ids.discard(msg.key)
            if not ids:
                del self._pending_by_user[_recipient(msg)]

    def merge(self, other: ReplicaState) -> int:
        """Apply every entry of `other`; returns how many were new."""
        return sum(1 for entry in list(other.entries()) if self.apply(entry))

    def version_vector(self) -> dict[str, int]:
        """{origin: highest contiguous seq} (origins with nothing contiguous are left out)."""
        return {origin: seq for origin, seq in self._vv.items() if seq > 0}

    def max_seq(self, origin: str) -> int:
        """Highest seq known from `origin`, gaps or not (0 if none)."""
        return self._max_seq.get(origin, 0)

    def entries(self) -> Iterator[Entry]:
        """Every entry, by origin then seq."""
        for origin in sorted(self._by_origin):
            by_seq = self._by_origin[origin]
            for seq in sorted(by_seq):
                yield by_seq[seq]

    def missing_for(self, vv: Mapping[str, int], max_entries: int = 256,
                    max_bytes: int = 256 * 1024) -> list[Entry]:
        """Entries the holder of version vector `vv` lacks, in seq order per origin, bounded.

        Origins are served round-robin so that one busy origin cannot starve the others. At least
        one entry is returned when anything is missing, whatever its size.
        """
        queues: list[Iterator[Entry]] = []
        for origin in sorted(self._by_origin):
            known = vv.get(origin, 0)
            if not isinstance(known, int) or isinstance(known, bool) or known < 0:
                known = 0
            if self._max_seq.get(origin, 0) > known:
                queues.append(self._entries_after(origin, known))
        out: list[Entry] = []
        size = 0
        while queues and len(out) < max_entries:
            still: list[Iterator[Entry]] = []
            for queue in queues:
                entry = next(queue, None)
                if entry is None:
                    continue
                cost = entry_size(entry)
                if out and size + cost > max_bytes:
                    return out
                out.append(entry)
                size += cost
                still.append(queue)
                if len(out) >= max_entries:
                    return out
            queues = still
        return out

    def _entries_after(self, origin: str, known: int) -> Iterator[Entry]:
        by_seq = self._by_origin[origin]
        for seq in range(known + 1, self._max_seq[origin] + 1):
            entry = by_seq.get(seq)
            if entry is not None:
                yield entry

    def pending_for(self, user: str) -> list[Entry]:
        """Messages to `user` without a tomb, oldest first."""
        ids = self._pending_by_user.get(user, ())
        return sorted((self.msgs[i] for i in ids), key=entry_order)

    def pending_ids(self) -> set[str]:
        """Ids of every message without a tomb."""
        return {i for ids in self._pending_by_user.values() for i in ids}

    def coordinate(self, user: str) -> dict[str, Any] | None:
        """The winning coordinate of `user` (`{dc, node, conn, online}`), or None."""
        entry = self.coords.get(user)
        return dict(entry.data) if entry is not None else None

    def coordinate_table(self) -> dict[str, dict[str, Any]]:
        return {user: dict(entry.data) for user, entry in sorted(self.coords.items())}

    def snapshot(self) -> dict[str, Any]:
        """Everything the views show, for comparing replicas in tests."""
        return {"vv": self.version_vector(),
                "dots": sorted(e.dot for e in self.entries()),
                "coords": {u: e.dot for u, e in self.coords.items()},
                "msgs": {i: e.dot for i, e in self.msgs.items()},
                "tombs": sorted(self.tombs),
                "pending": sorted(self.pending_ids())}


def _recipient(msg: Entry) -> str:
    to = msg.data.get("to")
    return to if isinstance(to, str) else ""


__all__ = ["KINDS", "Entry", "ReplicaState", "entry_order", "entry_size"]
