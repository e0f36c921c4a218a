"""Pure, composable generators of operations (Jepsen's model) and a virtual-time interpreter.

See `_core` for the protocol; `harness.generator` re-exports this surface.
"""

from ._combinators import (any_of, clients, concat, cycle, each_process, limit, map_ops, mix,
                           on_clients, on_nemesis, once, phases, repeat, repeat_fn, sleep, stagger,
                           synchronize, time_limit)
from ._core import (EMPTY, SEC, Context, Generator, Pending, Result, earliest, fill, is_client,
                    is_nemesis, lift)
from ._interpreter import Interpreter
from ._rng import Rng, derive_seed
from ._schedule import ScheduleGen, from_schedule
from ._sim import simulate

__all__ = ["EMPTY", "SEC", "Context", "Generator", "Interpreter", "Pending", "Result", "Rng",
           "ScheduleGen", "derive_seed", "from_schedule", "any_of", "clients",
           "concat", "cycle", "each_process", "earliest", "fill", "is_client", "is_nemesis",
           "lift", "limit", "map_ops", "mix", "on_clients", "on_nemesis", "once", "phases",
           "repeat", "repeat_fn", "simulate", "sleep", "stagger", "synchronize", "time_limit"]
