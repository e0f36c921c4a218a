"""Issue 9 items 1 and 4 at the hub core: an offer that may not have arrived is made again, and the
offer bookkeeping is pruned and bounded.

Each test drives one `HubCore` directly (no peers) on a virtual clock that fires the timers the
core sets, and plays the access node's side by hand: the three ways an offer got lost for good
(a link flap, an access-node restart reusing conn ids, a frame dropped by a full send queue).
"""

from __future__ import annotations

import heapq
import random
from typing import Any

from imcluster._config import HubConfig
from imcluster._events import (
    AccessConnected,
    AccessDisconnected,
    AccessFrame,
    Effect,
    SendAccess,
    SetTimer,
    TimerFired,
)
from imcluster._hub import HubCore

NODE = "dc1-a1"
MS = 1_000_000


class Clocked:
    """A hub core on a virtual clock: effects are collected, timers fire when time passes."""

    def __init__(self, **config: Any) -> None:
        self.core = HubCore(HubConfig(dc="dc1", **config), random.Random(0))
        self.now_ms = 0.0
        self.timers: list[tuple[float, int, str]] = []
        self.generation: dict[str, int] = {}
        self.effects: list[Effect] = []

    def handle(self, event: object) -> list[Effect]:
        effects = self.core.handle(event, round(self.now_ms * MS))
        for effect in effects:
            if isinstance(effect, SetTimer):
                self.generation[effect.name] = self.generation.get(effect.name, 0) + 1
                heapq.heappush(self.timers, (self.now_ms + effect.delay_ms,
                                             self.generation[effect.name], effect.name))
        self.effects.extend(effects)
        return effects

    def frame(self, frame: dict[str, Any]) -> list[Effect]:
        return self.handle(AccessFrame(NODE, frame))

    def advance(self, ms: float) -> list[Effect]:
        """Let `ms` pass, firing due timers (the latest setting of a name wins)."""
        end = self.now_ms + ms
        out: list[Effect] = []
        while self.timers and self.timers[0][0] <= end:
            at, generation, name = heapq.heappop(self.timers)
            if self.generation.get(name) != generation:
                continue
            self.now_ms = at
            out.extend(self.handle(TimerFired(name)))
        self.now_ms = end
        return out


def deliveries(effects: list[Effect]) -> list[tuple[str, str]]:
    """(message id, conn) of each `deliver` frame sent to an access node."""
    return [(e.frame["msg"]["id"], e.frame["conn"]) for e in effects
            if isinstance(e, SendAccess) and e.frame.get("type") == "deliver"]


def login(hub: Clocked, user: str, conn: str) -> list[Effect]:
    return hub.frame({"type": "coord", "user": user, "conn": conn, "online": True})


def route(hub: Clocked, msg_id: str, to: str = "bob") -> list[Effect]:
    return hub.frame({"type": "route", "msg": {"id": msg_id, "from": "alice", "to": to,
                                              "body": "hi", "sent_at": 0}})


def offered_once(conn: str = f"{NODE}:1") -> Clocked:
    hub = Clocked()
    hub.handle(AccessConnected(NODE))
    hub.frame({"type": "sync", "conns": []})
    login(hub, "bob", conn)
    assert deliveries(route(hub, "m1")) == [("m1", conn)]
    return hub


def test_link_flap_then_sync_offers_again_what_the_old_link_lost() -> None:
    conn = f"{NODE}:1"
    hub = offered_once(conn)  # the deliver frame went down with the link
    hub.handle(AccessDisconnected(NODE))
    hub.handle(AccessConnected(NODE))
    effects = hub.frame({"type": "sync", "conns": [{"user": "bob", "conn": conn}]})
    assert deliveries(effects) == [("m1", conn)]


def test_restarted_access_node_reusing_a_conn_id_gets_the_pending_message() -> None:
    conn = f"{NODE}:1"
    hub = offered_once(conn)
    hub.handle(AccessDisconnected(NODE))  # the access node was killed
    hub.handle(AccessConnected(NODE))  # ... and restarted: its conn ids start again
    hub.frame({"type": "sync", "conns": []})
    assert deliveries(login(hub, "bob", conn)) == [("m1", conn)]


def test_an_offer_dropped_by_a_full_send_queue_is_made_again() -> None:
    conn = f"{NODE}:1"
    hub = offered_once(conn)  # that deliver frame was dropped: the queue to the node was full
    again = hub.advance(10_000)
    assert ("m1", conn) in deliveries(again)
    assert hub.core.counters["reoffers"] >= 1


def test_a_fresh_offer_is_not_repeated_before_the_reoffer_delay() -> None:
    hub = offered_once()
    assert deliveries(hub.advance(2500)) == []  # default re-offer delay: 3 s
    assert len(deliveries(hub.advance(2000))) == 1


def test_an_acked_message_is_not_offered_again_and_its_offers_are_forgotten() -> None:
    hub = offered_once()
    hub.frame({"type": "ack", "user": "bob", "id": "m1"})
    assert len(hub.core.offers) == 0
    assert deliveries(hub.advance(20_000)) == []


def test_offers_of_a_session_that_left_are_forgotten_and_the_timer_stops() -> None:
    conn = f"{NODE}:1"
    hub = offered_once(conn)
    key = ("m1", "alice", "bob")
    assert hub.core.offers.sessions(key) != []
    hub.frame({"type": "coord", "user": "bob", "conn": conn, "online": False})
    assert hub.core.offers.sessions(key) == []
    assert deliveries(hub.advance(20_000)) == []
    assert len(hub.core.offers) == 0  # pending, but nobody here to offer it to
    assert not hub.timers


def test_the_offer_book_is_bounded_and_a_forgotten_message_is_still_offered() -> None:
    hub = Clocked(max_offers=3)
    hub.handle(AccessConnected(NODE))
    login(hub, "bob", f"{NODE}:1")
    for i in range(10):
        route(hub, f"m{i}")
    assert len(hub.core.offers) == 3 and hub.core.offers.evicted == 7
    again = deliveries(hub.advance(3500))
    assert {msg_id for msg_id, _ in again} == {f"m{i}" for i in range(10)}
    assert len(hub.core.offers) <= 3


def test_offer_bookkeeping_stays_flat_over_many_delivered_messages() -> None:
    hub = Clocked()
    hub.handle(AccessConnected(NODE))
    login(hub, "bob", f"{NODE}:1")
    for i in range(2000):
        route(hub, f"m{i}")
        hub.frame({"type": "ack", "user": "bob", "id": f"m{i}"})
        hub.advance(5)
    assert len(hub.core.offers) == 0
    assert hub.core.pending_count() == 0
