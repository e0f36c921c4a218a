"""Fidelity, side by side: the same options on the local backend (real processes, real
toxiproxy-server) and on sim. With no faults at 5 DCs / 200 ms, convergence p50 agrees within
10 %; the same seeded bug (no-tombstones, roaming users) is caught on both."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.runner import RunOptions, run_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bugs"))
from bug_runs import SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness._toxiproxy import find_toxiproxy_server
    from harness.errors import SetupError

    try:
        find_toxiproxy_server()
    except SetupError as exc:
        pytest.skip(str(exc))
    return tmp_path_factory.mktemp("fidelity")


def test_convergence_p50_agrees_and_the_same_bug_is_caught_on_both(store: Path) -> None:
    base = RunOptions(dcs=5, users=20, rate=20, time_limit=10, wan_latency=200, seed=3,
                      recovery_timeout=30, store=str(store))
    p50 = {}
    for backend in ("local", "sim"):
        outcome = run_test(replace(base, backend=backend, name=f"fidelity-{backend}"))
        assert outcome.results["valid"] is True, outcome.run_dir
        p50[backend] = outcome.results["convergence"]["ms"]["p50"]
    print(f"convergence p50 ms: {p50}")
    assert abs(p50["sim"] - p50["local"]) <= 0.10 * p50["local"], p50

    scenario = SCENARIOS["roaming"]
    for backend in ("local", "sim"):
        options = replace(scenario.options("no-tombstones", store), backend=backend,
                          name=f"fidelity-bug-{backend}")
        outcome = run_test(options)
        delivery = outcome.results["delivery"]
        assert outcome.exit_code == 1 and delivery["duplicated_count"] > 0, (backend,
                                                                            outcome.run_dir)
