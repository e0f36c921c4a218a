"""A peer frame can never stop a hub (issue 9, item 2), on the in-memory driver.

Entries, digests, batches and forwards with strings JSON allows but UTF-8 cannot carry (lone
surrogates), integers SQLite cannot store, or stray data are refused and counted; and a core that
raises never silences a timer: the driver logs it, records it and arms the timer again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from imcluster import MemCluster
from imcluster._config import Rng
from imcluster._events import AccessFrame, PeerFrame, TimerFired
from imcluster._hub import GOSSIP_TIMER

SURROGATE = "\ud800"


def bad_entries() -> list[dict[str, Any]]:
    """Entries that must all be refused, one defect each."""
    coord = {"kind": "coord", "key": "mallory", "origin": "dc2", "seq": 1, "hlc": [1, 0],
             "data": {"dc": "dc2", "node": "dc2-a1", "conn": "c1", "online": True}}
    msg = {"kind": "msg", "key": "m1", "origin": "dc2", "seq": 1, "hlc": [1, 0],
           "data": {"id": "m1", "from": "a", "to": "b", "body": "", "sent_at": 0}}
    return [{**coord, "key": SURROGATE}, {**coord, "origin": SURROGATE + "x"},
            {**coord, "data": {**coord["data"], "node": SURROGATE}},
            {**msg, "key": SURROGATE, "data": {**msg["data"], "id": SURROGATE}},
            {**msg, "data": {**msg["data"], "body": SURROGATE}},
            {**msg, "seq": 2**64}, {**msg, "hlc": [2**70, 0]},
            {"kind": "tomb", "key": "m1", "origin": "dc2", "seq": 1, "hlc": [1, 0],
             "data": {"nested": [SURROGATE]}}]


def online(cluster: MemCluster, user: str, dc: str) -> Any:
    client = cluster.client(user, dc)
    client.login()
    assert cluster.run_for(100, until=lambda: client.logged_in), client.frames
    return client


def test_malformed_peer_entries_are_refused_and_gossip_goes_on() -> None:
    cluster = MemCluster(dcs=2, seed=5)
    hub = cluster.hub("dc1")
    for kind in ("push", "entries"):
        cluster._hub_event("dc1", PeerFrame("dc2", {"type": kind, "entries": bad_entries()}))
    cluster._hub_event("dc1", PeerFrame("dc2", {"type": "forward", "msg": {
        "id": "m9", "from": SURROGATE, "to": "b", "body": ""}}))
    cluster._hub_event("dc1", PeerFrame("dc2", {"type": "forward_ok", "id": 7}))
    assert hub.counters["bad_entries"] == 2 * len(bad_entries())
    assert hub.counters["bad_frames"] == 2
    assert len(hub.state) == 0
    digests = hub.counters["digests_sent"]
    cluster.run_for(2000)
    assert cluster.core_errors == []
    assert hub.counters["digests_sent"] >= digests + 10  # anti-entropy still runs
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(500)
    alice.send("m1", "bob", "hi")
    cluster.run_for(1000)
    assert bob.received_ids() == ["m1"]


@pytest.mark.core_errors_expected
def test_a_core_error_on_the_gossip_timer_does_not_stop_anti_entropy() -> None:
    cluster = MemCluster(dcs=2, seed=6)
    hub = cluster.hub("dc1")
    failures: list[Sequence[Any]] = []

    class FailingOnce:
        """The hub's random source, failing the first gossip round's choice of a peer (the
        core's methods cannot be patched when it is compiled: docs/accel.md)."""

        def __init__(self, rng: Rng) -> None:
            self.rng = rng

        def random(self) -> float:
            return self.rng.random()

        def choice(self, seq: Sequence[Any], /) -> Any:
            if not failures:
                failures.append(seq)
                raise RuntimeError("injected core failure")
            return self.rng.choice(seq)

    hub.rng = FailingOnce(hub.rng)
    cluster.run_for(2000)
    assert failures and [(owner, event, str(exc)) for owner, event, exc in cluster.core_errors] \
        == [("dc1", TimerFired(GOSSIP_TIMER), "injected core failure")]
    assert hub.counters["digests_sent"] >= 10  # the timer was armed again


def bad_access_frames() -> list[dict[str, Any]]:
    """Frames an (authenticated) access node might send that must each count as a bad frame."""
    msg = {"id": "m1", "from": "a", "to": "b", "body": "", "sent_at": 0}
    return [{"type": "coord", "user": SURROGATE, "conn": "c1", "online": True},
            {"type": "coord", "user": "u", "conn": "c" + SURROGATE, "online": False},
            {"type": "coord", "user": "u", "conn": "c1", "online": "yes"},
            {"type": "route", "msg": {**msg, "id": SURROGATE}},
            {"type": "route", "msg": {**msg, "body": SURROGATE}},
            {"type": "route", "msg": {**msg, "sent_at": float("inf")}},
            {"type": "ack", "user": "b", "id": SURROGATE},
            {"type": "sync", "conns": [{"user": SURROGATE, "conn": "c1"}]},
            {"type": "sync", "conns": "all"},
            {"type": "zz"}]


def test_malformed_access_frames_are_refused_and_counted() -> None:
    cluster = MemCluster(dcs=1, seed=7)
    hub = cluster.hub("dc1")
    for frame in bad_access_frames():
        cluster._hub_event("dc1", AccessFrame("dc1-a1", frame))
    assert hub.counters["bad_frames"] == len(bad_access_frames())
    assert len(hub.state) == 0 and cluster.disk["dc1"] == []
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc1")
    alice.send("m1", "bob", "hi")
    cluster.run_for(100)
    assert bob.received_ids() == ["m1"]
