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

from ._availability import check_availability
from ._compose import CHECKERS, check_all, check_loaded, check_run, gc_paused
from ._convergence import check_convergence, theory_rounds
from ._delivery import check_delivery
from ._index import HistoryIndex, index_history
from ._load import RunData, load_run, parse_jsonl, release_run
from ._nemesis import BUILTIN_FAULT_OPS, FaultOps, fault_ops_of, nemesis_intervals
from ._ordering import check_ordering
from ._perf import check_perf
from ._routing import check_routing
from ._stats import check_stats
from ._util import UNKNOWN, compose, quantiles

__all__ = [
    "BUILTIN_FAULT_OPS",
    "CHECKERS",
    "UNKNOWN",
    "FaultOps",
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
    "fault_ops_of",
    "gc_paused",
    "index_history",
    "load_run",
    "nemesis_intervals",
    "parse_jsonl",
    "quantiles",
    "release_run",
    "theory_rounds",
]
