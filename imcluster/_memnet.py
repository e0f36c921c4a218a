"""In-memory deterministic driver: hub and access cores on a virtual clock and a simulated network.

`MemCluster` runs one `HubCore` per DC and `AccessCore`s under it, delivering frames through a
priority queue of timed events (per-link latency, optional jitter with FIFO links, partitions,
crash and restart of hubs with what went through `Persist`, crash and restart of access nodes,
pause/resume of any node, access-hub cuts, flaps of the link between an access node and its hub,
offers lost to a full send queue). The clock is an integer of virtual nanoseconds; the queue a heap
of `(time_ns, seq, action)` tuples, ties broken by insertion order (never by hash order).
Everything random comes from the seed, so a run is a pure function of its inputs. The unit tests
and the harness's `sim` backend (`harness/sim/`) drive it.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from ._accel import mypyc_attr
from ._access import AccessCore
from ._auth import user_token
from ._config import AccessConfig, HubConfig
from ._events import (
    AccessConnected,
    AccessDisconnected,
    AccessFrame,
    ClientClosed,
    ClientData,
    ClientFrame,
    ClientOpened,
    CloseClient,
    Effect,
    Frame,
    HubConnected,
    HubDisconnected,
    HubFrameIn,
    LogEvent,
    PeerFrame,
    Persist,
    SendAccess,
    SendClient,
    SendHub,
    SendPeer,
    SetTimer,
    TimerFired,
)
from ._hub import HubCore
from ._state import Entry
from ._wire import encode

DEFAULT_SECRET = b"memnet-secret"
log = logging.getLogger("imcluster.memnet")


class ClientEnd(Protocol):
    """What `MemCluster` needs of a client connection (`MemClient`, the sim's users)."""

    node: str
    conn: str | None
    open: bool

    def _receive(self, frame: Frame) -> None: ...

    def _closed_by_server(self) -> None: ...


def _wire_copy(frame: Frame) -> Frame:
    """What the receiver gets: the frame through the real codec (no shared mutable objects)."""
    decoded: Frame = json.loads(encode(frame))
    return decoded


_WanHop = tuple[str, str, int, int, Frame]
"""A frame on the WAN: (source DC, destination DC, their incarnations when sent, frame)."""


def _ns(ms: float) -> int:
    return round(ms * 1_000_000)


class MemClient:
    """A simulated user connection to one access node; records every frame it receives."""

    def __init__(self, cluster: MemCluster, user: str, node: str, auto_ack: bool = True) -> None:
        self.cluster = cluster
        self.user = user
        self.node = node
        self.dc = cluster.access_dc[node]
        self.auto_ack = auto_ack
        self.conn: str | None = None
        self.open = False
        self.logged_in = False
        self.frames: list[tuple[float, Frame]] = []
        self.deliveries: list[dict[str, Any]] = []  # deliver frames plus "t" (virtual ms)
        self.results: dict[str, str] = {}  # message id -> "ok" | error code
        self.errors: list[Frame] = []

    # ---------------------------------------------------------------- client actions

    def connect(self) -> str:
        """Open a fresh connection (closing nothing); returns its conn id."""
        self.conn = self.cluster._open_conn(self)
        self.open, self.logged_in = True, False
        return self.conn

    def login(self, token: str | None = None) -> None:
        if not self.open:
            self.connect()
        if token is None:
            token = user_token(self.cluster.secret, self.user)
        self.send_frame({"type": "login", "user": self.user, "token": token})

    def send(self, msg_id: str, to: str, body: str = "") -> None:
        self.send_frame({"type": "send", "id": msg_id, "to": to, "body": body})

    def ack(self, msg_id: str) -> None:
        self.send_frame({"type": "ack", "id": msg_id})

    def logout(self) -> None:
        self.send_frame({"type": "logout"})
        self.logged_in = False

    def ping(self) -> None:
        self.send_frame({"type": "ping"})

    def close(self) -> None:
        if self.open and self.conn is not None:
            self.open, self.logged_in = False, False
            self.cluster._client_close(self.node, self.conn)

    def send_frame(self, frame: Frame) -> None:
        self.send_raw(encode(frame))

    def send_raw(self, data: bytes) -> None:
        if not self.open or self.conn is None:
            raise RuntimeError(f"{self.user}: not connected")
        self.cluster._client_bytes(self.node, self.conn, data)

    # ---------------------------------------------------------------- observations

    def received_ids(self) -> list[str]:
        return [d["id"] for d in self.deliveries]

    def _receive(self, frame: Frame) -> None:
        now = self.cluster.now_ms
        self.frames.append((now, frame))
        kind = frame.get("type")
        if kind == "login_ok":
            self.logged_in = True
        elif kind == "send_ok":
            self.results[frame["id"]] = "ok"
        elif kind == "send_err":
            self.results[frame["id"]] = frame.get("code", "error")
        elif kind == "error":
            self.errors.append(frame)
        elif kind == "deliver":
            record = dict(frame, t=now)
            self.deliveries.append(record)
            self.cluster.deliveries.append(dict(record, user=self.user))
            if self.auto_ack and self.open:
                self.ack(frame["id"])

    def _closed_by_server(self) -> None:
        self.open, self.logged_in = False, False


@mypyc_attr(allow_interpreted_subclasses=True)
class MemCluster:
    """N DCs (`dc1`..), each with a hub and `access_per_dc` access nodes, on a virtual clock."""

    def __init__(self, dcs: int = 3, access_per_dc: int = 1, seed: int = 0,
                 latency_ms: float = 200, local_latency_ms: float = 1.0, jitter_ms: float = 0,
                 secret: bytes = DEFAULT_SECRET, **hub_config_overrides: Any) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.secret = secret
        self.now_ns = 0
        self.latency_ms = latency_ms
        self.local_latency_ms = local_latency_ms
        self.jitter_ms = jitter_ms
        self.dc_names = [f"dc{i}" for i in range(1, dcs + 1)]
        self.configs = {dc: HubConfig(dc=dc, peers=tuple(d for d in self.dc_names if d != dc),
                                      **hub_config_overrides) for dc in self.dc_names}
        self.hubs: dict[str, HubCore | None] = {}
        self.incarnation: dict[str, int] = {dc: 0 for dc in self.dc_names}
        self.disk: dict[str, list[Entry]] = {dc: [] for dc in self.dc_names}
        self.access: dict[str, AccessCore] = {}
        self.access_dc: dict[str, str] = {}
        self.access_down: set[str] = set()
        self.clock_offset_ms: dict[str, float] = {}
        self.link_latency: dict[tuple[str, str], float] = {}
        self.cuts: set[tuple[str, str]] = set()
        self.access_cuts: set[str] = set()  # access nodes cut off from their hub
        self.paused: set[str] = set()  # node names (`dc1-hub`, `dc1-a1`) frozen like SIGSTOP
        self._backlog: dict[str, list[Callable[[], None]]] = {}
        # the hubs' event logs, merged, in the events.jsonl format (time: virtual ns since start)
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []  # every deliver frame any client received
        self.dropped_frames = 0
        self.access_incarnation: dict[str, int] = {}
        self.access_link_gen: dict[str, int] = {}  # bumped when an access-hub link drops
        self.access_link_down: set[str] = set()
        self._access_noticed: set[str] = set()  # down links both sides know are down
        self.deliver_drops: dict[str, int] = {}  # node -> deliver frames still to drop
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0  # the tie-breaker of the last event scheduled
        # the WAN arrivals of the event scheduled last, while nothing was scheduled after it:
        # (time_ns, seq, hops); a frame sent to several peers at once arrives in one event
        self._wan_batch: tuple[int, int, list[_WanHop]] | None = None
        self._timers: dict[tuple[str, str], int] = {}
        self._timer_last: dict[tuple[str, str], tuple[float, Callable[[TimerFired], None]]] = {}
        # (node or DC, event, exception) for every event a core raised on (the drivers go on)
        self.core_errors: list[tuple[str, object, Exception]] = []
        self._link_clock: dict[tuple[str, str], int] = {}
        self._conn_numbers: dict[str, itertools.count[int]] = {}
        self._clients: dict[str, ClientEnd] = {}
        for dc in self.dc_names:
            for k in range(1, access_per_dc + 1):
                node = f"{dc}-a{k}"
                self.access[node] = AccessCore(AccessConfig(dc=dc, node=node, secret=secret))
                self.access_dc[node] = dc
                self._conn_numbers[node] = itertools.count(1)
                self.access_incarnation[node] = 0
                self.access_link_gen[node] = 0
        for dc in self.dc_names:
            self._boot_hub(dc)

    # ---------------------------------------------------------------- clock and queue

    @property
    def now_ms(self) -> float:
        """The virtual time in ms (the clock itself is `now_ns`)."""
        return self.now_ns / 1_000_000

    def _at(self, delay_ms: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ns + _ns(delay_ms), self._seq, action))

    def _at_local(self, action: Callable[[], None]) -> None:
        """Run `action` one local hop (`local_latency_ms`) from now."""
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ns + self._local_ns, self._seq, action))

    @property
    def local_latency_ms(self) -> float:
        """One-way delay between a client, its access node and its hub."""
        return self._local_ns / 1_000_000

    @local_latency_ms.setter
    def local_latency_ms(self, ms: float) -> None:
        self._local_ns = _ns(ms)

    def at_ns(self, time_ns: int, action: Callable[[], None]) -> None:
        """Run `action` at virtual time `time_ns` (now, if that has passed)."""
        self._seq += 1
        if time_ns < self.now_ns:  # noqa: PLR1730 - no max() call per event
            time_ns = self.now_ns
        heapq.heappush(self._queue, (time_ns, self._seq, action))

    def next_time_ns(self) -> int | None:
        """When the next scheduled event is due (None: nothing is scheduled)."""
        return self._queue[0][0] if self._queue else None

    def step(self) -> bool:
        """Run the next scheduled event; False when nothing is scheduled."""
        if not self._queue:
            return False
        time_ns, _, action = heapq.heappop(self._queue)
        if time_ns > self.now_ns:  # noqa: PLR1730 - no max() call per event
            self.now_ns = time_ns
        action()
        return True

    def run_until_ns(self, t_ns: int, until: Callable[[], bool] | None = None) -> bool:
        """Run events up to virtual time `t_ns` (or until `until()` holds; then True)."""
        queue = self._queue
        pop = heapq.heappop
        while queue and queue[0][0] <= t_ns:  # `step`, inlined: this loop runs every event
            time_ns, _, action = pop(queue)
            if time_ns > self.now_ns:  # noqa: PLR1730 - no max() call per event
                self.now_ns = time_ns
            action()
            if until is not None and until():
                return True
        if t_ns > self.now_ns:  # noqa: PLR1730 - as above
            self.now_ns = t_ns
        return until is not None and until()

    def run_until(self, t_ms: float, until: Callable[[], bool] | None = None) -> bool:
        """Run events up to virtual time `t_ms` (or until `until()` holds; then True)."""
        return self.run_until_ns(_ns(t_ms), until)

    def run_for(self, ms: float, until: Callable[[], bool] | None = None) -> bool:
        return self.run_until_ns(self.now_ns + _ns(ms), until)

    def node_now_ns(self, name: str) -> int:
        """The (possibly skewed) clock of node or DC `name`, in ns."""
        if not self.clock_offset_ms:
            return self.now_ns  # no skew anywhere (the usual case)
        offset = self.clock_offset_ms.get(name, 0.0)
        if name in self.access_dc and name not in self.clock_offset_ms:
            offset = self.clock_offset_ms.get(self.access_dc[name], 0.0)
        return self.now_ns + _ns(offset)

    def set_clock(self, name: str, offset_ms: float) -> None:
        """Skew the clock of a DC (its hub and access nodes) or of one access node."""
        self.clock_offset_ms[name] = offset_ms

    # ---------------------------------------------------------------- network faults

    def cut(self, a: str, b: str) -> None:
        """Blackhole both directions between DCs `a` and `b`."""
        self.cuts |= {(a, b), (b, a)}

    def cut_oneway(self, src: str, dst: str) -> None:
        """Blackhole frames from `src` to `dst` only."""
        self.cuts.add((src, dst))

    def isolate(self, dc: str) -> None:
        for other in self.dc_names:
            if other != dc:
                self.cut(dc, other)

    def heal(self) -> None:
        self.cuts.clear()

    def set_latency(self, a: str, b: str, ms: float) -> None:
        self.link_latency[(a, b)] = self.link_latency[(b, a)] = ms

    def _wan_cut(self, src: str, dst: str) -> bool:
        """Frames from `src` to `dst` vanish (a subclass adds other kinds of cut)."""
        return (src, dst) in self.cuts

    def _link_delay_ms(self, src: str, dst: str, frame: Frame) -> float:
        """One-way delay of `frame` on link src->dst before FIFO ordering (a subclass adds
        degradations)."""
        delay = self.link_latency.get((src, dst), self.latency_ms)
        if self.jitter_ms:
            delay += self.rng.uniform(0, self.jitter_ms)
        return delay

    def _wan_arrival_ns(self, src: str, dst: str, frame: Frame) -> int:
        link = (src, dst)
        arrival = self.now_ns + _ns(self._link_delay_ms(src, dst, frame))
        last = self._link_clock.get(link, 0)
        if last > arrival:  # noqa: PLR1730 - a link is FIFO, like TCP (no max() per frame)
            arrival = last
        self._link_clock[link] = arrival
        return arrival

    def _carry(self, frame: Frame) -> Frame:
        """What the receiver of `frame` gets: the frame through the real codec (no shared
        mutable objects). A subclass may hand the dict over as it is."""
        return _wire_copy(frame)

    # ---------------------------------------------------------------- pause, access-hub cuts

    def pause(self, node: str) -> None:
        """Freeze node `node` (`dc1-hub` or an access node): what reaches it waits, its timers
        fire late, nothing leaves it, until `resume` (SIGSTOP/SIGCONT)."""
        self.paused.add(node)

    def resume(self, node: str) -> None:
        """Unfreeze `node`: everything that waited runs now, in arrival order."""
        self.paused.discard(node)
        for action in self._backlog.pop(node, []):
            action()

    def _held(self, node: str, action: Callable[[], None]) -> bool:
        """Queue `action` for `node` if it is paused (then True)."""
        if node in self.paused:
            self._backlog.setdefault(node, []).append(action)
            return True
        return False

    def cut_access(self, node: str) -> None:
        """Blackhole frames between access node `node` and its hub (both ways); clients still
        reach the node."""
        self.access_cuts.add(node)

    def rejoin_access(self, node: str) -> None:
        """Undo `cut_access`. The link was dead, so like the nodes' hang detection, it is
        re-established: the access node resynchronises its sessions with the hub."""
        if node not in self.access_cuts:
            return
        self.access_cuts.discard(node)
        dc = self.access_dc[node]
        if node in self.access_down or self.hubs.get(dc) is None:
            return
        self._access_event(node, HubDisconnected())
        self._hub_event(dc, AccessDisconnected(node))
        self._hub_event(dc, AccessConnected(node))
        self._access_event(node, HubConnected())

    # ---------------------------------------------------------------- hubs

    def _boot_hub(self, dc: str) -> None:
        rng = random.Random(f"{self.seed}:{dc}:{self.incarnation[dc]}")
        hub = HubCore(self.configs[dc], rng, restored=list(self.disk[dc]))
        self.hubs[dc] = hub
        self._carry_out_hub(dc, hub.start(self.node_now_ns(dc)))
        for node, node_dc in self.access_dc.items():
            if node_dc == dc and node not in self.access_down | self.access_link_down:
                self._hub_event(dc, AccessConnected(node))
                self._access_event(node, HubConnected())

    def crash(self, dc: str) -> None:
        """Kill DC `dc`'s hub: it loses everything but what it persisted; its links drop."""
        if self.hubs.get(dc) is None:
            return
        self.hubs[dc] = None
        self.paused.discard(f"{dc}-hub")
        self._backlog.pop(f"{dc}-hub", None)
        self.incarnation[dc] += 1
        for node, node_dc in self.access_dc.items():
            if node_dc == dc:
                self._access_event(node, HubDisconnected())

    def restart(self, dc: str) -> None:
        """Start DC `dc`'s hub again from its persisted entries."""
        if self.hubs.get(dc) is not None:
            return
        self._boot_hub(dc)

    def crash_access(self, node: str) -> None:
        """Kill access node `node`: its clients are disconnected, its hub sees the link drop."""
        if node in self.access_down:
            return
        self.access_down.add(node)
        self.paused.discard(node)
        self._backlog.pop(node, None)
        dc = self.access_dc[node]
        for conn, client in list(self._clients.items()):
            if conn.startswith(node + ":") and client.conn == conn:
                client._closed_by_server()
        self._at_local(lambda: self._hub_event(dc, AccessDisconnected(node)))

    def restart_access(self, node: str) -> None:
        """Start access node `node` again, empty; it reconnects to its hub."""
        if node not in self.access_down:
            return
        self.access_down.discard(node)
        dc = self.access_dc[node]
        self.access[node] = AccessCore(self.access[node].config)
        # like a restarted process: a new incarnation, conn numbers start again from 1
        self.access_incarnation[node] += 1
        self._conn_numbers[node] = itertools.count(1)
        self.access_link_gen[node] += 1
        self.access_link_down.discard(node)
        self._access_noticed.discard(node)
        if self.hubs.get(dc) is not None:
            self._hub_event(dc, AccessConnected(node))
            self._access_event(node, HubConnected())

    def disconnect_access(self, node: str, notice_after_ms: float = 0) -> None:
        """Drop the link between access node `node` and its hub: frames in flight on it and sent
        from now on are lost; both sides notice the link is down after `notice_after_ms` (a hang
        found by a timeout). Clients stay connected to the access node."""
        if node in self.access_link_down:
            return
        self.access_link_down.add(node)
        self.access_link_gen[node] += 1
        generation = self.access_link_gen[node]

        def notice() -> None:
            if self.access_link_gen[node] == generation and node in self.access_link_down:
                self._access_noticed.add(node)
                self._access_event(node, HubDisconnected())
                self._hub_event(self.access_dc[node], AccessDisconnected(node))

        if notice_after_ms > 0:
            self._at(notice_after_ms, notice)
        else:
            notice()

    def reconnect_access(self, node: str) -> None:
        """Bring the link of `node` to its hub back once both sides noticed it was down (the
        access node then sends `sync`)."""
        if node not in self._access_noticed:
            return
        self._access_noticed.discard(node)
        self.access_link_down.discard(node)
        dc = self.access_dc[node]
        if self.hubs.get(dc) is not None and node not in self.access_down:
            self._hub_event(dc, AccessConnected(node))
            self._access_event(node, HubConnected())

    def drop_deliveries(self, node: str, count: int) -> None:
        """Lose the next `count` deliver frames from the hub to `node` (a full send queue)."""
        self.deliver_drops[node] = self.deliver_drops.get(node, 0) + count

    def _access_link_open(self, node: str, generation: int) -> bool:
        return node not in self.access_link_down and self.access_link_gen[node] == generation

    def hub(self, dc: str) -> HubCore:
        hub = self.hubs[dc]
        if hub is None:
            raise RuntimeError(f"hub of {dc} is down")
        return hub

    def _hub_event(self, dc: str, event: object) -> None:
        hub = self.hubs.get(dc)
        if hub is None or (self.paused and self._held(
                f"{dc}-hub", lambda: self._hub_event(dc, event))):
            return
        now_ns = self.node_now_ns(dc) if self.clock_offset_ms else self.now_ns
        try:  # `_handle`, inlined for the most frequent events
            effects = hub.handle(event, now_ns)
        except Exception as exc:  # noqa: BLE001 - logged and recorded by `_core_failed`
            effects = self._core_failed(dc, event, exc)
        self._carry_out_hub(dc, effects)

    def _handle(self, owner: str, core: HubCore | AccessCore, event: object,
                now_ns: int) -> list[Effect]:
        """`core.handle`, as the asyncio drivers do it: a core that raises is logged, recorded in
        `core_errors` and the event dropped; a timer whose handling raised is armed again with
        its last delay (a core error never silences a timer)."""
        try:
            return core.handle(event, now_ns)
        except Exception as exc:  # noqa: BLE001 - logged and recorded by `_core_failed`
            return self._core_failed(owner, event, exc)

    def _core_failed(self, owner: str, event: object, exc: Exception) -> list[Effect]:
        """A core raised on `event`: see `_handle`."""
        log.error("%s: core failed on %r", owner, event, exc_info=exc)
        self.core_errors.append((owner, event, exc))
        if isinstance(event, TimerFired) and (owner, event.name) in self._timer_last:
            delay_ms, fire = self._timer_last[(owner, event.name)]
            self._set_timer(owner, SetTimer(event.name, delay_ms), fire)
        return []

    def _carry_out_hub(self, dc: str, effects: Iterable[Effect]) -> None:
        incarnation = self.incarnation[dc]
        node = f"{dc}-hub"
        for effect in effects:
            if isinstance(effect, LogEvent):  # the most frequent effects first
                entry = effect.entry
                self.events.append({"time": self.now_ns, "dc": dc, "node": node,
                                    "event": effect.event, "kind": entry.kind, "key": entry.key,
                                    "origin": entry.origin, "seq": entry.seq})
            elif isinstance(effect, SendPeer):
                self._send_wan(dc, effect.peer, effect.frame)
            elif isinstance(effect, Persist):
                self.disk[dc].extend(effect.entries)
            elif isinstance(effect, SendAccess):
                self._send_to_access(dc, incarnation, effect.node, effect.frame)
            elif isinstance(effect, SetTimer):
                self._set_timer(dc, effect, self._hub_timer_callback(dc, incarnation))
            else:
                raise TypeError(f"hub {dc} returned an unexpected effect {effect!r}")

    def _hub_timer_callback(self, dc: str, incarnation: int) -> Callable[[TimerFired], None]:
        def fire(event: TimerFired) -> None:
            if self.incarnation[dc] == incarnation:  # timers die with the process
                self._hub_event(dc, event)
        return fire

    def _access_timer_callback(self, node: str) -> Callable[[TimerFired], None]:
        def fire(event: TimerFired) -> None:
            self._access_event(node, event)
        return fire

    def _send_wan(self, src: str, dst: str, frame: Frame) -> None:
        if self._wan_cut(src, dst) or dst not in self.hubs:
            self.dropped_frames += 1
            return
        data = self._carry(frame)
        arrival = self._wan_arrival_ns(src, dst, data)
        hop = (src, dst, self.incarnation[src], self.incarnation[dst], data)
        batch = self._wan_batch
        if batch is not None and batch[0] == arrival and batch[1] == self._seq:
            # due at the same instant as the event scheduled last (a push to every peer):
            # they would run one after the other anyway, so they share that event
            batch[2].append(hop)
            return
        hops = [hop]
        self.at_ns(arrival, lambda: self._wan_arrive(hops))
        self._wan_batch = (arrival, self._seq, hops)

    def _wan_arrive(self, hops: list[_WanHop]) -> None:
        """Frames reach their hubs (in the order sent), unless cut or the receiver restarted.
        A frame its sender wrote before it was killed still arrives: on the real backends those
        bytes are already in Toxiproxy, which delivers them after the link's latency (measured
        on local: peers applied a push 4 ms after its sender's SIGKILL)."""
        incarnation = self.incarnation
        for src, dst, _src_incarnation, dst_incarnation, data in hops:
            if self._wan_cut(src, dst) or dst_incarnation != incarnation[dst]:
                self.dropped_frames += 1
                continue
            self._hub_event(dst, PeerFrame(src, data))

    def _send_to_access(self, dc: str, incarnation: int, node: str, frame: Frame) -> None:
        if (self.access_dc.get(node) != dc or node in self.access_cuts
                or not self._access_link_open(node, self.access_link_gen[node])):
            return
        if frame.get("type") == "deliver" and self.deliver_drops.get(node, 0) > 0:
            self.deliver_drops[node] -= 1
            self.dropped_frames += 1
            return
        data = self._carry(frame)
        generation = self.access_link_gen[node]

        def arrive() -> None:
            if (self.incarnation[dc] == incarnation and self.hubs.get(dc) is not None
                    and node not in self.access_cuts and self._access_link_open(node, generation)):
                self._access_event(node, HubFrameIn(data))

        self._at_local(arrive)

    def _set_timer(self, owner: str, effect: SetTimer, fire: Callable[[TimerFired], None]) -> None:
        key = (owner, effect.name)
        self._timer_last[key] = (effect.delay_ms, fire)
        generation = self._timers.get(key, 0) + 1
        self._timers[key] = generation

        def expire() -> None:
            if self._timers.get(key) == generation:
                fire(TimerFired(effect.name))

        self._at(effect.delay_ms, expire)

    # ---------------------------------------------------------------- access nodes

    def _access_event(self, node: str, event: object) -> None:
        if node in self.access_down or (self.paused and self._held(
                node, lambda: self._access_event(node, event))):
            return
        core = self.access[node]
        self._carry_out_access(node, self._handle(node, core, event, self.node_now_ns(node)))

    def _carry_out_access(self, node: str, effects: Iterable[Effect]) -> None:
        dc = self.access_dc[node]
        for effect in effects:
            if isinstance(effect, SendHub):
                self._send_to_hub(node, dc, effect.frame)
            elif isinstance(effect, SendClient):
                self._send_to_client(effect.conn, effect.frame)
            elif isinstance(effect, CloseClient):
                self._server_close(node, effect.conn)
            elif isinstance(effect, SetTimer):
                self._set_timer(node, effect, self._access_timer_callback(node))
            else:
                raise TypeError(f"access node {node} returned an unexpected effect {effect!r}")

    def _send_to_hub(self, node: str, dc: str, frame: Frame) -> None:
        generation = self.access_link_gen[node]
        if (self.hubs.get(dc) is None or node in self.access_cuts
                or not self._access_link_open(node, generation)):
            return
        incarnation = self.incarnation[dc]
        data = self._carry(frame)

        def arrive() -> None:
            if (self.incarnation[dc] == incarnation and node not in self.access_cuts
                    and self._access_link_open(node, generation)):
                self._hub_event(dc, AccessFrame(node, data))

        self._at_local(arrive)

    # ---------------------------------------------------------------- clients

    def client(self, user: str, dc: str, access_index: int = 1, auto_ack: bool = True) -> MemClient:
        """A new client of `user` on access node `<dc>-a<access_index>` (not connected yet)."""
        return MemClient(self, user, f"{dc}-a{access_index}", auto_ack=auto_ack)

    def _open_conn(self, client: ClientEnd) -> str:
        # unique per access-node incarnation, like the asyncio driver's "<node>:<token>.<n>"
        conn = (f"{client.node}:{self.access_incarnation[client.node]}."
                f"{next(self._conn_numbers[client.node])}")
        self._clients[conn] = client
        self._access_event(client.node, ClientOpened(conn))
        return conn

    def _client_bytes(self, node: str, conn: str, data: bytes) -> None:
        self._at_local(lambda: self._access_event(node, ClientData(conn, data)))

    def _client_frame(self, node: str, conn: str, frame: Frame) -> None:
        """A parsed frame from client `conn` (in-process clients: no JSON on the way)."""
        self._at_local(lambda: self._access_event(node, ClientFrame(conn, frame)))

    def _client_close(self, node: str, conn: str) -> None:
        self._at_local(lambda: self._access_event(node, ClientClosed(conn)))

    def _send_to_client(self, conn: str, frame: Frame) -> None:
        client = self._clients.get(conn)
        if client is None:
            return
        data = self._carry(frame)

        def arrive() -> None:
            if client.conn == conn and client.open:
                client._receive(data)

        self._at_local(arrive)

    def _server_close(self, node: str, conn: str) -> None:
        client = self._clients.get(conn)

        def closed() -> None:
            if client is not None and client.conn == conn:
                client._closed_by_server()
            self._access_event(node, ClientClosed(conn))

        self._at_local(closed)

    # ---------------------------------------------------------------- observations

    def version_vectors(self) -> dict[str, dict[str, int]]:
        return {dc: hub.version_vector() for dc, hub in self.hubs.items() if hub is not None}

    def converged(self) -> bool:
        """Every live hub has the same version vector."""
        vectors = list(self.version_vectors().values())
        return all(v == vectors[0] for v in vectors)

    def received(self, user: str) -> list[dict[str, Any]]:
        """Every delivery any client of `user` received, in order."""
        return [d for d in self.deliveries if d["user"] == user]

    def with_config(self, dc: str, **changes: Any) -> None:
        """Change the configuration a hub uses from its next restart on."""
        self.configs[dc] = replace(self.configs[dc], **changes)


__all__ = ["MemClient", "MemCluster"]
