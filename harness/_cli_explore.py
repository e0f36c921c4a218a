"""`imfault explore`: search fault schedules and workload shapes on sim for an invalid run,
shrink it, write its run directory and print how to replay it (DESIGN §2 "Command line").

Registered in `harness/cli.py`'s `SUBCOMMANDS`. The search itself: `harness.explore._search`.
"""

from __future__ import annotations

import argparse
import secrets
import threading
from dataclasses import replace
from typing import Any

from ._options import add_run_arguments, options_from_namespace
from .errors import UsageError

__all__ = ["add_explore_parser", "handle_explore", "search_space_options"]

EXPLORE_DEFAULTS = {"backend": "sim", "dcs": 3, "users": 10, "rate": 20.0, "time_limit": 10.0,
                    "recovery_timeout": 30.0}
"""Where explore's defaults differ from `imfault run`'s: small, cheap examples."""


def add_explore_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "explore", help="search fault schedules and workloads (sim) for an invalid run; shrink it",
        description="Hypothesis searches fault schedules (which --nemesis ops, when, against "
        "which DCs or nodes) and workload shapes (users up to --users, rate up to --rate, "
        "main phase up to --time-limit s, roaming, locality, workload seed) on the sim backend. "
        "The first invalid run is shrunk (fewest fault ops, then shortest time, then fewest "
        "users and messages), written as a run directory with its schedule.json, and the "
        "commands that replay it are printed. Without --nemesis: the faults that expose the "
        "--bug (or, without a bug, every catalogue nemesis). Exit 1 when a failure was found, "
        "0 when none.")
    add_run_arguments(p)
    p.set_defaults(**EXPLORE_DEFAULTS)
    p.add_argument("--examples", type=int, default=200, metavar="N",
                   help="examples to try at most (default 200)")
    p.add_argument("--max-faults", type=int, default=3, metavar="K",
                   help="fault ops in the main phase at most (default 3)")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="stop searching after S seconds (shrinking a failure still finishes)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def search_space_options(values: dict[str, Any]) -> tuple[Any, list[str], bool]:
    """(`RunOptions` of the search, the nemeses it draws from, whether they were defaulted):
    `BUG_FAULTS` gives the faults and options (exactly-once) of the bugs when no --nemesis is
    given; without a bug, every catalogue nemesis."""
    from .explore._faults import BUG_FAULTS, catalogue_nemeses
    from .nemesis import parse_nemesis_names

    if values.get("schedule"):
        raise UsageError("--schedule replays a run (imfault run); explore draws schedules")
    options = options_from_namespace(values, fill={"seed": lambda: secrets.randbelow(2**31)})
    if options.backend != "sim":
        raise UsageError("imfault explore runs on --backend sim (its replay commands run the "
                         "minimal schedule on local or docker)")
    names = parse_nemesis_names(options.nemesis)
    defaulted = not names
    if defaulted and options.bug:
        for bug in options.bug:
            names += [n for n in BUG_FAULTS[bug].nemesis if n not in names]
            if BUG_FAULTS[bug].overrides.get("exactly_once"):
                options = replace(options, exactly_once=True)
    elif defaulted:
        names = catalogue_nemeses()
    return options, [n for n in names if n != "noop"], defaulted


def handle_explore(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._signals import terminate_as_interrupt
    from .explore._faults import fault_context, setup_problem
    from .explore._search import ExploreState, explore
    from .explore._space import SearchSpace
    from .nemesis import get_nemesis

    if args.examples < 1 or args.max_faults < 0:
        raise UsageError("--examples must be at least 1 and --max-faults at least 0")
    if args.time_budget is not None and args.time_budget <= 0:
        raise UsageError("--time-budget must be positive (s)")
    options, names, defaulted = search_space_options(vars(args))
    get_nemesis(names)  # unknown names: a usage error listing the known ones
    console = Console()
    with fault_context(options) as ctx:
        usable = []
        for name in names:
            problem = setup_problem([name], ctx)
            if problem and not defaulted:
                raise UsageError(problem)
            if problem:
                console.print(f"explore: leaving out {name} ({problem})", markup=False)
            else:
                usable.append(name)
        space = SearchSpace(options, usable, ctx, max_faults=args.max_faults)
        console.print(f"imfault explore: seed [bold]{options.seed}[/bold], up to {args.examples}"
                      f" examples of at most {args.max_faults} fault ops from "
                      f"{', '.join(usable) or 'no nemesis'}; {options.dcs} DCs, up to "
                      f"{options.users} users, {options.rate:g} ops/s, {options.time_limit:g} s"
                      f"{'; bug ' + ','.join(options.bug) if options.bug else ''}",
                      highlight=False)
        state = ExploreState()
        name = options.name or f"explore-{'+'.join(options.bug) or 'clean'}"
        with terminate_as_interrupt(), _Live(console, state, not args.no_progress):
            result = explore(space, args.examples, options.seed, args.time_budget, name,
                             state=state)
    console.print(result.describe(), markup=False, highlight=False)
    if result.run_dir is not None:
        from ._cli_run import _print_summary, _refresh_index
        _print_summary(result.results, console, result.run_dir)
        _refresh_index(options.store, console)
    return result.exit_code


class _Live:
    """The search's live line (examples, invalid, best failure, elapsed) on a terminal."""

    def __init__(self, console: Any, state: Any, enabled: bool) -> None:
        self.console, self.state = console, state
        self.enabled = enabled and bool(getattr(console, "is_terminal", False))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        from rich.live import Live
        from rich.text import Text
        with Live(Text(""), console=self.console, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(0.25):
                live.update(Text(self.state.line()))

    def __enter__(self) -> _Live:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name="explore-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
