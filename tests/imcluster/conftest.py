"""Fixtures of the imcluster tests.

MemCluster, like the asyncio drivers, logs and records a core that raises and goes on (issue 9,
item 2). So that no test passes over a core error unseen, every MemCluster a test creates must
end with `core_errors` empty, unless the test is marked `core_errors_expected`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_nodes import FuzzNodes, running_nodes

from imcluster import MemCluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "core_errors_expected: the test makes a core raise")


@pytest.fixture(autouse=True)
def _no_unseen_core_errors(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clusters: list[MemCluster] = []
    original = MemCluster.__init__

    def recording_init(self: MemCluster, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        clusters.append(self)

    monkeypatch.setattr(MemCluster, "__init__", recording_init)
    yield
    if request.node.get_closest_marker("core_errors_expected") is None:
        errors = [error for cluster in clusters for error in cluster.core_errors]
        assert not errors, f"a core raised: {errors[:3]}"


@pytest.fixture(scope="session")
def fuzz_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzNodes]:
    """One hub and one access node shared by the fuzz tests (started once: each start costs
    seconds on a loaded machine); afterwards neither may have crashed."""
    with running_nodes(tmp_path_factory.mktemp("fuzz")) as nodes:
        yield nodes
