"""Fixtures of the seeded-bug tests: a session store for the runs, which needs toxiproxy-server
(skipped without it, failed instead under CI: `toxiproxy_server` in tests/conftest.py).

Every run goes through `harness.runner.run_test`, whose teardown stops each node and the
toxiproxy-server by pid, also when the run fails; `tests/conftest.py` fails the session on a leak.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bug_runs, next to the tests


@pytest.fixture(scope="session")
def bug_store(tmp_path_factory: pytest.TempPathFactory, toxiproxy_server: Path) -> Path:
    """Run directories of the seeded-bug runs: `$IMFAULT_BUG_STORE` if set (kept, to look at a
    failure), else a pytest temporary directory."""
    if os.environ.get("IMFAULT_BUG_STORE"):
        store = Path(os.environ["IMFAULT_BUG_STORE"]).resolve()
        store.mkdir(parents=True, exist_ok=True)
        return store
    return tmp_path_factory.mktemp("bug-runs")
