"""Message ids are the clients' (issue 9, item 6): two DCs cut apart may both acknowledge one id
from different senders. Messages are keyed by (id, from, to), so neither replaces the other and a
delivery mark (tomb) marks only its own; where one hub can see the clash it refuses the second
send with `duplicate_id`. On the in-memory driver, under virtual time."""

from __future__ import annotations

import pytest

from imcluster import MemClient, MemCluster

MODES = pytest.mark.parametrize("delivery", ["durable", "online-first"])


def online(cluster: MemCluster, user: str, dc: str) -> MemClient:
    client = cluster.client(user, dc)
    client.login()
    assert cluster.run_for(200, until=lambda: client.logged_in), client.frames
    return client


def send(cluster: MemCluster, client: MemClient, msg_id: str, to: str, body: str) -> str:
    client.send(msg_id, to, body)
    assert cluster.run_for(5000, until=lambda: msg_id in client.results), client.frames
    return client.results.pop(msg_id)


def partitioned_sends(cluster: MemCluster, to_a: str, to_c: str) -> None:
    """alice (dc1) and carol (dc2), cut apart, both send id `m1`; both are acknowledged."""
    cluster.cut("dc1", "dc2")
    alice, carol = online(cluster, "alice", "dc1"), online(cluster, "carol", "dc2")
    assert send(cluster, alice, "m1", to_a, "from alice") == "ok"
    assert send(cluster, carol, "m1", to_c, "from carol") == "ok"
    alice.close()
    carol.close()
    cluster.heal()
    assert cluster.run_for(5000, until=cluster.converged)


def received(cluster: MemCluster, user: str) -> list[tuple[str, str, str]]:
    return sorted((d["id"], d["from"], d["body"]) for d in cluster.received(user))


@MODES
def test_same_id_to_two_recipients_from_two_dcs_both_delivered(delivery: str) -> None:
    cluster = MemCluster(dcs=2, seed=11, delivery=delivery)
    partitioned_sends(cluster, "bob", "dave")
    online(cluster, "bob", "dc2")
    cluster.run_for(2000)  # bob's ack (a tomb) reaches both DCs before dave logs in
    online(cluster, "dave", "dc1")
    cluster.run_for(2000)
    assert received(cluster, "bob") == [("m1", "alice", "from alice")]
    assert received(cluster, "dave") == [("m1", "carol", "from carol")]
    assert cluster.run_for(3000, until=lambda: all(
        cluster.hub(dc).pending_count() == 0 for dc in cluster.dc_names))
    assert cluster.core_errors == []


@MODES
def test_same_id_to_one_recipient_from_two_senders_both_delivered(delivery: str) -> None:
    cluster = MemCluster(dcs=2, seed=12, delivery=delivery)
    partitioned_sends(cluster, "bob", "bob")
    bob = online(cluster, "bob", "dc1")
    cluster.run_for(2000)
    assert received(cluster, "bob") == [("m1", "alice", "from alice"),
                                        ("m1", "carol", "from carol")]
    assert bob.errors == []
    assert cluster.run_for(3000, until=lambda: all(
        cluster.hub(dc).pending_count() == 0 for dc in cluster.dc_names))


@MODES
def test_an_ack_during_the_partition_does_not_mark_the_other_message(delivery: str) -> None:
    cluster = MemCluster(dcs=2, seed=13, delivery=delivery)
    bob = online(cluster, "bob", "dc1")
    cluster.run_for(500)
    cluster.cut("dc1", "dc2")
    alice, carol = online(cluster, "alice", "dc1"), online(cluster, "carol", "dc2")
    assert send(cluster, alice, "m1", "bob", "from alice") == "ok"
    assert send(cluster, carol, "m1", "bob", "from carol") == "ok"
    cluster.run_for(1000)
    assert received(cluster, "bob") == [("m1", "alice", "from alice")]  # and acked: a tomb
    cluster.heal()
    cluster.run_for(3000)
    assert received(cluster, "bob") == [("m1", "alice", "from alice"),
                                        ("m1", "carol", "from carol")]
    assert bob.logged_in


def test_a_hub_that_knows_the_id_refuses_it_from_another_sender() -> None:
    cluster = MemCluster(dcs=2, seed=14)
    alice, carol = online(cluster, "alice", "dc1"), online(cluster, "carol", "dc1")
    assert send(cluster, alice, "m1", "bob", "from alice") == "ok"
    assert send(cluster, carol, "m1", "bob", "from carol") == "duplicate_id"
    assert send(cluster, alice, "m1", "dave", "again") == "duplicate_id"
    assert send(cluster, alice, "m1", "bob", "retry") == "ok"  # a retry of the same message
    cluster.run_for(2000)
    remote = online(cluster, "erin", "dc2")
    assert send(cluster, remote, "m1", "bob", "from erin") == "duplicate_id"  # known by gossip
