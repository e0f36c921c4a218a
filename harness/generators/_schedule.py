"""Adapter from a nemesis `Schedule` (time-ordered `ScheduledOp(at_s, f, value)`, offsets from the
phase start) to a pure generator emitting those ops on the nemesis thread at their times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._core import SEC, Context, Generator, Pending, Result, fill_on


@dataclass(frozen=True)
class ScheduleGen(Generator):
    steps: tuple[tuple[int, str, Any], ...]
    position: int = 0
    start: int | None = None

    def op(self, ctx: Context) -> Result:
        if self.position >= len(self.steps):
            return None
        start = ctx.time if self.start is None else self.start
        due, f, value = self.steps[self.position]
        if ctx.time < start + due or not ctx.free:
            wake = start + due if ctx.time < start + due else None
            return Pending(wake, time_only=wake is not None), (
                self if start == self.start else replace(self, start=start))
        op = fill_on({"f": f, "value": value}, ctx, min(ctx.free))
        return op, replace(self, position=self.position + 1, start=start)


def from_schedule(steps: Iterable[Any]) -> Generator:
    """A generator of the (finite) scheduled ops: objects with `at_s`, `f`, `value`, or dicts."""
    frozen = []
    for step in steps:
        if isinstance(step, dict):
            at_s, f, value = step.get("at_s", 0.0), step["f"], step.get("value")
        else:
            at_s, f, value = step.at_s, step.f, step.value
        frozen.append((int(float(at_s) * SEC), str(f),
                       dict(value.items()) if isinstance(value, Mapping) else value))
    return ScheduleGen(tuple(frozen))


__all__ = ["ScheduleGen", "from_schedule"]
