"""Checkers: pure functions of (history, events, options[, final]) -> results (DESIGN §3).

Each `check_*` takes a history (list of op dicts, or a `HistoryIndex` built once by
`index_history`), the merged event log, the run's options (`test.json` plus checker bounds) and
`final.json`, and returns a dict with `valid` true / false / "unknown". `check_all` composes them
into the `results.json` content; `load_run`/`check_run` read a run directory. `check_loaded`
checks a run already loaded and also returns the index, so a caller (`imfault check`) can hand the
parsed run and its index to the report instead of parsing it twice; call it, and use what it
returns, inside `gc_paused()` (see `_compose`). No imports of harness backends, Docker, sockets or
`imcluster`.
"""

from __future__ import annotations

from typing import Any

from ._availability import check_availability
from ._compose import CHECKERS, check_all, check_run, gc_paused
from ._convergence import check_convergence, theory_rounds
from ._delivery import check_delivery
from ._index import HistoryIndex, index_history
from ._load import RunData, load_run, parse_jsonl, release_run
from ._nemesis import nemesis_intervals
from ._ordering import check_ordering
from ._perf import check_perf
from ._routing import check_routing
from ._stats import check_stats
from ._util import UNKNOWN, compose, quantiles

__all__ = [
    "CHECKERS",
    "UNKNOWN",
    "HistoryIndex",
    "RunData",
    "check_all",
    "check_availability",
    "check_convergence",
    "check_delivery",
    "check_loaded",
    "check_ordering",
    "check_perf",
    "check_routing",
    "check_run",
    "check_stats",
    "compose",
    "gc_paused",
    "index_history",
    "load_run",
    "nemesis_intervals",
    "parse_jsonl",
    "quantiles",
    "release_run",
    "theory_rounds",
]


def check_loaded(
    run: RunData, options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], HistoryIndex | None]:
    """`check_run` on a run already loaded (`load_run`): (results, the history's index or `None`).

    The results are exactly `check_run`'s. Keep the index only as long as needed, and free it (and
    `run`) before the collector resumes if it was paused.
    """
    merged = {**(run.test or {}), **(options or {})}
    index: HistoryIndex | None = None
    with gc_paused():
        if run.history is not None:
            try:
                index = index_history(run.history)
            except Exception:  # noqa: BLE001 (check_all reports the unusable history as unknown)
                index = None
        results = check_all(index if index is not None else run.history, run.events, run.final,
                            merged)
    skipped = {name: count for name, count in run.skipped_lines.items() if count}
    if skipped and isinstance(results.get("stats"), dict):
        results["stats"]["skipped_lines"] = skipped
    return results, index
