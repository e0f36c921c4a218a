"""The one sync/async bridge (`harness._bridge`): where an awaitable runs, errors, timeouts."""

from __future__ import annotations

import asyncio
import threading

import pytest

from harness._bridge import call_outside_loop, loop_runs_here, run_sync


async def _thread_name() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


async def _fail() -> None:
    raise ValueError("boom")


def test_run_sync_without_a_loop_runs_here() -> None:
    assert run_sync(_thread_name()) == threading.current_thread().name


def test_run_sync_inside_a_running_loop_uses_a_helper_thread() -> None:
    async def main() -> str:
        assert loop_runs_here()
        return run_sync(_thread_name())
    assert asyncio.run(main()) == "imfault-sync-coroutine"


def test_run_sync_on_a_loop_of_another_thread() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="the-runner-loop")
    thread.start()
    try:
        assert run_sync(_thread_name(), loop, timeout_s=5) == "the-runner-loop"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_errors_reach_the_caller_from_a_helper_thread() -> None:
    async def main() -> None:
        run_sync(_fail())
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())


def test_a_bounded_wait_times_out() -> None:
    async def main() -> None:
        run_sync(asyncio.sleep(5), timeout_s=0.1)
    with pytest.raises(TimeoutError, match="did not finish within 0.1 s"):
        asyncio.run(main())


def test_call_outside_loop() -> None:
    assert call_outside_loop(lambda: 7) == 7

    async def main() -> str:
        return call_outside_loop(lambda: threading.current_thread().name, name="helper")
    assert asyncio.run(main()) == "helper"
