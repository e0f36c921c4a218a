"""Fixtures of the imcluster tests.

MemCluster, like the asyncio drivers, logs and records a core that raises and goes on (issue 9,
item 2). So that no test passes over a core error unseen, no MemCluster a test creates may log
one (each is logged where it is appended to `core_errors`), unless the test is marked
`core_errors_expected`. (A log handler, not a patched `MemCluster.__init__`: the compiled build
of docs/accel.md cannot patch a compiled class.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fuzz_nodes import FuzzNodes, running_nodes

from imcluster._memnet import log as memnet_log


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "core_errors_expected: the test makes a core raise")


@pytest.fixture(autouse=True)
def _no_unseen_core_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    class Recorder(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.ERROR)
            self.errors: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.errors.append(record.getMessage())

    recorder = Recorder()
    memnet_log.addHandler(recorder)
    try:
        yield
    finally:
        memnet_log.removeHandler(recorder)
    if request.node.get_closest_marker("core_errors_expected") is None:
        assert not recorder.errors, f"a core raised: {recorder.errors[:3]}"


@pytest.fixture(scope="session")
def fuzz_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzNodes]:
    """One hub and one access node shared by the fuzz tests (started once: each start costs
    seconds on a loaded machine); afterwards neither may have crashed."""
    with running_nodes(tmp_path_factory.mktemp("fuzz")) as nodes:
        yield nodes
