"""`harness._signals`: SIGTERM as Ctrl-C, an event loop a signal cancels rather than breaks, and a
teardown that signals cannot interrupt."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from collections.abc import Iterator

import pytest

from harness._signals import run_interruptible, teardown_shield, terminate_as_interrupt


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


async def _signalled_in_a_task(sig: int, log: list[str], again: int | None = None) -> None:
    """A run whose signal lands while one of its tasks runs; its unwinding awaits that task and
    sleeps (a second signal, if any, lands then)."""
    async def worker() -> None:
        os.kill(os.getpid(), sig)
        for _ in range(10_000):  # the handler runs between these bytecodes, in this task
            pass
        await asyncio.sleep(0.01)
        log.append("worker done")

    task = asyncio.create_task(worker())
    try:
        await asyncio.sleep(30)
    finally:
        await task  # the run's unwinding awaits its tasks
        if again is not None:
            os.kill(os.getpid(), again)
        await asyncio.sleep(0.05)
        log.append("unwound")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_cancels_the_loop_s_main_task_which_unwinds_fully(
        sig: int, capfd: pytest.CaptureFixture[str]) -> None:
    """Raised inside a task, the KeyboardInterrupt was stored in it and raised again in the task
    awaiting it, escaping the loop a second time: the unwinding was cut short (tasks destroyed
    while pending, coroutines finalised on a closed loop, each with a traceback)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    log: list[str] = []
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt) as raised, terminate_as_interrupt():
            run_interruptible(_signalled_in_a_task(sig, log))
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    gc.collect()  # a coroutine left pending would be finalised here
    assert raised.value.args == (signal.Signals(sig).name,)
    assert log == ["worker done", "unwound"]
    assert time.monotonic() - started < 10
    assert capfd.readouterr().err == ""


def test_later_signals_are_ignored_until_the_teardown_shield_holds(
        capfd: pytest.CaptureFixture[str]) -> None:
    """A second Ctrl-C while the loop unwinds, or between the interrupted run and the shield of
    its teardown, is reported and ignored (it used to be raised there: no teardown)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    log: list[str] = []
    try:
        with pytest.raises(KeyboardInterrupt) as raised, terminate_as_interrupt():
            try:
                run_interruptible(_signalled_in_a_task(signal.SIGTERM, log, again=signal.SIGINT))
            finally:
                _deliver(signal.SIGINT)  # before the teardown's shield
                with teardown_shield() as shield:
                    _deliver(signal.SIGTERM)
                log.append("torn down")
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert raised.value.args == ("SIGTERM",)
    assert log == ["worker done", "unwound", "torn down"]
    assert shield.received == ["SIGTERM"]
    assert capfd.readouterr().err.count("signal ignored until it is down") == 3


def test_run_interruptible_returns_and_restores_the_handlers(ctrl_c_raises: None) -> None:
    """Only a signal that would raise KeyboardInterrupt is taken over for the loop (outside a
    command, SIGTERM keeps its default action)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    during: dict[int, object] = {}

    async def answer() -> int:
        during.update({s: signal.getsignal(s) for s in before})
        await asyncio.sleep(0)
        return 42

    assert run_interruptible(answer()) == 42
    assert {s: signal.getsignal(s) for s in before} == before
    assert during[signal.SIGINT] is not before[signal.SIGINT]
    assert during[signal.SIGTERM] is before[signal.SIGTERM]
