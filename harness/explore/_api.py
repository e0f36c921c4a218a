"""The entry points the CLI and the pytest plugin share: `search_options` (run option values ->
the search's options and nemeses) and `run_explore` (set up the space on a sim cluster, search)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from .._options import RunOptions, options_from_namespace
from ..errors import UsageError
from ._confirm import check_confirm_backend, confirm
from ._faults import BUG_FAULTS, catalogue_nemeses, fault_context, setup_problem
from ._search import ExploreResult, ExploreState, explore
from ._space import SearchSpace

__all__ = ["EXPLORE_DEFAULTS", "run_explore", "search_options"]

EXPLORE_DEFAULTS: dict[str, Any] = {"backend": "sim", "dcs": 3, "users": 10, "rate": 20.0,
                                    "time_limit": 10.0, "recovery_timeout": 30.0}
"""Where explore's defaults differ from `imfault run`'s: small, cheap examples. `users`, `rate`
and `time_limit` are the largest the search draws."""


def search_options(values: Mapping[str, Any]) -> tuple[RunOptions, list[str], bool]:
    """(`RunOptions` of the search, the nemeses it draws from, whether they were defaulted):
    without --nemesis, the faults (and exactly-once) `BUG_FAULTS` gives the --bug; without a
    bug, every catalogue nemesis."""
    from ..nemesis import get_nemesis, parse_nemesis_names

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
    names = [n for n in names if n != "noop"]
    get_nemesis(names)  # unknown names: a usage error listing the known ones
    return options, names, defaulted


def run_explore(options: RunOptions, names: list[str], defaulted: bool, examples: int,
                max_faults: int, time_budget_s: float | None = None, name: str = "",
                say: Callable[[str], None] = lambda message: None,
                state: ExploreState | None = None,
                live: Callable[[ExploreState], AbstractContextManager[Any]] | None = None,
                confirm_on: str | None = None) -> ExploreResult:
    """Search on a sim cluster of `options`' shape (a nemesis that cannot be set up there is a
    usage error, or left out with a note when the nemeses were defaulted); with `confirm_on`, a
    failure found is replayed on that real backend (`_confirm`)."""
    if examples < 1 or max_faults < 0:
        raise UsageError("--examples must be at least 1 and --max-faults at least 0")
    if time_budget_s is not None and time_budget_s <= 0:
        raise UsageError("--time-budget must be positive (s)")
    if confirm_on is not None:
        check_confirm_backend(confirm_on)
    state = state or ExploreState()
    with fault_context(options) as ctx:
        usable = []
        for nemesis in names:
            problem = setup_problem([nemesis], ctx)
            if problem and not defaulted:
                raise UsageError(problem)
            if problem:
                say(f"explore: leaving out {nemesis} ({problem})")
            else:
                usable.append(nemesis)
        space = SearchSpace(options, usable, ctx, max_faults=max_faults)
        say(f"imfault explore: seed {options.seed}, up to {examples} examples of at most "
            f"{max_faults} fault ops from {', '.join(usable) or 'no nemesis'}; {options.dcs} "
            f"DCs, up to {options.users} users, {options.rate:g} ops/s, "
            f"{options.time_limit:g} s{'; bug ' + ','.join(options.bug) if options.bug else ''}")
        name = name or options.name or f"explore-{'+'.join(options.bug) or 'clean'}"
        with live(state) if live is not None else nullcontext():
            result = explore(space, examples, options.seed, time_budget_s, name, state=state)
    if result.found and confirm_on is not None:
        confirm(result, confirm_on, say)
    return result
