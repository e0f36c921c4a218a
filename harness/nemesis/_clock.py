"""Clock nemeses: `clock-skew` and `clock-ahead` [`bump-clock`/`reset-clock`] through the nodes'
admin clock offset.

Time enters the cluster's core as an input; each node adds the offset the admin `set_clock`
request sets. `bump-clock` sets a random offset on a random hub (seeded; recorded in the value):
±5..60 s for `clock-skew`, +5..60 s for `clock-ahead` (a clock running ahead: what makes a hub's
timestamps win last-writer-wins over later writes elsewhere); `reset-clock` puts every node it
bumped back to offset 0.
"""

from __future__ import annotations

import random
from typing import Any

from ..errors import UsageError
from ._base import Nemesis, NemesisContext

__all__ = ["ClockAheadNemesis", "ClockSkewNemesis", "skew_offset_ms"]

MIN_SKEW_MS = 5_000
MAX_SKEW_MS = 60_000


def skew_offset_ms(rng: random.Random, ahead_only: bool = False) -> int:
    """A clock offset of 5 to 60 s, ahead or behind (`ahead_only`: ahead)."""
    sign = 1 if ahead_only else rng.choice((-1, 1))
    return sign * rng.randint(MIN_SKEW_MS, MAX_SKEW_MS)


class ClockSkewNemesis(Nemesis):
    """Skews one hub's clock by ±5..60 s, then resets every skewed clock."""

    name = "clock-skew"
    help = "bump a random hub's clock by +-5..60 s (admin clock offset), then reset it"
    fs = frozenset({"bump-clock", "reset-clock"})
    start_f = "bump-clock"
    stop_f = "reset-clock"
    fault_kind = "clock"
    ahead_only = False

    def __init__(self) -> None:
        self.skewed: dict[str, int] = {}

    def check_cluster(self, ctx: NemesisContext) -> None:
        if ctx.backend is None or not callable(getattr(ctx.backend, "set_clock", None)):
            raise UsageError(f"nemesis {self.name!r} needs a backend with set_clock")

    def setup(self, ctx: NemesisContext) -> None:
        self.check_cluster(ctx)

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        dc = rng.choice(list(ctx.dc_names))
        return {"node": ctx.backend.hub(dc).name, "offset_ms": skew_offset_ms(rng, self.ahead_only)}

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        if f == self.start_f:
            if "node" not in value:
                value.update(self.start_value(ctx, ctx.rng))
            node, offset = str(value["node"]), int(value["offset_ms"])
            self.skewed[node] = offset  # before the call: a timed-out bump may still land
            ctx.run_async(ctx.backend.set_clock(node, offset))
            return value
        reset: list[str] = []
        errors: list[str] = []
        for node in sorted(self.skewed):
            try:
                ctx.run_async(ctx.backend.set_clock(node, 0))
            except Exception as exc:  # noqa: BLE001 - reset the others, keep this one
                errors.append(f"{node}: {type(exc).__name__}: {exc}")
                continue
            del self.skewed[node]
            reset.append(node)
        value["nodes"] = reset
        if errors:
            raise RuntimeError("; ".join(errors))
        return value


class ClockAheadNemesis(ClockSkewNemesis):
    """Skews one hub's clock ahead by 5..60 s, then resets every skewed clock."""

    name = "clock-ahead"
    help = "bump a random hub's clock ahead by 5..60 s (admin clock offset), then reset it"
    ahead_only = True
