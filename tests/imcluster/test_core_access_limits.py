"""Issue 9 items 1 and 4 at the access core: repeated offers on one connection, and the bounds on
connections (count, login timeout, idle timeout), each refusal with its error code."""

from __future__ import annotations

from typing import Any

from test_core_access import SECRET, closed, frame_in, logged_in, to_client, to_hub

from imcluster import MemCluster
from imcluster._access import SWEEP_TIMER, AccessCore
from imcluster._auth import user_token
from imcluster._config import AccessConfig
from imcluster._events import (
    ClientClosed,
    ClientData,
    ClientOpened,
    Effect,
    HubConnected,
    HubFrameIn,
    SetTimer,
    TimerFired,
)

S = 1_000_000_000


def core_with(**limits: Any) -> AccessCore:
    core = AccessCore(AccessConfig(dc="dc1", node="dc1-a1", secret=SECRET, **limits))
    core.handle(HubConnected(), 0)
    return core


def deliver(msg_id: str, user: str = "alice", conn: str = "c1") -> HubFrameIn:
    return HubFrameIn({"type": "deliver", "user": user, "conn": conn, "via": "offline",
                       "msg": {"id": msg_id, "from": "bob", "to": user, "body": "", "sent_at": 0}})


def sweep(core: AccessCore, at_s: float) -> list[Effect]:
    return core.handle(TimerFired(SWEEP_TIMER), round(at_s * S))


def errors(effects: list[Effect]) -> list[str]:
    return [f["code"] for f in to_client(effects) if f.get("type") == "error"]


def test_a_second_offer_on_the_same_connection_is_dropped() -> None:
    core = core_with()
    logged_in(core)
    assert [f["id"] for f in to_client(core.handle(deliver("m1"), 0))] == ["m1"]
    again = core.handle(deliver("m1"), 0)
    assert to_client(again) == [] and to_hub(again) == []
    assert core.counters["duplicate_offers"] == 1


def test_a_second_offer_of_an_acked_message_sends_the_ack_again() -> None:
    core = core_with()
    logged_in(core)
    core.handle(deliver("m1"), 0)
    frame_in(core, "c1", {"type": "ack", "id": "m1"})
    again = core.handle(deliver("m1"), 0)  # the hub never got that ack (the link dropped)
    assert to_client(again) == []
    assert to_hub(again) == [{"type": "ack", "user": "alice", "id": "m1"}]
    assert core.counters["acks_resent"] == 1


def test_after_logout_and_login_the_same_connection_is_offered_afresh() -> None:
    core = core_with()
    logged_in(core)
    core.handle(deliver("m1"), 0)
    frame_in(core, "c1", {"type": "logout"})
    frame_in(core, "c1", {"type": "login", "user": "alice", "token": user_token(SECRET, "alice")})
    core.handle(HubFrameIn({"type": "coord_ok", "user": "alice", "conn": "c1"}), 0)
    assert [f["id"] for f in to_client(core.handle(deliver("m1"), 0))] == ["m1"]


def test_connections_past_the_limit_are_refused_with_too_many_connections() -> None:
    core = core_with(max_connections=2)
    for conn in ("c1", "c2"):
        assert errors(core.handle(ClientOpened(conn), 0)) == []
    refused = core.handle(ClientOpened("c3"), 0)
    assert errors(refused) == ["too_many_connections"] and closed(refused)
    assert core.counters["refused_connections"] == 1
    core.handle(ClientClosed("c3"), 0)
    core.handle(ClientClosed("c1"), 0)
    assert errors(core.handle(ClientOpened("c4"), 0)) == []  # room again


def test_a_connection_that_does_not_log_in_in_time_gets_login_timeout() -> None:
    core = core_with(login_timeout_ms=10_000)
    opened = core.handle(ClientOpened("c1"), 0)
    assert [e for e in opened if isinstance(e, SetTimer)] == [SetTimer(SWEEP_TIMER, 1000.0)]
    assert errors(sweep(core, 9.5)) == []
    late = sweep(core, 10.5)
    assert errors(late) == ["login_timeout"] and closed(late)
    assert core.counters["login_timeouts"] == 1


def test_a_logged_in_client_is_not_cut_by_the_login_timeout() -> None:
    core = core_with(login_timeout_ms=10_000)
    logged_in(core)
    assert errors(sweep(core, 60)) == []


def test_a_silent_logged_in_client_gets_idle_timeout_and_any_bytes_keep_it() -> None:
    core = core_with(idle_timeout_ms=60_000)
    logged_in(core)
    core.handle(ClientData("c1", b"\n"), 50 * S)  # a blank keep-alive line
    assert errors(sweep(core, 100)) == []
    cut = sweep(core, 111)
    assert errors(cut) == ["idle_timeout"] and closed(cut)
    assert core.counters["idle_timeouts"] == 1


def test_idle_timeout_zero_never_cuts() -> None:
    core = core_with(idle_timeout_ms=0)
    logged_in(core)
    assert errors(sweep(core, 10**6)) == []


def test_the_sweep_stops_when_no_connection_is_left() -> None:
    core = core_with()
    core.handle(ClientOpened("c1"), 0)
    core.handle(ClientClosed("c1"), 0)
    assert not any(isinstance(e, SetTimer) for e in sweep(core, 1))


def test_memcluster_silent_connection_is_closed_by_the_login_timeout() -> None:
    cluster = MemCluster(dcs=1, seed=3)
    client = cluster.client("alice", "dc1")
    client.connect()
    cluster.run_for(9_000)
    assert client.open
    cluster.run_for(2_500)
    assert not client.open and [e["code"] for e in client.errors] == ["login_timeout"]


def test_a_restarted_access_node_never_reuses_a_conn_id() -> None:
    cluster = MemCluster(dcs=1, seed=4)
    before = cluster.client("alice", "dc1")
    before.login()
    cluster.run_for(100)
    cluster.crash_access("dc1-a1")
    cluster.run_for(100)
    cluster.restart_access("dc1-a1")
    after = cluster.client("alice", "dc1")
    after.login()
    cluster.run_for(100)
    assert before.conn and after.conn and before.conn != after.conn
    assert after.conn.startswith("dc1-a1:")
    assert cluster.hub("dc1").coordinate_table()["alice"]["conn"] == after.conn


def test_a_clock_set_back_stalls_neither_the_login_nor_the_idle_timeout() -> None:
    """Timeouts run on the elapsed-time clock: with the wall clock stepped back by 30 s (the
    clock-skew nemesis, NTP), a silent connection used to stay open 30 s past its timeout."""
    core = core_with(login_timeout_ms=10_000, idle_timeout_ms=60_000)
    logged_in(core)  # c1, at 0
    core.handle(ClientOpened("c2"), 38 * S)  # c2 never logs in
    core.handle(ClientData("c1", b"\n"), 40 * S)  # c1's last keep-alive
    # the wall clock goes back by 30 s (40 s -> 10 s) and runs on from there
    assert errors(sweep(core, 10.5)) == []
    cut = sweep(core, 18.5)  # 10.5 s after c2 opened (the wall clock says 19.5 s before)
    assert errors(cut) == ["login_timeout"] and closed(cut)
    assert errors(sweep(core, 69)) == []  # c1 silent for 59 s
    idle = sweep(core, 70.5)  # 60.5 s (the wall clock says 30.5 s)
    assert errors(idle) == ["idle_timeout"] and closed(idle)


def test_a_message_is_stamped_with_the_wall_clock_even_after_it_went_back() -> None:
    core = core_with()
    logged_in(core)
    sent = frame_in(core, "c1", {"type": "send", "id": "m1", "to": "bob", "body": "hi"}, 40 * S)
    assert [f["msg"]["sent_at"] for f in to_hub(sent)] == [40_000]
    sent = frame_in(core, "c1", {"type": "send", "id": "m2", "to": "bob", "body": ""},
                    10 * S)  # the wall clock stepped back by 30 s
    assert [f["msg"]["sent_at"] for f in to_hub(sent)] == [10_000]
