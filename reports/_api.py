"""`write_report`: render a run directory's `report.html` from its files and results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._page import render_report, write_html
from ._runfiles import compute_results, open_run


def write_report(run_dir: Path, results: dict[str, Any] | None = None) -> Path:
    """Write `<run_dir>/report.html` and return its path.

    `results` defaults to the run's `results.json`; without one, the checkers are run when the
    `checkers` package is importable, else the report says the verdict is unknown.
    """
    run_dir = Path(run_dir)
    files = open_run(run_dir)
    if results is None:
        results = files.results if files.results is not None else compute_results(run_dir)
    return write_html(run_dir, render_report(files, results))
