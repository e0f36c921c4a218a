"""MemCluster scenarios: delivery, the article's race, crashes, partitions, gossip modes, seeded bugs.

Everything runs on the in-memory driver under virtual time (no network, no asyncio).
"""

from __future__ import annotations

import pytest

from imcluster import MemClient, MemCluster


def online(cluster: MemCluster, user: str, dc: str, **kwargs: object) -> MemClient:
    client = cluster.client(user, dc, **kwargs)  # type: ignore[arg-type]
    client.login()
    assert cluster.run_for(100, until=lambda: client.logged_in), client.frames
    return client


def send_and_wait_ok(cluster: MemCluster, client: MemClient, msg_id: str, to: str) -> float:
    sent_at = cluster.now_ms
    client.send(msg_id, to, f"body of {msg_id}")
    assert cluster.run_for(5000, until=lambda: msg_id in client.results), client.frames
    assert client.results[msg_id] == "ok"
    return sent_at


def test_cross_dc_online_delivery_takes_one_wan_latency() -> None:
    cluster = MemCluster(dcs=3, seed=1, latency_ms=200)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    sent_at = send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.run_for(1000)
    [delivery] = bob.deliveries
    assert delivery["via"] == "online" and delivery["dc"] == "dc2"
    assert delivery["from"] == "alice" and delivery["to"] == "bob"
    assert delivery["body"] == "body of m1"
    assert 200 <= delivery["t"] - sent_at <= 210
    assert cluster.hub("dc1").counters["forwards"] == 1
    assert cluster.run_for(1000, until=lambda: cluster.hub("dc3").pending_count() == 0)


def test_offline_recipient_gets_the_message_when_logging_into_another_dc() -> None:
    cluster = MemCluster(dcs=3, seed=2)
    alice = online(cluster, "alice", "dc1")
    send_and_wait_ok(cluster, alice, "m1", "carol")
    cluster.run_for(2000)
    assert all(cluster.hub(dc).pending_count() == 1 for dc in cluster.dc_names)
    carol = online(cluster, "carol", "dc3")
    cluster.run_for(100)
    assert [(d["id"], d["via"], d["dc"]) for d in carol.deliveries] == [("m1", "offline", "dc3")]
    cluster.run_for(2000)
    assert all(cluster.hub(dc).pending_count() == 0 for dc in cluster.dc_names)
    assert cluster.converged()


@pytest.mark.parametrize("delivery", ["durable", "online-first"])
def test_article_race_recipient_just_logged_into_another_dc(delivery: str) -> None:
    cluster = MemCluster(dcs=3, seed=3, delivery=delivery)
    alice = online(cluster, "alice", "dc1")
    cluster.run_for(1000)
    bob = online(cluster, "bob", "dc2")
    assert cluster.hub("dc1").state.coordinate("bob") is None  # dc1 has not heard yet
    send_and_wait_ok(cluster, alice, "m1", "bob")
    assert cluster.run_for(2000, until=lambda: bool(bob.deliveries))
    assert [(d["id"], d["via"]) for d in bob.deliveries] == [("m1", "offline")]


@pytest.mark.parametrize("bugs, delivered", [
    (frozenset(), True),
    (frozenset({"volatile-store"}), False),
    (frozenset({"ack-before-persist"}), False),
])
def test_crash_of_the_senders_hub_right_after_send_ok(bugs: frozenset[str],
                                                      delivered: bool) -> None:
    cluster = MemCluster(dcs=3, seed=4, bugs=bugs)
    alice = online(cluster, "alice", "dc1")
    cluster.run_for(1000)
    cluster.isolate("dc1")  # nothing leaves dc1 before the crash: only its store can save m1
    send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.crash("dc1")
    cluster.run_for(500)
    cluster.restart("dc1")
    cluster.heal()
    cluster.run_for(2000)
    bob = online(cluster, "bob", "dc2")
    cluster.run_for(3000)
    assert (bob.received_ids() == ["m1"]) is delivered


@pytest.mark.parametrize("gossip, bugs, converges", [
    ("push+anti-entropy", frozenset(), True),
    ("anti-entropy", frozenset(), True),
    ("push", frozenset(), False),
    ("push+anti-entropy", frozenset({"no-anti-entropy"}), False),
])
def test_partition_then_heal_converges_unless_gossip_is_push_only(
        gossip: str, bugs: frozenset[str], converges: bool) -> None:
    cluster = MemCluster(dcs=3, seed=5, gossip=gossip, bugs=bugs)
    alice, dave = online(cluster, "alice", "dc1"), online(cluster, "dave", "dc3")
    cluster.run_for(2000)
    cluster.isolate("dc1")
    send_and_wait_ok(cluster, alice, "m1", "bob")
    send_and_wait_ok(cluster, dave, "m2", "bob")
    erin = online(cluster, "erin", "dc2")
    cluster.run_for(3000)
    assert not cluster.converged()
    cluster.heal()
    cluster.run_for(5000)
    assert cluster.converged() is converges
    bob = online(cluster, "bob", "dc2")  # roaming user picks up what was pooled
    cluster.run_for(1000)
    assert ("m1" in bob.received_ids()) is converges
    assert "m2" in bob.received_ids()
    assert erin.logged_in


@pytest.mark.parametrize("bugs, copies", [(frozenset(), 1), (frozenset({"no-tombstones"}), 2)])
def test_tombstones_stop_redelivery_to_a_roaming_user(bugs: frozenset[str], copies: int) -> None:
    cluster = MemCluster(dcs=3, seed=6, bugs=bugs)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.run_for(2000)
    assert bob.received_ids() == ["m1"]
    bob.logout()
    cluster.run_for(1000)
    roamed = online(cluster, "bob", "dc3")
    cluster.run_for(1000)
    assert len([d for d in cluster.received("bob") if d["id"] == "m1"]) == copies
    assert roamed.logged_in


@pytest.mark.parametrize("bugs, wrong", [(frozenset(), False), (frozenset({"wallclock-lww"}), True)])
def test_clock_skew_and_coordinates(bugs: frozenset[str], wrong: bool) -> None:
    cluster = MemCluster(dcs=3, seed=7, bugs=bugs)
    cluster.set_clock("dc2", 10_000)  # dc2 runs ten seconds ahead
    bob = online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    bob.logout()
    bob_dc1 = online(cluster, "bob", "dc1")
    cluster.run_for(3000)
    expected = {"dc": "dc1", "node": "dc1-a1", "conn": bob_dc1.conn, "online": True}
    tables = [cluster.hub(dc).coordinate_table()["bob"] for dc in cluster.dc_names]
    assert all(t == tables[0] for t in tables)  # converged either way
    assert (tables[0] != expected) is wrong
    alice = online(cluster, "alice", "dc3")
    send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.run_for(1000)
    assert bob_dc1.received_ids() == ["m1"]
    assert [d["via"] for d in bob_dc1.deliveries] == (["offline"] if wrong else ["online"])


@pytest.mark.parametrize("bugs, delivered", [(frozenset(), True),
                                             (frozenset({"gateway-drop"}), False)])
def test_gateway_drop_loses_a_forward_cut_by_a_partition(bugs: frozenset[str],
                                                         delivered: bool) -> None:
    cluster = MemCluster(dcs=3, seed=8, bugs=bugs)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    cluster.cut("dc1", "dc2")
    send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.run_for(3000)
    assert cluster.hub("dc1").counters["forward_failures"] == 1
    cluster.heal()
    cluster.run_for(3000)
    assert (bob.received_ids() == ["m1"]) is delivered


def test_online_first_delivery() -> None:
    cluster = MemCluster(dcs=3, seed=9, delivery="online-first")
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    carol = online(cluster, "carol", "dc1")
    cluster.run_for(1000)
    send_and_wait_ok(cluster, alice, "local", "carol")
    sent_at = send_and_wait_ok(cluster, alice, "remote", "bob")
    assert cluster.now_ms - sent_at >= 400  # send_ok waits for the remote gateway's forward_ok
    send_and_wait_ok(cluster, alice, "pooled", "dave")
    hub1 = cluster.hub("dc1")
    assert {key[0] for key in hub1.state.msgs} == {"pooled"}  # only the unreachable message went to the pool
    cluster.run_for(1000)
    dave = online(cluster, "dave", "dc3")
    cluster.run_for(1000)
    assert [(d["id"], d["via"]) for d in carol.deliveries] == [("local", "online")]
    assert [(d["id"], d["via"]) for d in bob.deliveries] == [("remote", "online")]
    assert [(d["id"], d["via"]) for d in dave.deliveries] == [("pooled", "offline")]
    # a forward to a DC the user just left fails and falls back to the pool
    bob.close()
    cluster.run_for(5)
    send_and_wait_ok(cluster, alice, "late", "bob")
    assert hub1.state.messages_with_id("late") and hub1.counters["forward_failures"] == 1
    assert all(cluster.hub(dc).state.coordinate("bob")["online"] is False  # type: ignore[index]
               for dc in cluster.dc_names)


def test_duplicate_route_is_acknowledged_without_a_new_entry_and_offered_once() -> None:
    cluster = MemCluster(dcs=2, seed=10)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc1", auto_ack=False)
    send_and_wait_ok(cluster, alice, "m1", "bob")
    before = cluster.hub("dc1").counters["entries_originated"]
    del alice.results["m1"]
    send_and_wait_ok(cluster, alice, "m1", "bob")
    cluster.run_for(2000)
    hub = cluster.hub("dc1")
    assert hub.counters["entries_originated"] == before
    assert hub.counters["duplicate_routes"] == 1
    assert bob.received_ids() == ["m1"]  # gossip coming back does not offer it again


def test_restart_recovers_sequence_pending_messages_tombstones_and_clock() -> None:
    cluster = MemCluster(dcs=2, seed=11)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc1")
    send_and_wait_ok(cluster, alice, "acked", "bob")
    send_and_wait_ok(cluster, alice, "pending", "nobody")
    cluster.run_for(1000)
    old = cluster.hub("dc1")
    vv, max_hlc, seq = old.version_vector(), old.state.max_hlc, old.state.max_seq("dc1")
    cluster.crash("dc1")
    cluster.restart("dc1")
    new = cluster.hub("dc1")
    assert new is not old and new.version_vector() == vv
    assert {key[0] for key in new.state.tombs} == {"acked"}
    assert new.state.pending_ids() == {"pending"}
    assert (new.hlc.wall_ns, new.hlc.logical) >= max_hlc
    cluster.run_for(500)  # the access node re-syncs its sessions
    assert set(new.sessions) == {"alice", "bob"}
    send_and_wait_ok(cluster, alice, "after", "nobody")
    assert new.state.messages_with_id("after")[0].seq > seq
    assert bob.received_ids() == ["acked"]


def test_hub_outage_seen_by_clients() -> None:
    cluster = MemCluster(dcs=2, seed=12)
    alice = online(cluster, "alice", "dc1")
    cluster.crash("dc1")
    cluster.run_for(10)
    alice.send("m1", "bob")
    cluster.run_for(10)
    assert alice.results == {"m1": "unavailable"}
    late = cluster.client("late", "dc1")
    late.login()
    cluster.run_for(10)
    assert [f[1]["code"] for f in late.frames] == ["unavailable"] and not late.open
    cluster.restart("dc1")
    cluster.run_for(10)
    send_and_wait_ok(cluster, alice, "m2", "bob")


def test_same_seed_same_run() -> None:
    def run(seed: int) -> list[dict]:
        cluster = MemCluster(dcs=4, seed=seed, jitter_ms=50)
        users = [online(cluster, f"u{i}", f"dc{i % 4 + 1}") for i in range(6)]
        for i, user in enumerate(users):
            user.send(f"m{i}", f"u{(i + 1) % 6}")
        cluster.run_for(3000)
        return cluster.events + cluster.deliveries

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_clients_cannot_erase_or_hijack_other_users_messages() -> None:
    cluster = MemCluster(dcs=2, seed=13)
    alice, mallory = online(cluster, "alice", "dc1"), online(cluster, "mallory", "dc1")
    send_and_wait_ok(cluster, alice, "m1", "bob")
    mallory.ack("m1")  # not the recipient: ignored
    mallory.send("m1", "carol", "same id, other message")
    cluster.run_for(100)
    assert mallory.results == {"m1": "duplicate_id"}
    assert cluster.hub("dc1").counters["bad_acks"] == 1
    bob = online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    assert [(d["id"], d["from"]) for d in bob.deliveries] == [("m1", "alice")]


def test_access_node_crash_takes_its_users_offline_and_restart_serves_again() -> None:
    cluster = MemCluster(dcs=2, seed=14)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    cluster.crash_access("dc2-a1")
    cluster.run_for(1000)
    assert not bob.open
    assert all(cluster.hub(dc).coordinate_table()["bob"]["online"] is False
               for dc in cluster.dc_names)
    send_and_wait_ok(cluster, alice, "m1", "bob")
    assert cluster.hub("dc1").counters["forwards"] == 0  # bob is known to be offline
    cluster.restart_access("dc2-a1")
    bob_again = online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    assert [(d["id"], d["via"]) for d in bob_again.deliveries] == [("m1", "offline")]


@pytest.mark.parametrize("bugs, delivered", [(frozenset(), True),
                                             (frozenset({"gateway-drop"}), False)])
def test_online_first_forward_timeout_falls_back_to_the_pool(bugs: frozenset[str],
                                                             delivered: bool) -> None:
    cluster = MemCluster(dcs=3, seed=15, delivery="online-first", bugs=bugs)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    cluster.cut("dc1", "dc2")
    sent_at = send_and_wait_ok(cluster, alice, "m1", "bob")
    assert 2000 <= cluster.now_ms - sent_at <= 2010  # route_ok waited for the forward timeout
    assert bool(cluster.hub("dc1").state.messages_with_id("m1")) is delivered
    cluster.run_for(3000)  # dc3 relays the pooled message to dc2 despite the cut
    assert (bob.received_ids() == ["m1"]) is delivered


def test_a_push_to_every_peer_arrives_in_one_event() -> None:
    """The frames of one push, due at the same instant, share one heap event (in send order)."""
    cluster = MemCluster(dcs=5, seed=1, latency_ms=200)
    alice = online(cluster, "alice", "dc1")
    alice.send("m1", "bob")
    hub = cluster.hub("dc1")
    assert cluster.run_for(10, until=lambda: hub.counters["entries_originated"] > 0)
    assert cluster._wan_batch is not None
    arrival, _, hops = cluster._wan_batch
    assert [(src, dst) for src, dst, *_ in hops] == [("dc1", f"dc{i}") for i in range(2, 6)]
    assert [t for t, _, _ in cluster._queue].count(arrival) == 1
    cluster.run_for(1000)
    assert all(cluster.hub(dc).state.version_vector().get("dc1", 0) >= 1
               for dc in cluster.dc_names)


def test_a_push_written_before_its_hub_was_killed_still_arrives() -> None:
    """As on the real backends (the bytes are already in Toxiproxy): the sim used to drop every
    frame whose sender restarted before it arrived, so `volatile-store` lost messages on sim that
    local delivered (found by `imfault explore`)."""
    cluster = MemCluster(dcs=3, seed=4, latency_ms=200, bugs=frozenset({"volatile-store"}))
    alice = online(cluster, "alice", "dc1")
    bob = online(cluster, "bob", "dc2")
    cluster.run_for(1000)
    alice.send("m1", "bob", "body")
    assert cluster.run_for(50, until=lambda: "m1" in alice.results)  # acked, push under way
    cluster.crash("dc1")  # the volatile store forgets m1 at once
    assert cluster.run_for(1000, until=lambda: bool(bob.deliveries))
    assert bob.received_ids() == ["m1"]


@pytest.mark.parametrize("access_restarts", [False, True])
def test_a_session_that_ended_while_its_hub_was_down_goes_offline_when_the_hub_restarts(
        access_restarts: bool) -> None:
    """The restarted hub restores the user's coordinate ("online here") from its store; the
    access node's sync after the restart does not list that session any more (the user logged
    out, or the access node restarted too, while the hub was down): the coordinate must go
    offline everywhere, not name a dead session for ever (found by a campaign on sim, seed 527:
    with clock skew the stale coordinate even out-ranked the user's later logins elsewhere)."""
    cluster = MemCluster(dcs=2, seed=15)
    alice, bob = online(cluster, "alice", "dc1"), online(cluster, "bob", "dc1")
    cluster.run_for(1000)
    cluster.crash("dc1")
    cluster.run_for(10)
    if access_restarts:  # every session of the node ends with it
        cluster.crash_access("dc1-a1")
        cluster.run_for(10)
        cluster.restart_access("dc1-a1")
    else:
        alice.logout()
    cluster.run_for(10)
    cluster.restart("dc1")
    cluster.run_for(1000)
    ended = {"alice", "bob"} if access_restarts else {"alice"}
    for dc in cluster.dc_names:
        table = cluster.hub(dc).coordinate_table()
        offline = {user for user in ("alice", "bob") if not table[user]["online"]}
        assert offline == ended, (dc, table)
        if not access_restarts:
            assert table["bob"] == {"dc": "dc1", "node": "dc1-a1", "conn": bob.conn,
                                    "online": True}, (dc, table)
    if access_restarts:
        bob = online(cluster, "bob", "dc1")
        cluster.run_for(1000)
        assert all(cluster.hub(dc).coordinate_table()["bob"] == {
            "dc": "dc1", "node": "dc1-a1", "conn": bob.conn, "online": True}
            for dc in cluster.dc_names)


def test_a_clock_set_back_stalls_no_resend() -> None:
    """dc1's clock runs 30 s ahead while dc1 is cut off; its first entry's pushes vanish. After
    the heal the clock is set back: the resend of that entry (due `resend_after_ms` after the
    push) must not wait until the clock has caught up with the push's 30-s-ahead time (found by
    `imfault explore --seed 11` on the correct cluster: one DC never had it after 30 s)."""
    cluster = MemCluster(dcs=3, seed=16)
    cluster.set_clock("dc1", 30_000)
    cluster.isolate("dc1")
    online(cluster, "u1", "dc1")
    cluster.run_for(2000)
    cluster.heal()
    cluster.set_clock("dc1", 0)
    assert cluster.run_for(3000, until=cluster.converged)
    assert cluster.hub("dc2").version_vector().get("dc1") == 1
    hub = cluster.hub("dc1")
    assert hub._wall_ns < hub._elapsed_ns  # stamps follow the wall clock, waits do not


def test_the_elapsed_time_clock_only_moves_forward() -> None:
    hub = MemCluster(dcs=2, seed=17).hub("dc1")
    readings = [5_000, 7_000, 3_000, 4_000, 4_000, 10_000]
    assert [hub._clock(n) for n in readings] == [5_000, 7_000, 7_000, 8_000, 8_000, 14_000]
