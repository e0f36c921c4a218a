"""Fixtures for the integration tests: `cluster_factory` starts real clusters on the local backend
(real node processes, real `toxiproxy-server`) and stops each one by pid at the end of the module,
also on failure. Helpers (logins, waiting on admin status) are in `cluster_helpers.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import ClusterSpec
from harness.backends.local import LocalBackend

ClusterFactory = Callable[..., LocalBackend]


@pytest.fixture(scope="module")
def cluster_factory(tmp_path_factory: pytest.TempPathFactory,
                    toxiproxy_server: Path) -> Iterator[ClusterFactory]:
    """`cluster_factory(dcs=3, wan_latency_ms=200, ...)` -> a started `LocalBackend`."""
    started: list[LocalBackend] = []

    def start(**spec_fields: Any) -> LocalBackend:
        work_dir: Path = tmp_path_factory.mktemp("cluster")
        spec = ClusterSpec(work_dir=work_dir, **spec_fields)
        backend = LocalBackend()
        started.append(backend)
        backend.start(spec)
        return backend

    try:
        yield start
    finally:
        for backend in started:
            backend.stop()

