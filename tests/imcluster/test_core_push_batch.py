"""Eager pushes in bursts (`HubConfig.push_window_ms`): one frame per window, at once when idle.

A burst of new local updates (the login burst at start-up: every user's coordinate at once) was
one push frame per update to every peer, each a durable commit there, so the last of the burst
queued behind the others. Now an update with no push in the last `push_window_ms` goes at once;
later ones wait for the window's end and go together in one frame.
"""

from __future__ import annotations

import random
from typing import Any

from imcluster._config import HubConfig
from imcluster._events import AccessFrame, SendPeer, SetTimer, TimerFired
from imcluster._hub import PUSH_TIMER, HubCore

MS = 1_000_000


def route(core: HubCore, n: int, now_ns: int) -> list[Any]:
    msg = {"id": f"m{n}", "from": "alice", "to": "bob", "body": "hi", "sent_at": 0}
    return core.handle(AccessFrame("dc1-a1", {"type": "route", "msg": msg}), now_ns)


def pushes(effects: list[Any]) -> list[list[int]]:
    """The seqs of each push frame sent to dc2."""
    return [[e["seq"] for e in eff.frame["entries"]] for eff in effects
            if isinstance(eff, SendPeer) and eff.peer == "dc2" and eff.frame["type"] == "push"]


def test_a_burst_goes_in_one_frame_after_the_first_and_an_idle_update_at_once() -> None:
    core = HubCore(HubConfig(dc="dc1", peers=("dc2", "dc3")), random.Random(1))
    assert pushes(route(core, 1, 0)) == [[1]]  # idle: at once
    effects = route(core, 2, 5 * MS)
    assert pushes(effects) == []
    assert [e.delay_ms for e in effects if isinstance(e, SetTimer) and e.name == PUSH_TIMER] \
        == [15.0]  # the window's end
    assert pushes(route(core, 3, 10 * MS) + route(core, 4, 15 * MS)) == []
    assert pushes(core.handle(TimerFired(PUSH_TIMER), 20 * MS)) == [[2, 3, 4]]
    assert pushes(route(core, 5, 100 * MS)) == [[5]]  # idle again


def test_push_window_zero_pushes_every_update_alone() -> None:
    core = HubCore(HubConfig(dc="dc1", peers=("dc2",), push_window_ms=0), random.Random(1))
    assert [pushes(route(core, n, n)) for n in range(1, 4)] == [[[1]], [[2]], [[3]]]
