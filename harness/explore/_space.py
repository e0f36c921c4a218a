"""The search space of `imfault explore`: an `Example` is a workload shape plus fault ops.

`examples(space)` is the Hypothesis strategy. Its draws come in the order the shrinker should
favour (Hypothesis prefers fewer draws, then smaller early ones): the main phase's length, the
users, the rate, roaming and locality, the workload seed, then the faults one by one (each one
more draw, so fewer faults always shrink first). A fault is a nemesis of the space, its start at a
multiple of `QUANTUM_S` in the main phase (from the first on: `FIRST_FAULT_QUANTUM`), an optional
stop (without one the heal phase ends it) and its start value, drawn by the nemesis's own
`start_value` from a Hypothesis-controlled rng (so a partition's grudge, a kill's node or a clock
offset shrink too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._options import RunOptions
from ..nemesis import Nemesis, NemesisContext, ScheduledOp, get_nemesis
from ..schedule_file import schedule_document
from ..store import write_json

__all__ = ["QUANTUM_S", "Example", "Fault", "SearchSpace", "examples"]

QUANTUM_S = 0.5
"""Fault times are multiples of this (s): coarse enough to shrink, and wide enough that a real
backend's nemesis op (a Toxiproxy call, a process kill) is done before the next is due."""
MIN_QUANTA = 4
"""The shortest main phase: 2 s (room for a start, a kill and a restart on a real backend)."""
FIRST_FAULT_QUANTUM = 1
"""Faults start at 0.5 s at the earliest, not at 0 s with the workload's first op: a real
backend's fault op takes 10-25 ms to be in force, so a schedule shrunk to a partition and a login
both at 0 s (on sim the partition came first) replayed on `local` as the login slipping through
before the cut, valid (`--bug no-anti-entropy`, 2 users: not reproduced in 3 tries of 3)."""


@dataclass(frozen=True)
class Fault:
    """One fault: `nemesis` starts at `at_s` with `value`, stops `duration_s` later (None: at
    the heal phase)."""

    nemesis: str
    at_s: float
    duration_s: float | None
    value: dict[str, Any]


@dataclass(frozen=True)
class Example:
    """One point of the search: the workload shape and the faults."""

    time_limit: float
    users: int
    rate: float
    roam: float
    locality: float
    seed: int
    faults: tuple[Fault, ...] = ()

    def nemeses(self, order: list[str]) -> list[str]:
        """The nemeses the faults use, in the space's order."""
        used = {fault.nemesis for fault in self.faults}
        return [name for name in order if name in used]

    def main_ops(self, space: SearchSpace) -> list[ScheduledOp]:
        """The main phase's fault ops in time order (stops past the time limit left out)."""
        ops: list[ScheduledOp] = []
        for fault in self.faults:
            nemesis = space.nemesis(fault.nemesis)
            ops.append(ScheduledOp(fault.at_s, nemesis.start_f,
                                   {"nemesis": fault.nemesis, **fault.value}))
            if fault.duration_s is not None and fault.at_s + fault.duration_s < self.time_limit:
                ops.append(ScheduledOp(fault.at_s + fault.duration_s, nemesis.stop_f,
                                       {"nemesis": fault.nemesis}))
        return sorted(ops, key=lambda op: op.at_s)

    def messages(self) -> float:
        """About how many client ops the main phase makes (rate x time)."""
        return self.rate * self.time_limit

    def size(self, space: SearchSpace) -> tuple[int, float, int, float]:
        """What shrinking minimises, in order: fault ops, time, users, messages."""
        return (len(self.main_ops(space)), self.time_limit, self.users, self.messages())

    def describe(self, space: SearchSpace) -> str:
        ops = self.main_ops(space)
        return (f"{len(ops)} fault op(s) in {self.time_limit:g} s, {self.users} users at "
                f"{self.rate:g} ops/s, roam {self.roam:g}, locality {self.locality:g}, "
                f"workload seed {self.seed}")

    def options(self, space: SearchSpace, store: Path, name: str) -> RunOptions:
        """The run options of this example (its schedule file not yet written)."""
        return replace(space.base, time_limit=self.time_limit, users=self.users,
                       rate=self.rate, roam=self.roam, locality=self.locality, seed=self.seed,
                       nemesis=self.nemeses(space.names), store=str(store), name=name,
                       schedule="")

    def write_schedule(self, space: SearchSpace, options: RunOptions, path: Path) -> RunOptions:
        """Write the example's `schedule.json` to `path`; the options that replay it."""
        final = list(get_nemesis(options.nemesis).final_schedule(space.ctx))
        write_json(path, schedule_document(options, self.main_ops(space), final))
        return replace(options, schedule=str(path))

    def to_json(self, space: SearchSpace) -> dict[str, Any]:
        return json.loads(json.dumps({
            "time_limit": self.time_limit, "users": self.users, "rate": self.rate,
            "roam": self.roam, "locality": self.locality, "seed": self.seed,
            "fault_ops": len(self.main_ops(space)),
            "faults": [{"nemesis": f.nemesis, "at_s": f.at_s, "duration_s": f.duration_s,
                        "value": f.value} for f in self.faults]}, default=str))


    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Example:
        """The inverse of `to_json` (`KeyError`/`TypeError`/`ValueError` when malformed)."""
        faults = tuple(Fault(str(f["nemesis"]), float(f["at_s"]),
                             None if f["duration_s"] is None else float(f["duration_s"]),
                             dict(f["value"])) for f in raw["faults"])
        return cls(float(raw["time_limit"]), int(raw["users"]), float(raw["rate"]),
                   float(raw["roam"]), float(raw["locality"]), int(raw["seed"]), faults)


@dataclass
class SearchSpace:
    """What `imfault explore` searches: nemeses `names` (their values drawn on `ctx`'s cluster),
    at most `max_faults` fault ops, main phases of 2 s .. `base.time_limit`, 2 .. `base.users`
    users, 1 .. `base.rate` ops/s. `base` holds the other run options (bug, delivery, ...)."""

    base: RunOptions
    names: list[str]
    ctx: NemesisContext
    max_faults: int = 3
    _nemeses: dict[str, Nemesis] = field(default_factory=dict)

    def nemesis(self, name: str) -> Nemesis:
        if name not in self._nemeses:
            self._nemeses[name] = get_nemesis([name])
        return self._nemeses[name]

    @property
    def max_quanta(self) -> int:
        return max(MIN_QUANTA, int(self.base.time_limit / QUANTUM_S))


def examples(space: SearchSpace) -> Any:
    """The Hypothesis strategy of `Example`s in `space` (see the module docstring)."""
    from hypothesis import strategies as st

    @st.composite
    def draw_example(draw: Any) -> Example:
        quanta = draw(st.integers(MIN_QUANTA, space.max_quanta))
        users = draw(st.integers(2, max(2, space.base.users)))
        rate = draw(st.integers(1, max(1, int(space.base.rate))))
        roam = draw(st.integers(0, 10)) / 10
        locality = draw(st.integers(0, 10)) / 10
        seed = draw(st.integers(0, 2**16 - 1))
        faults: list[Fault] = []
        budget = space.max_faults if space.names else 0
        while budget > 0 and draw(st.integers(0, 3)) > 0:  # 0 (what shrinking favours): stop
            name = draw(st.sampled_from(space.names))
            at_q = draw(st.integers(FIRST_FAULT_QUANTUM, quanta - 1))
            stop_q = None
            if budget >= 2 and draw(st.booleans()):
                stop_q = draw(st.integers(1, quanta))
            rng = draw(st.randoms(use_true_random=False))
            value = space.nemesis(name).start_value(space.ctx, rng)
            faults.append(Fault(name, at_q * QUANTUM_S,
                                None if stop_q is None else stop_q * QUANTUM_S, value))
            budget -= 1 if stop_q is None else 2
        return Example(quanta * QUANTUM_S, users, float(rate), roam, locality, seed,
                       tuple(faults))

    return draw_example()
