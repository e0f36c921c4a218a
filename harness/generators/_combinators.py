"""The combinators: once, repeat, sleep, concat, phases, cycle, time_limit, stagger, mix, any_of,
routing (on_clients / on_nemesis / clients), each_process, limit, map_ops.

Every combinator is a frozen dataclass; `op(ctx)` returns the result and the successor value.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..ops import Op
from ._core import (
    EMPTY,
    SEC,
    Context,
    Generator,
    Pending,
    Result,
    Template,
    earliest,
    fill,
    is_client,
    is_nemesis,
    lift,
)
from ._rng import Rng


@dataclass(frozen=True)
class Once(Generator):
    template: Any

    def op(self, ctx: Context) -> Result:
        invocation = fill(self.template, ctx)
        if invocation is None:
            return Pending(), self
        return invocation, EMPTY


def once(template: Template) -> Generator:
    """Emit `template` once, on any free thread."""
    return Once(template)


@dataclass(frozen=True)
class RepeatFn(Generator):
    """Calls `fn(ctx)` for each op; `None` ends it. `fn` must be pure."""

    fn: Callable[[Context], Template | None]

    def op(self, ctx: Context) -> Result:
        if not ctx.free:
            return Pending(), self
        template = self.fn(ctx)
        if template is None:
            return None
        invocation = fill(template, ctx)
        assert invocation is not None
        return invocation, self


def repeat_fn(fn: Callable[[Context], Template | None]) -> Generator:
    return RepeatFn(fn)


def repeat(template: Template, times: int | None = None) -> Generator:
    """Emit `template` forever, or `times` times."""
    gen = RepeatFn(lambda ctx: template)
    return gen if times is None else limit(times, gen)


@dataclass(frozen=True)
class Sleep(Generator):
    """Emit nothing for `dt` ns after it is first asked, then end."""

    dt: int
    until: int | None = None

    def op(self, ctx: Context) -> Result:
        until = ctx.time + self.dt if self.until is None else self.until
        if ctx.time >= until:
            return None
        return Pending(until, time_only=True), (self if until == self.until
                                                else replace(self, until=until))


def sleep(seconds: float) -> Generator:
    return Sleep(int(seconds * SEC))


@dataclass(frozen=True)
class Concat(Generator):
    gens: tuple[Generator, ...]

    def op(self, ctx: Context) -> Result:
        gens = self.gens
        while gens:
            result = gens[0].op(ctx)
            if result is not None:
                value, successor = result
                return value, Concat((successor,) + gens[1:])
            gens = gens[1:]
        return None


def concat(*gens: Any) -> Generator:
    """Run each generator to exhaustion, one after another (no barrier)."""
    return Concat(tuple(lift(g) for g in gens))


@dataclass(frozen=True)
class Synchronize(Generator):
    """Wait until every thread it routes to is free, then behave as `gen`."""

    gen: Generator
    started: bool = False

    def op(self, ctx: Context) -> Result:
        if not self.started:
            if not ctx.all_free():
                return Pending(), self
            return replace(self, started=True).op(ctx)
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        return value, replace(self, gen=successor)


def synchronize(gen: Any) -> Generator:
    return Synchronize(lift(gen))


def phases(*gens: Any) -> Generator:
    """Run generators in order; each starts only when every op of the previous has completed."""
    return concat(*(synchronize(g) for g in gens))


@dataclass(frozen=True)
class Cycle(Generator):
    original: Generator
    current: Generator
    times: int | None

    def op(self, ctx: Context) -> Result:
        current, times = self.current, self.times
        for _ in range(2):
            result = current.op(ctx)
            if result is not None:
                value, successor = result
                return value, Cycle(self.original, successor, times)
            if times is not None:
                times -= 1
                if times <= 0:
                    return None
            current = self.original
        return None  # the original is empty: stop instead of spinning


def cycle(gen: Any, times: int | None = None) -> Generator:
    """Restart `gen` from the beginning whenever it is exhausted (forever or `times` rounds)."""
    g = lift(gen)
    return Cycle(g, g, times)


@dataclass(frozen=True, init=False)
class TimeLimit(Generator):
    dt: int
    gen: Generator
    deadline: int | None = None

    def __init__(self, dt: int, gen: Generator, deadline: int | None = None) -> None:
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "gen", gen)
        object.__setattr__(self, "deadline", deadline)

    def op(self, ctx: Context) -> Result:
        deadline = ctx.time + self.dt if self.deadline is None else self.deadline
        if ctx.time >= deadline:
            return None
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        if isinstance(value, Pending):
            value = Pending(earliest(value.wake_at, deadline), value.time_only)
            if successor is self.gen and deadline == self.deadline:
                return value, self  # nothing changed (polls are frequent: no new object)
        return value, TimeLimit(self.dt, successor, deadline)


def time_limit(seconds: float, gen: Any) -> Generator:
    """Ops from `gen` until `seconds` after it is first asked."""
    return TimeLimit(int(seconds * SEC), lift(gen))


@dataclass(frozen=True, init=False)
class Stagger(Generator):
    """Space ops by uniformly random gaps in [0, 2*dt) (mean `dt`), catching up if behind."""

    dt: int
    gen: Generator
    rng: Rng
    next_time: int | None = None

    def __init__(self, dt: int, gen: Generator, rng: Rng, next_time: int | None = None) -> None:
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "gen", gen)
        object.__setattr__(self, "rng", rng)
        object.__setattr__(self, "next_time", next_time)

    def op(self, ctx: Context) -> Result:
        next_time = ctx.time if self.next_time is None else self.next_time
        if ctx.time < next_time:
            return Pending(next_time, time_only=True), (self if next_time == self.next_time
                                        else Stagger(self.dt, self.gen, self.rng, next_time))
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        if isinstance(value, Pending):
            return value, Stagger(self.dt, successor, self.rng, next_time)
        gap, rng = self.rng.uniform(0, 2 * self.dt)
        return value, Stagger(self.dt, successor, rng, next_time + int(gap))


def stagger(seconds: float, gen: Any, seed: int = 0) -> Generator:
    return Stagger(int(seconds * SEC), lift(gen), Rng.from_seed(seed, "stagger"))


def _soonest(gens: tuple[Generator, ...], ctx: Context,
             order: tuple[int, ...]) -> tuple[Any, tuple[Generator, ...]]:
    """Ask gens in `order`; return (first op or merged Pending or None, updated gens). The
    updated gens are `gens` itself when none changed (polls are frequent: no new tuple)."""
    updated: list[Generator] | None = None
    wake: int | None = None
    time_only = True  # every pending one waits for a time only
    any_alive = False
    exhausted: set[int] | None = None
    for i in order:
        gen = gens[i]
        result = gen.op(ctx)
        if result is None:
            if exhausted is None:
                exhausted = set()
            exhausted.add(i)
            continue
        any_alive = True
        value, successor = result
        if successor is not gen:
            if updated is None:
                updated = list(gens)
            updated[i] = successor
        if isinstance(value, Op):
            return value, _alive(gens, updated, exhausted)
        wake = earliest(wake, value.wake_at)
        time_only = time_only and value.time_only
    return (Pending(wake, time_only) if any_alive else None), _alive(gens, updated, exhausted)


def _alive(gens: tuple[Generator, ...], updated: list[Generator] | None,
           exhausted: set[int] | None) -> tuple[Generator, ...]:
    if exhausted is None:
        return gens if updated is None else tuple(updated)
    return tuple(g for j, g in enumerate(updated or gens) if j not in exhausted)


@dataclass(frozen=True)
class Mix(Generator):
    """Each op from a randomly chosen generator (pending ones are skipped for the others)."""

    gens: tuple[Generator, ...]
    rng: Rng

    def op(self, ctx: Context) -> Result:
        if not self.gens:
            return None
        start, rng = self.rng.randrange(len(self.gens))
        n = len(self.gens)
        order = tuple((start + k) % n for k in range(n))
        value, gens = _soonest(self.gens, ctx, order)
        if value is None:
            return None
        return value, Mix(gens, rng)


def mix(gens: list[Any], seed: int = 0) -> Generator:
    return Mix(tuple(lift(g) for g in gens), Rng.from_seed(seed, "mix"))


@dataclass(frozen=True, init=False)
class AnyOf(Generator):
    """Ops from whichever generator has one (in order of preference); ends when all end."""

    gens: tuple[Generator, ...]

    def __init__(self, gens: tuple[Generator, ...]) -> None:
        object.__setattr__(self, "gens", gens)

    def op(self, ctx: Context) -> Result:
        value, gens = _soonest(self.gens, ctx, tuple(range(len(self.gens))))
        if value is None:
            return None
        if gens is self.gens or (len(gens) == len(self.gens)
                                 and all(map(operator.is_, gens, self.gens))):
            return value, self  # nothing changed (polls are frequent: no new object)
        return value, AnyOf(gens)


def any_of(*gens: Any) -> Generator:
    return AnyOf(tuple(lift(g) for g in gens))


@dataclass(frozen=True, init=False)
class On(Generator):
    """Route `gen` to the threads `keep` accepts."""

    keep: Callable[[str], bool]
    gen: Generator

    def __init__(self, keep: Callable[[str], bool], gen: Generator) -> None:
        object.__setattr__(self, "keep", keep)
        object.__setattr__(self, "gen", gen)

    def op(self, ctx: Context) -> Result:
        result = self.gen.op(ctx.restrict(self.keep))
        if result is None:
            return None
        value, successor = result
        return value, (self if successor is self.gen else On(self.keep, successor))


def on_clients(gen: Any) -> Generator:
    return On(is_client, lift(gen))


def on_nemesis(gen: Any) -> Generator:
    return On(is_nemesis, lift(gen))


def on_thread(thread: str, gen: Any) -> Generator:
    """`gen` on thread `thread` alone (a user's own thread: its ops in its own process)."""
    return On(thread.__eq__, lift(gen))


def clients(client_gen: Any, nemesis_gen: Any = None) -> Generator:
    """Client ops to client threads and nemesis ops to the nemesis, side by side."""
    if nemesis_gen is None:
        return on_clients(client_gen)
    return any_of(on_clients(client_gen), on_nemesis(nemesis_gen))


@dataclass(frozen=True)
class EachProcess(Generator):
    """An independent copy of `gen` for every thread (logical process); ends when all copies
    of the threads it sees are exhausted."""

    gen: Generator
    states: tuple[tuple[str, Generator | None], ...] = ()

    def op(self, ctx: Context) -> Result:
        states = dict(self.states)
        wake: int | None = None
        alive = False
        for thread in sorted(ctx.workers):
            gen = states.get(thread, self.gen)
            if gen is None:
                continue
            if thread not in ctx.free:
                alive = True
                continue
            result = gen.op(ctx.restrict(functools.partial(operator.eq, thread)))
            if result is None:
                states[thread] = None
                continue
            alive = True
            value, successor = result
            states[thread] = successor
            if isinstance(value, Op):
                return value, EachProcess(self.gen, tuple(sorted(states.items())))
            wake = earliest(wake, value.wake_at)
        if not alive:
            return None
        return Pending(wake), EachProcess(self.gen, tuple(sorted(states.items())))


def each_process(gen: Any) -> Generator:
    return EachProcess(lift(gen))


@dataclass(frozen=True)
class Limit(Generator):
    remaining: int
    gen: Generator

    def op(self, ctx: Context) -> Result:
        if self.remaining <= 0:
            return None
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        left = self.remaining - 1 if isinstance(value, Op) else self.remaining
        return value, Limit(left, successor)


def limit(n: int, gen: Any) -> Generator:
    """At most `n` ops of `gen`."""
    return Limit(n, lift(gen))


@dataclass(frozen=True)
class MapOps(Generator):
    fn: Callable[[Op], Op]
    gen: Generator

    def op(self, ctx: Context) -> Result:
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        if isinstance(value, Op):
            value = self.fn(value)
        return value, MapOps(self.fn, successor)


def map_ops(fn: Callable[[Op], Op], gen: Any) -> Generator:
    return MapOps(fn, lift(gen))


__all__ = ["any_of", "clients", "concat", "cycle", "each_process", "limit", "map_ops", "mix",
           "on_clients", "on_nemesis", "once", "phases", "repeat", "repeat_fn", "sleep",
           "stagger", "synchronize", "time_limit"]
