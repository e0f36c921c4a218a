"""Hand-made histories and event logs: duplicates the system could or could not have avoided."""

from __future__ import annotations

from typing import Any

from histories import MS, History

from checkers import check_delivery

EXACTLY_ONCE = {"exactly_once": True, "wan_latency": 200, "gossip_interval": 100}


def tomb(t_ms: float, dc: str, event: str, msg_id: str = "m1", origin: str = "dc1"
         ) -> dict[str, Any]:
    return {"time": int(t_ms * MS), "dc": dc, "node": f"{dc}-hub", "event": event,
            "kind": "tomb", "key": msg_id, "origin": origin, "seq": 1}


def received_then_roamed(again_ms: float, again_dc: str = "dc2") -> History:
    """b receives m1 in dc1 at 100 ms, roams, and is offered m1 again in `again_dc`."""
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc1")
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a", dc="dc1", at_ms=100)
    history.logout("b")
    history.login("b", again_dc)
    history.recv("b", "m1", "a", dc=again_dc, via="offline", at_ms=again_ms)
    return history


def test_a_duplicate_offered_before_the_tomb_reached_that_dc_is_unavoidable() -> None:
    history = received_then_roamed(again_ms=250)
    events = [tomb(102, "dc1", "originate"), tomb(400, "dc2", "apply"), tomb(410, "dc3", "apply")]
    result = check_delivery(history.ops, events, EXACTLY_ONCE)
    assert result["valid"] is True
    assert result["duplicated"] == ["m1"] and result["duplicated_count"] == 1
    assert result["duplicated_unavoidable"] == ["m1"] and result["duplicated_avoidable"] == []
    assert result["duplicate_bound_ms"] == 2000.0


def test_a_duplicate_offered_by_a_dc_that_held_the_tomb_is_avoidable() -> None:
    history = received_then_roamed(again_ms=1000)
    events = [tomb(102, "dc1", "originate"), tomb(300, "dc2", "apply")]
    result = check_delivery(history.ops, events, EXACTLY_ONCE)
    assert result["valid"] is False
    assert result["duplicated_avoidable"] == ["m1"] and result["duplicated_unavoidable"] == []
    assert result["duplicated_avoidable_examples"][0]["rule"] == "tomb held by the re-offering DC"
    # the same under at-least-once: reported, not judged
    assert check_delivery(history.ops, events, {})["valid"] is True


def test_a_tomb_never_logged_that_had_ample_time_makes_the_duplicate_avoidable() -> None:
    """The `no-tombstones` bug: the mark stays in dc1, never gossiped nor logged."""
    history = received_then_roamed(again_ms=2500)
    result = check_delivery(history.ops, [], EXACTLY_ONCE)
    assert result["valid"] is False
    assert result["duplicated_avoidable"] == ["m1"]
    example = result["duplicated_avoidable_examples"][0]
    assert example["rule"] == "tomb had ample time to arrive" and example["tomb_logged"] is False
    assert (example["dc"], example["time_ms"], example["tomb_ms"]) == ("dc2", 2500.0, 100.0)


def test_the_bound_follows_the_wan_latency_and_gossip_interval() -> None:
    history = received_then_roamed(again_ms=2500)
    slow_wan = {**EXACTLY_ONCE, "wan_latency": 1000}  # 5 x (1000 + 100) = 5.5 s
    result = check_delivery(history.ops, [], slow_wan)
    assert result["valid"] is True and result["duplicate_bound_ms"] == 5500.0
    assert result["duplicated_unavoidable"] == ["m1"]


def test_a_fault_between_the_tomb_and_the_duplicate_makes_it_unavoidable() -> None:
    history = received_then_roamed(again_ms=2500)
    history.nemesis("start-partition", {"grudge": {"dc2": ["dc1"]}}, at_ms=2000)
    history.nemesis("stop-partition", None, at_ms=2600)
    events = [tomb(102, "dc1", "originate"), tomb(300, "dc2", "apply")]
    result = check_delivery(history.ops, events, EXACTLY_ONCE)
    assert result["valid"] is True
    assert result["duplicated_unavoidable"] == ["m1"]


def test_without_events_duplicates_cannot_be_judged_under_exactly_once() -> None:
    history = received_then_roamed(again_ms=2500)
    result = check_delivery(history.ops, None, EXACTLY_ONCE)
    assert result["valid"] == "unknown" and "events.jsonl" in result["reason"]
    assert result["duplicated"] == ["m1"] and result["duplicated_avoidable"] is None
    assert check_delivery(history.ops, None, {})["valid"] is True
    clean = History()
    clean.login("b", "dc1")
    clean.send("m1", "b", "b")
    clean.recv("b", "m1", "b")
    assert check_delivery(clean.ops, None, EXACTLY_ONCE)["valid"] is True


def test_a_receipt_during_a_logout_is_not_taken_for_an_acknowledgement() -> None:
    """The client acks after its logout frame: the ack is dropped and no tomb ever exists, so a
    re-offer after the next login is not the system's fault, however late it comes."""
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc1")
    history.send("m1", "a", "b")
    history.op(history.process("b"), "invoke", "logout", {"user": "b"}, at_ms=90)
    history.recv("b", "m1", "a", dc="dc1", at_ms=100)
    history.op(history.process("b"), "ok", "logout", {"user": "b"})
    history.login("b", "dc2", at_ms=4000)
    history.recv("b", "m1", "a", dc="dc2", via="offline", at_ms=4100)
    result = check_delivery(history.ops, [], EXACTLY_ONCE)  # no tomb logged at all
    assert result["valid"] is True and result["duplicated_unavoidable"] == ["m1"]


def test_malformed_session_ops_do_not_stop_the_classification() -> None:
    history = received_then_roamed(again_ms=2500)
    history.ops[0]["time"] = "soon"  # a's login invoke
    history.ops[3]["time"] = None  # b's login ok
    result = check_delivery(history.ops, [], EXACTLY_ONCE)
    assert result["duplicated"] == ["m1"]
    assert result["duplicated_avoidable"] == []  # b's login is unknown: no stand-in for a tomb
