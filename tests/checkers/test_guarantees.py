"""Checkers judge a system by its declared guarantees (`test.json` `guarantees`)."""

from __future__ import annotations

from typing import Any

from checkers import check_all

NS = 1_000_000


def _history(kill: bool) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []

    def op(process: Any, kind: str, f: str, value: Any) -> None:
        ops.append({"index": len(ops), "time": len(ops) * NS, "process": process, "type": kind,
                    "f": f, "value": value})

    for user in ("u1", "u2"):
        op(user, "invoke", "login", {"user": user, "dc": "dc1"})
        op(user, "ok", "login", {"user": user, "dc": "dc1"})
    send = {"id": "m1", "from": "u1", "to": "u2", "dc": "dc1"}
    op("u1", "invoke", "send", send)
    op("u1", "ok", "send", send)
    if kill:
        op("nemesis", "invoke", "kill", {"node": "dc1-broker"})
        op("nemesis", "info", "kill", {"node": "dc1-broker"})
    return ops


NO_STATE = {"durable_ack": False, "duplicates": True, "order": "per-pair",
            "replicated_state": False, "event_logs": False}


def test_checkers_a_system_cannot_feed_do_not_decide_the_verdict() -> None:
    # m1 is acknowledged and never received: lost
    lost = check_all(_history(kill=False), None, None, {"guarantees": NO_STATE,
                                                         "system": "mosquitto"})
    assert lost["convergence"]["applicable"] is False
    assert lost["routing"]["valid"] == "unknown"
    assert lost["delivery"]["valid"] is False and lost["valid"] is False
    # without any guarantees (the reference cluster) a missing final.json still makes it unknown
    plain = check_all(_history(kill=False), None, None, {})
    assert "applicable" not in plain["convergence"] and plain["convergence"]["valid"] == "unknown"


def test_loss_after_a_kill_is_allowed_only_without_durable_acks() -> None:
    relaxed = check_all(_history(kill=True), None, None, {"guarantees": NO_STATE,
                                                          "system": "mosquitto"})
    assert relaxed["delivery"]["valid"] == "unknown"
    assert relaxed["delivery"]["lost"] == ["m1"]
    assert "does not promise a durable ack" in relaxed["delivery"]["lost_allowed"]
    durable = check_all(_history(kill=True), None, None,
                        {"guarantees": {**NO_STATE, "durable_ack": True}})
    assert durable["delivery"]["valid"] is False
