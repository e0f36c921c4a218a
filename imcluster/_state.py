"""Replicated state of the cluster: entries (dots), version vectors and merge.

Pure: no IO, no clock, no randomness. See docs/architecture.md "Replicated state".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ._wire import WireError, check_field, check_int, dumps_compact, validate_msg

KINDS = ("coord", "msg", "tomb")
SKIPPED = "skipped"  # the kind of the stand-in entry logged for a dot counted by a skip range
MAX_SKIP_RANGE = 65536  # dots one skip range covers at most (a larger one is split / refused)
COMPACT_KEYS_PER_PASS = 5000  # messages one `compact` call drops at most
FORGOTTEN_KEYS = 4096  # keys of compacted messages remembered as delivered (oldest dropped)
MsgKey = tuple[str, str, str]  # (id, from, to): see `Entry.msg_key`
Skip = tuple[str, int, int]  # (origin, lo, hi): dots lo..hi of origin were compacted away


def msg_key(msg_id: str, data: Mapping[str, Any]) -> MsgKey:
    """The key of message `msg_id` whose data (a message, or a tomb's data) names `from`/`to`."""
    return (msg_id, str(data.get("from", "")), str(data.get("to", "")))


@dataclass(frozen=True, init=False)
class Entry:
    """One update, identified by its dot `(origin, seq)`."""

    kind: str
    key: str
    origin: str
    seq: int
    hlc: tuple[int, int]
    data: Mapping[str, Any]

    def __init__(self, kind: str, key: str, origin: str, seq: int, hlc: tuple[int, int],
                 data: Mapping[str, Any]) -> None:
        # written out: compiled (docs/accel.md), these stores are native; dataclass's own
        # `__init__` would stay interpreted (see `imcluster._events`)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "hlc", hlc)
        object.__setattr__(self, "data", data)

    @property
    def dot(self) -> tuple[str, int]:
        return (self.origin, self.seq)

    @cached_property
    def msg_key(self) -> MsgKey:
        """Which message a `msg` or `tomb` entry is about: (id, from, to). Ids are the clients',
        so two senders (or one sender and two recipients) may use the same id in two DCs cut
        apart; keyed by the whole triple, neither message ever replaces the other."""
        return msg_key(self.key, self.data)

    @cached_property
    def size(self) -> int:
        """Encoded size in a gossip frame (bytes); computed once (an entry is immutable)."""
        return len(dumps_compact(self.to_json())) + 1

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "origin": self.origin, "seq": self.seq,
                "hlc": [self.hlc[0], self.hlc[1]], "data": dict(self.data)}

    @classmethod
    def from_json(cls, obj: object) -> Entry:
        """Parse an entry received from a peer, as strictly as a client frame (`_wire`): every
        string UTF-8 encodable, names 1..256 characters, integers within SQLite's range, and the
        data of each kind exactly its fields. Raises ValueError on anything else."""
        try:
            if not isinstance(obj, dict):
                raise WireError("bad_field", "an entry must be an object")
            kind = obj.get("kind")
            if kind not in KINDS:
                raise WireError("bad_field", "unknown entry kind")
            hlc = obj.get("hlc")
            if not isinstance(hlc, list) or len(hlc) != 2:
                raise WireError("bad_field", "'hlc' must be [wall, logical]")
            entry = cls(kind, check_field("key", obj.get("key")),
                        check_field("origin", obj.get("origin")),
                        check_int("seq", obj.get("seq"), 1),
                        (check_int("hlc", hlc[0]), check_int("hlc", hlc[1])),
                        _check_data(kind, obj.get("data", {})))
        except WireError as exc:
            raise ValueError(f"malformed entry: {exc.message}") from None
        if kind == "msg" and entry.data["id"] != entry.key:
            raise ValueError("malformed entry: a message's key must be its id")
        return entry


def _check_data(kind: str, data: object) -> dict[str, Any]:
    """The data of an entry of `kind`, exactly its fields; raises `WireError`."""
    if not isinstance(data, dict):
        raise WireError("bad_field", "'data' must be an object")
    if kind == "msg":
        return validate_msg(data)
    if kind == "coord":
        out = {name: check_field(name, data.get(name)) for name in ("dc", "node", "conn")}
        if not isinstance(data.get("online"), bool):
            raise WireError("bad_field", "'online' must be a boolean")
        out["online"] = data["online"]
        return out
    out = {name: check_field(name, data.get(name)) for name in ("from", "to")}
    if len(data) != len(out):
        raise WireError("bad_field", "a tomb's data is its message's 'from' and 'to'")
    return out


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

    Compaction (`compact`, docs/architecture.md "Compaction") drops dead entries from memory: a
    coordinate that lost last-writer-wins, and a message with its tombs once every DC's version
    vector covers all their dots. A dropped dot stays counted (it is at or below the version
    vector); a peer lacking it is sent a skip range instead (`answer_for`, `apply_skip`).
    """

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._by_origin: dict[str, dict[int, Entry]] = {}
        self._superseded: set[tuple[str, int]] = set()  # coords that lost LWW, still held
        self._blocked: dict[MsgKey, tuple[str, int]] = {}  # a dot `compact` last found unstable
        self._dots_by_key: dict[MsgKey, list[tuple[str, int]]] = {}  # held msg/tomb dots by key
        self._forgotten: OrderedDict[MsgKey, None] = OrderedDict()  # compacted (delivered) keys
        self._late: set[MsgKey] = set()  # copies of a forgotten message that arrived afterwards
        self.compacted = 0  # entries dropped by `compact`
        self._vv: dict[str, int] = {}
        self._max_seq: dict[str, int] = {}
        self.coords: dict[str, Entry] = {}
        self.msgs: dict[MsgKey, Entry] = {}
        self.tombs: set[MsgKey] = set()
        self._pending_by_user: dict[str, set[MsgKey]] = {}
        self._keys_by_id: dict[str, set[MsgKey]] = {}
        self.max_hlc: tuple[int, int] = (0, 0)
        for entry in entries:
            self.apply(entry)

    def __len__(self) -> int:
        return sum(len(by_seq) for by_seq in self._by_origin.values())

    def __contains__(self, dot: object) -> bool:
        if not isinstance(dot, tuple) or len(dot) != 2:
            return False
        return dot[1] in self._by_origin.get(dot[0], {})

    def holds(self, origin: str, seq: int) -> bool:
        """True if dot `(origin, seq)` is known here: held, or counted (compacted, skipped)."""
        return seq <= self._vv.get(origin, 0) or seq in self._by_origin.get(origin, ())

    def apply(self, entry: Entry) -> bool:
        """Add an entry; True if it was new (a known dot is ignored, compacted ones included)."""
        origin, seq = entry.origin, entry.seq
        by_seq = self._by_origin.get(origin)
        if by_seq is None:
            by_seq = self._by_origin[origin] = {}
        contiguous = self._vv.get(origin, 0)
        if seq <= contiguous or seq in by_seq:
            return False
        by_seq[seq] = entry
        if seq > self._max_seq.get(origin, 0):
            self._max_seq[origin] = seq
        while contiguous + 1 in by_seq:
            contiguous += 1
        self._vv[origin] = contiguous
        if entry.hlc > self.max_hlc:  # noqa: PLR1730 - no max() call per entry
            self.max_hlc = entry.hlc
        if entry.kind == "coord":
            current = self.coords.get(entry.key)
            if current is None or entry_order(entry) > entry_order(current):
                self.coords[entry.key] = entry
                if current is not None:
                    self._superseded.add(current.dot)
            else:
                self._superseded.add(entry.dot)
        elif entry.kind == "msg":
            key = entry.msg_key
            self._dots_by_key.setdefault(key, []).append(entry.dot)
            if key in self._forgotten:
                self._late.add(key)  # delivered and compacted already: never pending again
                return True
            current = self.msgs.get(key)
            if current is None or entry_order(entry) < entry_order(current):
                # copies of one message (same id, from, to): the earliest stands for them all
                if current is not None:
                    self._unindex(current)
                self.msgs[key] = entry
                self._keys_by_id.setdefault(entry.key, set()).add(key)
                if key not in self.tombs:
                    self._pending_by_user.setdefault(_recipient(entry), set()).add(key)
        elif entry.kind == "tomb":
            key = entry.msg_key
            self._dots_by_key.setdefault(key, []).append(entry.dot)
            if key in self._forgotten:
                self._late.add(key)
                return True
            self.tombs.add(key)
            current = self.msgs.get(key)
            if current is not None:
                self._unindex(current)
        return True

    def _unindex(self, msg: Entry) -> None:
        keys = self._pending_by_user.get(_recipient(msg))
        if keys is not None:
            keys.discard(msg.msg_key)
            if not keys:
                del self._pending_by_user[_recipient(msg)]

    def merge(self, other: ReplicaState) -> int:
        """Apply every entry of `other`, then its skip ranges; returns how many entries were new."""
        new = sum(1 for entry in list(other.entries()) if self.apply(entry))
        for origin in sorted(other._by_origin):
            for skip in other._skips_after(origin, 0):
                self.apply_skip(*skip)
        return new

    # ------------------------------------------------------------ compaction

    def is_forgotten(self, key: MsgKey) -> bool:
        """True if message `key` was delivered and compacted away here (recently enough to be
        remembered: the last `FORGOTTEN_KEYS` keys)."""
        return key in self._forgotten

    def compact(self, stable: Mapping[str, int], max_keys: int = COMPACT_KEYS_PER_PASS) -> int:
        """Drop dead entries from memory; returns how many. `stable[origin]` is a seq that every
        DC's version vector covers (the caller's knowledge; empty: only superseded coordinates go).
        At most `max_keys` messages are dropped in one call (a hub restored from a long history
        compacts it over several passes instead of stalling once).

        Dead: a coordinate that lost last-writer-wins (it can never win again), once its dot is
        at or below this replica's version vector; every msg and tomb entry of a tombed message
        (or of one compacted already) once each of those dots is at or below `stable`, so that no
        DC can still receive the message without its tomb. A tomb whose message was never held
        here stays (nothing tells this replica that the message's dot is covered everywhere).
        """
        dropped = 0
        vv = self._vv
        dead = [dot for dot in self._superseded if dot[1] <= vv.get(dot[0], 0)]
        for dot in dead:  # in any order: each drop is independent of the others
            self._superseded.discard(dot)
            dropped += self._drop(dot)
        # the keys whose every dot is stable, then those in key order (the order decides which
        # go first when `max_keys` binds, and the order of `_forgotten`); a key's first dot
        # found not stable is remembered, so most keys cost one look per pass while they wait
        blocked = self._blocked
        ready: list[MsgKey] = []
        for key in (self.tombs | self._late) if self._late else self.tombs:
            waiting = blocked.get(key)
            if waiting is not None and waiting[1] > stable.get(waiting[0], 0):
                continue
            for dot in self._dots_by_key.get(key, ()):
                if dot[1] > stable.get(dot[0], 0):
                    blocked[key] = dot
                    break
            else:
                if key in self.msgs or key not in self.tombs:
                    ready.append(key)
        for key in sorted(ready)[:max_keys]:
            dots = self._dots_by_key.get(key, [])
            blocked.pop(key, None)
            for dot in dots:
                dropped += self._drop(dot)
            del self._dots_by_key[key]
            self._late.discard(key)
            self.tombs.discard(key)
            msg = self.msgs.pop(key, None)
            if msg is not None:
                self._unindex(msg)
                keys = self._keys_by_id.get(key[0])
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._keys_by_id[key[0]]
            self._forgotten[key] = None
            self._forgotten.move_to_end(key)
            while len(self._forgotten) > FORGOTTEN_KEYS:
                self._forgotten.popitem(last=False)
        self.compacted += dropped
        return dropped

    def _drop(self, dot: tuple[str, int]) -> int:
        return 1 if self._by_origin.get(dot[0], {}).pop(dot[1], None) is not None else 0

    def _skips_after(self, origin: str, known: int) -> Iterator[Skip]:
        """The compacted ranges of `origin` above `known` (dots counted, not held)."""
        for item in self._answer_items(origin, known):
            if not isinstance(item, Entry):
                yield item

    def apply_skip(self, origin: str, lo: int, hi: int) -> list[int]:
        """Count dots `lo..hi` of `origin` as known without their entries (a peer compacted them:
        they carry nothing this replica needs). Only a range that touches the version vector is
        taken (ranges come in seq order); returns the seqs newly counted that were not held."""
        known = self._vv.get(origin, 0)
        if lo > known + 1 or hi <= known:
            return []
        by_seq = self._by_origin.setdefault(origin, {})
        newly = [seq for seq in range(known + 1, hi + 1) if seq not in by_seq]
        contiguous = hi
        while contiguous + 1 in by_seq:
            contiguous += 1
        self._vv[origin] = contiguous
        if hi > self._max_seq.get(origin, 0):
            self._max_seq[origin] = hi
        return newly

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
        """Entries the holder of version vector `vv` lacks (see `answer_for`)."""
        return self.answer_for(vv, max_entries, max_bytes)[0]

    def answer_for(self, vv: Mapping[str, int], max_entries: int = 256,
                   max_bytes: int = 256 * 1024,
                   origins: Collection[str] | None = None) -> tuple[list[Entry], list[Skip]]:
        """Entries the holder of version vector `vv` lacks (of `origins` only, if given), in seq
        order per origin, bounded, and the skip ranges of compacted dots among them (each counts
        as one item of ~32 bytes).

        Origins are served round-robin so that one busy origin cannot starve the others. At least
        one item is returned when anything is missing, whatever its size.
        """
        queues: list[Iterator[Entry | Skip]] = []
        for origin in sorted(self._by_origin if origins is None else
                             [o for o in origins if o in self._by_origin]):
            known = vv.get(origin, 0)
            if not isinstance(known, int) or isinstance(known, bool) or known < 0:
                known = 0
            if self._max_seq.get(origin, 0) > known:
                queues.append(self._answer_items(origin, known))
        out: list[Entry] = []
        skips: list[Skip] = []
        size = 0
        while queues and len(out) + len(skips) < max_entries:
            still: list[Iterator[Entry | Skip]] = []
            for queue in queues:
                item = next(queue, None)
                if item is None:
                    continue
                cost = entry_size(item) if isinstance(item, Entry) else 32
                if (out or skips) and size + cost > max_bytes:
                    return out, skips
                if isinstance(item, Entry):
                    out.append(item)
                else:
                    skips.append(item)
                size += cost
                still.append(queue)
                if len(out) + len(skips) >= max_entries:
                    return out, skips
            queues = still
        return out, skips

    def _answer_items(self, origin: str, known: int) -> Iterator[Entry | Skip]:
        """Held entries of `origin` above `known` in seq order, with a skip range before each run
        of compacted dots (at or below the version vector, not held; dots past a gap are unknown
        here, and never skipped)."""
        by_seq = self._by_origin.get(origin, {})
        counted = self._vv.get(origin, 0)
        start = 0  # first seq of the compacted run being gathered (0: none)
        for seq in range(known + 1, self._max_seq.get(origin, 0) + 1):
            entry = by_seq.get(seq)
            if entry is None and seq <= counted:
                if not start:
                    start = seq
                elif seq - start + 1 >= MAX_SKIP_RANGE:
                    yield (origin, start, seq)
                    start = 0
                continue
            if start:
                yield (origin, start, seq - 1)
                start = 0
            if entry is not None:
                yield entry
        if start:
            yield (origin, start, min(counted, self._max_seq.get(origin, 0)))

    def pending_for(self, user: str) -> list[Entry]:
        """Messages to `user` without a tomb, oldest first."""
        keys = self._pending_by_user.get(user, ())
        return sorted((self.msgs[k] for k in keys), key=entry_order)

    def pending_keys(self) -> set[MsgKey]:
        """Keys of every message without a tomb."""
        return {k for keys in self._pending_by_user.values() for k in keys}

    def pending_ids(self) -> set[str]:
        """Ids of every message without a tomb."""
        return {k[0] for k in self.pending_keys()}

    def messages_with_id(self, msg_id: str) -> list[Entry]:
        """Every message known with client id `msg_id` (one, unless ids collided), by key."""
        return [self.msgs[k] for k in sorted(self._keys_by_id.get(msg_id, ()))]

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
                "msgs": {k: e.dot for k, e in self.msgs.items()},
                "tombs": sorted(self.tombs),
                "pending": sorted(self.pending_keys())}


def _recipient(msg: Entry) -> str:
    to = msg.data.get("to")
    return to if isinstance(to, str) else ""


__all__ = ["COMPACT_KEYS_PER_PASS", "FORGOTTEN_KEYS", "KINDS", "MAX_SKIP_RANGE", "SKIPPED", "Entry", "MsgKey", "ReplicaState",
           "Skip", "entry_order", "entry_size", "msg_key"]
