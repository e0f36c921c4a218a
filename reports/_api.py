"""`write_report`: render a run directory's `report.html` from its files and results."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from ._digest import PreloadedRun, preloaded_run, prepare_history_digest
from ._page import history_inputs, render_report, write_html
from ._runfiles import compute_results, open_run, read_json


def write_report(
    run_dir: Path,
    results: dict[str, Any] | None = None,
    *,
    run: Any = None,
    index: Any = None,
    prepared: PreloadedRun | None = None,
) -> Path:
    """Write `<run_dir>/report.html` and return its path.

    `results` defaults to the run's `results.json`; without one, the checkers are run when the
    `checkers` package is importable, else the report says the verdict is unknown.

    `run` is the run directory already parsed (a `checkers.RunData`: `history`, `events`,
    `skipped_lines`) and `index` a `checkers.HistoryIndex` of its history: given, the report
    reuses them instead of parsing `history.jsonl` and `events.jsonl` again (`imfault check`
    passes what it checked). The report is the same either way. `prepared` (from
    `prepare_report`, for the same `run` and `index`) stands for both.
    """
    run_dir = Path(run_dir)
    files = open_run(run_dir)
    if results is None:
        results = files.results if files.results is not None else compute_results(run_dir)
    loaded = prepared if prepared is not None else _preloaded(run_dir, run, index)
    # the digests are hundreds of thousands of acyclic objects: collection passes over them
    # would cost more than building them; they are freed (render_report returns) before resuming
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if loaded is None:
            html_text = render_report(files, results)
        else:
            with preloaded_run(loaded):
                html_text = render_report(files, results)
            del loaded
    finally:
        if was_enabled:
            gc.enable()
    return write_html(run_dir, html_text)


def prepare_report(run_dir: Path, delivery: Any, *, run: Any = None,
                   index: Any = None) -> PreloadedRun | None:
    """Build the report's history digest ahead, from the delivery checker's result alone (the
    ids whose trails are shown): `imfault check` does it while a forked child runs the other
    checkers. Hand the result to `write_report(..., prepared=...)`; `None` if there is nothing
    preloaded to digest. The report is byte-identical to one written without it."""
    run_dir = Path(run_dir)
    loaded = _preloaded(run_dir, run, index)
    if loaded is None or loaded.history is None:
        return loaded
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        trail_ids, fault_ops, _ = history_inputs(delivery, read_json(run_dir / "test.json"))
        prepare_history_digest(loaded, run_dir / "history.jsonl", trail_ids, fault_ops)
    finally:
        if was_enabled:
            gc.enable()
    return loaded


def _preloaded(run_dir: Path, run: Any, index: Any) -> PreloadedRun | None:
    history = getattr(run, "history", None) if run is not None else None
    events = getattr(run, "events", None) if run is not None else None
    if history is None and index is not None:
        history = index.history
    if history is None and events is None:
        return None
    if index is not None and index.history is not history:
        index = None  # an index of some other list of ops: not this run's
    skipped = getattr(run, "skipped_lines", None) or {}
    # the files it was loaded from: used only if they are this run directory's
    source = Path(getattr(run, "run_dir", None) or run_dir)
    return PreloadedRun(source, history, events, index, int(skipped.get("history.jsonl", 0)))
