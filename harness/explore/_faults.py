"""Which faults expose which seeded bug, and which catalogue nemeses a sim run can set up.

`BUG_FAULTS` is the one table of "a bug and the faults (and workload shape) that expose it": the
search space of `imfault explore --bug NAME` when no `--nemesis` is given, and the cell of each bug
in `imfault campaign --bug NAME` without `--nemesis`. `fault_context` builds the nemesis context
of a sim cluster of a run's shape, used to check a nemesis's setup and to draw its ops' values.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._options import RunOptions, cluster_spec
from ..errors import UsageError
from ..nemesis import NemesisContext, get_nemesis
from ..nemesis._registry import nemesis_factories

__all__ = ["BUG_FAULTS", "BugFaults", "catalogue_nemeses", "fault_context", "setup_problem"]


@dataclass(frozen=True)
class BugFaults:
    """The nemeses that expose a bug and the run options its workload needs."""

    nemesis: tuple[str, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)


BUG_FAULTS: dict[str, BugFaults] = {
    # a hub cut off by a partition acknowledges messages only it holds; killing it loses them
    # (a fault every second: more kills of a cut-off hub per run)
    "ack-before-persist": BugFaults(("partition-one", "kill"), {"nemesis_interval": 1.0}),
    "volatile-store": BugFaults(("partition-one", "kill"), {"nemesis_interval": 1.0}),
    # what a cut-off DC missed never comes back without anti-entropy
    "no-anti-entropy": BugFaults(("partition-one",)),
    # a forward to a cut-off DC fails and the message is dropped instead of pooled
    "gateway-drop": BugFaults(("partition-one",)),
    # no fault: users roaming between DCs get a message again (duplicates count: exactly-once)
    "no-tombstones": BugFaults((), {"roam": 0.6, "exactly_once": True}),
    # a hub clock running ahead stamps a coordinate that outlives the user's later logins and
    # logouts (elsewhere, or there after the reset); a clock behind only loses its own writes,
    # which the user's next one repairs. So: clocks skewed ahead, often (short skews: a user's
    # coordinate written during one changes after it), many logins per user (5 users), 20 s
    "wallclock-lww": BugFaults(("clock-ahead",), {"users": 5, "roam": 0.9,
                                                  "nemesis_interval": 1.0, "time_limit": 20.0}),
}


def catalogue_nemeses() -> list[str]:
    """Every registered nemesis but `noop`, in catalogue order."""
    return [name for name in nemesis_factories() if name != "noop"]


@contextmanager
def fault_context(options: RunOptions) -> Iterator[NemesisContext]:
    """The nemesis context of a started sim cluster of `options`' shape (stopped afterwards)."""
    from ..sim import SimBackend

    with tempfile.TemporaryDirectory(prefix="imfault-faults-") as work:
        spec = cluster_spec(options, Path(work))
        backend = SimBackend()
        backend.start(spec)
        try:
            yield NemesisContext(backend=backend, dc_names=options.dc_names,
                                 rng=random.Random(options.seed), options=options.to_json(),
                                 spec=spec)
        finally:
            backend.stop()


def setup_problem(names: list[str], ctx: NemesisContext) -> str | None:
    """Why the nemesis `names` cannot be set up on `ctx`'s cluster (its usage error), or None."""
    try:
        nemesis = get_nemesis(names)
        nemesis.setup(ctx)
        nemesis.teardown(ctx)
    except UsageError as exc:
        return str(exc)
    return None
