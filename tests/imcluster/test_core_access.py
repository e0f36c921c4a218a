"""Unit tests of AccessCore: framing, error codes, login, send, delivery and hub outages."""

from __future__ import annotations

from typing import Any

import pytest

from imcluster._access import AccessCore
from imcluster._auth import user_token
from imcluster._config import AccessConfig
from imcluster._events import (
    ClientClosed,
    ClientData,
    ClientOpened,
    CloseClient,
    Effect,
    HubConnected,
    HubDisconnected,
    HubFrameIn,
    SendClient,
    SendHub,
)
from imcluster._wire import encode

SECRET = b"secret"


def new_core(hub_up: bool = True) -> AccessCore:
    core = AccessCore(AccessConfig(dc="dc1", node="dc1-a1", secret=SECRET, max_frame=1024))
    if hub_up:
        core.handle(HubConnected(), 0)
    return core


def to_client(effects: list[Effect]) -> list[dict[str, Any]]:
    return [e.frame for e in effects if isinstance(e, SendClient)]


def to_hub(effects: list[Effect]) -> list[dict[str, Any]]:
    return [e.frame for e in effects if isinstance(e, SendHub)]


def closed(effects: list[Effect]) -> bool:
    return any(isinstance(e, CloseClient) for e in effects)


def frame_in(core: AccessCore, conn: str, frame: dict[str, Any], now_ns: int = 0) -> list[Effect]:
    return core.handle(ClientData(conn, encode(frame)), now_ns)


def logged_in(core: AccessCore, user: str = "alice", conn: str = "c1") -> None:
    core.handle(ClientOpened(conn), 0)
    effects = frame_in(core, conn, {"type": "login", "user": user,
                                    "token": user_token(SECRET, user)})
    assert to_hub(effects) == [{"type": "coord", "user": user, "conn": conn, "online": True}]
    assert to_client(effects) == []  # login_ok waits for the hub
    effects = core.handle(HubFrameIn({"type": "coord_ok", "user": user, "conn": conn}), 0)
    assert to_client(effects) == [{"type": "login_ok", "user": user, "dc": "dc1",
                                   "node": "dc1-a1", "conn": conn}]


@pytest.mark.parametrize("data, code", [
    (b"not json\n", "bad_frame"),
    (b"[]\n", "bad_frame"),
    (b'{"x":1}\n', "missing_field"),
    (b'{"type":"nope"}\n', "unknown_type"),
    (b'{"type":"send","id":"m1"}\n', "missing_field"),
    (b'{"type":"send","id":"","to":"b","body":""}\n', "bad_field"),
    (b'{"type":"send","id":"m1","to":"b","body":""}\n', "unauthorized"),
    (b'{"type":"ack","id":"m1"}\n', "unauthorized"),
])
def test_malformed_frames_get_an_error_and_the_connection_stays(data: bytes, code: str) -> None:
    core = new_core()
    core.handle(ClientOpened("c1"), 0)
    effects = core.handle(ClientData("c1", data), 0)
    assert [f["code"] for f in to_client(effects)] == [code] and not closed(effects)
    assert to_client(frame_in(core, "c1", {"type": "ping"})) == [{"type": "pong"}]


def test_frame_too_large_closes() -> None:
    core = new_core()
    core.handle(ClientOpened("c1"), 0)
    effects = core.handle(ClientData("c1", b'{"type":"ping"}\n' + b"x" * 2000), 0)
    assert [f.get("code", f["type"]) for f in to_client(effects)] == ["pong", "frame_too_large"]
    assert closed(effects)
    assert core.handle(ClientData("c1", b'{"type":"ping"}\n'), 0) == []


def test_bad_token_closes_and_good_login_waits_for_the_hub() -> None:
    core = new_core()
    core.handle(ClientOpened("c1"), 0)
    effects = frame_in(core, "c1", {"type": "login", "user": "alice",
                                    "token": user_token(SECRET, "bob")})
    assert [f["code"] for f in to_client(effects)] == ["unauthorized"] and closed(effects)
    assert to_hub(effects) == []
    logged_in(core, "alice", "c2")
    assert core.sessions() == {"alice": "c2"}


def test_send_routes_with_authenticated_sender_and_time() -> None:
    core = new_core()
    logged_in(core)
    effects = frame_in(core, "c1", {"type": "send", "id": "m1", "to": "bob", "body": "hi",
                                    "from": "mallory"}, now_ns=5_000_000_123)
    assert to_hub(effects) == [{"type": "route", "msg": {"id": "m1", "from": "alice", "to": "bob",
                                                         "body": "hi", "sent_at": 5000}}]
    effects = core.handle(HubFrameIn({"type": "route_ok", "id": "m1"}), 0)
    assert to_client(effects) == [{"type": "send_ok", "id": "m1"}]
    frame_in(core, "c1", {"type": "send", "id": "m2", "to": "bob", "body": ""})
    effects = core.handle(HubFrameIn({"type": "route_err", "id": "m2", "code": "x",
                                      "message": "y"}), 0)
    assert to_client(effects) == [{"type": "send_err", "id": "m2", "code": "x", "message": "y"}]


def test_deliver_ack_logout_and_close() -> None:
    core = new_core()
    logged_in(core)
    msg = {"id": "m1", "from": "bob", "to": "alice", "body": "b", "sent_at": 7}
    effects = core.handle(HubFrameIn({"type": "deliver", "msg": msg, "via": "offline",
                                      "user": "alice", "conn": "c1"}), 0)
    assert to_client(effects) == [{"type": "deliver", **msg, "via": "offline", "dc": "dc1"}]
    wrong_conn = core.handle(HubFrameIn({"type": "deliver", "msg": msg, "via": "online",
                                         "user": "alice", "conn": "c9"}), 0)
    assert wrong_conn == []
    assert to_hub(frame_in(core, "c1", {"type": "ack", "id": "m1"})) == [
        {"type": "ack", "user": "alice", "id": "m1"}]
    assert to_hub(frame_in(core, "c1", {"type": "logout"})) == [
        {"type": "coord", "user": "alice", "conn": "c1", "online": False}]
    assert core.sessions() == {}
    logged_in(core, "bob", "c2")
    assert to_hub(core.handle(ClientClosed("c2"), 0)) == [
        {"type": "coord", "user": "bob", "conn": "c2", "online": False}]


def test_hub_outage() -> None:
    core = new_core()
    logged_in(core)
    frame_in(core, "c1", {"type": "send", "id": "inflight", "to": "bob", "body": ""})
    effects = core.handle(HubDisconnected(), 0)
    assert to_client(effects) == []  # no send_err for a route that may have been persisted
    effects = frame_in(core, "c1", {"type": "send", "id": "fresh", "to": "bob", "body": ""})
    assert [(f["type"], f["code"]) for f in to_client(effects)] == [("send_err", "unavailable")]
    core.handle(ClientOpened("c2"), 0)
    effects = frame_in(core, "c2", {"type": "login", "user": "bob",
                                    "token": user_token(SECRET, "bob")})
    assert [f["code"] for f in to_client(effects)] == ["unavailable"] and closed(effects)
    effects = core.handle(HubConnected(), 0)
    assert to_hub(effects) == [{"type": "sync", "conns": [{"user": "alice", "conn": "c1"}]}]


def test_login_pending_when_hub_drops_is_refused() -> None:
    core = new_core()
    core.handle(ClientOpened("c1"), 0)
    frame_in(core, "c1", {"type": "login", "user": "alice", "token": user_token(SECRET, "alice")})
    effects = core.handle(HubDisconnected(), 0)
    assert [f["code"] for f in to_client(effects)] == ["unavailable"] and closed(effects)
