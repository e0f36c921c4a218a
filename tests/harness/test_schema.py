"""The history schema: valid ops pass, each kind of malformed op is reported."""

import json

import pytest

from harness.schema import validate_history, validate_op

GOOD = [
    {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "login",
     "value": {"user": "u001", "dc": "dc1"}},
    {"index": 1, "time": 5, "process": 0, "type": "ok", "f": "login",
     "value": {"user": "u001", "dc": "dc1", "node": "dc1-a1", "conn": "dc1-a1:1"}},
    {"index": 2, "time": 6, "process": "nemesis", "type": "invoke", "f": "start-partition",
     "value": None},
    {"index": 3, "time": 7, "process": "nemesis", "type": "info", "f": "start-partition",
     "value": {"grudge": {"dc1": ["dc2"], "dc2": ["dc1"]}}},
    {"index": 4, "time": 8, "process": 0, "type": "invoke", "f": "send",
     "value": {"id": "m7-0", "from": "u001", "to": "u002", "dc": "dc1"}},
    {"index": 5, "time": 9, "process": 3, "type": "ok", "f": "recv",
     "value": {"user": "u002", "id": "m7-0", "from": "u001", "to": "u002", "dc": "dc1",
               "via": "online"}},
    {"index": 6, "time": 9, "process": 0, "type": "info", "f": "send", "error": "timeout",
     "value": {"id": "m7-0", "from": "u001", "to": "u002", "dc": "dc1"}},
]


@pytest.mark.parametrize("op", GOOD)
def test_good_ops(op):
    assert validate_op(op) == []


@pytest.mark.parametrize("change, fragment", [
    ({"process": -1}, "process"),
    ({"process": "client"}, "process"),
    ({"type": "done"}, "type"),
    ({"time": 1.5}, "time"),
    ({"index": True}, "index"),
    ({"f": "frobnicate"}, "unknown client f"),
    ({"value": {"id": "m"}}, "lacks"),
    ({"extra": 1}, "unknown fields"),
    ({"error": 3}, "error"),
])
def test_bad_ops(change, fragment):
    op = dict(GOOD[4], **change)
    problems = validate_op(op)
    assert any(fragment in p for p in problems), problems


def test_partition_completion_needs_grudge_and_recv_is_ok_only():
    assert validate_op(dict(GOOD[3], value={}))
    assert validate_op(dict(GOOD[5], type="invoke"))
    assert validate_op(dict(GOOD[5], value=dict(GOOD[5]["value"], via="carrier-pigeon")))


def test_history_rules(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in GOOD))
    assert validate_history(path) == []
    bad = GOOD[:2] + [dict(GOOD[1], index=1)] + [dict(GOOD[4], index=9, time=1)]
    path.write_text("".join(json.dumps(op) + "\n" for op in bad))
    problems = validate_history(path)
    assert any("index not increasing" in p for p in problems)
    assert any("without a matching invocation" in p for p in problems)
    assert any("time goes backwards" in p for p in problems)
