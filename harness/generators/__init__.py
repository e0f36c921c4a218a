"""Pure, composable generators of operations (Jepsen's model) and their interpreters.

See `_core` for the protocol; `harness.generator` re-exports this surface.
"""

from imcluster import _accel

_accel.activate(__path__, "harness/generators")  # compiled combinators when built (docs/accel.md)

from ._combinators import (
    any_of,
    clients,
    concat,
    cycle,
    each_process,
    limit,
    map_ops,
    mix,
    on_clients,
    on_nemesis,
    on_thread,
    once,
    phases,
    repeat,
    repeat_fn,
    sleep,
    stagger,
    synchronize,
    time_limit,
)
from ._core import (
    EMPTY,
    SEC,
    Context,
    Generator,
    Pending,
    Result,
    earliest,
    fill,
    fill_on,
    is_client,
    is_nemesis,
    lift,
)
from ._interpreter import Interpreter, nemesis_completion
from ._rng import Rng, derive_seed
from ._schedule import ScheduleGen, from_schedule
from ._sim import simulate

__all__ = [
    "EMPTY", "SEC", "Context", "Generator", "Interpreter", "Pending", "Result", "Rng",
    "ScheduleGen", "any_of", "clients", "concat", "cycle", "derive_seed", "each_process",
    "earliest", "fill", "fill_on", "from_schedule", "is_client", "is_nemesis", "lift", "limit",
    "map_ops", "mix", "nemesis_completion", "on_clients", "on_nemesis", "on_thread", "once",
    "phases", "repeat", "repeat_fn", "simulate", "sleep", "stagger", "synchronize",
    "time_limit",
]
