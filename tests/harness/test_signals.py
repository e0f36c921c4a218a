"""`harness._signals`: SIGTERM as Ctrl-C, and a teardown that signals cannot interrupt."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from harness._signals import teardown_shield, terminate_as_interrupt


def _deliver(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs between bytecodes of the main thread


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a command started from a shell (a pytest-xdist
    worker, or a job started in the background, ignores it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_teardown_shield_records_signals_instead_of_raising_and_restores_handlers(
        ctrl_c_raises: None) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with teardown_shield() as shield:
        _deliver(signal.SIGINT)
        with teardown_shield() as inner:  # nested: the same record, handlers kept
            _deliver(signal.SIGTERM)
        assert inner is shield
        _deliver(signal.SIGINT)
    assert shield.received == ["SIGINT", "SIGTERM", "SIGINT"]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    with pytest.raises(KeyboardInterrupt):
        _deliver(signal.SIGINT)  # the default again


def test_sigterm_raises_keyboard_interrupt_then_further_signals_are_ignored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                     signal.SIGHUP)}
    try:
        with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
            _deliver(signal.SIGTERM)
        # interrupted: the command is on its way out, one more Ctrl-C must not change that
        _deliver(signal.SIGINT)
        _deliver(signal.SIGTERM)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    with terminate_as_interrupt():
        pass
    assert {sig: signal.getsignal(sig) for sig in before} == before  # restored when not interrupted
