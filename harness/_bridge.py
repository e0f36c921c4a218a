"""The one bridge from synchronous harness code to async code and back to a running loop.

Sync code (a backend's `start`, a nemesis in its worker thread, a pytest test) sometimes has a
coroutine to finish or a blocking call to make while its own thread may already run an event
loop, where `asyncio.run` is refused. `run_sync` finishes an awaitable: on the given loop when
it runs in another thread (the runner's loop, from the nemesis worker), with `asyncio.run` when
this thread runs no loop (`run_interruptible`: a signal cancels it, not breaks it), else in a
helper thread with its own loop. `call_outside_loop` calls a function here, or in a helper
thread when this thread runs a loop. Errors are re-raised in the caller's thread; `timeout_s`
bounds the wait (`TimeoutError`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._signals import run_interruptible

__all__ = ["call_outside_loop", "loop_runs_here", "run_sync"]

T = TypeVar("T")


def loop_runs_here() -> bool:
    """True when the calling thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def call_outside_loop(function: Callable[[], T], timeout_s: float | None = None,
                      name: str = "imfault-bridge") -> T:
    """`function()`; in a helper thread (named `name`) when this thread runs an event loop."""
    if not loop_runs_here():  # called outside an except block: its traceback stays its own
        return function()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=timeout_s is not None)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"async backend call did not finish within {timeout_s} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def run_sync(awaitable: Awaitable[T], loop: asyncio.AbstractEventLoop | None = None,
             timeout_s: float | None = None) -> T:
    """Run `awaitable` to completion from sync code and return its result (see the module
    docstring for where it runs)."""
    if loop is not None and loop.is_running() and not _is_current(loop):
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop)
        return future.result(timeout=timeout_s)
    return call_outside_loop(lambda: run_interruptible(_as_coroutine(awaitable)), timeout_s,
                             "imfault-sync-coroutine")


def _is_current(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
