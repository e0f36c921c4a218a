"""A virtual-time interpreter of generators: no sockets, no clock, deterministic.

`simulate(gen, threads, latency)` plays the generator against instantaneous "processes" whose ops
take `latency(op)` ns of virtual time and end `ok`; it returns the history (invocations and
completions with their virtual times). Used by the unit tests and later by the `sim` backend.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from ..ops import Op, Process
from ._core import Context, Generator, Pending


def simulate(gen: Generator, threads: list[str], latency: Callable[[Op], int] = lambda op: 0,
             seed: int = 0, max_time: int | None = None, max_ops: int = 1_000_000,
             facts: Mapping[str, object] | None = None) -> list[Op]:
    """Run `gen` to exhaustion (or `max_time`) in virtual time; returns the history."""
    workers: dict[str, Process] = {t: (t if t == "nemesis" else i) for i, t in enumerate(threads)}
    thread_of = {p: t for t, p in workers.items()}
    free = set(threads)
    now = 0
    history: list[Op] = []
    in_flight: list[tuple[int, int, Op]] = []  # (done_at, index, invocation)

    def record(op: Op) -> None:
        history.append(op.with_(index=len(history)))

    while len(history) < max_ops:
        ctx = Context(now, frozenset(free), dict(workers), seed, dict(facts or {}))
        result = gen.op(ctx)
        if result is not None:
            value, gen = result
            if isinstance(value, Op):
                thread = thread_of[value.process]
                if thread not in free:
                    raise AssertionError(f"generator emitted an op for busy thread {thread}")
                record(value.with_(time=now))
                free.discard(thread)
                heapq.heappush(in_flight, (now + max(0, latency(value)), len(history), value))
                continue
            assert isinstance(value, Pending)
            wake = value.wake_at
        else:
            wake = None
        next_done = in_flight[0][0] if in_flight else None
        if result is None and next_done is None:
            break
        candidates = [t for t in (wake, next_done) if t is not None]
        if not candidates:
            raise AssertionError("generator is pending forever with nothing in flight")
        now = max(now, min(candidates))
        if max_time is not None and now > max_time:
            break
        while in_flight and in_flight[0][0] <= now:
            done_at, _, invocation = heapq.heappop(in_flight)
            record(invocation.complete("ok").with_(time=done_at))
            free.add(thread_of[invocation.process])
    return history


__all__ = ["simulate"]
