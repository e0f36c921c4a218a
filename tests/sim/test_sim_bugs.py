"""The six seeded bugs on the sim backend: each caught by its scenario (the same scenarios as the
local-backend tests in tests/bugs, `bug_runs.SCENARIOS`), each clean counterpart valid. Each run
takes a second or two of wall time."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.runner import RunOutcome, run_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bugs"))
from bug_runs import SCENARIOS, acknowledged_sends, history_ops

BUG_SCENARIO = {"ack-before-persist": "crash-while-cut-off", "volatile-store": "crash-while-cut-off",
                "no-anti-entropy": "partition", "gateway-drop": "partition",
                "no-tombstones": "roaming", "wallclock-lww": "clock-skew"}
_runs: dict[tuple[str, str | None], RunOutcome] = {}


def sim_run(scenario: str, bug: str | None, store: Path) -> RunOutcome:
    if (scenario, bug) not in _runs:
        options = replace(SCENARIOS[scenario].options(bug, store), backend="sim")
        _runs[(scenario, bug)] = run_test(options)
    return _runs[(scenario, bug)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-bugs")


def _lost(outcome: RunOutcome) -> list[str]:
    delivery: dict[str, Any] = outcome.results["delivery"]
    assert delivery["valid"] is False and delivery["lost_count"] > 0, outcome.run_dir
    assert set(delivery["lost"]) <= set(acknowledged_sends(outcome))
    return list(delivery["lost"])


@pytest.mark.parametrize("bug", ["ack-before-persist", "volatile-store"])
def test_a_crash_of_a_cut_off_hub_loses_acknowledged_messages(bug: str, store: Path) -> None:
    outcome = sim_run("crash-while-cut-off", bug, store)
    assert outcome.exit_code == 1
    lost = _lost(outcome)
    kills = [op for op in history_ops(outcome) if op["process"] == "nemesis"
             and op["type"] == "info" and op["f"] == "kill"]
    assert kills and all(k["value"]["target"] == "cut-off hub" for k in kills)
    killed = {k["value"]["node"].removesuffix("-hub") for k in kills}
    acked = acknowledged_sends(outcome)
    assert all(acked[i]["dc"] in killed for i in lost), outcome.run_dir


def test_no_anti_entropy_is_unconverged_and_loses(store: Path) -> None:
    outcome = sim_run("partition", "no-anti-entropy", store)
    assert outcome.results["convergence"]["valid"] is False
    _lost(outcome)


def test_gateway_drop_loses_and_still_converges(store: Path) -> None:
    outcome = sim_run("partition", "gateway-drop", store)
    _lost(outcome)
    assert outcome.results["convergence"]["unconverged_count"] == 0


def test_no_tombstones_duplicates(store: Path) -> None:
    outcome = sim_run("roaming", "no-tombstones", store)
    delivery = outcome.results["delivery"]
    assert delivery["valid"] is False and delivery["duplicated_count"] > 0, outcome.run_dir
    assert delivery["lost_count"] == 0


def test_wallclock_lww_wrong_routes(store: Path) -> None:
    outcome = sim_run("clock-skew", "wallclock-lww", store)
    assert outcome.results["routing"]["valid"] is False, outcome.run_dir


@pytest.mark.parametrize("scenario", sorted(set(BUG_SCENARIO.values())))
def test_clean_counterpart_is_valid(scenario: str, store: Path) -> None:
    outcome = sim_run(scenario, None, store)
    assert outcome.results["valid"] is True and outcome.exit_code == 0, outcome.run_dir
    assert all(op["type"] != "info" or "error" not in op
               for op in history_ops(outcome) if op["process"] == "nemesis")
