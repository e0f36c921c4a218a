"""`imfault explore`: search fault schedules and workload shapes on sim for an invalid run,
shrink it, write its run directory and print how to replay it (DESIGN §2 "Command line").

Registered in `harness/cli.py`'s `SUBCOMMANDS`. The search itself: `harness.explore`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._options import add_run_arguments
from ._progress import LiveLine

__all__ = ["add_explore_parser", "handle_explore"]


def add_explore_parser(subparsers: Any) -> argparse.ArgumentParser:
    from .explore._api import EXPLORE_DEFAULTS

    p = subparsers.add_parser(
        "explore", help="search fault schedules and workloads (sim) for an invalid run; shrink it",
        description="Hypothesis searches fault schedules (which --nemesis ops, when, against "
        "which DCs or nodes) and workload shapes (users up to --users, rate up to --rate, "
        "main phase up to --time-limit s, roaming, locality, workload seed) on the sim backend. "
        "The first invalid run is shrunk (fewest fault ops, then shortest time, then fewest "
        "users and messages), written as a run directory with its schedule.json, and the "
        "commands that replay it are printed. Without --nemesis: the faults that expose the "
        "--bug (or, without a bug, every catalogue nemesis). --seed seeds the search. Defaults "
        "differ from `imfault run`: --backend sim --dcs 3 --users 10 --rate 20 --time-limit 10 "
        "--recovery-timeout 30. With --confirm-on BACKEND the minimal schedule is then replayed on "
        "that real backend and the outcome printed. Exit 1 when a failure was found (confirmed "
        "or not), 0 when none.")
    add_run_arguments(p)
    p.set_defaults(**EXPLORE_DEFAULTS)
    p.add_argument("--examples", type=int, default=200, metavar="N",
                   help="examples to try at most (default 200)")
    p.add_argument("--max-faults", type=int, default=3, metavar="K",
                   help="fault ops in the main phase at most (default 3)")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="stop searching after S seconds (shrinking a failure still finishes)")
    p.add_argument("--confirm-on", default=None, metavar="BACKEND",
                   help="replay a failure found on a real backend (local, docker or swarm) and "
                        "say whether it reproduced there (explore.json: confirmation)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def handle_explore(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._cli_run import _print_summary, _refresh_index
    from ._signals import terminate_as_interrupt
    from .explore._api import run_explore, search_options

    options, names, defaulted = search_options(vars(args))
    console = Console()
    with terminate_as_interrupt():
        result = run_explore(
            options, names, defaulted, args.examples, args.max_faults, args.time_budget,
            say=lambda message: console.print(message, markup=False, highlight=False),
            live=lambda state: _Live(console, state, not args.no_progress),
            confirm_on=args.confirm_on)
    # soft wrap: the replay commands and paths stay one line each, to copy as they are
    console.print(result.describe(), markup=False, highlight=False, soft_wrap=True)
    if result.run_dir is not None:
        _print_summary(result.results, console, result.run_dir)
        _refresh_index(options.store, console)
    return result.exit_code


class _Live(LiveLine):
    """The search's live line (examples, invalid, best failure, elapsed) on a terminal."""

    thread_name = "explore-progress"

    def __init__(self, console: Any, state: Any, enabled: bool) -> None:
        super().__init__(console, enabled)
        self.state = state

    def line(self) -> Any:
        from rich.text import Text
        return Text(self.state.line())
