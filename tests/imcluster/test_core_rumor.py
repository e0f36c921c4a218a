"""Rumor-mongering gossip modes in the hub core: who sends what per round, and the stop rule."""

from __future__ import annotations

import random

import pytest

from imcluster import MemCluster
from imcluster._config import HubConfig, rumor_rounds
from imcluster._events import AccessFrame, PeerFrame, SendPeer, SetTimer, TimerFired
from imcluster._hub import GOSSIP_TIMER, HubCore

DCS = ("dc1", "dc2", "dc3", "dc4", "dc5")
MS = 1_000_000


def hub(mode: str, fanout: int = 1, dc: str = "dc1") -> HubCore:
    return HubCore(HubConfig(dc=dc, peers=DCS, gossip=mode, gossip_fanout=fanout,
                             gossip_interval_ms=200), random.Random(7))


def route(core: HubCore, now_ms: float, msg_id: str = "m1") -> list[object]:
    msg = {"id": msg_id, "from": "a", "to": "b", "body": "x"}
    return core.handle(AccessFrame("acc", {"type": "route", "msg": msg}), int(now_ms * MS))


def sends(effects: list[object]) -> list[SendPeer]:
    return [e for e in effects if isinstance(e, SendPeer)]


def timers(effects: list[object]) -> list[SetTimer]:
    return [e for e in effects if isinstance(e, SetTimer) and e.name == GOSSIP_TIMER]


def test_stop_rule_is_log2_plus_ln_plus_four() -> None:
    assert rumor_rounds(5) == 8  # ceil(2.32 + 1.61) + 4
    assert rumor_rounds(1000) == 21  # ceil(9.97 + 6.91) + 4
    assert hub("rumor-push").config.rumor_rounds == 8


def test_config_rejects_bad_fanout_and_caps_it() -> None:
    with pytest.raises(ValueError, match="gossip_fanout"):
        HubConfig(dc="dc1", peers=DCS, gossip="rumor-push", gossip_fanout=0)
    assert HubConfig(dc="dc1", peers=DCS, gossip="rumor-push", gossip_fanout=9).fanout == 4
    assert not HubConfig(dc="dc1", peers=DCS, gossip="rumor-push").anti_entropy


@pytest.mark.parametrize("fanout", [1, 2])
def test_rumor_push_sends_hot_update_to_k_peers_each_round_until_the_stop_rule(
        fanout: int) -> None:
    core = hub("rumor-push", fanout)
    assert core.start(0) == []  # an idle rumor-push hub sets no timer
    effects = route(core, 50)
    assert sends(effects) == []  # no eager push: the update waits for the round
    assert [t.delay_ms for t in timers(effects)] == [pytest.approx(150)]  # next boundary
    called = []
    for n in range(core.config.rumor_rounds):
        out = core.handle(TimerFired(GOSSIP_TIMER), (200 + 200 * n) * MS)
        frames = sends(out)
        assert len(frames) == fanout and len({f.peer for f in frames}) == fanout
        assert all(f.frame["type"] == "rumor" and "pull" not in f.frame
                   and [e["key"] for e in f.frame["entries"]] == ["m1"] for f in frames)
        called += [f.peer for f in frames]
        rearmed = timers(out)
        last = n == core.config.rumor_rounds - 1
        assert (rearmed == []) == last  # the stop rule: cold after rumor_rounds rounds
        if not last:
            assert rearmed[0].delay_ms == pytest.approx(200)
    assert core.hot == {}
    assert set(called) <= set(DCS) - {"dc1"}
    assert core.counters["rumor_frames"] == fanout * core.config.rumor_rounds


def test_rumor_push_receiver_spreads_what_it_learned_once() -> None:
    sender, receiver = hub("rumor-push"), hub("rumor-push", dc="dc2")
    route(sender, 10)
    frame = sends(sender.handle(TimerFired(GOSSIP_TIMER), 200 * MS))[0]
    sender_frame = frame.frame
    out = receiver.handle(PeerFrame("dc1", sender_frame), 250 * MS)
    assert sends(out) == [] and [t.delay_ms for t in timers(out)] == [pytest.approx(150)]
    assert next(iter(receiver.hot.values()))[1] == receiver.config.rumor_rounds
    receiver.handle(TimerFired(GOSSIP_TIMER), 400 * MS)
    again = receiver.handle(PeerFrame("dc3", sender_frame), 450 * MS)
    assert next(iter(receiver.hot.values()))[1] == receiver.config.rumor_rounds - 1  # no reset
    assert timers(again) == []  # the round is armed already


def test_rumor_pull_asks_every_round_and_peers_answer_only_with_hot_updates() -> None:
    asker, holder = hub("rumor-pull"), hub("rumor-pull", dc="dc2")
    assert [t.name for t in timers(asker.start(30 * MS))] == [GOSSIP_TIMER]
    for n in range(3):  # idle rounds too: a pull costs one frame per call
        frames = sends(asker.handle(TimerFired(GOSSIP_TIMER), (200 + 200 * n) * MS))
        assert [f.frame for f in frames] == [{"type": "rumor", "entries": [], "pull": True}]
    request = {"type": "rumor", "entries": [], "pull": True}
    assert sends(holder.handle(PeerFrame("dc1", request), 10 * MS)) == []  # nothing hot
    route(holder, 20)
    answer = sends(holder.handle(PeerFrame("dc1", request), 30 * MS))
    assert len(answer) == 1 and answer[0].reply and answer[0].peer == "dc1"
    assert [e["key"] for e in answer[0].frame["entries"]] == ["m1"]
    assert "pull" not in answer[0].frame
    asker.handle(PeerFrame("dc2", answer[0].frame), 40 * MS)
    assert asker.state.version_vector() == {"dc2": 1}


def test_rumor_push_pull_pushes_and_pulls_in_one_frame_without_echo() -> None:
    a, b = hub("rumor-push-pull"), hub("rumor-push-pull", dc="dc2")
    route(a, 10, "m1")
    route(b, 10, "m2")
    frames = sends(a.handle(TimerFired(GOSSIP_TIMER), 200 * MS))
    assert len(frames) == 1 and frames[0].frame["pull"] is True
    pushed = frames[0].frame["entries"]
    assert [e["key"] for e in pushed] == ["m1"]
    answer = sends(b.handle(PeerFrame("dc1", {"type": "rumor", "entries": pushed,
                                              "pull": True}), 250 * MS))
    assert [e["key"] for e in answer[0].frame["entries"]] == ["m2"]  # not m1 back
    assert b.state.version_vector() == {"dc1": 1, "dc2": 1}


def test_rumor_frame_with_bad_fields_is_counted_not_crashing() -> None:
    core = hub("rumor-pull")
    route(core, 10)
    core.handle(PeerFrame("dc2", {"type": "rumor", "entries": "x"}), 20 * MS)
    core.handle(PeerFrame("dc2", {"type": "rumor", "entries": [], "pull": 1}), 20 * MS)
    out = core.handle(PeerFrame("dc2", {"type": "rumor", "pull": True,
                                        "entries": [{"origin": [1], "seq": {}}]}), 20 * MS)
    assert core.counters["bad_frames"] == 2 and core.counters["bad_entries"] == 1
    assert len(sends(out)) == 1


@pytest.mark.parametrize("mode", ["rumor-push", "rumor-pull", "rumor-push-pull"])
def test_memcluster_converges_in_rumor_modes(mode: str) -> None:
    cluster = MemCluster(dcs=5, seed=3, gossip=mode, gossip_interval_ms=100, latency_ms=30)
    cluster.run_for(500)
    client = cluster.client("u", "dc1")
    client.login()
    assert cluster.run_for(20_000, until=cluster.converged)
