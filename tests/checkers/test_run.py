"""Loading run directories (whole, partial, crashed) and composing verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from histories import MS, History
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import CHECKERS, check_all, check_run, compose, index_history, load_run


def write_jsonl(path: Path, rows: list[dict[str, Any]], tail: str = "") -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + tail, encoding="utf-8")


def small_run() -> tuple[History, list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    history = History()
    history.login("a", "dc1", "dc1-a1", "dc1-a1:1")
    history.login("b", "dc2", "dc2-a1", "dc2-a1:1")
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a", dc="dc2")
    events = [
        {"time": 3 * MS, "dc": "dc1", "node": "dc1-hub", "event": "originate", "kind": "msg",
         "key": "m1", "origin": "dc1", "seq": 1},
        {"time": 250 * MS, "dc": "dc2", "node": "dc2-hub", "event": "apply", "kind": "msg",
         "key": "m1", "origin": "dc1", "seq": 1},
    ]
    coords = {"a": {"dc": "dc1", "node": "dc1-a1", "conn": "dc1-a1:1", "online": True},
              "b": {"dc": "dc2", "node": "dc2-a1", "conn": "dc2-a1:1", "online": True}}
    final = {"time": 10, "converged": True,
             "hubs": {dc: {"node": f"{dc}-hub", "vv": {"dc1": 1}, "coords": coords,
                           "counters": {"wan_frames_sent": 2}, "pending": 0}
                      for dc in ("dc1", "dc2")}}
    test = {"dcs": 2, "dc_names": ["dc1", "dc2"], "gossip_interval": 100, "exactly_once": False}
    return history, events, final, test


def test_compose_false_beats_unknown_beats_true() -> None:
    assert compose([]) is True
    assert compose([True, {"valid": True}]) is True
    assert compose([True, "unknown", {"valid": True}]) == "unknown"
    assert compose([{"valid": "unknown"}, {"valid": False}, True]) is False
    assert compose([{}]) == "unknown"


def test_check_all_has_one_key_per_checker_and_the_composed_verdict(tmp_path: Path) -> None:
    history, events, final, test = small_run()
    results = check_all(history.ops, events, final, test)
    assert set(results) == {"valid", *CHECKERS}
    assert set(CHECKERS) == {"delivery", "convergence", "routing", "ordering", "availability",
                             "stats", "perf"}
    assert results["valid"] is True
    assert all(results[name]["valid"] is True for name in CHECKERS)
    json.dumps(results)  # results.json must be serialisable


def test_check_run_reads_every_file(tmp_path: Path) -> None:
    history, events, final, test = small_run()
    write_jsonl(tmp_path / "history.jsonl", history.ops)
    write_jsonl(tmp_path / "events.jsonl", events)
    (tmp_path / "final.json").write_text(json.dumps(final))
    (tmp_path / "test.json").write_text(json.dumps(test))
    results = check_run(tmp_path)
    assert results["valid"] is True
    assert results["convergence"]["ms"]["max"] == 247.0
    assert results["convergence"]["wan_messages_per_update"] == 4.0
    assert not (tmp_path / "results.json").exists()


def test_history_alone_gives_unknown_for_convergence_and_routing(tmp_path: Path) -> None:
    history, _, _, _ = small_run()
    write_jsonl(tmp_path / "history.jsonl", history.ops)
    results = check_run(tmp_path)
    assert results["valid"] == "unknown"
    assert results["convergence"]["valid"] == "unknown"
    assert results["routing"]["valid"] == "unknown"
    assert results["delivery"]["valid"] is True


def test_an_empty_directory_is_unknown_everywhere_but_never_crashes(tmp_path: Path) -> None:
    run = load_run(tmp_path)
    assert (run.history, run.events, run.final, run.test) == (None, None, None, None)
    results = check_run(tmp_path)
    assert results["valid"] == "unknown"
    assert all(results[name]["valid"] == "unknown" for name in CHECKERS)


def test_a_crashed_run_with_a_truncated_last_line_is_still_checked(tmp_path: Path) -> None:
    history, _, _, _ = small_run()
    history.send("m2", "a", "b")  # acknowledged, never received: lost
    write_jsonl(tmp_path / "history.jsonl", history.ops, tail='{"index": 99, "time": 1')
    (tmp_path / "final.json").write_text('{"time": 1, "hubs": {"dc1"')  # torn as well
    run = load_run(tmp_path)
    assert len(run.history or []) == len(history.ops)
    assert run.skipped_lines["history.jsonl"] == 1
    assert run.final is None
    results = check_run(tmp_path)
    assert results["valid"] is False
    assert results["delivery"]["lost"] == ["m2"]
    assert results["stats"]["skipped_lines"] == {"history.jsonl": 1}


def test_blank_and_broken_lines_in_the_middle_are_skipped(tmp_path: Path) -> None:
    history, _, _, _ = small_run()
    lines = [json.dumps(op) for op in history.ops]
    lines.insert(2, "")
    lines.insert(3, "not json")
    (tmp_path / "history.jsonl").write_text("\n".join(lines) + "\n")
    run = load_run(tmp_path)
    assert run.history == history.ops
    assert run.skipped_lines["history.jsonl"] == 1


@pytest.mark.parametrize("bad_op", [
    {"index": 7, "time": 5},  # no f, no type, no value
    {"index": 7, "time": 5, "process": 0, "type": "ok", "f": "recv", "value": None},
    {"index": 7, "time": 5, "process": 0, "type": "ok", "f": "recv", "value": {"id": "m1"}},
    "not an op",
    {"index": 7, "time": 5, "process": 0, "type": "invoke", "f": "send",
     "value": {"id": ["m", 9], "from": "a", "to": {"x": 1}, "dc": "dc1"}},
    {"index": 7, "time": "late", "process": 0, "type": "invoke", "f": "send",
     "value": {"id": "m7", "from": "a", "to": "b", "dc": "dc1"}},
    {"index": 7, "time": "x", "process": "nemesis", "type": "invoke", "f": "kill", "value": 3},
    {"index": 7, "time": None, "process": 0, "type": "ok", "f": "recv",
     "value": {"user": "b", "id": "m1", "from": "a", "to": "b", "dc": "dc1", "via": "online"}},
])
def test_malformed_ops_do_not_crash_the_checkers(bad_op: Any) -> None:
    history, events, final, test = small_run()
    ops = [*history.ops, bad_op]
    index = index_history(ops)
    assert index.sends["m1"][6] == "ok"
    results = check_all(ops, events, final, test)
    assert all("crashed" not in str(results[name].get("reason", "")) for name in CHECKERS)
    assert results["delivery"]["lost"] == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([True, False, "unknown"]), max_size=8))
def test_compose_is_the_weakest_verdict(verdicts: list[Any]) -> None:
    expected = False if False in verdicts else ("unknown" if "unknown" in verdicts else True)
    assert compose(verdicts) == expected
    assert compose([{"valid": verdict} for verdict in reversed(verdicts)]) == expected
