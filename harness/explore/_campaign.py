"""`imfault campaign`: a matrix of cells (nemesis x bug), N seeds each, and its verdict table.

A `Cell` is one nemesis (a composition when its names are several) with one seeded bug or none,
plus the run options the cell needs (a bug's `BUG_FAULTS` overrides). `run_campaign` runs every
cell with every seed: in parallel worker processes on sim, one after another on local/docker
(their clusters take ports, processes and containers). Each run is an ordinary run directory with
its report, under `<campaign dir>/runs/` (a store of its own: `imfault serve --store` browses it);
`campaign.json` holds every run's verdict and the per-cell figures, `campaign.html` links each
run's report (`reports.write_campaign_page`).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .._options import RunOptions, command_args
from ..errors import UsageError
from ._faults import BUG_FAULTS

__all__ = ["CAMPAIGN_FORMAT", "Cell", "cell_stats", "expectation_failures", "plan_cells",
           "run_campaign"]

CAMPAIGN_FORMAT = 1


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a nemesis (names composed), a bug or none, option overrides."""

    nemesis: tuple[str, ...]
    bug: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A store-safe name: `partition-one+kill--volatile-store`, `noop--clean`."""
        return f"{'+'.join(self.nemesis) or 'noop'}--{self.bug or 'clean'}"

    def options(self, base: RunOptions, seed: int, store: Path) -> RunOptions:
        return replace(base, nemesis=list(self.nemesis), bug=[self.bug] if self.bug else [],
                       seed=seed, store=str(store), name=self.name, schedule="",
                       **dict(self.overrides))


def plan_cells(nemeses: list[str], bugs: list[str], catalogue: list[str]) -> list[Cell]:
    """The cells of `--nemesis` (each flag one cell; `all`: every catalogue nemesis and `noop`)
    x `--bug` (`all`: the six; `none`: the correct cluster). Without `--nemesis`, each bug gets
    its own faults and workload (`BUG_FAULTS`); without `--bug`, the correct cluster."""
    rows: list[tuple[str, ...]] = []
    for item in nemeses:
        if item.strip() == "all":
            rows += [("noop",)] + [(name,) for name in catalogue]
        else:
            names = tuple(n.strip() for n in item.split(",") if n.strip())
            if not names:
                raise UsageError("--nemesis needs a name")
            rows.append(names)
    columns: list[str | None] = []
    for bug in bugs:
        if bug == "all":
            columns += list(BUG_FAULTS)
        elif bug == "none":
            columns.append(None)
        elif bug in BUG_FAULTS:
            columns.append(bug)
        else:
            raise UsageError(f"--bug must be one of {', '.join(BUG_FAULTS)}, all or none, "
                             f"not {bug!r}")
    if not rows and not columns:
        raise UsageError("give at least one --nemesis or --bug (e.g. --nemesis all, --bug all)")
    if not rows:
        cells = [Cell(BUG_FAULTS[b].nemesis, b, BUG_FAULTS[b].overrides) if b else Cell(())
                 for b in columns]
    else:
        cells = [Cell(() if row == ("noop",) else row, bug) for row in rows
                 for bug in (columns or [None])]
    unique: list[Cell] = []
    for cell in cells:
        if cell not in unique:
            unique.append(cell)
    return unique


def _run_one(options: RunOptions) -> dict[str, Any]:
    """One run (in a worker process on sim): its row for `campaign.json`."""
    from reports import read_run

    from ..runner import run_test

    started = time.process_time()
    try:
        outcome = run_test(options)
    except Exception as exc:  # noqa: BLE001 - one broken run must not end the campaign
        return {"seed": options.seed, "verdict": "error",
                "error": f"{type(exc).__name__}: {exc}", "cpu_s": time.process_time() - started}
    row = read_run(outcome.run_dir, Path(options.store).parent)
    return {"seed": options.seed, "verdict": row.verdict, "run": row.relative,
            "lost": row.lost, "duplicated": row.duplicated,
            "convergence_p50_ms": row.convergence_p50_ms,
            "convergence_p99_ms": row.convergence_p99_ms, "findings": row.findings,
            "cpu_s": round(time.process_time() - started, 3)}


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def cell_stats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per cell: runs, invalid/unknown/error counts, invalid %, lost and duplicated summed,
    convergence p50 (median of the runs' p50) and p99 (the 99th percentile of the runs' p99)."""
    count = {v: sum(1 for r in runs if r["verdict"] == v)
             for v in ("valid", "invalid", "unknown", "error")}
    p50s = [r["convergence_p50_ms"] for r in runs if r.get("convergence_p50_ms") is not None]
    p99s = [r["convergence_p99_ms"] for r in runs if r.get("convergence_p99_ms") is not None]
    return {"runs": len(runs), **count,
            "invalid_pct": round(100.0 * count["invalid"] / len(runs), 1) if runs else None,
            "lost": sum(r.get("lost") or 0 for r in runs),
            "duplicated": sum(r.get("duplicated") or 0 for r in runs),
            "convergence_p50_ms": statistics.median(p50s) if p50s else None,
            "convergence_p99_ms": _quantile(p99s, 0.99)}


def expectation_failures(cells: list[dict[str, Any]], expect: str | None,
                         min_caught: float) -> list[str]:
    """What breaks `--expect clean` (a run of a cell that is not valid) or `--expect caught`
    (a bug cell caught, i.e. invalid, in fewer than `min_caught` of its runs)."""
    failures = []
    for cell in cells:
        stats = cell["stats"]
        if expect == "clean" and stats["runs"] != stats["valid"]:
            failures.append(f"{cell['name']}: {stats['invalid']} invalid, {stats['unknown']} "
                            f"unknown, {stats['error']} broken of {stats['runs']} runs")
        if expect == "caught" and cell["bug"] and stats["runs"] \
                and stats["invalid"] / stats["runs"] < min_caught:
            failures.append(f"{cell['name']}: caught in {stats['invalid']} of {stats['runs']} "
                            f"runs ({stats['invalid_pct']} % < {100 * min_caught:g} %)")
    return failures


Progress = Callable[[int, int, dict[str, Any]], None]


def run_campaign(base: RunOptions, cells: list[Cell], seeds: list[int], campaign_dir: Path,
                 workers: int, progress: Progress = lambda done, total, row: None
                 ) -> dict[str, Any]:
    """Run every cell with every seed; return the `campaign.json` document (not yet written).
    Sim runs go to `workers` processes; local/docker runs one after another in this process."""
    store = campaign_dir / "runs"
    jobs = [(i, cell.options(base, seed, store)) for i, cell in enumerate(cells)
            for seed in seeds]
    results: list[list[dict[str, Any]]] = [[] for _ in cells]
    started, cpu0 = time.perf_counter(), time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = 0
    if base.backend == "sim" and workers > 1:
        # fork: no resource-tracker process is left behind (spawn and forkserver start one that
        # outlives the campaign); the caller runs no thread of its own while the workers start
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            pending: dict[Future[dict[str, Any]], int] = {}
            queue = list(jobs)
            try:
                while queue or pending:
                    while queue and len(pending) < 2 * workers:  # a bounded backlog
                        index, options = queue.pop(0)
                        pending[pool.submit(_run_one, options)] = index
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        row = future.result()
                        results[pending.pop(future)].append(row)
                        done += 1
                        progress(done, len(jobs), row)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    else:
        for index, options in jobs:
            row = _run_one(options)
            results[index].append(row)
            done += 1
            progress(done, len(jobs), row)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children.ru_utime + children.ru_stime) - (children0.ru_utime + children0.ru_stime)
    documents = []
    for cell, runs in zip(cells, results):
        runs.sort(key=lambda r: r["seed"])
        documents.append({"name": cell.name, "nemesis": list(cell.nemesis), "bug": cell.bug,
                          "overrides": dict(cell.overrides), "stats": cell_stats(runs),
                          "runs": runs})
    return {"format": CAMPAIGN_FORMAT, "backend": base.backend, "seeds": list(seeds),
            "workers": workers if base.backend == "sim" else 1,
            "options": command_args(replace(base, nemesis=[], bug=[], name="campaign")),
            "wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(time.process_time() - cpu0 + child_cpu, 1),
            "run_cpu_s": round(sum(r.get("cpu_s", 0.0) for runs in results for r in runs), 1),
            "cpu_count": os.cpu_count(), "cells": documents}
