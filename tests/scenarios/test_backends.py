"""The same scenario on every backend: a test does not know which backend runs its cluster.

`docker` skips unless a Docker engine answers (fails instead with IMFAULT_REQUIRE_DOCKER=1).
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin import ImRun


@pytest.mark.parametrize("backend", ["local", pytest.param("docker", marks=pytest.mark.docker),
                                     "sim"])
@pytest.mark.im_nemesis("partition-one", time_limit=6, nemesis_interval=2)
def test_partition_one_is_valid_on_every_backend(backend: str, im_run: ImRun) -> None:
    result = im_run(backend=backend)
    assert result.options.backend == backend
    result.assert_valid()
