"""The `imfault` command line (also `python -m harness`): a dispatcher over subcommands.

Each subcommand lives in its own module and is listed in `SUBCOMMANDS` as
`(name, "module:add_parser_function", "module:handler_function")`; modules are imported lazily:
a command line naming a subcommand builds (imports) only that subcommand's parser, and only the
chosen subcommand's handler runs. `add_parser(subparsers) -> argparse.ArgumentParser`
adds the subcommand's parser; `handler(args) -> int` runs it and returns the exit code.

Exit codes (DESIGN §2): 0 valid, 1 invalid, 2 usage error, 3 unknown, 4 setup or infrastructure
error. `UsageError` -> 2 and `SetupError` -> 4, each with its message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .errors import SetupError, UsageError

__all__ = ["EXIT_INVALID", "EXIT_SETUP", "EXIT_UNKNOWN", "EXIT_USAGE", "EXIT_VALID",
           "SUBCOMMANDS", "build_parser", "main"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
EXIT_SETUP = 4

# (name, "module:add_parser", "module:handler"); add yours here (modules relative to harness).
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("cluster", "._cli_cluster:add_parser", "._cli_cluster:handle"),
    ("run", "._cli_run:add_run_parser", "._cli_run:handle_run"),
    ("check", "._cli_run:add_check_parser", "._cli_run:handle_check"),
    ("clean", "._cli_run:add_clean_parser", "._cli_run:handle_clean"),
    ("report", "._cli_report:add_report_parser", "._cli_report:handle_report"),
    ("serve", "._cli_report:add_serve_parser", "._cli_report:handle_serve"),
    ("nemeses", "._cli_nemeses:add_parser", "._cli_nemeses:handle"),
    ("systems", "._cli_systems:add_parser", "._cli_systems:handle"),
    ("index", "._cli_index:add_index_parser", "._cli_index:handle_index"),
    ("bench", "._cli_bench:add_parser", "._cli_bench:handle"),
    ("explore", "._cli_explore:add_explore_parser", "._cli_explore:handle_explore"),
    ("campaign", "._cli_campaign:add_campaign_parser", "._cli_campaign:handle_campaign"),
]


def _load(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name, package=__package__)
    return getattr(module, attr)  # type: ignore[no-any-return]


def _stop_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP, where left to their default action, raise `KeyboardInterrupt` as
    SIGINT does, from the process's first line on: a supervisor's SIGTERM while a subcommand's
    modules load (before it enters `harness._signals.terminate_as_interrupt`) ends in
    `imfault: interrupted`, exit 130, instead of killing the process by signal. A signal the
    parent set to be ignored stays ignored. (Here, not in `_signals`: that one imports asyncio,
    which `imfault check` does without.)"""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, signal.default_int_handler)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors raised as `UsageError` (exit 2 through `main`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every subcommand whose module is importable (with `only`, a
    subcommand's name: with that one alone, so the other subcommands' modules are not imported)."""
    parser = _Parser(prog="imfault", description="Jepsen-style fault injection for "
                     "decentralized multi-datacenter instant messaging.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=_Parser)
    for name, add_ref, handler_ref in SUBCOMMANDS:
        if only is not None and name != only:
            continue
        try:
            add_parser = _load(add_ref)
        except (ImportError, AttributeError):
            continue  # that subcommand's module has not landed yet
        sub = add_parser(subparsers)
        sub.set_defaults(_handler_ref=handler_ref, _command=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]), run the subcommand, return its exit code."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    if argv is None:  # the process's entry: a SIGTERM while modules load is a Ctrl-C too
        _stop_like_ctrl_c()
    try:
        # `imfault check RUN` need not import `run`'s or `explore`'s modules (asyncio, networkx):
        # a known subcommand first gets a parser of its own; anything else the full parser
        names = {name for name, _, _ in SUBCOMMANDS}
        chosen = arguments[0] if arguments and arguments[0] in names else None
        parser = build_parser(chosen)
        args = parser.parse_args(arguments)
        handler_ref = getattr(args, "_handler_ref", None)
        if handler_ref is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        # called as the process's entry (no argv given): a handler may end the process itself
        args.process_entry = argv is None
        return int(_load(handler_ref)(args))
    except UsageError as exc:
        print(f"imfault: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SetupError as exc:
        print(f"imfault: setup error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("imfault: interrupted", file=sys.stderr)
        return 130
