"""Anti-entropy does not resend what is on its way (`imcluster._inflight`).

A digest reflects what its sender held one link delay ago: entries the hub pushed (or its origin
pushed to every peer) moments before are not sent again in the answer; once they are older than
`resend_after_ms` and the peer still lacks them (lost to a partition), the answer carries them.
"""

from __future__ import annotations

import random
from typing import Any

from imcluster import MemCluster
from imcluster._config import HubConfig
from imcluster._events import PeerFrame, SendPeer
from imcluster._hub import HubCore
from imcluster._state import Entry

MS = 1_000_000


def hub(**overrides: Any) -> HubCore:
    return HubCore(HubConfig(dc="dc1", peers=("dc2", "dc3"), **overrides), random.Random(1))


def answer(core: HubCore, peer: str, vv: dict[str, int], now_ns: int) -> list[Any]:
    effects = core.handle(PeerFrame(peer, {"type": "digest", "vv": vv}), now_ns)
    frames = [e.frame for e in effects if isinstance(e, SendPeer) and e.peer == peer]
    assert len(frames) == 1 and frames[0]["type"] == "entries"  # every digest is answered
    return list(frames[0]["entries"])


def coord(origin: str, seq: int) -> dict[str, Any]:
    return {"kind": "coord", "key": f"u{seq}", "origin": origin, "seq": seq, "hlc": [seq, 0],
            "data": {"dc": origin, "node": f"{origin}-a1", "conn": f"c{seq}", "online": True}}


def test_a_digest_is_not_answered_with_entries_pushed_moments_ago() -> None:
    core = hub()
    core._elapsed_ns = 0
    entries = [core._originate("coord", f"u{n}", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                                  "online": True}, 0, []) for n in range(3)]
    core._push(entries, [])
    assert answer(core, "dc2", {}, 300 * MS) == []  # on the wire since t=0
    resent = answer(core, "dc2", {}, 1000 * MS)  # still missing after resend_after_ms: lost
    assert [e["seq"] for e in resent] == [1, 2, 3]
    assert answer(core, "dc2", {}, 1100 * MS) == []  # that answer is on its way in turn
    assert answer(core, "dc2", {"dc1": 3}, 1200 * MS) == []


def test_an_origins_push_counts_as_sent_to_every_peer() -> None:
    core = hub()
    core.handle(PeerFrame("dc2", {"type": "push", "entries": [coord("dc2", 1)]}), 0)
    assert answer(core, "dc3", {}, 100 * MS) == []  # dc2 pushed it to dc3 too
    assert [e["seq"] for e in answer(core, "dc3", {}, 1000 * MS)] == [1]
    # entries that came in an answer (not from their origin) are relayed at once
    core.handle(PeerFrame("dc2", {"type": "entries", "entries": [coord("dc2", 2)]}), 1010 * MS)
    assert [e["seq"] for e in answer(core, "dc3", {"dc2": 1}, 1020 * MS)] == [2]


def test_resend_after_zero_answers_as_before() -> None:
    core = hub(resend_after_ms=0)
    entry = core._originate("coord", "u", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                           "online": True}, 0, [])
    core._push([entry], [])
    assert len(answer(core, "dc2", {}, 1)) == 1


def test_partitioned_cluster_converges_and_gossip_stays_lean() -> None:
    cluster = MemCluster(dcs=3, seed=3)
    users = [cluster.client(f"u{n}", f"dc{n % 3 + 1}") for n in range(6)]
    for user in users:
        user.login()
    cluster.run_for(500)
    cluster.cut("dc1", "dc2")
    for n in range(30):
        users[n % 6].send(f"m{n}", f"u{(n + 1) % 6}", "x")
        cluster.run_for(50)
    cluster.run_for(3000)
    cluster.heal()
    assert cluster.run_for(10_000, until=cluster.converged)
    hubs = [cluster.hub(dc) for dc in cluster.dc_names]
    applied = sum(h.counters["entries_applied"] for h in hubs)
    originated = sum(h.counters["entries_originated"] for h in hubs)
    assert applied == 2 * originated  # each entry applied once at each other hub
    # pushes carry each entry once to each peer; anti-entropy adds little on top
    # every hub counts every dot (compaction may have dropped the delivered ones it held)
    assert all(sum(h.state.version_vector().values()) == originated for h in hubs)
    assert all(isinstance(e, Entry) for e in cluster.disk["dc1"])


def test_a_lagging_peer_gets_everything_it_lacks_in_one_answer_of_bounded_batches() -> None:
    """After a long partition a peer lacks thousands of entries: one digest is answered with
    up to `max_answer_batches` frames of one bounded batch each (the first with our vector),
    not one batch per digest (a digest reaches a given peer every N - 1 gossip intervals)."""
    core = hub(max_batch_entries=100, max_answer_batches=4)
    for n in range(1, 351):
        core.handle(PeerFrame("dc3", {"type": "entries", "entries": [coord("dc3", n)]}), 0)
    effects = core.handle(PeerFrame("dc2", {"type": "digest", "vv": {}}), 10 * MS)
    frames = [e.frame for e in effects if isinstance(e, SendPeer) and e.peer == "dc2"]
    assert [len(f["entries"]) for f in frames] == [100, 100, 100, 50]
    assert "vv" in frames[0] and not any("vv" in f for f in frames[1:])
    assert [e["seq"] for f in frames for e in f["entries"]] == list(range(1, 351))
    assert answer(core, "dc2", {}, 20 * MS) == []  # all of it is on its way
    capped = hub(max_batch_entries=100, max_answer_batches=2)
    for n in range(1, 351):
        capped.handle(PeerFrame("dc3", {"type": "entries", "entries": [coord("dc3", n)]}), 0)
    effects = capped.handle(PeerFrame("dc2", {"type": "digest", "vv": {}}), 10 * MS)
    assert sum(isinstance(e, SendPeer) for e in effects) == 2  # bounded per digest


def test_a_new_link_opens_with_a_digest() -> None:
    core = hub()
    assert core.greeting("dc2", 0) == [{"type": "digest", "vv": core.state.version_vector()}]
    assert core.counters["digests_sent"] == 1
    assert core.greeting("dc9", 0) == []  # not a peer
    assert hub(gossip="push").greeting("dc2", 0) == []  # no anti-entropy, no digest


def test_a_new_connection_to_a_peer_forgets_what_was_on_its_way() -> None:
    """Entries pushed while a link was cut (or queued on a connection that was then replaced)
    may be lost: once a new connection with that peer opens they are answered at once, not
    `resend_after_ms` later."""
    core = hub()
    core._elapsed_ns = 0
    entries = [core._originate("coord", f"u{n}", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                                  "online": True}, 0, []) for n in range(3)]
    core._push(entries, [])
    assert answer(core, "dc2", {}, 300 * MS) == []  # in flight
    core.peer_connected("dc2")
    assert [e["seq"] for e in answer(core, "dc2", {}, 310 * MS)] == [1, 2, 3]
    assert answer(core, "dc3", {}, 320 * MS) == []  # still on its way to the other peer
    greeting = core.greeting("dc3", 325 * MS)  # our own link to dc3 (re)opened: they go with it
    assert [f["type"] for f in greeting] == ["digest", "entries"]
    assert [e["seq"] for e in greeting[1]["entries"]] == [1, 2, 3]
    assert answer(core, "dc3", {}, 330 * MS) == []  # and count as on their way


def test_a_new_link_carries_our_own_entries_the_peer_lacked_when_last_heard() -> None:
    """Behind the hello (with the digest): the entries of our own origin above what the peer's
    last version vector showed, so that after a partition each DC's backlog reaches the others
    from its origin one round trip before the answer to their digests could. Not before we
    heard the peer (a restarted hub knows nothing of it: no guess), and only our own origin."""
    core = hub(max_batch_entries=2)
    core._elapsed_ns = 0
    for n in range(5):
        core._originate("coord", f"u{n}", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                            "online": True}, 0, [])
    core.handle(PeerFrame("dc3", {"type": "entries", "entries": [coord("dc3", 1)]}), 0)
    assert [f["type"] for f in core.greeting("dc2", 10 * MS)] == ["digest"]  # never heard
    core.handle(PeerFrame("dc2", {"type": "digest", "vv": {"dc1": 2}}), 20 * MS)
    frames = core.greeting("dc2", 30 * MS)
    assert [f["type"] for f in frames] == ["digest", "entries", "entries"]
    assert [(e["origin"], e["seq"]) for f in frames[1:] for e in f["entries"]] == [
        ("dc1", 3), ("dc1", 4), ("dc1", 5)]  # not dc3's entry: its origin sends it
    assert core.counters["digests_sent"] == 2
    # what the greeting sent counts as on its way, also when the peer's own link to us opens
    core.peer_connected("dc2")
    assert [(e["origin"], e["seq"]) for e in answer(core, "dc2", {"dc1": 2}, 40 * MS)] == [
        ("dc3", 1)]


def test_a_peer_working_through_a_backlog_is_not_sent_it_again() -> None:
    """After a long partition a slow hub takes seconds to apply what it lacks; while its
    version vector keeps advancing, the rest of what it was sent is on its way (resending it
    every `resend_after_ms` buried a starved hub under copies); once it stops advancing for
    `resend_after_ms`, the rest is sent again."""
    core = hub()
    core._elapsed_ns = 0
    for n in range(1, 601):
        core._originate("coord", f"u{n}", {"dc": "dc1", "node": "dc1-a1", "conn": f"c{n}",
                                            "online": True}, 0, [])
    effects = core.handle(PeerFrame("dc2", {"type": "digest", "vv": {}}), 0)
    sent = [e for e in effects if isinstance(e, SendPeer)]  # the repair: three batches
    assert sum(len(e.frame["entries"]) for e in sent) == 600
    assert answer(core, "dc2", {"dc1": 100}, 800 * MS) == []
    assert answer(core, "dc2", {"dc1": 300}, 1200 * MS) == []  # advancing: no copies
    assert answer(core, "dc2", {"dc1": 400}, 1600 * MS) == []
    assert answer(core, "dc2", {"dc1": 500}, 2000 * MS) == []
    assert answer(core, "dc2", {"dc1": 500}, 2500 * MS) == []  # advanced after 1.6 s
    resent = answer(core, "dc2", {"dc1": 500}, 2600 * MS)  # not since: stuck
    assert [e["seq"] for e in resent] == list(range(501, 601))


def test_progress_seen_only_after_a_silence_is_not_taken_as_fresh() -> None:
    """A vector that advanced before a partition, first seen after it, shows no progress now:
    what was lost in the partition is sent again at once (taken as fresh, it was held back
    another `resend_after_ms` after every heal on the sim backend)."""
    core = hub()
    core._elapsed_ns = 0
    entries = [core._originate("coord", f"u{n}", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                                  "online": True}, 0, []) for n in range(3)]
    core._push(entries, [])
    assert answer(core, "dc2", {}, 100 * MS) == []
    core._push([core._originate("coord", "u9", {"dc": "dc1", "node": "dc1-a1", "conn": "c",
                                                "online": True}, 0, [])], [])  # then a cut
    resent = answer(core, "dc2", {"dc1": 3}, 30_000 * MS)  # the first digest after the heal
    assert [e["seq"] for e in resent] == [4]


def test_copies_of_held_entries_are_skipped_unread() -> None:
    """After a heal every peer answers a DC's digest with the same backlog: the copies of dots
    held already are skipped before validation (a starved hub spent most of its repair time
    validating copies), so not even a malformed copy is looked at or counted."""
    core = hub()
    core.handle(PeerFrame("dc2", {"type": "push", "entries": [coord("dc2", 1)]}), 0)
    copy = {**coord("dc2", 1), "data": {"malformed": True}}  # only a held dot is skipped
    effects = core.handle(PeerFrame("dc3", {"type": "entries", "entries": [copy] * 256}), MS)
    assert effects == [] and core.counters["bad_entries"] == 0
    core.handle(PeerFrame("dc3", {"type": "entries", "entries": [{**copy, "seq": 2}]}), MS)
    assert core.counters["bad_entries"] == 1  # a new dot is validated as before
