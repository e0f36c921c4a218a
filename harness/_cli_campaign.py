"""`imfault campaign`: every cell of a nemesis x bug matrix with N seeds (DESIGN §2 "Command
line"); the table in the terminal, `campaign.json` and `campaign.html` in the campaign directory.

Registered in `harness/cli.py`'s `SUBCOMMANDS`. The matrix and the runs: `harness.explore._campaign`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from ._options import add_run_arguments, options_from_namespace
from .errors import UsageError
from .store import create_run_dir, write_json

__all__ = ["add_campaign_parser", "handle_campaign"]


def add_campaign_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "campaign", help="run a nemesis x bug matrix over N seeds (Jepsen's test-all)",
        description="One cell per --nemesis (each flag one cell; a comma list composes; `all`: "
        "every catalogue nemesis and noop) x --bug (`all`: the six seeded bugs; `none`: the "
        "correct cluster). With only --bug, each bug runs with the faults and workload that "
        "expose it. Every cell runs --seeds seeds (from --seed on). The other options are "
        "`imfault run`'s. Exit 0 when every expectation holds (without --expect: every run "
        "valid), 1 when one fails, 3 when runs are unknown, 4 when runs broke.")
    add_run_arguments(p)
    p.add_argument("--seeds", type=int, default=10, metavar="N", help="seeds per cell (10)")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="worker processes on sim (default: the CPU count); local/docker run "
                   "one at a time")
    p.add_argument("--expect", choices=("clean", "caught"), default=None,
                   help="clean: every run valid; caught: every bug cell invalid in at least "
                   "--min-caught of its runs")
    p.add_argument("--min-caught", type=float, default=0.95, metavar="FRACTION",
                   help="with --expect caught (default 0.95)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def _options(args: argparse.Namespace) -> tuple[Any, list[str], list[str]]:
    values = dict(vars(args))
    nemeses, bugs = values.pop("nemesis"), values.pop("bug")
    if values.get("schedule"):
        raise UsageError("--schedule replays one run; a campaign draws each run's schedule")
    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1 (got {args.seeds})")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {args.workers})")
    if not 0 <= args.min_caught <= 1:
        raise UsageError(f"--min-caught is a fraction in [0, 1] (got {args.min_caught})")
    options = options_from_namespace(values, fill={"seed": lambda: secrets.randbelow(2**31)})
    return options, nemeses, bugs


def handle_campaign(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._signals import terminate_as_interrupt
    from .explore._campaign import expectation_failures, plan_cells, run_campaign
    from .explore._faults import catalogue_nemeses, fault_context, setup_problem
    from .nemesis import get_nemesis

    options, nemeses, bugs = _options(args)
    cells = plan_cells(nemeses, bugs, catalogue_nemeses())
    with fault_context(options) as ctx:
        for cell in cells:
            get_nemesis(list(cell.nemesis))  # unknown names: a usage error before any run
            problem = setup_problem(list(cell.nemesis), ctx) if options.backend == "sim" else None
            if problem:
                raise UsageError(f"cell {cell.name}: {problem}")
    if options.backend != "sim":
        _check_cells_fit(options, cells)
    seeds = list(range(options.seed, options.seed + args.seeds))
    workers = args.workers or os.cpu_count() or 1
    console = Console()
    name = options.name or "campaign"
    campaign_dir = create_run_dir(options.store, name)
    (campaign_dir / "logs").rmdir()
    console.print(f"imfault campaign: {len(cells)} cells x {len(seeds)} seeds (from seed "
                  f"[bold]{options.seed}[/bold]) on {options.backend}"
                  f"{f' with {workers} workers' if options.backend == 'sim' else ''}; "
                  f"campaign dir {campaign_dir}", highlight=False)
    progress = _Progress(console, enabled=not args.no_progress)
    with terminate_as_interrupt(), progress:
        document = run_campaign(options, cells, seeds, campaign_dir, workers, progress.update)
    failures = expectation_failures(document["cells"], args.expect, args.min_caught)
    verdicts = {run["verdict"] for cell in document["cells"] for run in cell["runs"]}
    code = _exit_code(args.expect, failures, verdicts)
    document.update(expect=args.expect, min_caught=args.min_caught,
                    expectation_failures=failures,
                    verdict={0: "valid", 1: "invalid", 3: "unknown"}.get(code, "unknown"))
    write_json(campaign_dir / "campaign.json", document)
    from reports import write_campaign_page, write_index
    page = write_campaign_page(campaign_dir, document)
    write_index(campaign_dir / "runs")
    _print_table(console, document, failures)
    _print_unexpected(console, document, campaign_dir)
    console.print(f"campaign.json: {campaign_dir / 'campaign.json'}\npage: {page}", markup=False,
                  highlight=False)
    return code


def _check_cells_fit(options: Any, cells: list[Any]) -> None:
    """Ask each cell's nemesis whether it can fault this backend's cluster (`check_cluster`, as
    `imfault run` does before it starts anything): a cell that cannot run (`partition-node` on
    `local` or `swarm`) is a usage error before the first run, not one broken run per seed."""
    from .backends import get_backend
    from .runner import checked_nemesis

    backend = get_backend(options.backend)  # not started: what its class can do
    for cell in cells:
        try:
            checked_nemesis(cell.options(options, options.seed, Path(options.store)), backend)
        except UsageError as exc:
            raise UsageError(f"cell {cell.name}: {exc}") from None


UNEXPECTED_SHOWN = 10
"""Invalid runs of the correct system listed after the table (the rest: campaign.json)."""


def _print_unexpected(console: Any, document: dict[str, Any], campaign_dir: Path) -> None:
    """Each invalid run of a cell without a bug (a defect found, or a model's): its findings,
    run directory and the commands that replay its fault schedule (`imfault run --schedule`)."""
    from .explore import replay_commands

    unexpected = [(cell, run) for cell in document["cells"] if not cell["bug"]
                  for run in cell["runs"] if run["verdict"] == "invalid"]
    for cell, run in unexpected[:UNEXPECTED_SHOWN]:
        run_dir = campaign_dir / run["run"]
        console.print(f"invalid without a bug: {cell['name']} seed {run['seed']}: "
                      f"{run.get('findings', '')}\n  run directory: {run_dir}", markup=False,
                      highlight=False, soft_wrap=True)  # paths and commands stay one line
        try:
            test = json.loads((run_dir / "test.json").read_text(encoding="utf-8"))
            options = options_from_namespace(test)
        except (OSError, ValueError, UsageError):
            continue  # a run that broke before writing its options: its directory says more
        schedule = str(run_dir / "schedule.json")
        for backend, command in replay_commands(replace(options, schedule=schedule)).items():
            console.print(f"  replay on {backend}: {command}", markup=False, highlight=False,
                          soft_wrap=True)
    if len(unexpected) > UNEXPECTED_SHOWN:
        console.print(f"... and {len(unexpected) - UNEXPECTED_SHOWN} more invalid runs without a "
                      "bug (campaign.json)", markup=False, highlight=False)


def _exit_code(expect: str | None, failures: list[str], verdicts: set[str]) -> int:
    if "error" in verdicts:
        return 4
    if expect is not None:
        if not failures:
            return 0
        return 3 if expect == "clean" and "invalid" not in verdicts else 1
    return 1 if "invalid" in verdicts else 3 if "unknown" in verdicts else 0


class _Progress:
    """A live line (runs done, invalid so far, the last run) when stdout is a terminal."""

    def __init__(self, console: Any, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled and bool(getattr(console, "is_terminal", False))
        self.invalid = 0
        self.live: Any = None
        import time
        self.started = time.monotonic()

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.live import Live
            from rich.text import Text
            # refreshed by `update`, not by a thread: the sim workers are forked
            self.live = Live(Text("starting"), console=self.console, transient=True,
                             auto_refresh=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def update(self, done: int, total: int, row: dict[str, Any]) -> None:
        import time
        self.invalid += row["verdict"] == "invalid"
        if row["verdict"] == "error":
            print(f"imfault campaign: seed {row['seed']}: {row['error']}", file=sys.stderr)
        if self.live is None:
            return
        from rich.text import Text
        elapsed = time.monotonic() - self.started
        self.live.update(Text(f"campaign: {done}/{total} runs  invalid {self.invalid}  "
                              f"elapsed {elapsed:.0f} s  last: {row.get('run', '')} "
                              f"{row['verdict']}"), refresh=True)


def _print_table(console: Any, document: dict[str, Any], failures: list[str]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from reports._verdict import format_number as num
    table = Table(title=f"imfault campaign ({document['wall_s']} s wall, {document['cpu_s']} s "
                  "CPU)")
    for column in ("nemesis", "bug", "runs", "invalid %", "unknown", "lost", "duplicated",
                   "conv. p50 / p99 ms"):
        table.add_column(column)
    failing = {line.split(":", 1)[0] for line in failures}
    for cell in document["cells"]:
        s = cell["stats"]
        style = "red" if cell["name"] in failing else None
        table.add_row(escape(",".join(cell["nemesis"]) or "none"), escape(cell["bug"] or "-"),
                      str(s["runs"]), num(s["invalid_pct"]), str(s["unknown"] + s["error"]),
                      str(s["lost"]), str(s["duplicated"]),
                      f"{num(s['convergence_p50_ms'])} / {num(s['convergence_p99_ms'])}",
                      style=style)
    console.print(table)
    for line in failures:
        console.print(f"[red]expectation failed[/red]: {escape(line)}")
