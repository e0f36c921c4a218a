"""`fault_ops_of`: the checkers learn which ops open and close a fault from test.json's
`fault_ops`, with the built-in table only for run directories written before that field."""

from __future__ import annotations

import pytest

from checkers import BUILTIN_FAULT_OPS, check_availability, fault_ops_of, nemesis_intervals

S = 1_000_000_000


def _nemesis(time: int, kind: str, f: str) -> dict:
    return {"index": 0, "time": time, "process": "nemesis", "type": kind, "f": f, "value": {}}


def test_recorded_fault_ops_are_the_only_faults() -> None:
    faults = fault_ops_of({"fault_ops": {"disk": {"open": "start-disk", "close": "stop-disk"}}})
    assert faults.closer_of("start-disk") == "stop-disk" and faults.is_heal("stop-disk")
    assert faults.closer_of("kill") is None and not faults.is_heal("start")  # not this run's
    ops = [_nemesis(1 * S, "invoke", "start-disk"), _nemesis(2 * S, "info", "stop-disk"),
           _nemesis(3 * S, "invoke", "kill")]
    assert [(i["f"], i["start"], i["end"]) for i in nemesis_intervals(ops, 9 * S, faults)] == [
        ("start-disk", 1 * S, 2 * S)]


def test_a_run_without_the_record_uses_the_built_in_table() -> None:
    faults = fault_ops_of({"seed": 1})
    assert faults.kinds == BUILTIN_FAULT_OPS
    assert faults.closer_of("start-partition-node") == "stop-partition-node"


@pytest.mark.parametrize("record", [["kill"], {"kill": {"open": "kill"}},
                                    {"a": {"open": "x", "close": "y"},
                                     "b": {"open": "y", "close": "z"}}])
def test_a_malformed_record_is_a_clear_error(record: object) -> None:
    with pytest.raises(ValueError, match="fault_ops"):
        fault_ops_of({"fault_ops": record})


def test_sends_during_a_plugin_fault_count_as_during_faults() -> None:
    """The example plugin of docs/adding-a-nemesis.md: its ops are no `start-*`/`stop-*`."""
    history = [_nemesis(1 * S, "invoke", "fill-disk"), _nemesis(3 * S, "info", "free-disk")]
    for n, time in enumerate((2 * S, 5 * S)):
        value = {"id": f"m{n}", "from": "u1", "to": "u2", "dc": "dc1"}
        history += [{"index": 0, "time": time, "process": 0, "type": "invoke", "f": "send",
                     "value": value},
                    {"index": 0, "time": time + 1, "process": 0, "type": "ok", "f": "send",
                     "value": value}]
    for index, op in enumerate(history):
        op["index"] = index
    recorded = {"fault_ops": {"disk": {"open": "fill-disk", "close": "free-disk"}}}
    result = check_availability(history, None, recorded)
    assert result["during_faults"]["attempted"] == 1 and result["quiet"]["attempted"] == 1
