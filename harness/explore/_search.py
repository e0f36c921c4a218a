"""`explore`: a Hypothesis search over `Example`s on the sim backend, shrinking the first failure.

Each example is a sim run in a scratch store (checked, then deleted). An invalid run raises an
`Invalid` subclass named after its reason (the invalid checkers, and the delivery problems), so
Hypothesis shrinks each reason on its own and never trades one failure for another. The minimal
example is then run once more into the real store, with its report and `schedule.json`, and
`explore.json` records the search. The search is reproducible from its seed (Hypothesis's
`@seed`); since Hypothesis turns its own example database off for a seeded search, explore keeps
the last minimal counterexample of each search (keyed by its options) in
`<store>/.hypothesis/explore/<key>.json` and tries it first (as an explicit example), so a rerun
starts from it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._options import RunOptions, command_args
from ..store import write_json
from ._space import Example, SearchSpace, examples

if TYPE_CHECKING:
    from ._confirm import Confirmation  # which imports this module

__all__ = ["NOT_COUNTED", "ExploreResult", "ExploreState", "Invalid", "explore", "offending_ids",
           "reason_of", "verdict_of"]

DATABASE_DIR = Path(".hypothesis") / "explore"


class Invalid(Exception):
    """An example whose run was invalid (subclassed per reason: see `_invalid_class`)."""

    def __init__(self, example: Example, reason: str) -> None:
        super().__init__(f"invalid: {reason}")
        self.example = example
        self.reason = reason


_CLASSES: dict[str, type[Invalid]] = {}


def _invalid_class(reason: str) -> type[Invalid]:
    """One class per reason: Hypothesis tells failures apart by exception type."""
    if reason not in _CLASSES:
        _CLASSES[reason] = type(f"Invalid[{reason}]", (Invalid,), {})
    return _CLASSES[reason]


NOT_COUNTED = ("stats",)
"""Checkers whose `invalid` is no counterexample: `stats` is invalid when an op kind never
succeeded (Jepsen's stats checker), which a two-user workload whose one send meets a killed hub
does without anything being wrong; the search would shrink every run to that."""


def verdict_of(results: dict[str, Any]) -> bool | str:
    """The verdict explore goes by: the checkers' but `NOT_COUNTED` (false > unknown > true)."""
    from reports._verdict import checker_names

    verdicts = [results[name].get("valid") for name in checker_names(results)
                if name not in NOT_COUNTED]
    if False in verdicts:
        return False
    return True if verdicts and all(v is True for v in verdicts) else "unknown"


def reason_of(results: dict[str, Any]) -> str:
    """`delivery(lost)+convergence`: the invalid checkers, delivery's problem kinds named."""
    from reports._verdict import PROBLEM_KINDS, checker_names, problem_count

    parts = []
    for name in checker_names(results):
        if results[name].get("valid") is not False or name in NOT_COUNTED:
            continue
        if name == "delivery":
            kinds = [k for k in PROBLEM_KINDS if problem_count(results[name], k)]
            name += f"({','.join(kinds)})" if kinds else ""
        parts.append(name)
    return "+".join(parts) or "invalid"


def offending_ids(results: dict[str, Any], limit: int = 20) -> dict[str, list[str]]:
    """The offending message ids (delivery), dots (convergence) and users (routing)."""
    from reports._verdict import PROBLEM_KINDS, problem_ids

    found: dict[str, list[str]] = {}
    delivery = results.get("delivery")
    for kind in PROBLEM_KINDS:
        ids = problem_ids(delivery, kind)
        if ids:
            found[kind] = ids[:limit]
    convergence = results.get("convergence") or {}
    if convergence.get("unconverged"):
        found["unconverged dots"] = [str(d) for d in convergence["unconverged"][:limit]]
    routing = results.get("routing") or {}
    if routing.get("wrong_users"):
        found["wrongly routed users"] = [str(u) for u in routing["wrong_users"][:limit]]
    return found


@dataclass
class ExploreState:
    """Live figures of a search (read by the progress display)."""

    examples: int = 0
    invalid: int = 0
    unknown: int = 0
    phase: str = "search"
    best: str = ""
    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)
    first: Example | None = None
    first_reason: str = ""
    first_at_example: int = 0
    first_after_s: float = 0.0
    reasons: set[str] = field(default_factory=set)
    smallest: dict[str, Example] = field(default_factory=dict)
    """Per reason, the smallest failing example run (by `Example.size`)."""

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        best = f"  best failure: {self.best}" if self.best else ""
        return (f"explore: {self.phase}  examples {self.examples}  invalid {self.invalid}  "
                f"elapsed {elapsed:.0f} s{best}")


@dataclass
class ExploreResult:
    """What `explore` found: nothing (`run_dir` None), or the minimal failing run."""

    space: SearchSpace
    state: ExploreState
    elapsed_s: float
    hypothesis_seed: int
    example: Example | None = None
    reason: str = ""
    run_dir: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, str] = field(default_factory=dict)
    exit_code: int = 0
    cpu_s: float = 0.0
    options: RunOptions | None = None  # the minimal run's, its schedule file included
    confirmation: Confirmation | None = None  # once replayed on a real backend

    @property
    def found(self) -> bool:
        return self.example is not None

    def summary(self) -> dict[str, Any]:
        """`explore.json`: the search and its outcome."""
        space, state = self.space, self.state
        document: dict[str, Any] = {
            "nemeses": space.names, "max_faults": space.max_faults,
            "examples": state.examples, "invalid_examples": state.invalid,
            "unknown_examples": state.unknown, "elapsed_s": round(self.elapsed_s, 1),
            "cpu_s": round(self.cpu_s, 1),
            "hypothesis_seed": self.hypothesis_seed, "found": self.found}
        if self.example is not None and state.first is not None:
            document.update(
                reason=self.reason, first_failure_at_example=state.first_at_example,
                first_failure_after_s=round(state.first_after_s, 1),
                first_failure_reason=state.first_reason,
                fault_ops_before_shrinking=len(state.first.main_ops(space)),
                fault_ops_after_shrinking=len(self.example.main_ops(space)),
                first_failure=state.first.to_json(space), minimal=self.example.to_json(space),
                other_reasons=sorted(state.reasons - {self.reason}), replay=self.replay,
                offending=offending_ids(self.results), verdict=self.results.get("valid"))
        if self.confirmation is not None:
            document["confirmation"] = self.confirmation.to_json()
        return document

    def describe(self) -> str:
        """The outcome as text: the verdict, the minimal schedule, the replay commands."""
        s = self.summary()
        if not self.found:
            return (f"explore: no invalid run in {s['examples']} examples "
                    f"({s['elapsed_s']} s; nemeses {', '.join(self.space.names) or 'none'}, "
                    f"at most {self.space.max_faults} fault ops)")
        assert self.example is not None and self.run_dir is not None
        head = (f"explore: INVALID ({self.reason}) after {s['examples']} examples in "
                f"{s['elapsed_s']} s (first failure at example {s['first_failure_at_example']},"
                f" {s['fault_ops_before_shrinking']} fault ops; shrunk to "
                f"{s['fault_ops_after_shrinking']})")
        lines = [head, f"minimal: {self.example.describe(self.space)}"]
        for op in self.example.main_ops(self.space):
            lines.append(f"  at {op.at_s:6.2f} s  {op.f} {json.dumps(dict(op.value))}")
        for kind, ids in s["offending"].items():
            lines.append(f"{kind}: {', '.join(ids)}")
        lines.append(f"run directory: {self.run_dir}")
        lines += [f"replay on {backend}: {command}" for backend, command in self.replay.items()]
        if self.confirmation is not None:
            lines.append(self.confirmation.describe(self.reason))
        return "\n".join(lines)


def _saved_path(space: SearchSpace) -> Path:
    """Where the last counterexample of a search of `space` is kept (keyed by its options)."""
    identity = {k: v for k, v in space.base.to_json().items()
                if k not in ("seed", "store", "name", "schedule", "backend")}
    identity.update(nemeses=space.names, max_faults=space.max_faults)
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return Path(space.base.store) / DATABASE_DIR / f"{key}.json"


def _saved_example(space: SearchSpace) -> Example | None:
    """The last counterexample kept for `space`, if it still fits it."""
    try:
        document = json.loads(_saved_path(space).read_text(encoding="utf-8"))
        example = Example.from_json(document["example"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    fits = all(f.nemesis in space.names for f in example.faults) \
        and len(example.main_ops(space)) <= space.max_faults
    return example if fits else None


def _run(example: Example, space: SearchSpace, store: Path, name: str, check: bool
         ) -> tuple[RunOptions, Any]:
    """Run `example` on sim into `store` (its schedule file in `store` too)."""
    from ..sim import run_sim_test

    options = example.options(space, store, name)
    schedule = Path(tempfile.mkstemp(prefix="schedule-", suffix=".json", dir=store)[1])
    options = example.write_schedule(space, options, schedule)
    try:
        return options, run_sim_test(options, check=check)
    finally:
        schedule.unlink()


def explore(space: SearchSpace, examples_n: int, hypothesis_seed: int,
            time_budget_s: float | None = None, name: str = "explore",
            on_change: Callable[[ExploreState], None] = lambda state: None,
            state: ExploreState | None = None) -> ExploreResult:
    """Search `space` with at most `examples_n` examples (and, before the first failure,
    `time_budget_s` seconds); shrink the first failure and rerun the minimal example into
    `space.base.store` (see the module docstring)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import example as hypothesis_example
    from hypothesis import seed as hypothesis_seed_of

    from checkers import check_run

    state = state or ExploreState()
    store = Path(space.base.store)
    store.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".explore-scratch-", dir=store))

    def one(example: Example) -> None:
        if time_budget_s is not None and state.first is None \
                and time.monotonic() - state.started > time_budget_s:
            reject()  # the budget is spent: Hypothesis ends the search without running more
        state.examples += 1
        _, outcome = _run(example, space, scratch, "example", check=False)
        try:
            results = dict(check_run(outcome.run_dir))
        finally:
            shutil.rmtree(outcome.run_dir, ignore_errors=True)
        verdict = verdict_of(results)
        if verdict is not False:  # "unknown" is no counterexample either
            state.unknown += verdict != True
            on_change(state)
            return
        reason = reason_of(results)
        state.invalid += 1
        state.reasons.add(reason)
        if state.first is None:
            state.first, state.first_reason = example, reason
            state.first_at_example = state.examples
            state.first_after_s = time.monotonic() - state.started
            state.phase = "shrink"
        best = state.smallest.get(reason)
        if best is None or example.size(space) < best.size(space):
            state.smallest[reason] = example
            state.best = f"{reason}: {example.describe(space)}"
        on_change(state)
        raise _invalid_class(reason)(example, reason)

    test = given(examples(space))(one)
    saved = _saved_example(space)
    if saved is not None:
        test = hypothesis_example(saved)(test)
    test = settings(max_examples=examples_n, deadline=None, database=None,
                    verbosity=Verbosity.quiet, report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
    test = hypothesis_seed_of(hypothesis_seed)(test)
    found: Invalid | None = None
    try:
        test()
    except Invalid as exc:
        found = exc
    except Exception as exc:
        from hypothesis.errors import Unsatisfiable
        if not isinstance(exc, Unsatisfiable):
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - state.started
    result = ExploreResult(space, state, elapsed, hypothesis_seed,
                           cpu_s=time.process_time() - state.cpu_started)
    if found is None:
        return result
    state.phase = "replay"
    on_change(state)
    # Hypothesis's minimum is the smallest choice sequence, which may hold more fault ops than
    # an example tried on the way: the smallest by (fault ops, time, users, messages) wins
    minimal = min(found.example, state.smallest.get(found.reason, found.example),
                  key=lambda example: example.size(space))
    options, outcome = _run(minimal, space, store, name, check=True)
    result.example, result.run_dir, result.results = minimal, outcome.run_dir, outcome.results
    verdict = verdict_of(outcome.results)
    result.reason = reason_of(outcome.results) if verdict is False \
        else f"not reproduced ({verdict})"
    result.exit_code = 1 if verdict is False else 3  # 3: the rerun did not reproduce it
    result.options = replace(options, schedule=str(outcome.run_dir / "schedule.json"))
    result.replay = replay_commands(result.options)
    write_json(outcome.run_dir / "explore.json", result.summary())
    _saved_path(space).parent.mkdir(parents=True, exist_ok=True)
    write_json(_saved_path(space), {"example": minimal.to_json(space),
                                    "run_dir": str(outcome.run_dir)})
    return result


def replay_commands(options: RunOptions) -> dict[str, str]:
    """`imfault run --schedule ...` on sim and local (docker too where local cannot)."""
    backends = ["sim", "local"]
    if "partition-node" in options.nemesis:
        backends.append("docker")  # local cannot cut one node
    return {b: shlex.join(["imfault", "run", *command_args(replace(options, backend=b))])
            for b in backends}
