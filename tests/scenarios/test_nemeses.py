"""One scenario per nemesis of the built-in catalogue: the correct cluster stays valid.

Most 3-DC nemeses share the module's cluster (`im_cluster`); `wan-degrade` gets a fresh one (see
FRESH_CLUSTER_NEMESES) and `partition-ring`, which needs at least 4 DCs, a fresh 4-DC cluster.
`partition-node` needs the docker backend (skipped without an engine; refused on local).
Each run: 6 s of main phase, a fault every 2 s; every nemesis op (faults and heals) must succeed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.backends import Backend
from harness.errors import UsageError
from harness.nemesis import BUILTIN_NEMESES
from harness.pytest_plugin import ImResult, ImRun

SHARED_CLUSTER_NEMESES = ["noop", "partition-one", "partition-halves", "partition-bridge",
                          "partition-oneway", "kill", "pause", "dc-outage", "clock-skew",
                          "clock-ahead"]
# wan-degrade gets a fresh cluster: Toxiproxy can stall removing a toxic whose bytes it cannot hand
# on (toxiproxy-server issues #500/#558; `Wan` retries for 60 s); if the heal still fails, a shared
# cluster would stay degraded for the next runs. partition-ring needs >= 4 DCs.
FRESH_CLUSTER_NEMESES = ["wan-degrade"]
FOUR_DC_NEMESES = ["partition-ring"]
DOCKER_ONLY_NEMESES = ["partition-node"]  # skips without a Docker engine

RUN = {"time_limit": 6, "nemesis_interval": 2, "users": 16, "rate": 20}


def test_every_catalogue_nemesis_has_a_scenario() -> None:
    covered = (SHARED_CLUSTER_NEMESES + FRESH_CLUSTER_NEMESES + FOUR_DC_NEMESES
               + DOCKER_ONLY_NEMESES)
    assert sorted(covered) == sorted(BUILTIN_NEMESES)


@pytest.mark.parametrize("nemesis", SHARED_CLUSTER_NEMESES)
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


@pytest.mark.parametrize("nemesis", FRESH_CLUSTER_NEMESES)
def test_nemesis_on_fresh_cluster(nemesis: str, im_run: ImRun) -> None:
    result = im_run(nemesis, **RUN)
    result.assert_valid()
    assert nemesis_faults(result), result.describe()
    errors = nemesis_errors(result)
    if errors and all(op["f"] == "stop-wan" and "did not remove toxic" in op["error"]
                      for op in errors):
        pytest.xfail("known: toxiproxy-server did not remove a degradation toxic even after 60 s "
                     "of retries, so the WAN heal failed (docs/decisions.md, known gaps)")
    assert not errors, result.describe()


@pytest.mark.docker
@pytest.mark.parametrize("nemesis", DOCKER_ONLY_NEMESES)
def test_docker_only_nemesis(nemesis: str, im_run: ImRun) -> None:
    result = im_run(nemesis, backend="docker", **RUN)
    result.assert_valid()
    assert nemesis_faults(result) and not nemesis_errors(result), result.describe()


@pytest.mark.parametrize("nemesis", DOCKER_ONLY_NEMESES)
def test_docker_only_nemesis_is_refused_on_local(nemesis: str, im_run: ImRun) -> None:
    with pytest.raises(UsageError, match="docker"):
        im_run(nemesis, backend="local", **RUN)


@pytest.mark.im_nemesis("partition-ring", **RUN)
def test_partition_ring_on_four_dcs(im_run: ImRun) -> None:
    result = im_run(dcs=4)
    result.assert_valid()
    assert result.options.dcs == 4
    assert nemesis_faults(result) and not nemesis_errors(result)


@pytest.mark.parametrize("nemesis", DOCKER_ONLY_NEMESES)
def test_docker_only_nemesis_runs_on_sim(nemesis: str, im_run: ImRun) -> None:
    """The sim backend cuts an access node from its hub by dropping the frames between them."""
    result = im_run(nemesis, backend="sim", **RUN)
    result.assert_valid()
    assert nemesis_faults(result) and not nemesis_errors(result), result.describe()
