"""One scenario per nemesis of the built-in catalogue: the correct cluster stays valid.

The 3-DC nemeses share the module's cluster (`im_cluster`); `partition-ring` needs at least 4 DCs
and gets a fresh 4-DC cluster. Each run: 6 s of main phase, a fault every 2 s.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.backends import Backend
from harness.nemesis import BUILTIN_NEMESES
from harness.pytest_plugin import ImResult, ImRun

THREE_DC_NEMESES = ["noop", "partition-one", "partition-halves", "partition-bridge",
                    "partition-oneway", "wan-degrade", "kill", "pause", "dc-outage", "clock-skew"]
FOUR_DC_NEMESES = ["partition-ring"]

RUN = {"time_limit": 6, "nemesis_interval": 2, "users": 16, "rate": 20}


def test_every_catalogue_nemesis_has_a_scenario() -> None:
    assert sorted(THREE_DC_NEMESES + FOUR_DC_NEMESES) == sorted(BUILTIN_NEMESES)


@pytest.mark.parametrize("nemesis", THREE_DC_NEMESES)
def test_nemesis_on_shared_cluster(nemesis: str, im_run: ImRun, im_cluster: Backend) -> None:
    result = im_run(nemesis, cluster=im_cluster, **RUN)
    assert result.options.nemesis == [nemesis]
    result.assert_valid()
    assert not nemesis_errors(result), result.describe()
    if nemesis != "noop":
        assert nemesis_faults(result), f"no {nemesis} fault was injected:\n{result.describe()}"


def nemesis_errors(result: ImResult) -> list[dict[str, Any]]:
    """Nemesis completions with an error: a fault or a heal that failed."""
    return [op for op in nemesis_ops(result) if op["type"] == "info" and "error" in op]


def nemesis_ops(result: ImResult) -> list[dict[str, Any]]:
    ops = [json.loads(line) for line in (result.run_dir / "history.jsonl").open()]
    return [op for op in ops if op["process"] == "nemesis"]


def nemesis_faults(result: ImResult) -> list[dict[str, Any]]:
    """The nemesis completions of the run's history that carry no error (faults that happened)."""
    return [op for op in nemesis_ops(result) if op["type"] == "info" and "error" not in op]


@pytest.mark.im_nemesis("partition-ring", **RUN)
def test_partition_ring_on_four_dcs(im_run: ImRun) -> None:
    result = im_run(dcs=4)
    result.assert_valid()
    assert result.options.dcs == 4
    assert nemesis_faults(result) and not nemesis_errors(result)
