"""Fixtures of the report tests. Helpers live in `reports_synthetic_run`, `reports_store`,
`reports_png` and `reports_browser` (imported by module name: pytest puts this directory on sys.path, which works under both `pytest`
and `python -m pytest`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reports_browser import chromium  # noqa: F401 - the headless-browser fixture
from reports_synthetic_run import make_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A complete synthetic run directory (see reports_synthetic_run)."""
    return make_run(tmp_path)
