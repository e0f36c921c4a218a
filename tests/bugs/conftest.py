"""Fixtures of the seeded-bug tests: a session store for the runs, skipped without toxiproxy.

Every run goes through `harness.runner.run_test`, whose teardown stops each node and the
toxiproxy-server by pid, also when the run fails; `tests/conftest.py` reports any leak.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bug_runs, next to the tests


@pytest.fixture(scope="session")
def bug_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directories of the seeded-bug runs: `$IMFAULT_BUG_STORE` if set (kept, to look at a
    failure), else a pytest temporary directory."""
    from harness._toxiproxy import find_toxiproxy_server
    from harness.errors import SetupError

    try:
        find_toxiproxy_server()
    except SetupError as exc:
        pytest.skip(str(exc))
    if os.environ.get("IMFAULT_BUG_STORE"):
        store = Path(os.environ["IMFAULT_BUG_STORE"]).resolve()
        store.mkdir(parents=True, exist_ok=True)
        return store
    return tmp_path_factory.mktemp("bug-runs")
