"""Running every checker on one run: `check_all` (in memory) and `check_run` (a run directory).

`check_all` returns the content of `results.json`: one key per checker plus the composed top-level
`valid` (false beats unknown beats true). Options are the run's `test.json` (e.g. `exactly_once`,
`dc_names`, `gossip_interval`) plus any checker bounds (`max_out_of_order`, `min_availability`).
The cyclic garbage collector is paused while a large history is loaded and checked: the data are
millions of acyclic containers and collection passes would otherwise dominate the time. They are
also freed before it resumes, or its first pass afterwards would walk them all.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ._availability import check_availability
from ._convergence import check_convergence
from ._delivery import check_delivery
from ._guarantees import not_applicable, relax_delivery, unavailable_checkers
from ._index import HistoryIndex, Op, index_history
from ._load import RunData, load_run, release_run
from ._nemesis import check_nemesis_protocol
from ._ordering import check_ordering
from ._parallel import ChildFailed, Forked, fork_usable, spare_core
from ._perf import check_perf
from ._routing import check_routing
from ._stats import check_stats
from ._util import compose, unknown

Checker = Callable[..., dict[str, Any]]

CHECKERS: dict[str, Checker] = {
    "delivery": check_delivery,
    "convergence": check_convergence,
    "routing": check_routing,
    "ordering": check_ordering,
    "availability": check_availability,
    "stats": check_stats,
    "perf": check_perf,
}

# computed by a forked child while this process computes the others and the report's history
# digest (`check_all`'s `meanwhile`): the split that balances a 1M-op run's CPU time
CHILD_CHECKERS = frozenset({"ordering", "perf"})
PARALLEL_MIN_OPS = 50_000


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration (restoring its previous state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_all(
    history: Sequence[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    final: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    *,
    parallel: bool | None = None,
    meanwhile: Callable[[dict[str, Any], HistoryIndex | None], None] | None = None,
) -> dict[str, Any]:
    """Every checker's result and the composed verdict (the `results.json` content).

    With `parallel` (default `None`: when the history has `PARALLEL_MIN_OPS` ops or more,
    `fork_usable()` and `spare_core()`; `True`: whenever `os.fork` exists), the `CHILD_CHECKERS` run in a forked
    child while this process runs the others; the results are the same as in one process (a
    child that fails makes its checkers `unknown`). `meanwhile`, if given, is called in this process with the results of the checkers
    it ran (delivery among them, final) and the index, while the child may still be working."""
    options = dict(options or {})
    with gc_paused():
        indexed: HistoryIndex | None = None
        index_error = None
        if history is not None:
            try:
                indexed = index_history(history)
            except Exception as error:  # noqa: BLE001 (an unusable history makes them unknown)
                index_error = f"history could not be indexed: {type(error).__name__}: {error}"
        unavailable = unavailable_checkers(options)

        forked = [name for name in CHECKERS if name in CHILD_CHECKERS and name not in unavailable]
        if indexed is None or not _fork_wanted(parallel, indexed):
            forked = []
        elif meanwhile is not None:
            indexed.max_time()  # for the report: computed once, not by both processes
        run = partial(_run_checker, indexed=indexed, events=events, options=options, final=final,
                      unavailable=unavailable, index_error=index_error)
        with ExitStack() as stack:
            child = None
            if forked:
                try:
                    child = stack.enter_context(Forked(partial(_run_all, run, forked)))
                except OSError:  # no fork now (e.g. out of processes): all of them here
                    forked = []
            results = _run_all(run, [name for name in CHECKERS if name not in forked])
            if indexed is not None and isinstance(results.get("delivery"), dict):
                results["delivery"] = relax_delivery(results["delivery"], options,
                                                     indexed.nemesis_ops)
            if meanwhile is not None:
                meanwhile(results, indexed)
            if child is not None:
                try:
                    results.update(child.result())
                except ChildFailed as error:
                    results.update({name: unknown(f"checker crashed: {error}") for name in forked})
        results = {name: results[name] for name in CHECKERS}  # the serial order
        protocol = check_nemesis_protocol(options)
        if protocol is not None:
            results["nemesis_protocol"] = protocol
        applicable = [r for r in results.values()
                      if not (isinstance(r, dict) and r.get("applicable") is False)]
        verdict = {"valid": compose(applicable), **results}
        # free the index while the collector is still paused: re-enabled with a million young
        # containers alive, its next young-generation pass would traverse them all
        del indexed, results, run
    return verdict


def _run_all(run: Callable[[str], dict[str, Any]], names: list[str]) -> dict[str, Any]:
    return {name: run(name) for name in names}


def _run_checker(name: str, *, indexed: HistoryIndex | None, events: list[Op] | None,
                 options: dict[str, Any], final: dict[str, Any] | None,
                 unavailable: dict[str, str], index_error: str | None) -> dict[str, Any]:
    """One checker's result in `check_all` (a crash or an unusable history: `unknown`)."""
    if name in unavailable:
        return not_applicable(unavailable[name])
    if index_error is not None and name != "convergence":
        return unknown(index_error)
    try:
        return CHECKERS[name](indexed, events, options, final)
    except Exception as error:  # noqa: BLE001 (a checker bug must not hide the others)
        return unknown(f"checker crashed: {type(error).__name__}: {error}")


def _fork_wanted(parallel: bool | None, index: HistoryIndex) -> bool:
    """`parallel` True: whenever `os.fork` exists (the caller vouches for its threads); `None`:
    as the environment's `IMFAULT_CHECK_PARALLEL` says (`0` or `1`), else for a history of
    `PARALLEL_MIN_OPS` ops or more when `fork_usable()` and `spare_core()`."""
    if parallel is None:
        forced = os.environ.get("IMFAULT_CHECK_PARALLEL")  # "0" or "1": the default's choice
        if forced in ("0", "1"):
            parallel = forced == "1"
        else:
            return len(index.records) >= PARALLEL_MIN_OPS and fork_usable() and spare_core()
    return parallel and hasattr(os, "fork")


def check_run(run_dir: str | Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a run directory and check it; writes nothing (the CLI writes `results.json`)."""
    with gc_paused():
        run = load_run(run_dir)
        results, index = check_loaded(run, options)
        release_run(run, index)  # freed while the collector is paused (see check_all)
    return results


def check_loaded(
    run: RunData, options: dict[str, Any] | None = None, *, parallel: bool | None = None,
    meanwhile: Callable[[dict[str, Any], HistoryIndex | None], None] | None = None,
) -> tuple[dict[str, Any], HistoryIndex | None]:
    """`check_run` on a run already loaded (`load_run`): (results, the history's index or `None`).

    The results are exactly `check_run`'s. Keep the index only as long as needed, and free it (and
    `run`) before the collector resumes if it was paused. `parallel` and `meanwhile`: see
    `check_all`.
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
                            merged, parallel=parallel, meanwhile=meanwhile)
    skipped = {name: count for name, count in run.skipped_lines.items() if count}
    if skipped and isinstance(results.get("stats"), dict):
        results["stats"]["skipped_lines"] = skipped
    return results, index
