"""The sans-IO client core: what each frame from the access node settles (no I/O, no clock)."""

from __future__ import annotations

from imcluster._clientcore import ClientCore, login_frame, send_frame


def test_frames() -> None:
    assert login_frame("alice", "tok") == {"type": "login", "user": "alice", "token": "tok"}
    assert send_frame("m1", "bob", "hi") == {"type": "send", "id": "m1", "to": "bob", "body": "hi"}


def test_send_answers_settle_every_waiter_of_that_id() -> None:
    core: ClientCore[str] = ClientCore()
    core.wait_send("m1", "a")
    core.wait_send("m1", "b")
    core.wait_send("m2", "c")
    ok = core.receive({"type": "send_ok", "id": "m1"})
    assert ok.answered == ["a", "b"] and not ok.refused
    err = core.receive({"type": "send_err", "id": "m2", "code": "bad_request", "message": "x"})
    assert err.answered == ["c"] and err.refused and (err.code, err.message) == ("bad_request", "x")
    assert core.receive({"type": "send_ok", "id": "m1"}).answered == []  # answered once


def test_a_waiter_that_gave_up_is_not_answered() -> None:
    core: ClientCore[str] = ClientCore()
    core.wait_send("m1", "a")
    core.forget_send("m1", "a")
    assert core.sends == {} and core.receive({"type": "send_ok", "id": "m1"}).answered == []


def test_login_answers_and_refusals() -> None:
    core: ClientCore[str] = ClientCore()
    core.login = "w"
    assert core.receive({"type": "login_ok", "node": "dc1-a1"}).answered == ["w"]
    assert core.login is None
    core.login = "v"
    refused = core.receive({"type": "error", "code": "unavailable", "message": "hub down"})
    assert refused.answered == ["v"] and refused.refused and refused.code == "unavailable"
    stray = core.receive({"type": "error", "code": "bad_request"})
    assert stray.answered == [] and len(core.errors) == 2


def test_deliveries_acked_and_deduplicated_by_sender_and_id() -> None:
    core: ClientCore[str] = ClientCore()
    frame = {"type": "deliver", "id": "m1", "from": "alice"}
    first, again = core.receive(frame), core.receive(dict(frame))
    assert first.first_delivery and not again.first_delivery
    assert first.ack == again.ack == {"type": "ack", "id": "m1"}
    assert core.receive({"type": "deliver", "id": "m1", "from": "carol"}).first_delivery
    odd = core.receive({"type": "deliver", "id": 7})
    assert odd.delivery is not None and odd.ack is None and not odd.first_delivery
    quiet: ClientCore[str] = ClientCore(auto_ack=False, dedup=False)
    assert quiet.receive(frame).ack is None
    assert quiet.receive(frame).first_delivery  # no deduplication: every frame counts


def test_pings_answer_in_order_and_take_all_empties_the_connection() -> None:
    core: ClientCore[str] = ClientCore()
    core.pings += ["p1", "p2"]
    assert core.receive({"type": "pong"}).answered == ["p1"]
    core.wait_send("m1", "s")
    core.login = "l"
    assert core.take_all() == ["s", "p2", "l"]
    assert core.take_all() == [] and core.login is None
