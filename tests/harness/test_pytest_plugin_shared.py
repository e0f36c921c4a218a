"""`SharedCluster` on a real 2-DC local cluster: a run on a shared cluster starts healed even
when an earlier run left WAN faults or a dead node behind, and the runner never stops it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness._pytest_run import SharedCluster
from harness.backends import ClusterSpec
from harness.backends.local import LocalBackend

pytestmark = [pytest.mark.integration]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend()
    try:
        backend.start(ClusterSpec(dcs=2, wan_latency_ms=20, work_dir=tmp_path / "work"))
        yield backend
    finally:
        backend.stop()


def test_leftover_faults_are_healed_before_a_shared_run(cluster: LocalBackend) -> None:
    cluster.wan.apply_grudge({"dc1": ["dc2"], "dc2": []})
    cluster.wan.degrade("latency", [("dc2", "dc1")], latency=500)
    cluster.kill("dc2-a1")
    assert len(cluster.wan.active_faults()) >= 2 and not cluster.is_running("dc2-a1")
    shared = SharedCluster(cluster)
    assert cluster.spec is not None
    with pytest.warns(UserWarning, match="healed before this run: .*dc2-a1 down"):
        shared.start(ClusterSpec(dcs=2, wan_latency_ms=20, seed=3,
                                 work_dir=cluster.spec.work_dir))
    assert cluster.wan.active_faults() == []
    assert cluster.is_running("dc2-a1")
    shared.stop()
    assert all(cluster.is_running(node) for node in cluster.nodes())


def test_a_clean_shared_cluster_is_left_alone(cluster: LocalBackend) -> None:
    pids = cluster.pids()
    assert SharedCluster(cluster).heal_leftovers() == []
    assert cluster.pids() == pids
