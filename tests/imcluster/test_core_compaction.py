"""Compaction of the replicated state (docs/architecture.md "Compaction") on MemCluster: the
entries a hub holds stay bounded however many messages are delivered, while every acknowledged
message is delivered and the DCs converge (final version vectors and every dot applied or skipped
in every DC's event log), across a partition healed after compaction and a volatile restart.
"""

from __future__ import annotations

from typing import Any

from checkers._convergence import check_convergence
from imcluster import MemClient, MemCluster
from imcluster._state import SKIPPED, Entry, ReplicaState

USERS = [f"u{i}" for i in range(6)]


def online(cluster: MemCluster, roam: int = 0) -> dict[str, MemClient]:
    clients = {}
    for i, user in enumerate(USERS):
        clients[user] = cluster.client(user, cluster.dc_names[(i + roam) % len(cluster.dc_names)])
        clients[user].login()
    cluster.run_for(500)
    return clients


def traffic(cluster: MemCluster, clients: dict[str, MemClient], rounds: int, start: int = 0,
            per_round_ms: float = 50) -> list[str]:
    """One message from every user to the next, `rounds` times; returns the ids sent."""
    ids = []
    for r in range(rounds):
        for i, user in enumerate(USERS):
            msg_id = f"m{start + r}-{i}"
            clients[user].send(msg_id, USERS[(i + 1) % len(USERS)])
            ids.append(msg_id)
        cluster.run_for(per_round_ms)
    return ids


def held(cluster: MemCluster) -> dict[str, int]:
    return {dc: len(hub.state) for dc, hub in cluster.hubs.items() if hub is not None}


def assert_delivered_and_converged(cluster: MemCluster, clients: dict[str, MemClient],
                                   ids: list[str]) -> None:
    delivered = {d["id"] for d in cluster.deliveries}
    acked = [m for c in clients.values() for m, r in c.results.items() if r == "ok"]
    assert sorted(m for m in acked if m not in delivered) == []
    assert set(ids) <= set(acked)
    assert cluster.converged(), cluster.version_vectors()
    verdict = check_convergence(None, cluster.events, {"dc_names": cluster.dc_names})
    assert verdict["unconverged"] == [], verdict["unconverged"][:10]
    for dc in cluster.dc_names:
        assert cluster.hub(dc).pending_count() == 0


def test_held_entries_stay_bounded_over_a_long_run_with_deliveries() -> None:
    cluster = MemCluster(dcs=3, seed=1, latency_ms=50)
    clients = online(cluster)
    ids: list[str] = []
    samples = []
    for block in range(10):
        ids += traffic(cluster, clients, 50, start=block * 50)
        samples.append(max(held(cluster).values()))
    cluster.run_for(5000)
    assert_delivered_and_converged(cluster, clients, ids)
    assert len(ids) == 3000
    # what is held is what is in flight (a few seconds of traffic) plus one coordinate a user,
    # never the 6000 msg and tomb entries of the run
    assert max(samples) < 1000, samples
    assert samples[-1] <= 2 * samples[1] + 100, samples
    final = held(cluster)
    assert all(n <= len(USERS) for n in final.values()), final
    assert all(cluster.hub(dc).counters["compacted"] >= 2 * len(ids) for dc in cluster.dc_names)


def test_partition_heal_with_compaction_in_between() -> None:
    cluster = MemCluster(dcs=3, seed=2, latency_ms=50)
    clients = online(cluster)
    cluster.isolate("dc3")
    ids = traffic(cluster, clients, 20)
    for roam in (1, 2, 1):  # logins and logouts: coordinates superseded while dc3 is away
        for client in clients.values():
            client.close()
        cluster.run_for(300)
        clients = online(cluster, roam)
        ids += traffic(cluster, clients, 10, start=1000 * roam)
    cluster.run_for(3000)
    before = {dc: cluster.hub(dc).counters["compacted"] for dc in cluster.dc_names}
    assert before["dc1"] > 0 and before["dc2"] > 0  # superseded coordinates went at once
    cluster.heal()
    cluster.run_for(10_000)
    assert_delivered_and_converged(cluster, clients, [])
    # dc3 counted the coordinates it never saw through skip ranges, and logged them
    assert cluster.hub("dc3").counters["dots_skipped"] > 0
    assert any(e["kind"] == SKIPPED and e["dc"] == "dc3" for e in cluster.events)
    assert all(n <= len(USERS) for n in held(cluster).values()), held(cluster)


def test_a_volatile_restart_converges_through_skip_ranges() -> None:
    cluster = MemCluster(dcs=3, seed=3, latency_ms=50, bugs=frozenset({"volatile-store"}))
    clients = online(cluster)
    ids = traffic(cluster, clients, 40)
    cluster.run_for(4000)
    assert max(held(cluster).values()) <= len(USERS)
    cluster.crash("dc1")
    cluster.run_for(300)
    cluster.restart("dc1")
    cluster.run_for(5000)
    assert cluster.converged(), cluster.version_vectors()
    hub = cluster.hub("dc1")
    assert hub.counters["dots_skipped"] > 0
    # its own dots came back as skips too: it numbers new entries after them
    assert hub._next_seq > cluster.hub("dc2").version_vector()["dc1"]
    assert hub.pending_count() == 0
    del ids


def test_a_restart_from_the_store_compacts_again() -> None:
    cluster = MemCluster(dcs=3, seed=4, latency_ms=50)
    clients = online(cluster)
    traffic(cluster, clients, 40)
    cluster.run_for(4000)
    cluster.crash("dc2")
    cluster.restart("dc2")
    assert len(cluster.hub("dc2").state) > 400  # the store keeps every row
    cluster.run_for(3000)
    assert len(cluster.hub("dc2").state) <= len(USERS)
    assert cluster.converged()


def entry(kind: str, key: str, origin: str, seq: int, **data: Any) -> Entry:
    return Entry(kind, key, origin, seq, (seq, 0), data)


def test_a_message_is_kept_until_every_dc_covers_it_and_its_tomb() -> None:
    state = ReplicaState()
    msg = entry("msg", "m1", "dc1", 1, id="m1", **{"from": "a", "to": "b"}, body="", sent_at=0)
    tomb = entry("tomb", "m1", "dc2", 1, **{"from": "a", "to": "b"})
    state.apply(msg)
    assert state.compact({"dc1": 1, "dc2": 1}) == 0  # no tomb: never dropped
    state.apply(tomb)
    assert state.compact({"dc1": 1}) == 0  # the tomb's dot is not covered everywhere
    assert state.compact({"dc1": 1, "dc2": 1}) == 2
    assert len(state) == 0 and state.version_vector() == {"dc1": 1, "dc2": 1}
    assert state.is_forgotten(msg.msg_key) and not state.pending_keys()
    assert not state.apply(msg)  # a compacted dot is known: never applied again
    # a peer that lacks both is told to skip them; a tomb without its message stays
    entries, skips = state.answer_for({})
    assert entries == [] and skips == [("dc1", 1, 1), ("dc2", 1, 1)]
    lonely = ReplicaState()
    lonely.apply(tomb)
    assert lonely.compact({"dc2": 1}) == 0


def test_a_waiting_message_is_judged_on_all_its_dots_whatever_compact_saw_before() -> None:
    # `compact` remembers the dot that kept a message back; the answer must stay the one a full
    # look gives: a copy arriving later, a vector that went back (a peer restarted without its
    # store), the per-pass bound taking keys in key order
    state = ReplicaState()
    parties = {"from": "a", "to": "b"}
    for n in (1, 2, 3):
        state.apply(entry("msg", f"m{n}", "dc1", n, id=f"m{n}", **parties, body="", sent_at=0))
        state.apply(entry("tomb", f"m{n}", "dc2", n, **parties))
    assert state.compact({"dc1": 3}) == 0  # every key waits for its tomb's dot (dc2)
    late_copy = entry("msg", "m1", "dc3", 1, id="m1", **parties, body="", sent_at=0)
    state.apply(late_copy)  # m1 now also waits for dc3:1, which nothing covers yet
    assert state.compact({"dc1": 3, "dc2": 3}) == 4  # m2 and m3, not m1
    assert state.compact({"dc1": 3, "dc2": 3}) == 0  # stable went back for nothing new
    assert state.compact({"dc1": 3, "dc2": 0, "dc3": 1}) == 0  # dc2:1 not covered any more
    assert state.compact({"dc1": 3, "dc2": 3, "dc3": 1}, max_keys=1) == 3
    assert len(state) == 0
    ordered = ReplicaState()
    for n in (3, 1, 2):
        ordered.apply(entry("msg", f"m{n}", "dc1", n, id=f"m{n}", **parties, body="", sent_at=0))
        ordered.apply(entry("tomb", f"m{n}", "dc2", n, **parties))
    assert ordered.compact({"dc1": 3, "dc2": 3}, max_keys=2) == 4
    assert sorted(key[0] for key in ordered.msgs) == ["m3"]  # m1 and m2 went first


def test_a_superseded_coordinate_goes_at_once_and_is_skipped() -> None:
    state = ReplicaState()
    for seq in (1, 2, 3):
        state.apply(entry("coord", "u", "dc1", seq, dc="dc1", node="n", conn=f"c{seq}",
                          online=True))
    assert state.compact({}) == 2
    entries, skips = state.answer_for({})
    assert skips == [("dc1", 1, 2)] and [e.seq for e in entries] == [3]
    peer = ReplicaState()
    peer.apply(entries[0])  # arrives first: past a gap
    assert peer.version_vector() == {}
    assert peer.apply_skip("dc1", 1, 2) == [1, 2]
    assert peer.version_vector() == {"dc1": 3}
    assert peer.coordinate("u") == state.coordinate("u")
    merged = ReplicaState()
    merged.merge(state)
    assert merged.version_vector() == state.version_vector()


async def test_the_node_driver_forgets_the_delays_of_timers_that_fired() -> None:
    """One forward timer a forwarded message (`forward:<id>`): the driver must not keep the delay
    of each one for ever (it only needs it to re-arm a timer whose handling raised)."""
    import asyncio

    from imcluster._admin import ClockedNode
    from imcluster._events import SetTimer, TimerFired

    class Core:
        def handle(self, event: object, now_ns: int) -> list[object]:
            if isinstance(event, TimerFired) and event.name == "gossip":
                return [SetTimer("gossip", 1)]  # a periodic timer arms itself again
            return []

    class Node(ClockedNode):
        def __init__(self) -> None:
            self.core = Core()
            self._init_timers()

        def _carry_out(self, effect: Any) -> None:
            self._set_timer(effect.name, effect.delay_ms, self._fire)

    node = Node()
    node._run([SetTimer(f"forward:m{i}", 1) for i in range(500)] + [SetTimer("gossip", 1)])
    await asyncio.sleep(0.05)
    assert set(node._timer_delays) == {"gossip"}
    node._cancel_timers()
