"""HubCore: the sans-IO state machine of a DC's hub (local store view, message gateway, gossip).

Events in (with the current time), effects out, in order; see `_events.py` for the durability
contract and docs/architecture.md "Delivery" and "Seeded bugs" for the behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._config import HubConfig, Rng
from ._events import (
    AccessConnected,
    AccessDisconnected,
    AccessFrame,
    Effect,
    Frame,
    LogEvent,
    PeerFrame,
    Persist,
    SendAccess,
    SendPeer,
    SetTimer,
    TimerFired,
)
from ._hlc import Hlc, elapsed_after
from ._inflight import InFlight
from ._offers import OfferBook
from ._state import MAX_SKIP_RANGE, SKIPPED, Entry, MsgKey, ReplicaState, Skip, msg_key
from ._wire import WireError, encode, validate_msg
from ._wire import is_name as _is_name

GOSSIP_TIMER = "gossip"
FLUSH_TIMER = "flush"
FORWARD_TIMER_PREFIX = "forward:"
REOFFER_TIMER = "reoffer"
PUSH_TIMER = "push"
DEFERRED_FLUSH_MS = 2000.0
LOCAL_TOMB_SUFFIX = "#local"

COUNTER_NAMES = ("entries_originated", "entries_applied", "deliveries", "wan_frames_sent",
                 "wan_bytes_sent", "forwards", "forwards_received", "forward_failures",
                 "routes", "duplicate_routes", "digests_sent", "bad_frames", "bad_entries",
                 "bad_acks", "reoffers", "rumor_frames", "compacted", "dots_skipped")


@dataclass
class _Forward:
    """A message handed to another DC's gateway, waiting for `forward_ok`/`forward_fail`."""

    msg: dict[str, Any]
    access_node: str
    peer: str
    answered: bool  # route_ok already sent to the access node


def _valid_msg(msg: object) -> dict[str, Any] | None:
    try:
        return validate_msg(msg)
    except WireError:
        return None


def _origin_of(raw: object) -> object:
    """The origin a gossiped entry (an `Entry` or its JSON object) names, unchecked."""
    return raw.origin if type(raw) is Entry else raw.get("origin") if isinstance(raw, dict) else None


def _seq_of(raw: object) -> int:
    """The seq a gossiped entry names (0 if it is not an int)."""
    seq = raw.seq if type(raw) is Entry else raw.get("seq") if isinstance(raw, dict) else 0
    return seq if type(seq) is int else 0


def _dot(raw: object) -> object:
    """The dot of an entry as a frame carries it (an `Entry` or its JSON), hashable whatever
    a peer sent."""
    if type(raw) is Entry:
        return raw.dot
    if isinstance(raw, dict) and isinstance(raw.get("origin"), str) \
            and isinstance(raw.get("seq"), int):
        return (raw["origin"], raw["seq"])
    return None


class HubCore:
    """One DC's hub. Feed it events with `handle(event, now_ns)` and carry out the effects."""

    def __init__(self, config: HubConfig, rng: Rng, restored: Iterable[Entry] = ()) -> None:
        self.config = config
        self.dc = config.dc
        self.rng = rng
        self.hlc = Hlc()
        self.state = ReplicaState()
        self.local_tombs: set[MsgKey] = set()
        self.counters: dict[str, int] = {name: 0 for name in COUNTER_NAMES}
        self.wan_by_kind: dict[str, list[int]] = {}  # frame type -> [frames, bytes] sent
        # user -> {(access node, conn)} for sessions on this DC's access nodes
        self.sessions: dict[str, set[tuple[str, str]]] = {}
        # offers made to local sessions, by message key (to check acks and re-offer)
        self.offers = OfferBook(config.max_offers)
        self.in_flight = InFlight(config.resend_after_ms)  # what anti-entropy need not resend
        # two clocks from the one `now_ns` a driver passes: the wall clock (skew included) for
        # hybrid-logical-clock stamps and rumor rounds, and an elapsed-time clock for every
        # duration (resends, re-offers, the push window, compaction), which only moves forward
        # (`_clock`): measured on a wall clock stepped back by 30 s, those waits lasted 30 s
        self._wall_ns = 0
        self._last_wall_ns: int | None = None
        self._elapsed_ns = 0  # also what `_push` stamps its in-flight records and window with
        self._greeted_at: dict[str, int] = {}  # peer -> when our link's greeting was made
        self._reoffer_armed = False
        self.forwards: dict[str, _Forward] = {}  # by id: a hub refuses an id it knows already
        self.routed_online: set[MsgKey] = set()  # online-first: handed over without an entry
        self._deferred: list[Entry] = []
        self._push_pending: list[Entry] = []  # new local entries waiting for the next push
        self._push_armed = False
        self._last_push_ns: int | None = None
        self.hot: dict[tuple[str, int], tuple[Entry, int]] = {}  # rumor modes: dot -> rounds left
        self._round_armed = False  # rumor modes: the gossip timer is set
        # each peer's version vector as its last digest or digest answer said (for compaction)
        self.peer_vvs: dict[str, dict[str, int]] = {}
        self._compacted_at: int | None = None
        self._local_seq = 0
        own_seq = 0
        for entry in restored:
            if entry.origin.endswith(LOCAL_TOMB_SUFFIX):
                self.local_tombs.add(entry.msg_key)
                self._local_seq = max(self._local_seq, entry.seq)
                continue
            self.state.apply(entry)
            if entry.origin == self.dc:
                own_seq = max(own_seq, entry.seq)
        self._next_seq = own_seq + 1
        self.hlc.advance_to(self.state.max_hlc)

    # ------------------------------------------------------------ introspection

    def version_vector(self) -> dict[str, int]:
        return self.state.version_vector()

    def coordinate_table(self) -> dict[str, dict[str, Any]]:
        return self.state.coordinate_table()

    def pending_count(self) -> int:
        return len(self.state.pending_keys() - self.local_tombs)

    def status(self) -> dict[str, Any]:
        """What the admin `status` answer holds from the core: version vector, coordinates,
        pending count, offer book size and counters (drivers add their own counters)."""
        return {"node": self.config.node, "dc": self.dc, "role": "hub",
                "vv": self.version_vector(), "coords": self.coordinate_table(),
                "pending": self.pending_count(), "offers": len(self.offers),
                "entries_held": len(self.state),
                "counters": {**self.counters, **kind_counters(self.wan_by_kind,
                                                              self.config.count_wan_bytes)}}

    def is_tombed(self, key: MsgKey) -> bool:
        return (key in self.state.tombs or key in self.local_tombs
                or self.state.is_forgotten(key))

    # ------------------------------------------------------------ driver entry points

    def _clock(self, now_ns: int) -> int:
        """Take the driver's clock reading (the wall clock) and return the elapsed-time clock
        (`elapsed_after`)."""
        self._elapsed_ns = elapsed_after(self._elapsed_ns, self._last_wall_ns, now_ns)
        self._last_wall_ns = self._wall_ns = now_ns
        return self._elapsed_ns

    def start(self, now_ns: int) -> list[Effect]:
        """Effects to carry out once at start: the first gossip timer (at a random phase)."""
        now_ns = self._clock(now_ns)
        if self.config.rumor:
            out: list[Effect] = []
            if self.config.gossip != "rumor-push":  # pulls are made every round
                self._arm_round(out)
            return out
        if not self.config.anti_entropy or not self.config.peers:
            return []
        return [SetTimer(GOSSIP_TIMER, self.rng.random() * self.config.gossip_interval_ms)]

    def peer_connected(self, peer: str) -> None:
        """A new connection with `peer` (either way) replaced an old one: entries sent before
        may have been lost with the old one's queue (frames written into a blackhole, or dropped
        while the link was down), so they no longer count as on their way (`InFlight`): the next
        answer to `peer` carries them, instead of up to `resend_after_ms` later. What the
        greeting of our own current link sent is kept (that link is not the one replaced)."""
        self.in_flight.forget(peer, before_ns=self._greeted_at.get(peer))

    def greeting(self, peer: str, now_ns: int) -> list[Frame]:
        """Frames for `peer` as soon as a link to it opens (the driver pipelines them behind the
        handshake), in the anti-entropy modes: a digest, so that what two DCs lack after a
        partition or a restart is exchanged in one round trip, not when the gossip timer next
        happens to pick this peer (every `gossip_interval` one peer of N - 1); then, when we
        heard `peer`'s version vector before (not right after our start), the entries of our
        own origin it lacks by that vector, in up to `max_answer_batches` batches: after a
        partition each DC gets every other DC's backlog from its origin one round trip earlier
        than by answering its digest (the entries arrive with the hello, before the digest's
        answer could), and from one source each."""
        now_ns = self._clock(now_ns)
        self.in_flight.forget(peer)  # our link to `peer` is new: nothing sent before counts
        self._greeted_at[peer] = now_ns
        if self.config.rumor or not self.config.anti_entropy or peer not in self.config.peers:
            return []
        self.counters["digests_sent"] += 1
        frames: list[Frame] = [{"type": "digest", "vv": self.state.version_vector()}]
        heard = self.peer_vvs.get(peer)
        if heard is not None:
            frames += self._answer_frames(peer, {self.config.dc: heard.get(self.config.dc, 0)},
                                          now_ns, with_vv=False, origins=(self.config.dc,))
        for frame in frames:
            self._count_wan(frame)
        return frames

    def handle(self, event: object, now_ns: int) -> list[Effect]:
        out: list[Effect] = []
        now_ns = self._clock(now_ns)
        if isinstance(event, PeerFrame):
            self._on_peer_frame(event.peer, event.frame, now_ns, out)
        elif isinstance(event, AccessFrame):
            self._on_access_frame(event.node, event.frame, now_ns, out)
        elif isinstance(event, TimerFired):
            self._on_timer(event.name, now_ns, out)
        elif isinstance(event, AccessDisconnected):
            self._drop_access_node(event.node, now_ns, out)
        elif isinstance(event, AccessConnected):
            pass  # the access node sends `sync` right after connecting
        if self.hot and not self._round_armed:
            self._arm_round(out)  # rumor modes: something new to spread
        return out

    # ------------------------------------------------------------ entries

    def _stamp(self) -> tuple[int, int]:
        """A new entry's timestamp, from the wall clock."""
        if "wallclock-lww" in self.config.bugs:
            return (self._wall_ns, 0)
        return self.hlc.now(self._wall_ns)

    def _originate(self, kind: str, key: str, data: Mapping[str, Any], now_ns: int,
                   out: list[Effect]) -> Entry:
        """Create, apply, log and persist a new local entry (eager push is the caller's)."""
        entry = Entry(kind, key, self.dc, self._next_seq, self._stamp(), dict(data))
        self._next_seq += 1
        self.state.apply(entry)
        self.counters["entries_originated"] += 1
        out.append(LogEvent("originate", entry))
        self._persist((entry,), out)
        return entry

    def _persist(self, entries: tuple[Entry, ...], out: list[Effect]) -> None:
        if not entries or "volatile-store" in self.config.bugs:
            return
        if "ack-before-persist" in self.config.bugs:
            if not self._deferred:
                out.append(SetTimer(FLUSH_TIMER, DEFERRED_FLUSH_MS))
            self._deferred.extend(entries)
            return
        out.append(Persist(entries))

    def _push(self, entries: list[Entry], out: list[Effect]) -> None:
        if self.config.rumor:
            self._make_hot(entries)  # spread by the rounds (`handle` arms the next one)
            return
        if not self.config.eager_push or not entries:
            return
        window_ns = round(self.config.push_window_ms * 1_000_000)
        now, last = self._elapsed_ns, self._last_push_ns
        if not self._push_pending and (last is None or now - last >= window_ns):
            self._send_push(entries, out)  # idle: at once
            return
        # a push left less than `push_window_ms` ago: this one waits for the window's end and
        # goes with everything else new by then, in one frame (one commit at each peer)
        self._push_pending.extend(entries)
        if len(self._push_pending) >= self.config.max_batch_entries:
            self._flush_push(out)
        elif not self._push_armed:
            self._push_armed = True
            wait_ns = (last if last is not None else now) + window_ns - now
            out.append(SetTimer(PUSH_TIMER, max(0, wait_ns) / 1_000_000))

    def _flush_push(self, out: list[Effect]) -> None:
        batch, self._push_pending = self._push_pending, []
        if batch:
            self._send_push(batch, out)

    def _send_push(self, entries: list[Entry], out: list[Effect]) -> None:
        self._last_push_ns = self._elapsed_ns
        frame = {"type": "push", "entries": self._wire(entries)}
        seq = max(e.seq for e in entries)  # own entries, all of one origin
        for peer in self.config.peers:
            self._send_peer(peer, frame, out)
            self.in_flight.record_seq(peer, self.dc, seq, self._elapsed_ns)

    def _wire(self, entries: list[Entry]) -> list[Any]:
        """Entries as a frame carries them: JSON objects, or (`in_process_entries`, peers in the
        same process) the immutable `Entry` objects themselves."""
        if self.config.in_process_entries:
            return list(entries)
        return [e.to_json() for e in entries]

    def _send_peer(self, peer: str, frame: Frame, out: list[Effect], reply: bool = False) -> None:
        self._count_wan(frame)
        out.append(SendPeer(peer, frame, reply))

    def _count_wan(self, frame: Frame) -> None:
        """Count a frame sent to a peer, in all and by kind (bytes only if `count_wan_bytes`)."""
        size = len(encode(frame)) if self.config.count_wan_bytes else 0
        self.counters["wan_frames_sent"] += 1
        self.counters["wan_bytes_sent"] += size
        kind = self.wan_by_kind.get(frame["type"])
        if kind is None:
            kind = self.wan_by_kind[frame["type"]] = [0, 0]
        kind[0] += 1
        kind[1] += size

    def _apply_remote(self, raw_entries: object, now_ns: int, out: list[Effect],
                      skips: object = None) -> None:
        """Apply gossiped entries: persist the new ones, then deliver what they make deliverable;
        then count the peer's skip ranges (dots it compacted away, see `_apply_skips`)."""
        if not isinstance(raw_entries, list):
            self.counters["bad_frames"] += 1
            return
        self._apply_entries(raw_entries, now_ns, out)
        if skips is not None:
            self._apply_skips(skips, out)

    def _apply_skips(self, skips: object, out: list[Effect]) -> None:
        """Count the dots of each skip range `[origin, lo, hi]` as known; each newly counted dot is
        logged as an `apply` of kind `skipped` (so the convergence checker sees it held)."""
        if not isinstance(skips, list):
            self.counters["bad_frames"] += 1
            return
        for item in skips:
            if not (isinstance(item, (list, tuple)) and len(item) == 3 and _is_name(item[0])
                    and not item[0].endswith(LOCAL_TOMB_SUFFIX)
                    and all(type(n) is int for n in item[1:])
                    and 1 <= item[1] <= item[2] < item[1] + MAX_SKIP_RANGE):
                self.counters["bad_frames"] += 1
                continue
            origin, lo, hi = item
            newly = self.state.apply_skip(origin, lo, hi)
            self.counters["dots_skipped"] += len(newly)
            for seq in newly:
                out.append(LogEvent("apply", Entry(SKIPPED, "", origin, seq, (0, 0), {})))
            if origin == self.dc and hi >= self._next_seq:
                self._next_seq = hi + 1  # our own dots, lost by a volatile store

    def _apply_entries(self, raw_entries: list[Any], now_ns: int, out: list[Effect]) -> None:
        new: list[Entry] = []
        holds = self.state.holds
        for raw in raw_entries:
            if type(raw) is dict:
                # a dot held already is skipped before it is validated: after a heal every peer
                # answers a DC's digest with the same backlog, and all but one copy are known
                origin, seq = raw.get("origin"), raw.get("seq")
                if type(origin) is str and type(seq) is int and seq > 0 and holds(origin, seq):
                    continue
            if type(raw) is Entry and self.config.in_process_entries:
                entry = raw  # built and checked by a core in this process
            else:
                try:
                    entry = Entry.from_json(raw)  # validated as strictly as client frames
                except ValueError:
                    self.counters["bad_entries"] += 1
                    continue
                if entry.origin.endswith(LOCAL_TOMB_SUFFIX):  # a local-only mark
                    self.counters["bad_entries"] += 1
                    continue
            if not self.state.apply(entry):
                continue
            new.append(entry)
            if "wallclock-lww" not in self.config.bugs:
                self.hlc.observe(entry.hlc, self._wall_ns)
            if entry.origin == self.dc and entry.seq >= self._next_seq:
                self._next_seq = entry.seq + 1  # our own entries, lost by a volatile store
        if not new:
            return
        self.counters["entries_applied"] += len(new)
        if self.config.rumor:
            self._make_hot(new)
        for entry in new:
            out.append(LogEvent("apply", entry))
        self._persist(tuple(new), out)
        for entry in new:
            if entry.kind == "msg":
                self._offer_pending(entry, "offline", now_ns, out)
            elif entry.kind == "coord":
                self._reassert_coordinate(entry.key, now_ns, out)
            elif entry.kind == "tomb":
                self.offers.forget_message(entry.msg_key)

    # ------------------------------------------------------------ delivery

    def _deliver(self, msg: Mapping[str, Any], via: str, now_ns: int, out: list[Effect]) -> bool:
        """Offer `msg` to every local session of its recipient not offered it yet (the re-offer
        timer and a session's reappearance make the offers that may have been lost again)."""
        user = msg["to"]
        key = msg_key(msg["id"], msg)
        held = sorted(self.sessions.get(user, ()))
        for session in held:
            if self.offers.offered_at(key, session) is None:
                self._offer(msg, session, via, now_ns, out)
        return bool(held)

    def _offer(self, msg: Mapping[str, Any], session: tuple[str, str], via: str, now_ns: int,
               out: list[Effect]) -> None:
        node, conn = session
        self.offers.record(msg_key(msg["id"], msg), msg["to"], session, now_ns)
        self.counters["deliveries"] += 1
        out.append(SendAccess(node, {"type": "deliver", "msg": dict(msg), "via": via,
                                     "user": msg["to"], "conn": conn}))
        if not self._reoffer_armed:
            self._reoffer_armed = True
            out.append(SetTimer(REOFFER_TIMER, self.config.reoffer_interval_ms))

    def _offer_pending(self, entry: Entry, via: str, now_ns: int, out: list[Effect]) -> None:
        if self.is_tombed(entry.msg_key) or self.state.msgs.get(entry.msg_key) is not entry:
            return
        if entry.data.get("to") in self.sessions:
            self._deliver(entry.data, via, now_ns, out)

    def _offer_all_pending(self, user: str, now_ns: int, out: list[Effect]) -> None:
        for entry in self.state.pending_for(user):
            if entry.msg_key not in self.local_tombs:
                self._deliver(entry.data, "offline", now_ns, out)

    def _reoffer(self, now_ns: int, out: list[Effect]) -> None:
        """The re-offer round: offer again each pending message whose offer to a live session is
        older than `reoffer_after_ms` (it may have been lost: a dropped link, a full send queue);
        forget the offers of messages tombed or with no session left to take them."""
        due = now_ns - round(self.config.reoffer_after_ms * 1_000_000)
        for user, held in sorted(self.sessions.items()):
            for entry in self.state.pending_for(user):
                key = entry.msg_key
                if key in self.local_tombs:
                    continue
                for session in sorted(held):
                    offered_at = self.offers.offered_at(key, session)
                    if offered_at is None or offered_at <= due:
                        self.counters["reoffers"] += 1
                        self._offer(entry.data, session, "offline", now_ns, out)
        for key in self.offers.ids():
            if self.is_tombed(key) or not self.offers.sessions(key):
                self.offers.forget_message(key)  # a pending one is offered when a session appears
        if len(self.offers) and not self._reoffer_armed:
            self._reoffer_armed = True
            out.append(SetTimer(REOFFER_TIMER, self.config.reoffer_interval_ms))

    # ------------------------------------------------------------ access frames

    def _on_access_frame(self, node: str, frame: Frame, now_ns: int, out: list[Effect]) -> None:
        kind = frame.get("type")
        if kind == "route":
            self._on_route(node, frame, now_ns, out)
        elif kind == "coord":
            user, conn, online = frame.get("user"), frame.get("conn"), frame.get("online")
            if not _is_name(user) or not _is_name(conn) or not isinstance(online, bool):
                self.counters["bad_frames"] += 1
                return
            if online:
                self._session_up(user, node, conn, now_ns, out)
                out.append(SendAccess(node, {"type": "coord_ok", "user": user, "conn": conn}))
                self._offer_all_pending(user, now_ns, out)
            else:
                self._session_down(user, node, conn, now_ns, out)
                out.append(SendAccess(node, {"type": "coord_ok", "user": user, "conn": conn}))
        elif kind == "ack":
            user, msg_id = frame.get("user"), frame.get("id")
            if not _is_name(user) or not _is_name(msg_id):
                self.counters["bad_frames"] += 1
                return
            self._on_ack(user, msg_id, now_ns, out)
        elif kind == "sync":
            self._on_sync(node, frame.get("conns"), now_ns, out)
        else:
            self.counters["bad_frames"] += 1

    def _session_up(self, user: str, node: str, conn: str, now_ns: int,
                    out: list[Effect]) -> None:
        # a session that (re)appears may have missed what it was offered (a link that dropped,
        # a conn id an access node restarted with): its pending messages are offered afresh
        self.offers.forget_session(user, (node, conn))
        self.sessions.setdefault(user, set()).add((node, conn))
        data = {"dc": self.dc, "node": node, "conn": conn, "online": True}
        if self.state.coordinate(user) != data:
            self._push([self._originate("coord", user, data, now_ns, out)], out)

    def _session_down(self, user: str, node: str, conn: str, now_ns: int,
                      out: list[Effect]) -> None:
        held = self.sessions.get(user)
        if held is not None:
            held.discard((node, conn))
            if not held:
                del self.sessions[user]
        self.offers.forget_session(user, (node, conn))
        current = self.state.coordinate(user)
        if current is None or (current.get("dc") == self.dc and current.get("node") == node
                               and current.get("conn") == conn and current.get("online")):
            # only the session the coordinate names may take the user offline
            remaining = sorted(self.sessions.get(user, ()))
            if remaining:
                data = {"dc": self.dc, "node": remaining[0][0], "conn": remaining[0][1],
                        "online": True}
            else:
                data = {"dc": self.dc, "node": node, "conn": conn, "online": False}
            self._push([self._originate("coord", user, data, now_ns, out)], out)

    def _reassert_coordinate(self, user: str, now_ns: int, out: list[Effect]) -> None:
        """A user online here must not stay 'offline' because of a late logout elsewhere."""
        held = self.sessions.get(user)
        current = self.state.coordinate(user)
        if held and current is not None and not current.get("online"):
            node, conn = min(held)
            data = {"dc": self.dc, "node": node, "conn": conn, "online": True}
            self._push([self._originate("coord", user, data, now_ns, out)], out)

    def _on_sync(self, node: str, conns: object, now_ns: int, out: list[Effect]) -> None:
        if not isinstance(conns, list):
            self.counters["bad_frames"] += 1
            return
        live: set[tuple[str, str]] = set()
        for item in conns:
            if isinstance(item, dict) and _is_name(item.get("user")) and _is_name(item.get("conn")):
                live.add((item["user"], item["conn"]))
            else:
                self.counters["bad_frames"] += 1
        for user, held in list(self.sessions.items()):
            for held_node, conn in sorted(held):  # sorted: no hash order in what is originated
                if held_node == node and (user, conn) not in live:
                    self._session_down(user, node, conn, now_ns, out)
        for user, conn in sorted(live):
            self._session_up(user, node, conn, now_ns, out)
            self._offer_all_pending(user, now_ns, out)
        # a hub restored from its store holds coordinates that name sessions of this node it has
        # not heard of since: one that ended while the hub was down (a logout it never got, the
        # node restarted) is not in `live`, and its user goes offline (or to another session
        # here) instead of staying "online" at a dead connection everywhere
        for user, entry in sorted(self.state.coords.items()):
            data = entry.data
            if (data.get("online") and data.get("dc") == self.dc and data.get("node") == node
                    and (user, data.get("conn")) not in live):
                self._session_down(user, node, data["conn"], now_ns, out)

    def _drop_access_node(self, node: str, now_ns: int, out: list[Effect]) -> None:
        for user, held in list(self.sessions.items()):
            for held_node, conn in sorted(held):
                if held_node == node:
                    self._session_down(user, node, conn, now_ns, out)

    def _on_ack(self, user: str, msg_id: str, now_ns: int, out: list[Effect]) -> None:
        """Tomb the messages with this id to `user`: those offered here (an id two senders used
        for one recipient is acked for what the client was shown), else every one known."""
        senders = {key[1] for key in self.offers.keys_for(user) if key[0] == msg_id} or {
            e.data["from"] for e in self.state.messages_with_id(msg_id) if e.data["to"] == user}
        if not senders:
            self.counters["bad_acks"] += 1  # only the recipient may mark a message delivered
            return
        tombs: list[Entry] = []
        for sender in sorted(senders):
            key = (msg_id, sender, user)
            if self.is_tombed(key):
                continue
            data = {"from": sender, "to": user}
            self.offers.forget_message(key)
            if "no-tombstones" in self.config.bugs:
                # the delivery mark stays in this hub: stored, never gossiped
                self._local_seq += 1
                tomb = Entry("tomb", msg_id, self.dc + LOCAL_TOMB_SUFFIX, self._local_seq,
                             self._stamp(), data)
                self.local_tombs.add(key)
                self._persist((tomb,), out)
                continue
            tombs.append(self._originate("tomb", msg_id, data, now_ns, out))
        self._push(tombs, out)

    # ------------------------------------------------------------ routing

    def _known_message(self, key: MsgKey) -> bool:
        forward = self.forwards.get(key[0])
        return (key in self.state.msgs or key in self.routed_online or self.is_tombed(key)
                or (forward is not None and msg_key(key[0], forward.msg) == key))

    def _on_route(self, node: str, frame: Frame, now_ns: int, out: list[Effect]) -> None:
        msg = _valid_msg(frame.get("msg"))
        if msg is None:
            self.counters["bad_frames"] += 1
            msg_id = frame.get("msg", {}).get("id") if isinstance(frame.get("msg"), dict) else None
            if _is_name(msg_id):
                out.append(SendAccess(node, {"type": "route_err", "id": msg_id,
                                             "code": "bad_field", "message": "malformed message"}))
            return
        self.counters["routes"] += 1
        key = msg_key(msg["id"], msg)
        forward = self.forwards.get(msg["id"])
        earlier = [e.msg_key for e in self.state.messages_with_id(msg["id"])]
        earlier += [msg_key(msg["id"], forward.msg)] if forward is not None else []
        if earlier and key not in earlier:
            # refused where it can be: this hub knows the id with another sender or recipient
            # (across a partition it cannot know; the messages' keys keep both apart)
            out.append(SendAccess(node, {"type": "route_err", "id": msg["id"],
                                         "code": "duplicate_id",
                                         "message": "another message has this id"}))
            return
        if self._known_message(key):
            self.counters["duplicate_routes"] += 1
            if msg["id"] in self.forwards and not self.forwards[msg["id"]].answered:
                return  # the answer comes when the forward settles
            out.append(SendAccess(node, {"type": "route_ok", "id": msg["id"]}))
            return
        to = msg["to"]
        local = to in self.sessions
        coordinate = self.state.coordinate(to)
        remote_dc = None
        if (not local and coordinate is not None and coordinate.get("online")
                and coordinate.get("dc") != self.dc and coordinate.get("dc") in self.config.peers):
            remote_dc = coordinate["dc"]
        route_ok = SendAccess(node, {"type": "route_ok", "id": msg["id"]})
        if self.config.delivery == "online-first":
            if local:
                self.routed_online.add(key)
                self._deliver(msg, "online", now_ns, out)
                out.append(route_ok)
            elif remote_dc is not None:
                self._forward(msg, node, remote_dc, answered=False, now_ns=now_ns, out=out)
            else:
                self._pool(msg, node, now_ns, out)
            return
        # durable
        if remote_dc is not None and "gateway-drop" in self.config.bugs:
            out.append(route_ok)  # claimed before anything is stored: the bug
            self._forward(msg, node, remote_dc, answered=True, now_ns=now_ns, out=out)
            return
        entry = self._pool(msg, node, now_ns, out, push=False)
        if local:
            self._deliver(msg, "online", now_ns, out)
        elif remote_dc is not None:
            self._forward(msg, node, remote_dc, answered=True, now_ns=now_ns, out=out)
        self._push([entry], out)  # after the forward, so the gateway path arrives first

    def _pool(self, msg: dict[str, Any], node: str, now_ns: int, out: list[Effect],
              push: bool = True) -> Entry:
        """Store `msg` as pending (persisted first), answer `route_ok`, push it to every peer."""
        entry = self._originate("msg", msg["id"], msg, now_ns, out)
        out.append(SendAccess(node, {"type": "route_ok", "id": msg["id"]}))
        if push:
            self._push([entry], out)
        return entry

    def _forward(self, msg: dict[str, Any], node: str, peer: str, answered: bool, now_ns: int,
                 out: list[Effect]) -> None:
        self.forwards[msg["id"]] = _Forward(msg, node, peer, answered)
        self.counters["forwards"] += 1
        self._send_peer(peer, {"type": "forward", "msg": msg}, out)
        out.append(SetTimer(FORWARD_TIMER_PREFIX + msg["id"], self.config.forward_timeout_ms))

    def _forward_settled(self, msg_id: str, ok: bool, now_ns: int, out: list[Effect]) -> None:
        pending = self.forwards.pop(msg_id, None)
        if pending is None:
            return
        key = msg_key(msg_id, pending.msg)
        if ok:
            if self.config.delivery == "online-first":
                self.routed_online.add(key)
            if not pending.answered:
                out.append(SendAccess(pending.access_node, {"type": "route_ok", "id": msg_id}))
            return
        self.counters["forward_failures"] += 1
        if "gateway-drop" in self.config.bugs:
            if not pending.answered:
                out.append(SendAccess(pending.access_node, {"type": "route_ok", "id": msg_id}))
            return  # dropped: the bug
        if self.config.delivery == "online-first" and key not in self.state.msgs:
            self._pool(pending.msg, pending.access_node, now_ns, out)
        # durable: the message is in the pool already; gossip carries it

    # ------------------------------------------------------------ peer frames

    def _on_peer_frame(self, peer: str, frame: Frame, now_ns: int, out: list[Effect]) -> None:
        kind = frame.get("type")
        if kind == "digest":
            vv = frame.get("vv")
            if not isinstance(vv, dict):
                self.counters["bad_frames"] += 1
                return
            self._note_peer_vv(peer, vv, now_ns)
            self._answer(peer, vv, now_ns, out, reply=True)
        elif kind == "entries":
            self._apply_remote(frame.get("entries"), now_ns, out, frame.get("skip"))
            vv = frame.get("vv")
            if isinstance(vv, dict):  # the answer to our digest: send what the peer lacks
                self._note_peer_vv(peer, vv, now_ns)
                self._answer(peer, vv, now_ns, out, reply=False)
        elif kind == "push":
            entries = frame.get("entries")
            self._apply_remote(entries, now_ns, out)
            if isinstance(entries, list):
                # the origin pushed its entries to every peer at once: they are on their way to
                # the others too (if lost, the resend timeout runs out)
                if len(entries) == 1:  # the usual push: one new entry
                    seq = _seq_of(entries[0]) if _origin_of(entries[0]) == peer else 0
                else:
                    seq = max((_seq_of(e) for e in entries if _origin_of(e) == peer),
                              default=0)
                if seq and (peer, seq) in self.state:
                    for other in self.config.peers:
                        if other != peer:
                            self.in_flight.record_seq(other, peer, seq, now_ns)
        elif kind == "rumor":
            self._on_rumor(peer, frame, now_ns, out)
        elif kind == "forward":
            msg = _valid_msg(frame.get("msg"))
            if msg is None:
                self.counters["bad_frames"] += 1
                return
            self.counters["forwards_received"] += 1
            tombed = self.is_tombed(msg_key(msg["id"], msg))
            delivered = not tombed and self._deliver(msg, "online", now_ns, out)
            answer = "forward_ok" if delivered or tombed else "forward_fail"
            self._send_peer(peer, {"type": answer, "id": msg["id"]}, out, reply=True)
        elif kind in ("forward_ok", "forward_fail"):
            msg_id = frame.get("id")
            if _is_name(msg_id):
                self._forward_settled(msg_id, kind == "forward_ok", now_ns, out)
            else:
                self.counters["bad_frames"] += 1
        else:
            self.counters["bad_frames"] += 1

    def _answer(self, peer: str, vv: Mapping[str, Any], now_ns: int, out: list[Effect],
                reply: bool) -> None:
        """Send `peer` (holding `vv`) what it lacks, in up to `max_answer_batches` `entries`
        frames of one bounded batch each. A reply to a digest (`reply`) is always sent, its first
        frame carrying our version vector (push-pull); otherwise nothing is sent when nothing is
        missing. Several batches at once: after a long partition a peer lacks thousands of
        entries, and one batch per digest (a digest reaches a given peer every (N - 1) gossip
        intervals on average) took many seconds to repair it."""
        known = self.in_flight.known(peer, vv, now_ns)
        for frame in self._answer_frames(peer, known, now_ns, with_vv=reply):
            self._send_peer(peer, frame, out, reply=reply)

    def _answer_frames(self, peer: str, vv: Mapping[str, Any], now_ns: int, *, with_vv: bool,
                       origins: Collection[str] | None = None) -> list[Frame]:
        """The `entries` frames of an answer to `peer` holding `vv` (of `origins` only, if
        given), recorded as on their way. With `with_vv` there is always a frame, the first
        one carrying our version vector."""
        known = dict(vv)
        frames: list[Frame] = []
        for n in range(self.config.max_answer_batches):
            missing, skips = self.state.answer_for(known, self.config.max_batch_entries,
                                                   self.config.max_batch_bytes, origins)
            self.in_flight.record(peer, missing, now_ns)
            if not (missing or skips) and (n or not with_vv):
                break
            frame: dict[str, Any] = {"type": "entries", "entries": self._wire(missing),
                                     **_skip_field(skips)}
            if with_vv and n == 0:
                frame["vv"] = self.state.version_vector()
            frames.append(frame)
            if not (missing or skips):
                break
            # the next batch starts after what this one carries
            for origin, seq in [*((e.origin, e.seq) for e in missing),
                                *((origin, hi) for origin, _, hi in skips)]:
                held = known.get(origin, 0)
                if not isinstance(held, int) or isinstance(held, bool) or seq > held:
                    known[origin] = seq
        return frames

    # ------------------------------------------------------------ compaction

    def _note_peer_vv(self, peer: str, vv: Mapping[str, Any], now_ns: int) -> None:
        """Remember what `peer` holds (its vector, as it just said) and compact what every DC
        now covers, at most once per `compact_interval_ms`."""
        if peer not in self.config.peers:
            return
        self.peer_vvs[peer] = {origin: seq for origin, seq in vv.items()
                               if isinstance(origin, str) and type(seq) is int}
        interval_ns = round(self.config.compact_interval_ms * 1_000_000)
        if self._compacted_at is not None and now_ns - self._compacted_at < interval_ns:
            return
        self._compacted_at = now_ns
        own = self.state.version_vector()
        stable: dict[str, int] = {}
        if all(p in self.peer_vvs for p in self.config.peers):
            for origin, seq in own.items():
                stable[origin] = min([seq, *(self.peer_vvs[p].get(origin, 0)
                                             for p in self.config.peers)])
        self.counters["compacted"] += self.state.compact(stable)

    # ------------------------------------------------------------ timers

    def _on_timer(self, name: str, now_ns: int, out: list[Effect]) -> None:
        if name == GOSSIP_TIMER:
            if self.config.rumor:
                self._round_armed = False
                self._rumor_round(now_ns, out)
            elif self.config.anti_entropy and self.config.peers:
                peer = self.rng.choice(self.config.peers)
                self.counters["digests_sent"] += 1
                self._send_peer(peer, {"type": "digest", "vv": self.state.version_vector()}, out)
                out.append(SetTimer(GOSSIP_TIMER, self.config.gossip_interval_ms))
        elif name == PUSH_TIMER:
            self._push_armed = False
            self._flush_push(out)
        elif name == FLUSH_TIMER:
            batch, self._deferred = tuple(self._deferred), []
            if batch:
                out.append(Persist(batch))
        elif name == REOFFER_TIMER:
            self._reoffer_armed = False
            self._reoffer(now_ns, out)
        elif name.startswith(FORWARD_TIMER_PREFIX):
            self._forward_settled(name[len(FORWARD_TIMER_PREFIX):], False, now_ns, out)

    # ------------------------------------------------------------ rumor mongering

    def _next_round_ms(self, in_round: bool) -> float:
        """Delay to the next round boundary: rumor rounds are aligned to the wall clock
        (multiples of the gossip interval), so that all DCs run the synchronous rounds the theory
        counts. In a round (the timer fired, perhaps a little early) the next boundary is the one
        after."""
        interval = self.config.gossip_interval_ms
        delay = interval - (self._wall_ns / 1e6) % interval
        return delay + interval if in_round and delay < interval / 2 else delay

    def _make_hot(self, entries: Iterable[Entry]) -> None:
        rounds = self.config.rumor_rounds
        for entry in entries:
            self.hot[entry.dot] = (entry, rounds)

    def _arm_round(self, out: list[Effect], in_round: bool = False) -> None:
        if not self._round_armed and self.config.peers:
            self._round_armed = True
            out.append(SetTimer(GOSSIP_TIMER, self._next_round_ms(in_round)))

    def _rumor_round(self, now_ns: int, out: list[Effect]) -> None:
        """One round: call `fanout` distinct random peers; `rumor-push` sends them the hot
        updates (if any), `rumor-pull` asks them for theirs, `rumor-push-pull` does both in one
        frame. Then every hot update ages by one round and is dropped at zero (the stop rule)."""
        gossip, peers, fanout = self.config.gossip, self.config.peers, self.config.fanout
        hot = [entry for entry, _ in self.hot.values()]
        pull = gossip != "rumor-push"
        if hot or pull:
            frame: dict[str, Any] = {"type": "rumor",
                                     "entries": self._wire(hot) if gossip != "rumor-pull" else []}
            if pull:
                frame["pull"] = True
            called: list[str] = []
            while len(called) < fanout:
                peer = self.rng.choice(peers)
                if peer not in called:
                    called.append(peer)
                    self.counters["rumor_frames"] += 1
                    self._send_peer(peer, frame, out)
        if self.hot:
            self.hot = {dot: (entry, left - 1) for dot, (entry, left) in self.hot.items()
                        if left > 1}
        if self.hot or pull:  # an idle hub in rumor-push sleeps until something is hot
            self._arm_round(out, in_round=True)

    def _on_rumor(self, peer: str, frame: Frame, now_ns: int, out: list[Effect]) -> None:
        """A peer's call: answer a pull with our hot updates it did not just send, then apply
        what it pushed (so what it taught us is not echoed back)."""
        entries, pull = frame.get("entries"), frame.get("pull", False)
        if not isinstance(entries, list) or not isinstance(pull, bool):
            self.counters["bad_frames"] += 1
            return
        if pull and self.hot:
            sent = {_dot(e) for e in entries}
            answer = [entry for dot, (entry, _) in self.hot.items() if dot not in sent]
            if answer:
                self.counters["rumor_frames"] += 1
                self._send_peer(peer, {"type": "rumor", "entries": self._wire(answer)}, out,
                                reply=True)
        self._apply_remote(entries, now_ns, out)


def kind_counters(by_kind: Mapping[str, list[int]], with_bytes: bool = True) -> dict[str, int]:
    """`wan_frames_<type>` (and `wan_bytes_<type>`) counters from {type: [frames, bytes]}."""
    out: dict[str, int] = {}
    for kind, (frames, size) in sorted(by_kind.items()):
        out[f"wan_frames_{kind}"] = frames
        if with_bytes:
            out[f"wan_bytes_{kind}"] = size
    return out


def _skip_field(skips: list[Skip]) -> dict[str, Any]:
    """The `skip` field of an `entries` frame: `[[origin, lo, hi], ...]`, left out when empty."""
    return {"skip": [list(skip) for skip in skips]} if skips else {}


__all__ = ["COUNTER_NAMES", "HubCore", "kind_counters"]
