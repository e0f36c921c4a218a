"""Generator protocol: a pure value asked for its next op under a context (Jepsen's model).

`gen.op(ctx)` returns `None` when exhausted, else `(result, next_gen)` where `result` is an
invocation `Op` (process and time filled in) or `Pending(wake_at)` ("nothing now; ask again at
`wake_at` ns or when a process frees up"). A generator never mutates itself, never reads a clock and
never draws from a global rng: time and free processes come in the `Context`, randomness is an
immutable `Rng` state carried inside the generator.

Processes: the context's "threads" are the stable logical processes (users `u001`..., and
`"nemesis"`); `ctx.workers[thread]` is the current process id of that thread (it changes after an
`info`, Jepsen's rule). Generators pick free threads and emit ops for their current process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from imcluster._accel import mypyc_attr

from ..ops import NEMESIS, Op, Process

SEC = 1_000_000_000


@dataclass(frozen=True, slots=True, init=False)
class Pending:
    """No op now; ask again at `wake_at` (ns since start) or when an op completes.

    `time_only` (with a `wake_at`): the generator waits for that time only, so asking it again
    earlier gives the same answer whatever completed or changed meanwhile; an interpreter need
    not ask it before `wake_at` (the sim driver then lets completions pass without a poll)."""

    wake_at: int | None = None
    time_only: bool = False

    def __init__(self, wake_at: int | None = None, time_only: bool = False) -> None:
        object.__setattr__(self, "wake_at", wake_at)
        object.__setattr__(self, "time_only", time_only)


def earliest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


_NO_FACTS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, init=False)
class Context:
    """What a generator may look at: `time` (ns since start), `free` threads, `workers`
    (thread -> current process), the run `seed` and `facts` the interpreter observed (read-only;
    e.g. the workload's sessions)."""

    time: int
    free: frozenset[str]
    workers: Mapping[str, Process]
    seed: int = 0
    facts: Mapping[str, Any] = field(default_factory=lambda: _NO_FACTS)

    def __init__(self, time: int, free: frozenset[str], workers: Mapping[str, Process],
                 seed: int = 0, facts: Mapping[str, Any] = _NO_FACTS) -> None:
        # the hot generator classes write their `__init__` out: compiled (docs/accel.md), these
        # stores are native, while dataclass's own `__init__` stays interpreted code
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "free", free)
        object.__setattr__(self, "workers", workers)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "facts", facts)

    def restrict(self, keep: Callable[[str], bool]) -> Context:
        """The same context seen by a generator routed to the threads `keep` accepts."""
        workers, allowed = _restricted(self.workers, keep)
        return Context(self.time, self.free & allowed, workers, self.seed, self.facts)

    def all_free(self) -> bool:
        return all(t in self.free for t in self.workers)

    def some_free_thread(self) -> str | None:
        """The free thread a leaf generator uses: the smallest name (deterministic)."""
        return min(self.free) if self.free else None


_RESTRICTED: dict[tuple[int, Callable[[str], bool]],
                  tuple[Mapping[str, Process], Mapping[str, Process], frozenset[str]]] = {}


def _restricted(workers: Mapping[str, Process], keep: Callable[[str], bool]
                ) -> tuple[Mapping[str, Process], frozenset[str]]:
    """`workers` filtered by `keep`, and its threads; memoised per workers mapping (interpreters
    hand the same immutable snapshot to every call until a process changes)."""
    key = (id(workers), keep)
    hit = _RESTRICTED.get(key)
    if hit is not None and hit[0] is workers:
        return hit[1], hit[2]
    kept = {t: p for t, p in workers.items() if keep(t)}
    if len(_RESTRICTED) > 256:
        _RESTRICTED.clear()
    view = MappingProxyType(kept)
    _RESTRICTED[key] = (workers, view, frozenset(kept))
    return view, frozenset(kept)


Result = tuple[Op | Pending, "Generator"] | None
Template = Op | Mapping[str, Any]


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (docs/accel.md), yours still subclass it
class Generator:
    """Base class; subclasses are frozen dataclasses."""

    def op(self, ctx: Context) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


def fill(template: Template, ctx: Context, thread: str | None = None) -> Op | None:
    """Turn a template (`{"f", "value"}` or an `Op`) into an invocation on a free thread of `ctx`,
    stamped with `ctx.time`; `None` when no thread is free."""
    thread = thread if thread is not None else ctx.some_free_thread()
    if thread is None:
        return None
    process = ctx.workers[thread]
    if isinstance(template, Op):
        return template.with_(index=-1, time=ctx.time, process=process, type="invoke",
                              error=None)
    return Op(index=-1, time=ctx.time, process=process, type="invoke", f=template["f"],
              value=template.get("value"))


def fill_on(template: Template, ctx: Context, thread: str) -> Op:
    """`fill` on a thread known to be free."""
    op = fill(template, ctx, thread)
    assert op is not None
    return op


def lift(x: Any) -> Generator:
    """Jepsen's coercions: a Generator stays; a dict or Op is emitted once; a callable
    `fn(ctx) -> template | None` is called forever (None ends it); a list/tuple runs in order."""
    from ._combinators import concat, once, repeat_fn
    if isinstance(x, Generator):
        return x
    if x is None:
        return EMPTY
    if isinstance(x, (Op, dict)):
        return once(x)
    if isinstance(x, (list, tuple)):
        return concat(*x)
    if callable(x):
        return repeat_fn(x)
    raise TypeError(f"cannot make a generator of {x!r}")


@dataclass(frozen=True)
class Empty(Generator):
    """An exhausted generator."""

    def op(self, ctx: Context) -> Result:
        return None


EMPTY = Empty()


def is_client(thread: str) -> bool:
    return thread != NEMESIS


def is_nemesis(thread: str) -> bool:
    return thread == NEMESIS


__all__ = [
    "EMPTY",
    "SEC",
    "Context",
    "Empty",
    "Generator",
    "Pending",
    "Result",
    "Template",
    "earliest",
    "fill",
    "is_client",
    "is_nemesis",
    "lift",
]
