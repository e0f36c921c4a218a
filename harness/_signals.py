"""Signals around a cluster's life: SIGINT/SIGTERM/SIGHUP as Ctrl-C, an event loop they cancel
rather than break, and a teardown they cannot abort.

`terminate_as_interrupt()` makes SIGINT, SIGTERM and SIGHUP raise `KeyboardInterrupt` (like
Ctrl-C) while a command runs, so every way of stopping it goes through the same `finally`. The
first one stops the command: from then on, these signals are reported and ignored (the command is
on its way out with exit 130), so a second Ctrl-C cannot land between an interrupted block and the
shield of its teardown.

`run_interruptible(main)` is the `asyncio.run` of the main thread: while its loop runs, a signal
cancels `main` (asyncio.Runner's Ctrl-C path, for all three signals) instead of raising
`KeyboardInterrupt` wherever the loop happens to be: an exception raised inside a task is stored
in it and raised again in every task awaiting it, each time escaping the loop, so cancellation
and shutdown were cut short (tasks destroyed while pending, coroutines finalised on a closed loop,
each with its traceback). Once `main` has unwound and the loop is closed, it raises
`KeyboardInterrupt`.

`teardown_shield()` is entered around every teardown (the runner's, `imfault cluster up`'s, each
backend's `stop`): while it holds, SIGINT, SIGTERM and SIGHUP are recorded, not raised, so a
second Ctrl-C or a SIGTERM from a supervisor cannot leave half the cluster running. Shields nest
(only the outermost installs and restores the handlers) and are a no-op outside the main thread
(Python delivers signals there only). After the teardown the caller reads `shield.received` and
decides (the runner exits 130 when a signal arrived during a teardown that ended a normal run).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

__all__ = ["Shield", "run_interruptible", "teardown_shield", "terminate_as_interrupt"]

T = TypeVar("T")
_SHIELDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stopping = False
"""Set by the first interrupt (`_raise_interrupt`'s, `run_interruptible`'s), reset when
`terminate_as_interrupt` is entered or left: until then signals are reported, not raised."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _stopping:  # the command is already on its way out
        _record(signum, frame)
        return
    _stopping = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise `KeyboardInterrupt`, the first one only
    (main thread only; see the module doc).

    Left by a `KeyboardInterrupt` (the command was interrupted and has torn down), they are
    ignored from then on: the command is on its way out with exit 130, and one more Ctrl-C must
    not turn that into a traceback. Otherwise the handlers are restored.
    """
    global _stopping
    if not _main_thread():
        yield
        return
    _stopping = False
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in _SHIELDED}
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True
        for sig in _SHIELDED:
            signal.signal(sig, signal.SIG_IGN)
        raise
    finally:
        if not interrupted:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        _stopping = False


def run_interruptible(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`; in the main thread, each of SIGINT, SIGTERM and SIGHUP that would
    raise `KeyboardInterrupt` (Python's Ctrl-C handler, `terminate_as_interrupt`'s) cancels
    `main` instead (the first one; later ones are reported and ignored) and, once the loop is
    closed, `KeyboardInterrupt(<first signal's name>)` is raised whatever `main` ended with. A
    signal ignored or left to its default action (a pytest-xdist worker's SIGINT) is left so."""
    if not _main_thread():
        return asyncio.run(main)
    global _stopping
    received: list[str] = []
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]] = []

    def cancel_main(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) > 1:
            _record(signum, frame)
        elif running and not running[0][1].done():  # else: cancelled once it exists, or done
            loop, task = running[0]
            loop.call_soon_threadsafe(task.cancel)  # also wakes the loop up from its selector

    raising = (signal.default_int_handler, _raise_interrupt)
    previous = {sig: handler for sig in _SHIELDED
                if (handler := signal.getsignal(sig)) in raising}
    for sig in previous:
        signal.signal(sig, cancel_main)
    try:
        with asyncio.Runner() as runner:  # leaving it cancels what is left, closes the loop
            loop = runner.get_loop()
            task = loop.create_task(main)
            running.append((loop, task))
            if received:
                task.cancel()
            failure: BaseException | None = None
            try:
                result = loop.run_until_complete(task)
            except BaseException as exc:
                if not received:
                    raise
                failure = exc
    finally:
        if received:
            _stopping = True  # as if `_raise_interrupt` had raised: later signals are ignored
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if received:
        raise KeyboardInterrupt(received[0]) from failure
    return result


@dataclass
class Shield:
    """Signals received while the outermost `teardown_shield` held (names, in order)."""

    received: list[str] = field(default_factory=list)


_active: Shield | None = None


def _record(signum: int, frame: FrameType | None) -> None:
    if _active is not None:
        _active.received.append(signal.Signals(signum).name)
    # os.write, not print: a handler may run in the middle of a print to the same stream
    os.write(2, b"imfault: stopping the cluster; signal ignored until it is down\n")


@contextmanager
def teardown_shield() -> Iterator[Shield]:
    """Record SIGINT/SIGTERM/SIGHUP instead of raising them for the block (see module doc)."""
    global _active
    if _active is not None or not _main_thread():
        yield _active if _active is not None else Shield()
        return
    shield = Shield()
    previous: dict[int, Any] = {}
    _active = shield
    try:
        for sig in _SHIELDED:
            previous[sig] = signal.signal(sig, _record)
        yield shield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _active = None
