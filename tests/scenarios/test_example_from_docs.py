"""The example of docs/writing-scenarios.md (the doc includes this file verbatim)."""

import json

import pytest

from harness.pytest_plugin import ImRun


@pytest.mark.im_nemesis("partition-halves", nemesis_interval=2)
def test_messages_survive_a_split_into_halves(im_run: ImRun) -> None:
    # Run the workload for 6 s on a fresh cluster while the nemesis cuts the DCs into two
    # halves every 2 s; the harness heals, waits for recovery, collects and checks.
    result = im_run(time_limit=6, users=16, locality=0.3)

    # The whole verdict: no acknowledged message lost, no duplicates to the wrong user,
    # every DC converged, every coordinate right. On failure the message holds the verdict
    # table, the run directory, the report and the command that reproduces the run.
    result.assert_valid()

    # Each checker's findings are in the results dict (results.json).
    delivery = result["delivery"]
    assert delivery["acknowledged"] > 0
    assert delivery["lost_count"] == 0

    # The history is in the run directory: the nemesis really cut the WAN.
    history = [json.loads(line) for line in (result.run_dir / "history.jsonl").open()]
    cuts = [op for op in history if op["f"] == "start-partition" and op["type"] == "info"]
    assert cuts and all(op["value"]["grudge"] for op in cuts)
