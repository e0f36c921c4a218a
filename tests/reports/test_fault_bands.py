"""The report's nemesis bands and timeline lanes come from the run's recorded `fault_ops`
(test.json), so every nemesis gets its band, a third-party one and `partition-node` included; a
run directory written before that record falls back to the built-in table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from reports_synthetic_run import S, make_run

import checkers
from reports import write_report

PLUGIN_OPS = [  # a third-party nemesis's fault, 15 s to 17 s
    (15 * S, "invoke", "start-disk", {"nemesis": "flaky-disk", "node": "dc1-hub"}),
    (15 * S + 1, "info", "start-disk", {"nemesis": "flaky-disk", "node": "dc1-hub"}),
    (17 * S, "invoke", "stop-disk", {"nemesis": "flaky-disk", "node": "dc1-hub"}),
    (17 * S + 1, "info", "stop-disk", {"nemesis": "flaky-disk", "node": "dc1-hub"}),
]
NODE_CUT_OPS = [
    (15 * S, "invoke", "start-partition-node", {"node": "dc2-a1"}),
    (15 * S + 1, "info", "start-partition-node", {"node": "dc2-a1"}),
    (16 * S, "invoke", "stop-partition-node", {"node": "dc2-a1"}),
    (16 * S + 1, "info", "stop-partition-node", {"node": "dc2-a1"}),
]


def _run_with(tmp_path: Path, ops: list[tuple[int, str, str, dict[str, Any]]],
              fault_ops: dict[str, Any] | None) -> Path:
    run_dir = make_run(tmp_path, with_results=False)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    for time, kind, f, value in ops:
        history.append({"index": len(history), "time": time, "process": "nemesis",
                        "type": kind, "f": f, "value": value})
    history.sort(key=lambda op: op["time"])
    for index, op in enumerate(history):
        op["index"] = index
    (run_dir / "history.jsonl").write_text("".join(json.dumps(op) + "\n" for op in history))
    test = json.loads((run_dir / "test.json").read_text())
    test.pop("fault_ops", None)
    if fault_ops is not None:
        test["fault_ops"] = fault_ops
    (run_dir / "test.json").write_text(json.dumps(test))
    return run_dir


def _lanes(html: str) -> set[str]:
    """The timeline's lane names (the labels left of the lanes)."""
    return set(re.findall(r'text-anchor="end" font-size="11">([^<]+)</text>', html))


def test_a_plugin_nemesis_declared_in_test_json_gets_its_band_and_lane(tmp_path: Path) -> None:
    recorded = {"partition": {"open": "start-partition", "close": "stop-partition"},
                "kill": {"open": "kill", "close": "start"},
                "flaky-disk": {"open": "start-disk", "close": "stop-disk"}}
    run_dir = _run_with(tmp_path, PLUGIN_OPS, recorded)
    html = Path(write_report(run_dir)).read_text()
    assert {"partition", "kill", "flaky-disk"} <= _lanes(html)
    assert "<title>flaky-disk 15.0s to 17.0s</title>" in html  # the latency chart's band
    results = checkers.check_run(run_dir)
    assert {"f": "start-disk", "start_s": 15.0, "end_s": 17.0} in results["perf"]["nemesis"]
    assert "stop-disk" in [heal["f"] for heal in results["convergence"]["heals"]]


def test_only_the_recorded_fault_ops_make_bands(tmp_path: Path) -> None:
    run_dir = _run_with(tmp_path, [], {"kill": {"open": "kill", "close": "start"}})
    lanes = _lanes(Path(write_report(run_dir)).read_text())
    assert "kill" in lanes and "partition" not in lanes


def test_an_old_run_without_fault_ops_uses_the_built_in_table_partition_node_included(
        tmp_path: Path) -> None:
    run_dir = _run_with(tmp_path, NODE_CUT_OPS, None)
    html = Path(write_report(run_dir)).read_text()
    assert {"partition", "kill", "partition-node"} <= _lanes(html)


def test_a_malformed_record_is_said_in_the_report(tmp_path: Path) -> None:
    run_dir = _run_with(tmp_path, [], {"kill": ["kill", "start"]})
    html = Path(write_report(run_dir)).read_text()
    assert "Nemesis periods not drawn: test.json fault_ops[" in html
