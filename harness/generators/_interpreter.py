"""The real-time interpreter: asks a generator for ops and runs them concurrently on asyncio.

Client ops run as asyncio tasks (`client_invoke(op) -> completion`, async); nemesis ops run in a
worker thread (`nemesis_invoke(op) -> completion`, sync), so the event loop never blocks. Each
invocation and completion is appended to the history; a completion of type `info` moves the thread
to a fresh process id (Jepsen's rule).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..history import HistoryWriter, ProcessTable
from ..ops import NEMESIS, Op
from ._core import Context, Generator, Pending

ClientInvoke = Callable[[Op], Awaitable[Op]]
NemesisInvoke = Callable[[Op], Any]
MAX_IDLE_WAIT_S = 0.2
"""Longest wait between polls when pending without a wake time (facts may change)."""


def nemesis_completion(result: Any, invocation: Op) -> Op:
    """The completion of nemesis op `invocation` that `nemesis_invoke` answered `result` (an `Op`
    or a mapping of its fields), always of type `info` (a fault's effect is never certain);
    anything else is a `bad completion` error. Both interpreters (real time, sim) use it."""
    if isinstance(result, Op):
        completion = result
    elif isinstance(result, Mapping):
        completion = invocation.complete(str(result.get("type", "info")), result.get("value"),
                                         result.get("error"))
    else:
        completion = invocation.complete("info", invocation.value,
                                         error=f"bad completion {result!r}")
    return completion if completion.type == "info" else completion.with_(type="info")


class Interpreter:
    """Runs generators against real clients and a nemesis; reusable across phases."""

    def __init__(self, history: HistoryWriter, processes: ProcessTable,
                 client_invoke: ClientInvoke, nemesis_invoke: NemesisInvoke | None = None,
                 facts: Callable[[], Mapping[str, Any]] = dict, seed: int = 0,
                 on_op: Callable[[Op], None] | None = None) -> None:
        self.history = history
        self.processes = processes
        self.client_invoke = client_invoke
        self.nemesis_invoke = nemesis_invoke
        self.facts = facts
        self.seed = seed
        self.on_op = on_op
        self.busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nemesis")

    def _notify(self, op: Op) -> None:
        if self.on_op is not None:
            self.on_op(op)

    async def _run(self, thread: str, invocation: Op) -> None:
        try:
            if thread == NEMESIS:
                if self.nemesis_invoke is None:
                    raise RuntimeError("no nemesis configured")
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool, self.nemesis_invoke, invocation)
                completion = nemesis_completion(result, invocation)
            else:
                completion = await self.client_invoke(invocation)
        except asyncio.CancelledError:
            completion = invocation.complete("info", error="cancelled")
            self._finish(thread, completion)
            raise
        except Exception as exc:  # noqa: BLE001 - an exception is indeterminate
            completion = invocation.complete("info", error=f"{type(exc).__name__}: {exc}")
        self._finish(thread, completion)

    def _finish(self, thread: str, completion: Op) -> None:
        recorded = self.history.append(completion)
        if recorded.type == "info" and thread != NEMESIS:
            self.processes.crashed(thread)
        self.busy.discard(thread)
        self._notify(recorded)
        if self._changed is not None:
            self._changed.set()

    async def run(self, gen: Generator) -> None:
        """Run `gen` until it is exhausted and every op it started has completed."""
        self._changed = asyncio.Event()
        while True:
            workers = self.processes.snapshot()
            free = frozenset(t for t in workers if t not in self.busy)
            ctx = Context(self.history.now(), free, workers, self.seed, self.facts())
            result = gen.op(ctx)
            if result is None:
                break
            value, gen = result
            if isinstance(value, Op):
                thread = self.processes.thread(value.process)
                self.busy.add(thread)
                invocation = self.history.append(value)
                self._notify(invocation)
                task = asyncio.create_task(self._run(thread, invocation))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                continue
            assert isinstance(value, Pending)
            timeout = MAX_IDLE_WAIT_S
            if value.wake_at is not None:
                timeout = min(timeout, max(0.0, (value.wake_at - self.history.now()) / 1e9))
            self._changed.clear()
            # not `wait_for`: on Python 3.11 it returns when a cancel lands as the event is set
            # (the cancel is lost and this loop goes on: an interrupted run kept running)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
        await self.drain()

    async def drain(self) -> None:
        """Wait for every op in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Drop queued nemesis ops and wait for the one running (a restart must not race the
        teardown that follows)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def aclose(self) -> None:
        """`close` from the event loop, which it does not block: the nemesis op still running
        may be waiting for that loop (`NemesisContext.run_async`; blocked, each waited for the
        other until the op's 30 s timeout, an interrupted run included)."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)


__all__ = ["Interpreter"]
