"""Op: completions keep process/f/value, JSON round trip, invocation templates."""

import pytest

from harness.ops import Op, invocation


def test_complete_keeps_identity_and_value():
    op = Op(3, 10, 7, "invoke", "send", {"id": "m1"})
    done = op.complete("info", error="timeout")
    assert (done.process, done.f, done.value, done.type, done.error) == (7, "send", {"id": "m1"},
                                                                         "info", "timeout")
    assert op.complete("ok", {"x": 1}).value == {"x": 1}


def test_complete_rejects_invoke():
    with pytest.raises(ValueError):
        Op(0, 0, 1, "invoke", "send").complete("invoke")


def test_json_round_trip_and_error_only_when_set():
    op = Op(1, 2, "nemesis", "info", "start-partition", {"grudge": {"dc1": ["dc2"]}}, "boom")
    assert Op.from_json(op.to_json()) == op
    assert "error" not in Op(1, 2, 0, "ok", "send", {}).to_json()


def test_invocation_template():
    op = invocation("login", {"user": "u001", "dc": "dc1"})
    assert op.index == -1 and op.is_invoke and not op.is_nemesis
