"""Signals around a cluster's life: SIGTERM/SIGHUP as Ctrl-C, and a teardown Ctrl-C cannot abort.

`terminate_as_interrupt()` makes SIGTERM and SIGHUP raise `KeyboardInterrupt` (like Ctrl-C) while
a command runs, so every way of stopping it goes through the same `finally`.

`teardown_shield()` is entered around every teardown (the runner's, `imfault cluster up`'s, each
backend's `stop`): while it holds, SIGINT, SIGTERM and SIGHUP are recorded, not raised, so a
second Ctrl-C or a SIGTERM from a supervisor cannot leave half the cluster running. Shields nest
(only the outermost installs and restores the handlers) and are a no-op outside the main thread
(Python delivers signals there only). After the teardown the caller reads `shield.received` and
decides (the runner exits 130 when a signal arrived during a teardown that ended a normal run).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["Shield", "teardown_shield", "terminate_as_interrupt"]

_SHIELDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `KeyboardInterrupt` (main thread only).

    Left by a `KeyboardInterrupt` (the command was interrupted and has torn down), SIGINT,
    SIGTERM and SIGHUP are ignored from then on: the command is on its way out with exit 130,
    and one more Ctrl-C must not turn that into a traceback. Otherwise the handlers are restored.
    """
    if not _main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM,
                                                                      signal.SIGHUP)}
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
